"""``--chat`` and ``--sender`` as a user types them: ids, names, and unique parts of names; on
both warehouse backends."""

from __future__ import annotations

from tg_pipeline_tests.cli_tests.conftest import (
    HOSTILE_CHAT_ID,
    SEED_CHAT_ID,
    Built,
    assert_one_line_error,
    ids,
    messages_jsonl,
    run_cli,
)
from tg_pipeline_tests.pg_warehouse import on_both_backends


@on_both_backends("built")
def test_a_chat_by_id_exact_name_prefix_or_part(built: Built) -> None:
    by_id = ids(messages_jsonl(built.data_dir, "--chat", str(SEED_CHAT_ID)))
    assert len(by_id) == 12
    for typed in ("CHAT NAME", "chat", "Chat Na", "at na"):
        assert ids(messages_jsonl(built.data_dir, "--chat", typed)) == by_id, typed
    hostile = messages_jsonl(built.data_dir, "--chat", "FRIENDS")
    assert {r["chat_id"] for r in hostile} == {HOSTILE_CHAT_ID}


@on_both_backends("built")
def test_an_ambiguous_chat_lists_the_candidates_with_ids(built: Built) -> None:
    result = run_cli("messages", "--chat", "e", data_dir=built.data_dir)
    assert_one_line_error(result, contains="--chat 'e' matches 2 chats by substring")
    assert f"(id {SEED_CHAT_ID})" in result.err and f"(id {HOSTILE_CHAT_ID})" in result.err
    assert result.out == ""


@on_both_backends("built")
def test_an_unknown_chat_names_the_closest_and_where_to_look(built: Built) -> None:
    result = run_cli("counts", "--chat", "chat nmae", data_dir=built.data_dir)
    assert_one_line_error(result, contains="--chat 'chat nmae' matches no chat; closest: ")
    assert result.err.index("'chat name'") < result.err.index("'Bob'")
    assert "tg-pipeline chats" in result.err


@on_both_backends("built")
def test_a_sender_by_key_name_prefix_or_part(built: Built) -> None:
    by_key = ids(messages_jsonl(built.data_dir, "--sender", "user272557771"))
    assert len(by_key) == 3
    # A unique start of a name, any case, and a part of an earlier name of the same sender.
    for typed in ("username2", "USERNAME8", "sername8"):
        assert ids(messages_jsonl(built.data_dir, "--sender", typed)) == by_key, typed
    zoe = messages_jsonl(built.data_dir, "--sender", "ångström")
    assert [r["message_id"] for r in zoe] == [6, 7]


@on_both_backends("built")
def test_an_ambiguous_sender_lists_some_and_counts_the_rest(built: Built) -> None:
    result = run_cli("messages", "--sender", "userna", data_dir=built.data_dir)
    assert_one_line_error(result, contains="--sender 'userna' matches")
    assert "senders by prefix: 'username" in result.err and "more; give the key" in result.err


@on_both_backends("built")
def test_counts_and_delete_resolve_the_same_way(built: Built) -> None:
    counts = run_cli("counts", "--chat", "friends", "--format", "jsonl", data_dir=built.data_dir)
    assert counts.code == 0, str(counts)
    assert {r["chat_id"] for r in counts.jsonl()} == {HOSTILE_CHAT_ID}
    dry = run_cli("delete", "--chat", "chat n", "--dry-run", data_dir=built.data_dir)
    assert dry.code == 0 and "12 message(s) match" in dry.out, str(dry)
    assert f"chat='{SEED_CHAT_ID}'" in dry.out
