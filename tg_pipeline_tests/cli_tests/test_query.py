"""``messages``, ``counts`` and ``chats`` as a user runs them, in every format, on both
warehouse backends."""

from __future__ import annotations

import io
from datetime import datetime

import orjson
import pyarrow.csv as pa_csv
import pytest

from tg_pipeline_tests.cli_tests.conftest import (
    HOSTILE_CHAT,
    HOSTILE_CHAT_ID,
    SEED_CHAT_ID,
    Built,
    DataDir,
    assert_one_line_error,
    cli_env,
    ids,
    messages_jsonl,
    run_cli,
)
from tg_pipeline_tests.pg_warehouse import on_both_backends

#: Columns the CSV holds as JSON text: the record's JSON columns and list columns.
JSON_COLUMNS = {"entities", "reactions", "extra", "payload", "dumps", "files"}


def csv_rows(text: str) -> list[dict]:
    """Load CSV output back with pyarrow, the way a user's script would, as JSON-like rows.

    Nulls are unquoted empty fields and strings are quoted, so pyarrow tells an empty text
    from a missing one; instants come back as timestamps and JSON columns as their text.
    """
    table = pa_csv.read_csv(
        io.BytesIO(text.encode()),
        convert_options=pa_csv.ConvertOptions(
            strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    rows = []
    for row in table.to_pylist():
        for name, value in row.items():
            if isinstance(value, datetime):
                row[name] = value.isoformat()
            elif name in JSON_COLUMNS and isinstance(value, str):
                row[name] = orjson.loads(value)
        rows.append(row)
    return rows


def normalized(rows: list[dict]) -> list[dict]:
    """Instants as aware datetimes, so '+00:00' and 'Z' spellings compare equal."""
    out = []
    for row in rows:
        fixed = {}
        for name, value in row.items():
            if isinstance(value, str) and name.endswith("_at") and value:
                value = datetime.fromisoformat(value)
            fixed[name] = value
        out.append(fixed)
    return out


@on_both_backends("built")
def test_built_warehouse_has_the_fixture_chats(built: Built) -> None:
    rows = messages_jsonl(built.data_dir)
    chats = {r["chat_id"] for r in rows}
    assert {SEED_CHAT_ID, HOSTILE_CHAT_ID} <= chats
    seed = [r for r in rows if r["chat_id"] == SEED_CHAT_ID]
    assert sorted(r["message_id"] for r in seed) == list(range(182649, 182661))


@on_both_backends("built")
def test_messages_formats_agree(built: Built) -> None:
    as_jsonl = messages_jsonl(built.data_dir, "--chat", str(SEED_CHAT_ID))
    assert len(as_jsonl) == 12
    first = as_jsonl[0]
    assert first["message_id"] == 182649 and first["kind"] == "service"
    assert first["sent_at"].startswith("2022-08-31T09:01:36")
    assert isinstance(first["entities"], list) and isinstance(first["extra"], dict)

    csv = run_cli(
        "messages", "--chat", str(SEED_CHAT_ID), "--format", "csv", data_dir=built.data_dir
    )
    assert csv.code == 0, str(csv)
    assert normalized(csv_rows(csv.out)) == normalized(as_jsonl)

    table = run_cli("messages", "--chat", str(SEED_CHAT_ID), data_dir=built.data_dir)
    assert table.code == 0, str(table)
    for text in ("message1", "username2", "service", "2022-08-31 09:01:45"):
        assert text in table.out


@on_both_backends("built")
def test_csv_loads_back_in_duckdb(built: Built, tmp_path) -> None:
    import duckdb

    csv = run_cli("messages", "--format", "csv", data_dir=built.data_dir)
    assert csv.code == 0, str(csv)
    path = tmp_path / "messages.csv"
    path.write_text(csv.out, encoding="utf-8")
    jsonl = messages_jsonl(built.data_dir)
    loaded = duckdb.sql(
        f"SELECT chat_id, message_id, text, sender_name, sent_at FROM read_csv('{path}', "
        "allow_quoted_nulls=false) ORDER BY sent_at, chat_id, message_id"
    ).fetchall()
    expected = sorted(
        (
            r["chat_id"],
            r["message_id"],
            r["text"],
            r["sender_name"],
            datetime.fromisoformat(r["sent_at"]),
        )
        for r in jsonl
    )
    assert sorted(loaded, key=lambda r: (r[4], r[0], r[1])) == sorted(
        expected, key=lambda r: (r[4], r[0], r[1])
    )
    assert len(loaded) == len(jsonl)


def test_table_fits_the_terminal(built: Built) -> None:
    """DuckDB only: the table's layout does not depend on the warehouse."""
    result = run_cli("messages", data_dir=built.data_dir, env=cli_env(COLUMNS="80"))
    assert result.code == 0, str(result)
    widths = [len(line) for line in result.out.splitlines()]
    assert widths and max(widths) <= 80, result.out


@on_both_backends("built")
def test_order_limit_offset(built: Built) -> None:
    everything = messages_jsonl(built.data_dir)
    times = [datetime.fromisoformat(r["sent_at"]) for r in everything]
    assert times == sorted(times)
    newest = messages_jsonl(built.data_dir, "--desc", "--limit", "3")
    assert [r["sent_at"] for r in newest] == [r["sent_at"] for r in everything[::-1][:3]]
    page = messages_jsonl(built.data_dir, "--limit", "4", "--offset", "2")
    assert ids(page) == ids(everything[2:6])


@on_both_backends("built")
def test_filters_by_chat_sender_time_and_kind(built: Built) -> None:
    by_id = messages_jsonl(built.data_dir, "--chat", str(SEED_CHAT_ID))
    by_name = messages_jsonl(built.data_dir, "--chat", "chat name")
    assert ids(by_id) == ids(by_name) and len(by_id) == 12

    # The seed's user272557771 wrote as "username2" and later as "username8": one sender.
    sender = messages_jsonl(built.data_dir, "--sender", "user272557771")
    assert [r["message_id"] for r in sender] == [182652, 182653, 182659]
    for name in ("username2", "USERNAME8"):
        assert ids(messages_jsonl(built.data_dir, "--sender", name)) == ids(sender)

    services = messages_jsonl(built.data_dir, "--chat", str(SEED_CHAT_ID), "--kind", "service")
    assert {r["kind"] for r in services} == {"service"} and len(services) == 2

    # 12:01:45 in Moscow (UTC+3) is 09:01:45Z: two messages at that instant.
    window = messages_jsonl(
        built.data_dir,
        "--since",
        "2022-08-31T12:01:45+03:00",
        "--until",
        "2022-08-31T09:01:52Z",
    )
    assert [r["message_id"] for r in window] == [182651, 182652, 182653]
    day = messages_jsonl(built.data_dir, "--since", "2022-08-31", "--until", "2022-08-31")
    assert {r["chat_id"] for r in day} == {SEED_CHAT_ID} and len(day) == 12


@on_both_backends("built")
def test_text_search_substring_and_regex(built: Built) -> None:
    hits = messages_jsonl(built.data_dir, "--text", "MESSAGE1")
    assert all("message1" in r["text"].lower() for r in hits)
    seed = [r["text"] for r in hits if r["chat_id"] == SEED_CHAT_ID]
    assert seed == ["message1", "message10"]
    regex = messages_jsonl(
        built.data_dir, "--chat", HOSTILE_CHAT, "--text", "^snake.case", "--regex"
    )
    assert [r["message_id"] for r in regex] == [4, 5]


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("'; DROP TABLE messages; --", [1]),
        ("100%", [2]),
        ("e_c", [4]),
        ("%_%", [10]),
        ('"quoted"', [6]),
        ("it's", [6]),
        ("🎉", [7]),
        ("back\\slash", [9]),
        ("[brackets]", [9]),
    ],
)
@on_both_backends("built")
def test_hostile_text_matches_literally(built: Built, needle: str, expected: list[int]) -> None:
    rows = messages_jsonl(built.data_dir, "--chat", str(HOSTILE_CHAT_ID), "--text", needle)
    assert [r["message_id"] for r in rows] == expected


@on_both_backends("built")
def test_hostile_names_match_literally(built: Built) -> None:
    chat = messages_jsonl(built.data_dir, "--chat", HOSTILE_CHAT)
    assert len(chat) == 10 and {r["chat_id"] for r in chat} == {HOSTILE_CHAT_ID}
    robert = messages_jsonl(built.data_dir, "--sender", "Robert'); DROP TABLE messages; --")
    assert [r["message_id"] for r in robert] == [1, 8]
    percent = messages_jsonl(built.data_dir, "--sender", "100%")
    assert [r["message_id"] for r in percent] == [4, 5, 10]
    # "_" is no wildcard: no sender's name holds "100_", and the error names the closest.
    unknown = run_cli("messages", "--sender", "100_", data_dir=built.data_dir)
    assert_one_line_error(unknown, contains="matches no sender; closest: '100%'")
    # "%" is no wildcard either: only one chat's name holds it.
    percent_chat = messages_jsonl(built.data_dir, "--chat", "%")
    assert {r["chat_id"] for r in percent_chat} == {HOSTILE_CHAT_ID}
    zoe = messages_jsonl(built.data_dir, "--sender", 'Zoë "Z" Ångström')
    assert [r["message_id"] for r in zoe] == [6, 7]
    # Still all there: nothing was executed as SQL.
    assert len(messages_jsonl(built.data_dir)) == len(
        messages_jsonl(built.data_dir, "--limit", "100000")
    )


@on_both_backends("built")
def test_counts_formats_and_scopes(built: Built) -> None:
    per_chat = run_cli("counts", "--format", "jsonl", data_dir=built.data_dir)
    assert per_chat.code == 0, str(per_chat)
    rows = per_chat.jsonl()
    assert [r["message_count"] for r in rows] == sorted(
        (r["message_count"] for r in rows), reverse=True
    )
    seed = [r for r in rows if r["chat_id"] == SEED_CHAT_ID]
    assert sum(r["message_count"] for r in seed) == 10  # 12 entries, 2 of them service
    by_key = {r["sender_key"]: r["message_count"] for r in seed}
    assert by_key["user272557771"] == 3

    one_chat = run_cli(
        "counts", "--chat", HOSTILE_CHAT, "--format", "jsonl", data_dir=built.data_dir
    )
    assert one_chat.code == 0, str(one_chat)
    assert {r["chat_id"] for r in one_chat.jsonl()} == {HOSTILE_CHAT_ID}
    assert sum(r["message_count"] for r in one_chat.jsonl()) == 10

    csv = run_cli("counts", "--format", "csv", data_dir=built.data_dir)
    assert csv.code == 0, str(csv)
    assert normalized(csv_rows(csv.out)) == normalized(rows)

    overall = run_cli("counts", "--overall", "--format", "jsonl", data_dir=built.data_dir)
    assert overall.code == 0, str(overall)
    totals = overall.jsonl()
    assert sum(r["message_count"] for r in totals) == sum(r["message_count"] for r in rows)
    assert len({r["sender_key"] for r in totals}) == len(totals)

    table = run_cli("counts", data_dir=built.data_dir)
    assert table.code == 0 and "user272557771" in table.out


@on_both_backends("built")
def test_chats_formats(built: Built) -> None:
    result = run_cli("chats", "--format", "jsonl", data_dir=built.data_dir)
    assert result.code == 0, str(result)
    chats = {r["chat_id"]: r for r in result.jsonl()}
    assert chats[SEED_CHAT_ID]["name"] == "chat name"
    assert chats[HOSTILE_CHAT_ID]["name"] == HOSTILE_CHAT
    # One meaning per word: 10 messages as in `counts`, and 2 service entries apart.
    seed = chats[SEED_CHAT_ID]
    assert (seed["message_count"], seed["service_count"], len(seed["dumps"])) == (10, 2, 1)
    csv = run_cli("chats", "--format", "csv", data_dir=built.data_dir)
    assert normalized(csv_rows(csv.out)) == normalized(result.jsonl())
    table = run_cli("chats", data_dir=built.data_dir)
    assert table.code == 0 and "chat name" in table.out
    assert str(SEED_CHAT_ID) in table.out  # the id to give --chat when names are alike


@on_both_backends("built")
def test_bad_usage_exits_2(built: Built) -> None:
    for args in (
        ["messages", "--since", "last tuesday"],
        ["messages", "--regex"],
        ["messages", "--kind", "sticker"],
        ["messages", "--format", "xml"],
        ["messages", "--text", "(", "--regex"],
    ):
        result = run_cli(*args, data_dir=built.data_dir)
        assert result.code == 2, str(result)
        assert "Traceback" not in result.err


@on_both_backends("empty_data")
def test_missing_warehouse_is_one_clear_line(empty_data: DataDir) -> None:
    result = run_cli("messages", data_dir=empty_data)
    missing = "not a tg_pipeline warehouse yet" if empty_data.on_postgres else "no warehouse at"
    assert_one_line_error(result, contains=missing)
    assert len(result.err.strip().splitlines()) == 1


@on_both_backends("built")
def test_times_are_iso_with_offset_in_files_and_the_table_says_utc(built: Built) -> None:
    args = ("messages", "--chat", str(SEED_CHAT_ID), "--limit", "1")
    csv = run_cli(*args, "--format", "csv", data_dir=built.data_dir)
    jsonl = run_cli(*args, "--format", "jsonl", data_dir=built.data_dir)
    assert csv.code == 0 and jsonl.code == 0, str(csv) + str(jsonl)
    sent_at = jsonl.jsonl()[0]["sent_at"]
    assert sent_at == "2022-08-31T09:01:36+00:00"
    assert f'"{sent_at}"' in csv.out or f",{sent_at}," in csv.out
    table = run_cli(*args, data_dir=built.data_dir)
    assert "sent_at (UTC)" in table.out and "2022-08-31 09:01:36" in table.out


@on_both_backends("built")
def test_the_table_shows_a_page_and_says_how_to_see_the_rest(built: Built) -> None:
    total = len(messages_jsonl(built.data_dir))
    page = run_cli("messages", "--limit", "3", "--offset", "2", data_dir=built.data_dir)
    assert page.code == 0, str(page)
    assert f"rows 3–5 of {total}; {total - 5} more: --offset 5 for the next page" in page.out
    assert "--format jsonl or csv for all of them" in page.out
    last = run_cli("messages", "--offset", str(total - 2), data_dir=built.data_dir)
    assert "more:" not in last.out  # the last page says nothing more
    counts = run_cli("counts", "--limit", "1", data_dir=built.data_dir)
    assert counts.code == 0 and "rows 1–1 of" in counts.out, str(counts)


def test_out_of_memory_is_one_line_naming_the_setting(built: Built) -> None:
    """DuckDB only: the memory limit is DuckDB's (TG_DUCKDB_MEMORY_LIMIT)."""
    result = run_cli(
        "messages",
        "--format",
        "jsonl",
        data_dir=built.data_dir,
        env=cli_env(TG_DUCKDB_MEMORY_LIMIT="1MB"),
    )
    assert_one_line_error(result, contains="raise TG_DUCKDB_MEMORY_LIMIT")
    assert len(result.err.strip().splitlines()) == 1 and "1MB" in result.err
