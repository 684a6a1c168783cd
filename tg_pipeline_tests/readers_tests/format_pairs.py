"""Read the HTML and JSON versions of one chat and say where their records differ.

Shared by the fixture agreement test and the property test. The comparison covers exactly
the fields an HTML export carries; each normalization below is a fact of the formats, not
a tolerance for a reader:

- HTML has no time on service entries, no edit times, no ids of users or chats;
- a service entry is English prose in HTML and structured fields with an empty text in
  JSON, so only its action is compared;
- HTML writes a deleted account as "Deleted Account" where JSON writes ``null``;
- HTML writes a bank-card entity as plain text, drops the user id of a ``mention_name``
  and the language of a ``pre`` block, and cannot show tdesktop's trailing empty piece;
- HTML shows a reaction's count only when it has more reactors than userpics;
- HTML rebuilds the name of a hidden forward origin from its words, so runs of spaces in
  it collapse to one;
- a reply to another chat is a fact both formats carry (``extra.reply_to_peer_id``), but
  only JSON names that chat and its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tg_pipeline.readers.html_export import order_pages, read_html_export
from tg_pipeline.readers.json_export import read_json_export
from tg_pipeline.records import ReadOptions, batch_to_dicts

DELETED_ACCOUNT = "Deleted Account"

#: Fields compared on every pair of records, with their normalizers.
COMPARED = (
    "message_id",
    "kind",
    "sent_at",
    "sender_name",
    "text",
    "entities",
    "reply_to_message_id",
    "forwarded_from",
    "via_bot",
    "author",
    "media_type",
    "media_path",
    "reactions",
    "action",
    "reply_elsewhere",
)


def read_json_records(path: Path, options: ReadOptions | None = None) -> list[dict[str, Any]]:
    options = options or ReadOptions()
    return [row for batch in read_json_export(path, options) for row in batch_to_dicts(batch)]


def read_html_records(folder: Path, options: ReadOptions | None = None) -> list[dict[str, Any]]:
    options = options or ReadOptions()
    pages = order_pages(folder.glob("messages*.html"))
    return [row for batch in read_html_export(pages, options) for row in batch_to_dicts(batch)]


def entities_key(entities: Sequence[dict[str, Any]] | None) -> list[tuple[str, str, str | None]]:
    """Entity pieces as (type, text, href of a text link), in the form HTML can carry."""
    merged: list[tuple[str, str, str | None]] = []
    for piece in entities or ():
        text = piece.get("text") or ""
        if not text:
            continue
        kind = piece.get("type") or "plain"
        if kind == "bank_card":
            kind = "plain"
        href = piece.get("href") if kind == "text_link" else None
        if kind == "plain" and merged and merged[-1][0] == "plain":
            merged[-1] = ("plain", merged[-1][1] + text, None)
        else:
            merged.append((kind, text, href))
    return merged


def reactions_key(reactions: Sequence[dict[str, Any]] | None) -> list[tuple[str, int]]:
    """Reactions as (emoji, or type for non-emoji reactions, count), in order."""
    return [
        (str(r.get("emoji") or r.get("type")), int(r.get("count") or 0)) for r in reactions or ()
    ]


def _name(value: str | None) -> str | None:
    if value is None:
        return DELETED_ACCOUNT
    return value


def _normalized(row: dict[str, Any], field: str) -> Any:
    if field == "reply_elsewhere":
        return "reply_to_peer_id" in (row.get("extra") or {})
    value = row.get(field)
    if field == "entities":
        return entities_key(value)
    if field == "reactions":
        return reactions_key(value) or None
    if field in ("sender_name", "forwarded_from") and row.get("kind") == "message":
        if field == "forwarded_from":
            return None if value is None else " ".join(w for w in value.split(" ") if w)
        return _name(value)
    return value


def pair_differences(json_row: dict[str, Any], html_row: dict[str, Any]) -> dict[str, Any]:
    """Fields where the two records of one message disagree: {field: (json, html)}."""
    differences: dict[str, Any] = {}
    service = json_row.get("kind") == "service"
    for field in COMPARED:
        if service and field in ("sent_at", "sender_name", "text", "entities"):
            continue
        if field == "action" and html_row.get("action") is None:
            continue
        left, right = _normalized(json_row, field), _normalized(html_row, field)
        if left != right:
            differences[field] = (left, right)
    return differences


def chat_differences(
    json_rows: Sequence[dict[str, Any]], html_rows: Sequence[dict[str, Any]]
) -> list[str]:
    """Every disagreement between the two read-backs of one chat, one line each."""
    problems: list[str] = []
    json_ids = [row["message_id"] for row in json_rows]
    html_ids = [row["message_id"] for row in html_rows]
    if json_ids != html_ids:
        problems.append(f"message ids differ: json={json_ids} html={html_ids}")
        return problems
    for json_row, html_row in zip(json_rows, html_rows, strict=True):
        for field, (left, right) in pair_differences(json_row, html_row).items():
            problems.append(
                f"message {json_row['message_id']} {field}: json={left!r} html={right!r}"
            )
    return problems
