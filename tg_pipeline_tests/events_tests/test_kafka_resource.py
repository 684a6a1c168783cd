"""The Kafka resource: EnvVar-backed, no broker by default, no secret in what the UI shows."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value

from tg_pipeline.defs.shared.kafka import KafkaResource, kafka_resource_from_env

SECRET = "pa55-w0rd-never-shown"


def test_unset_environment_means_no_broker() -> None:
    resource = kafka_resource_from_env({})
    assert not resource.enabled
    assert resource.settings().counts_topic == "tg.user-counts"


def test_password_is_shown_only_as_the_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "TG_KAFKA_BOOTSTRAP": "broker-1:9093",
        "TG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TG_KAFKA_SASL_USERNAME": "pipeline",
        "TG_KAFKA_SASL_PASSWORD": SECRET,
        "TG_KAFKA_PARTITIONS": "6",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    resource = kafka_resource_from_env()
    shown = resource.get_resource_definition().config_schema.default_value_as_json_str
    assert SECRET not in shown
    assert '"sasl_password": {"env": "TG_KAFKA_SASL_PASSWORD"}' in shown

    @dg.asset
    def probe(kafka: KafkaResource) -> dg.MaterializeResult:
        settings = kafka.settings()
        assert settings.sasl_password == SECRET
        assert settings.partitions == 6
        assert SECRET not in repr(kafka) and SECRET not in str(settings)
        return dg.MaterializeResult(metadata={"enabled": kafka.enabled})

    defs = dg.Definitions(assets=[probe], resources={"kafka": resource})
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert SECRET not in snapshot
    assert "TG_KAFKA_SASL_PASSWORD" in snapshot
    with dg.instance_for_test() as instance:
        result = dg.materialize([probe], resources={"kafka": resource}, instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and SECRET not in serialize_value(run)
        logs = "".join(serialize_value(e) for e in instance.all_logs(result.run_id))
        assert SECRET not in logs
