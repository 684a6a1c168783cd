"""The dumps ledger: failures recorded and listed, on both backends."""

from __future__ import annotations

from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    json_row,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse


def test_record_dump_failure_and_dumps_listing(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([json_row(1)]), dump=dump("ok"))
    any_warehouse.record_dump_failure(dump("bad"), "result.json: messages[3]: broken")
    rows = {r["dump_id"]: r for r in any_warehouse.dumps().to_pylist()}

    assert rows["ok"]["status"] == "ingested" and rows["ok"]["new_count"] == 1
    assert rows["bad"]["status"] == "quarantined"
    assert "messages[3]" in rows["bad"]["error"]
