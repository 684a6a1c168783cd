"""The message filter options ``messages`` and ``delete`` share, and their parsing.

Both commands must select exactly the same rows for the same options (``delete`` shows the
rows it will remove), so the options are declared once here. Values are handed to the
warehouse as data in a :class:`~tg_pipeline.warehouse.MessageFilter`; the warehouse binds
them as query parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import click

from tg_pipeline.records import KINDS

F = TypeVar("F", bound=Callable[..., Any])

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Instants are stored with microsecond precision.
_TICK = timedelta(microseconds=1)


class Instant(click.ParamType):
    """A date (``2021-03-01``) or a datetime with or without zone (``2021-03-01T12:00+03:00``).

    A datetime without zone, and a bare date, are read in UTC, the zone every stored
    instant is shown in. A bare date used as ``--until`` means the end of that day.
    """

    name = "DATE|DATETIME"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            if _DATE_ONLY.match(text):
                day = date.fromisoformat(text)
                moment = datetime.combine(day, time(0), tzinfo=UTC)
                if self.end_of_day:
                    moment += timedelta(days=1) - timedelta(microseconds=1)
                return moment
            moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            self.fail(
                f"{value!r} is not a date or datetime; use e.g. 2021-03-01, "
                "2021-03-01T12:30 or 2021-03-01T12:30:00+03:00",
                param,
                ctx,
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filter_options(func: F) -> F:
    """Decorate a command with --chat, --sender, --since, --until, --text, --regex, --kind."""
    options = [
        click.option(
            "--chat",
            help="Chat id (see `chats`), or its name: exact, or the start or a part of "
            "one name, ignoring case.",
        ),
        click.option(
            "--sender",
            help="Sender id or key (user123, channel456, name:Alice), or a name: exact, "
            "or the start or a part of one sender's name, ignoring case.",
        ),
        click.option(
            "--since",
            type=Instant(),
            help="Messages sent at or after this date/datetime (UTC unless a zone is given).",
        ),
        click.option(
            "--until",
            type=Instant(end_of_day=True),
            help="Messages sent at or before this date/datetime; a bare date includes that day.",
        ),
        click.option(
            "--text", help="Text contains this, ignoring case (taken literally unless --regex)."
        ),
        click.option(
            "--regex", is_flag=True, help="Treat --text as a regular expression (case-insensitive)."
        ),
        click.option("--kind", type=click.Choice(KINDS), help="Only messages or service entries."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_filter(
    *,
    chat: str | None,
    sender: str | None,
    since: datetime | None,
    until: datetime | None,
    text: str | None,
    regex: bool,
    kind: str | None,
    **_: Any,
):
    """The :class:`MessageFilter` for the options; bad usage raises ``click.UsageError``."""
    from tg_pipeline.warehouse import MessageFilter

    if regex and text is None:
        raise click.UsageError("--regex needs --text PATTERN")
    if regex:
        try:
            re.compile(text or "")
        except re.error as exc:
            raise click.BadParameter(
                f"not a valid regular expression: {exc}", param_hint="--text"
            ) from exc
    if since is not None and until is not None and since > until:
        raise click.UsageError("--since is later than --until")
    return MessageFilter(
        chat=chat,
        sender=sender,
        since=since,
        # The warehouse's upper bound is exclusive; --until includes its instant.
        until=until + _TICK if until is not None else None,
        text=text,
        regex=regex,
        kind=kind,
    )


def describe_filter(f: Any) -> str:
    """The filter in words, for confirmations and audit events."""
    parts = []
    for name in ("chat", "sender", "since", "until", "text", "kind"):
        value = getattr(f, name)
        if value is None:
            continue
        if isinstance(value, datetime):
            value = (value - _TICK if name == "until" else value).isoformat()
        label = "regex" if name == "text" and f.regex else name
        parts.append(f"{label}={value!r}")
    return ", ".join(parts) if parts else "all messages"
