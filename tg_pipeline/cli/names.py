"""``--chat`` and ``--sender`` as a user types them: an id, a name, or a unique part of one.

The rules live in :mod:`tg_pipeline.warehouse.names`. Here a match becomes the value the
filter uses (the id, when a part of a name picked one chat or sender), and an ambiguous or
unknown name becomes one error line listing the closest candidates, exit status 1.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.names import Candidate, NameMatch, match_chat, match_sender

if TYPE_CHECKING:
    from tg_pipeline.warehouse import MessageFilter
    from tg_pipeline.warehouse.backend import AnyWarehouse


class UnknownName(TgPipelineError):
    """A --chat or --sender that names nothing, or several things."""


def _listed(candidates: list[Candidate], what: str) -> str:
    return ", ".join(f"{c.name!r} ({what} {c.key})" for c in candidates)


def _resolve(match: NameMatch, text: str, option: str, noun: str, listing: str) -> str:
    if match.how in ("id", "exact"):
        return text  # the filter matches ids and exact names itself, all of them
    chosen = match.unique
    if chosen is not None:
        return chosen.key
    what = "id" if noun == "chat" else "key"
    if match.how == "none":
        closest = f"; closest: {_listed(match.candidates, what)}" if match.candidates else ""
        raise UnknownName(f"{option} {text!r} matches no {noun}{closest}. {listing}")
    shown = _listed(match.candidates, what)
    hidden = match.total - len(match.candidates)
    more = f" and {hidden} more" if hidden > 0 else ""
    raise UnknownName(
        f"{option} {text!r} matches {match.total} {noun}s by {match.how}: {shown}{more}; "
        f"give the {what} or more of the name. {listing}"
    )


def resolve_chat(warehouse: AnyWarehouse, text: str) -> str:
    """The value ``--chat`` filters on; raises :class:`UnknownName` when it names no one chat."""
    return _resolve(
        match_chat(warehouse.sql_con, text, warehouse.dialect),
        text,
        "--chat",
        "chat",
        "`tg-pipeline chats` lists every chat with its id.",
    )


def resolve_sender(warehouse: AnyWarehouse, text: str) -> str:
    """The value ``--sender`` filters on; raises :class:`UnknownName` likewise."""
    return _resolve(
        match_sender(warehouse.sql_con, text, warehouse.dialect),
        text,
        "--sender",
        "sender",
        "`tg-pipeline counts --overall` lists every sender with its key.",
    )


def resolve_filter(warehouse: AnyWarehouse, f: MessageFilter) -> MessageFilter:
    """``f`` with its chat and sender resolved to what they name."""
    if f.chat is None and f.sender is None:
        return f
    return dataclasses.replace(
        f,
        chat=None if f.chat is None else resolve_chat(warehouse, f.chat),
        sender=None if f.sender is None else resolve_sender(warehouse, f.sender),
    )
