"""The report's charts, drawn with matplotlib's SVG backend into strings for inline use.

Figures are built with ``matplotlib.figure.Figure`` directly, never ``pyplot``: no global
backend, no figure registry that keeps them alive. Text stays ``<text>`` elements
(``svg.fonttype: none``) so names are selectable and searchable in the page, and names are
never read as markup: mathtext is off (``$x$`` stays literal) and the SVG writer escapes
``<``, ``>`` and ``&``. Each chart gets its own id salt, so clip paths of several inline
SVGs on one page never share an id.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tg_pipeline.warehouse.report_queries import OTHERS, ChatDetail, ChatSummary

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Qualitative colours, distinguishable for the common colour-vision deficiencies.
PALETTE = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377")
OTHERS_COLOUR = "#BBBBBB"
BAR_COLOUR = "#4477AA"
HEATMAP_CMAP = "YlGnBu"
_NAME_WIDTH = 28
_THOUSANDS = FuncFormatter(lambda value, _pos: f"{value:,.0f}")
WIDTH_IN = 8.0

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "text.usetex": False,
    "font.family": "sans-serif",
    # Emoji fonts last: names often hold emoji, which the text fonts lack.
    "font.sans-serif": [
        "DejaVu Sans",
        "Arial",
        "Liberation Sans",
        "Noto Color Emoji",
        "Apple Color Emoji",
        "Segoe UI Emoji",
        "sans-serif",
    ],
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#666666",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
}


@contextmanager
def _style(salt: str) -> Iterator[None]:
    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        yield


def _svg(fig: Figure) -> str:
    FigureCanvasSVG(fig)
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Text stays <text> in the SVG and the browser picks a font that has the glyph;
        # matplotlib's own font lacking it (CJK, emoji, control characters) is no news,
        # and its warning would print the raw character to the terminal.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    # Inline in HTML: drop the XML declaration and doctype before the root element.
    return text[text.index("<svg") :]


def short(name: str | None, width: int = _NAME_WIDTH) -> str:
    text = " ".join((name or "(no name)").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def senders_chart(detail: ChatDetail, salt: str) -> str:
    """Horizontal bars: messages per sender, the most active on top, the rest summed."""
    rows = detail.senders
    with _style(salt):
        fig = Figure(figsize=(WIDTH_IN, 0.8 + 0.32 * max(len(rows), 1)))
        ax = fig.add_subplot()
        labels = [short(name) for _, name, _ in rows]
        values = [count for _, _, count in rows]
        named = [count for key, _, count in rows if key is not None]
        # "N others" can outweigh everyone named; its bar is cut to the named senders' scale
        # so their bars stay readable, hatched to say so, and labelled with its real count.
        limit = max(named, default=max(values, default=1)) * 1.1
        drawn = [
            min(v, limit) if key is None else v for (key, _, _), v in zip(rows, values, strict=True)
        ]
        colours = [OTHERS_COLOUR if key is None else BAR_COLOUR for key, _, _ in rows]
        positions = list(range(len(rows)))
        bars = ax.barh(positions, drawn, color=colours, height=0.7)
        for bar, value, shown in zip(bars, values, drawn, strict=True):
            if shown < value:
                bar.set_hatch("//")
                bar.set_edgecolor("white")
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=9)
        ax.set_xlim(0, limit * 1.12)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(_THOUSANDS)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("messages")
        ax.set_title("Messages per sender")
        return _svg(fig)


def _bucket_starts(first: date, last: date, bucket: str) -> list[date]:
    starts: list[date] = []
    current = first
    while current <= last:
        starts.append(current)
        if bucket == "day":
            current += timedelta(days=1)
        elif bucket == "week":
            current += timedelta(days=7)
        else:
            year, month = divmod(current.month, 12)
            current = date(current.year + year, month + 1, 1)
    return starts


_BUCKET_DAYS = {"day": 1, "week": 7, "month": 30}


def activity_chart(detail: ChatDetail, zone_label: str, salt: str) -> str:
    """Messages per day, week or month, stacked by the most active senders."""
    series: dict[str, dict[date, int]] = {}
    for bucket, label, count in detail.activity:
        series.setdefault(label, {})[bucket] = count
    every = [b for b, _, _ in detail.activity]
    with _style(salt):
        fig = Figure(figsize=(WIDTH_IN, 3.4))
        ax = fig.add_subplot()
        if every:
            x = _bucket_starts(min(every), max(every), detail.bucket)
            step = timedelta(days=_BUCKET_DAYS[detail.bucket])
            bottom = [0] * len(x)
            width = _BUCKET_DAYS[detail.bucket] * 0.9
            for index, (label, counts) in enumerate(series.items()):
                colour = OTHERS_COLOUR if label == OTHERS else PALETTE[index % len(PALETTE)]
                ys = [counts.get(b, 0) for b in x]
                # matplotlib converts dates through its unit registry; its stubs admit
                # numbers only, hence the narrow ignores on the date arguments below.
                if len(x) <= 60:
                    ax.bar(
                        x,  # type: ignore[arg-type]
                        ys,
                        width=width,
                        bottom=bottom,
                        color=colour,
                        label=short(label),
                        align="edge",
                    )
                else:
                    # Steps hold each bucket's value to the next bucket's start; the
                    # repeated last value closes the last bucket.
                    top = [b + y for b, y in zip(bottom, ys, strict=True)]
                    ax.fill_between(
                        [*x, x[-1] + step],  # type: ignore[arg-type]
                        [*bottom, bottom[-1]],
                        [*top, top[-1]],
                        step="post",
                        color=colour,
                        label=short(label),
                        linewidth=0,
                    )
                bottom = [b + y for b, y in zip(bottom, ys, strict=True)]
            # A little room either side, and never less than a few days, so that one busy
            # day reads as a bar on a date axis rather than an axis of hours.
            pad = max(step, timedelta(days=3) - step * len(x) / 2)
            ax.set_xlim(x[0] - pad, x[-1] + step + pad)  # type: ignore[arg-type]
            locator = AutoDateLocator(minticks=3, maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(_THOUSANDS)
        ax.set_ylabel(f"messages per {detail.bucket}")
        ax.set_title(f"Activity over time ({zone_label})")
        return _svg(fig)


def heatmap_chart(detail: ChatDetail, zone_label: str, salt: str) -> str:
    """Messages by weekday (rows) and hour of day (columns), in the chat's zone."""
    grid = [[0] * 24 for _ in WEEKDAYS]
    for dow, hour, count in detail.heatmap:
        grid[dow - 1][hour] = count
    with _style(salt):
        fig = Figure(figsize=(WIDTH_IN, 2.9))
        ax = fig.add_subplot()
        mesh = ax.pcolormesh(grid, cmap=HEATMAP_CMAP, edgecolors="white", linewidth=0.5)
        ax.set_xticks([h + 0.5 for h in range(0, 24, 2)], [f"{h:02d}" for h in range(0, 24, 2)])
        ax.set_yticks([d + 0.5 for d in range(7)], WEEKDAYS)
        ax.invert_yaxis()
        ax.set_aspect("equal")
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_xlabel(f"hour of day ({zone_label})")
        ax.set_title("When people write")
        bar = fig.colorbar(mesh, ax=ax, fraction=0.025, pad=0.02)
        bar.set_label("messages")
        bar.locator = MaxNLocator(integer=True)
        bar.formatter = _THOUSANDS
        bar.update_ticks()
        bar.outline.set_visible(False)
        return _svg(fig)


def content_chart(summary: ChatSummary, detail: ChatDetail, salt: str) -> str:
    """Shares of messages: by media type (and text only), and replies and forwards."""
    total = max(summary.messages, 1)
    kinds = [("text only", summary.messages - summary.with_media), *detail.media]
    threads = [("replies", summary.replies), ("forwards", summary.forwards)]
    with _style(salt):
        fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.3 * max(len(kinds), 2)))
        left, right = fig.subplots(1, 2, width_ratios=(3, 2))
        for ax, rows, title, colour in (
            (left, kinds, "What messages hold", "#228833"),
            (right, threads, "Replies and forwards", "#AA3377"),
        ):
            positions = list(range(len(rows)))
            shares = [100.0 * count / total for _, count in rows]
            bars = ax.barh(positions, shares, color=colour, height=0.65)
            ax.set_yticks(positions, [short(name, 20) for name, _ in rows])
            ax.invert_yaxis()
            labels = [
                f"{count:,} ({share:.1f}%)" for (_, count), share in zip(rows, shares, strict=True)
            ]
            ax.bar_label(
                bars,
                labels=labels,
                padding=3,
                fontsize=9,
            )
            ax.set_xlim(0, 140)
            ax.set_xticks([0, 25, 50, 75, 100])
            ax.set_xlabel("% of messages")
            ax.tick_params(axis="y", length=0)
            ax.set_title(title)
        return _svg(fig)


def chat_charts(summary: ChatSummary, detail: ChatDetail, zone_label: str) -> dict[str, str]:
    """The four charts of one chat page, as inline SVG, keyed by what they show."""
    salt = f"chat{summary.chat_id}"
    return {
        "senders": senders_chart(detail, f"{salt}-senders"),
        "activity": activity_chart(detail, zone_label, f"{salt}-activity"),
        "heatmap": heatmap_chart(detail, zone_label, f"{salt}-heatmap"),
        "content": content_chart(summary, detail, f"{salt}-content"),
    }
