"""The report's aggregations against a real warehouse, checked against plain SQL counts.
DuckDB only: the report's aggregations run in DuckDB."""

from __future__ import annotations

from datetime import date

from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse import report_queries as q
from tg_pipeline.warehouse.report_queries import ChatZone
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row

DAY = 86_400


def _team(warehouse: Warehouse) -> None:
    """Chat 1001: 24 messages by 20 senders over three days, plus services, replies, media;
    chat 1002: 3 messages by one sender."""
    rows = []
    for i in range(1, 25):
        fields = {
            "sender_id": f"user{i % 20}",
            "sender_name": f"Person {i % 20}",
            "sent_at": json_row(i)["sent_at"] + (i % 3) * DAY,
        }
        if i % 4 == 0:
            fields["reply_to_message_id"] = i - 1
        if i % 6 == 0:
            fields["forwarded_from"] = "Elsewhere"
        if i % 5 == 0:
            fields["media_type"] = "photo"
        if i == 7:
            fields["media_type"] = "voice_message"
        rows.append(json_row(i, **fields))
    rows += [json_row(100 + i, kind="service", action="pin_message") for i in range(2)]
    rows += [
        json_row(i, chat_id=1002, chat_name="Other", sender_id="user9", sender_name="Nine")
        for i in range(1, 4)
    ]
    warehouse.ingest(batches(rows), dump=dump("d1"))
    warehouse.refresh_counts()


def test_summaries_and_details_match_plain_counts(warehouse: Warehouse) -> None:
    _team(warehouse)
    summaries = q.chat_summaries(warehouse.con)
    assert [s.chat_id for s in summaries] == [1001, 1002]
    team = summaries[0]
    assert (team.name, team.messages, team.service, team.senders) == ("Team", 24, 2, 20)
    assert (team.replies, team.forwards, team.with_media) == (6, 4, 5)
    assert team.first_at.timestamp() == json_row(3)["sent_at"]

    utc3 = ChatZone("UTC+03:00", offset_s=3 * 3600)
    details = q.chat_details(warehouse.con, summaries, {1001: utc3})
    detail = details[1001]

    # Senders: the 15 busiest by name (those with two messages first), the rest summed.
    named = [s for s in detail.senders if s[0] is not None]
    assert len(named) == q.BAR_SENDERS
    assert [s[2] for s in named[:4]] == [2, 2, 2, 2]
    assert detail.senders[-1] == (None, "5 others", 5)
    assert sum(s[2] for s in detail.senders) == 24
    counts = dict(
        warehouse.con.execute(
            "SELECT sender_key, message_count FROM user_message_counts WHERE chat_id = 1001"
        ).fetchall()
    )
    assert all(counts[key] == n for key, _, n in named)

    # Activity: per day, five senders by name plus others, summing to every message.
    assert detail.bucket == "day"
    assert sum(n for _, _, n in detail.activity) == 24
    assert {b for b, _, _ in detail.activity} == {
        date(2022, 8, 31),
        date(2022, 9, 1),
        date(2022, 9, 2),
    }
    labels = {label for _, label, _ in detail.activity}
    assert len(labels) == q.ACTIVITY_SENDERS + 1 and q.OTHERS in labels

    # Heatmap at UTC+3: 09:0x UTC is 12:0x local, on Wed/Thu/Fri.
    assert sorted(detail.heatmap) == [(3, 12, 8), (4, 12, 8), (5, 12, 8)]
    assert detail.busiest_day == (date(2022, 8, 31), 8)
    assert detail.media == [("photo", 4), ("voice_message", 1)]

    # Chat 1002 read in its own (default) zone, untouched by 1001's.
    other = details[1002]
    assert other.senders == [("user9", "Nine", 3)]
    assert sorted(other.heatmap) == [(3, 9, 3)]


def test_a_dst_zone_and_coarse_buckets(warehouse: Warehouse) -> None:
    start = json_row(1)["sent_at"]  # 2022-08-31 09:01 UTC: 05:01 in New York (EDT)
    rows = [json_row(1), json_row(2, sent_at=start + 120 * DAY)]  # Thu 29 Dec: EST, 04:03
    warehouse.ingest(batches(rows), dump=dump("d1"))
    summaries = q.chat_summaries(warehouse.con)
    zone = ChatZone("America/New_York", zone="America/New_York")
    detail = q.chat_details(warehouse.con, summaries, {1001: zone})[1001]
    assert sorted(detail.heatmap) == [(3, 5, 1), (4, 4, 1)]
    assert q.pick_bucket(summaries[0].first_at, summaries[0].last_at) == "day"
    assert q.pick_bucket(summaries[0].first_at, summaries[0].first_at.replace(year=2023)) == "week"
    assert q.pick_bucket(summaries[0].first_at, summaries[0].first_at.replace(year=2030)) == "month"


def test_resolve_chats_by_id_and_name(warehouse: Warehouse) -> None:
    _team(warehouse)
    assert q.resolve_chats(warehouse.con, ["team", "1002"]) == [1001, 1002]
    try:
        q.resolve_chats(warehouse.con, ["nobody"])
    except LookupError as missing:
        assert missing.args == ("nobody",)
    else:
        raise AssertionError("an unknown chat must not resolve")
