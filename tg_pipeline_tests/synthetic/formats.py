"""Wall-clock and size strings as tdesktop formats them for the exporter's zone."""

from __future__ import annotations

import time

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Clock:
    """Local wall-clock strings of epochs for one fixed offset, cached per day."""

    __slots__ = ("_days", "label", "offset")

    def __init__(self, offset: int, label: str | None) -> None:
        self.offset = offset
        sign = "+" if offset >= 0 else "-"
        minutes = abs(offset) // 60
        self.label = (
            label if label is not None else f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        )
        self._days: dict[int, tuple[int, int, int]] = {}

    def _split(self, epoch: int) -> tuple[int, int, int, int, int, int]:
        local = epoch + self.offset
        day, rest = divmod(local, 86400)
        ymd = self._days.get(day)
        if ymd is None:
            tm = time.gmtime(day * 86400)
            ymd = (tm.tm_year, tm.tm_mon, tm.tm_mday)
            self._days[day] = ymd
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        return ymd[0], ymd[1], ymd[2], hour, minute, second

    def day(self, epoch: int) -> int:
        return (epoch + self.offset) // 86400

    def iso(self, epoch: int) -> str:
        y, mo, d, h, mi, s = self._split(epoch)
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"

    def title(self, epoch: int, suffix: bool) -> str:
        y, mo, d, h, mi, s = self._split(epoch)
        text = f"{d:02d}.{mo:02d}.{y:04d} {h:02d}:{mi:02d}:{s:02d}"
        return f"{text} {self.label}" if suffix else text

    def hhmm(self, epoch: int) -> str:
        _, _, _, h, mi, _ = self._split(epoch)
        return f"{h:02d}:{mi:02d}"

    def day_text(self, epoch: int) -> str:
        y, mo, d, _, _, _ = self._split(epoch)
        return f"{d} {MONTHS[mo - 1]} {y}"

    def file_part(self, epoch: int) -> str:
        y, mo, d, h, mi, s = self._split(epoch)
        return f"{d:02d}-{mo:02d}-{y:04d}_{h:02d}-{mi:02d}-{s:02d}"


def file_stamp(epoch: int, utc_offset: int) -> str:
    """The ``DD-MM-YYYY_HH-MM-SS`` local-time part tdesktop puts into media file names."""
    return Clock(utc_offset, None).file_part(epoch)


def file_size(size: int) -> str:
    """Ui::FormatSizeText."""
    if size >= 1024 * 1024:
        tenth = size * 10 // (1024 * 1024)
        return f"{tenth // 10}.{tenth % 10} MB"
    if size >= 1024:
        tenth = size * 10 // 1024
        return f"{tenth // 10}.{tenth % 10} KB"
    return f"{size} B"


def duration_text(seconds: int) -> str:
    """Ui::FormatDurationText."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    head = f"{hours}:" if hours else ""
    return f"{head}{minutes:02d}:{secs:02d}"


def number_text(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def thumb_path(path: str, postfix: str = "_thumb") -> str:
    """WriteImageThumb: the postfix goes before the first dot of the file name."""
    slash = path.rfind("/")
    dot = path.find(".", slash + 1)
    return path[:dot] + postfix + path[dot:] if dot >= 0 else path + postfix
