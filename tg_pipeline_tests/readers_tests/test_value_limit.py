"""Long values load with the default settings; one over the documented limit is refused.

Telegram's own limits (4,096 characters a message, 1,024 or 4,096 a caption) are far
below :data:`MAX_VALUE_BYTES`; a value up to it loads into a warehouse with DuckDB's
default 128 MB memory limit, and a larger one is refused naming the file and the record.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.readers import open_dump, read_dump
from tg_pipeline.readers.limits import MAX_VALUE_BYTES
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse.limits import DEFAULT_MEMORY_LIMIT
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row


def message(mid: int, text: str, **extra: object) -> dict[str, object]:
    return {
        "id": mid,
        "type": "message",
        "date": "2023-01-01T10:00:00",
        "date_unixtime": str(1672567200 + mid),
        "from": "A",
        "from_id": "user1",
        "text": text,
        **extra,
    }


def export(folder: Path, messages: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    chat = {"name": "Long", "type": "personal_chat", "id": 77, "messages": messages}
    (folder / "result.json").write_bytes(orjson.dumps(chat))
    return folder


def texts_after_ingest(folder: Path, db: Path) -> dict[int, str]:
    assert DEFAULT_MEMORY_LIMIT == "128MB"
    with Warehouse.open(db) as warehouse, open_dump(folder) as opened:
        warehouse.ingest(read_dump(opened, ReadOptions()), dump=dump("long"))
        rows = warehouse.con.sql("SELECT message_id, text FROM messages").fetchall()
    return dict(rows)


def test_telegram_sized_and_megabyte_values_ingest(tmp_path: Path) -> None:
    texts = {1: "m" * 4096, 2: "c" * 10_000, 3: "é" * (1 << 19), 4: '"\\' * (1 << 18)}
    photo = {"photo": "photos/p.jpg", "width": 1, "height": 1}
    folder = export(
        tmp_path / "export",
        [message(1, texts[1]), message(2, texts[2], **photo), message(3, texts[3]),
         message(4, texts[4])],
    )  # fmt: skip
    assert texts_after_ingest(folder, tmp_path / "w.duckdb") == texts


@pytest.mark.timeout(120)
def test_a_value_at_the_limit_loads_with_the_default_memory_limit(tmp_path: Path) -> None:
    text = "x" * MAX_VALUE_BYTES
    folder = export(tmp_path / "export", [message(1, text)])
    assert texts_after_ingest(folder, tmp_path / "w.duckdb") == {1: text}


def read_all(path: Path) -> None:
    with open_dump(path) as opened:
        for _ in read_dump(opened, ReadOptions()):
            pass


def test_a_value_over_the_limit_is_refused_with_file_and_position(tmp_path: Path) -> None:
    folder = export(
        tmp_path / "export", [message(1, "fine"), message(2, "y" * (MAX_VALUE_BYTES + 1))]
    )
    with pytest.raises(DumpError, match=r"the text value is 16\.0 MiB; one value may hold") as err:
        read_all(folder)
    assert err.value.file == str(folder / "result.json")
    assert err.value.position == "messages[1]"


def test_csv_backups_with_long_rows_restore_and_over_the_limit_are_refused(
    tmp_path: Path,
) -> None:
    """A row longer than the CSV reader's block reads again in larger blocks."""
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        long_text = "L" * (3 << 20)
        rows = [json_row(1, text="PLACEHOLDER"), json_row(2, text=long_text), json_row(3)]
        warehouse.ingest(batches(rows), dump=dump("d"))
        made = warehouse.backup(tmp_path / "b", fmt="csv")
    with open_dump(made.path) as opened:
        got = [r for b in read_dump(opened, ReadOptions(batch_size=1)) for r in b.to_pylist()]
    assert [r["message_id"] for r in got] == [1, 2, 3] and got[1]["text"] == long_text
    path = tmp_path / "mine.csv"
    big = b"z" * (MAX_VALUE_BYTES + 1)
    path.write_bytes(made.path.read_bytes().replace(b"PLACEHOLDER", big))
    with pytest.raises(DumpError, match="the text value is") as err:
        read_all(path)
    assert err.value.file == str(path)


@pytest.mark.timeout(120)
def test_too_many_large_values_for_one_commit_say_what_to_change(tmp_path: Path) -> None:
    """DuckDB pins a transaction's large values at COMMIT: the error names the setting."""
    rows = [json_row(i, text=chr(97 + i) * (16 << 20)) for i in range(10)]
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        with pytest.raises(TgPipelineError, match="Raise TG_DUCKDB_MEMORY_LIMIT") as err:
            warehouse.ingest(batches(rows), dump=dump("big"))
        assert "cannot rollback" not in str(err.value)
        assert warehouse.con.sql("SELECT count(*) FROM messages").fetchall() == [(0,)]
