"""Dump ids and free names to move entries to."""

from __future__ import annotations

from pathlib import Path

from tg_pipeline.ingest import (
    dump_id_for,
    unique_destination,
)


def test_dump_id_is_readable_and_valid_as_a_partition_key() -> None:
    fp = "0123456789abcdef" * 4
    assert dump_id_for("ChatExport_2024-01-31", fp) == "ChatExport_2024-01-31-0123456789ab"
    assert dump_id_for("result.json", fp) == "result.json-0123456789ab"
    odd = dump_id_for("Чат с Васей...\t(копия).zip", fp)
    assert "..." not in odd and "\t" not in odd
    assert odd.endswith("-0123456789ab")
    assert dump_id_for("...", fp) == "dump-0123456789ab"


def test_unique_destination_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text("1")
    first = unique_destination(tmp_path, "result.json", "result.json-0123456789ab")
    assert first.name == "result.0123456789ab.json"
    first.write_text("2")
    second = unique_destination(tmp_path, "result.json", "result.json-0123456789ab")
    assert second.name == "result.0123456789ab-1.json"
    (tmp_path / "export").mkdir()
    assert unique_destination(tmp_path, "export", None).name.startswith("export.")
