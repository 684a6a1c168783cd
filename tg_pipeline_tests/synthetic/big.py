"""Large, realistic exports generated on the fly for the benchmarks."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from tg_pipeline_tests.synthetic.formats import Clock
from tg_pipeline_tests.synthetic.html_writer import MESSAGES_PER_PAGE, HtmlChatWriter
from tg_pipeline_tests.synthetic.json_writer import json_chat_header, json_message
from tg_pipeline_tests.synthetic.model import (
    MODERN,
    Action,
    Chat,
    Document,
    Flavor,
    Media,
    Message,
    Part,
    Photo,
    Reaction,
    channel,
    ent,
    plain,
    user,
)

#: Changes whenever :class:`BigChat` output changes, so cached benchmark exports are redone.
BIG_EXPORT_VERSION = "1"


_SENTENCES = (
    "the meeting moved to thursday, can everyone make it?",
    "ok I'll bring the slides and the coffee",
    "did you see the release notes for the new version",
    "let's keep this thread for the deployment discussion only",
    "привет, как дела? всё хорошо, спасибо",
    "завтра в десять у входа, не опаздывайте",
    "photos from the trip are in the shared folder",
    "the build is green again after the fix",
    "ich komme etwas später, fangt ohne mich an",
    "lunch at the usual place at 12:30",
)
_WORDS = tuple(" ".join(_SENTENCES).split())
_EMOJI = ("👍", "😂", "🔥", "❤", "🎉", "🤔", "👀", "🙏", "😢", "🚀")
_LINKS = (
    "https://example.com/docs/getting-started",
    "https://github.com/example/project/pull/1432",
    "https://news.example.org/2023/05/release",
)


class BigChat:
    """A deterministic, realistic chat of ``n`` messages generated on the fly.

    Around a quarter of the messages carry entities, a fifth are replies, some carry media
    (with file sizes) or reactions, a few are forwards, edits or service entries, and
    senders post in bursts so that HTML joins runs. Nothing is held in memory.
    """

    def __init__(self, n: int, seed: int = 20240501, start: int = 1_650_000_000) -> None:
        self.n = n
        self.seed = seed
        self.start = start
        first = ("Anna", "Boris", "Chen", "Dana", "Emil", "Fatima", "Georg", "Hana")
        last = ("Ivanova", "Petrov", "Li", "Cohen", "", "Haddad", "Weber", "")
        self.users = [user(100_000 + i * 7919, first[i % 8], last[i % 8]) for i in range(40)]
        self.bot = user(555_000_001, "Weather", "Bot", "weather_bot")
        self.channel = channel(1_300_000_123, "Release Notes")

    def chat(self, flavor: Flavor = MODERN, utc_offset: int = 3 * 3600) -> Chat:
        return Chat(
            name="Engineering 🛠 & Friends",
            type="private_supergroup",
            id=1_700_000_042,
            messages=self.messages(),
            utc_offset=utc_offset,
            flavor=flavor,
        )

    def _text(self, rng: random.Random) -> tuple[Part, ...]:
        words = rng.choices(_WORDS, k=rng.randint(5, 32))
        text = " ".join(words)
        roll = rng.random()
        if roll < 0.66:
            if rng.random() < 0.1:
                text += " " + rng.choice(_EMOJI)
            return (plain(text[:1].upper() + text[1:]),)
        cut = rng.randint(1, len(words) - 1) if len(words) > 1 else 1
        head = " ".join(words[:cut]) + " "
        tail = " " + " ".join(words[cut:])
        kind = rng.random()
        if kind < 0.3:
            middle = ent("bold", rng.choice(_WORDS))
        elif kind < 0.5:
            middle = ent("link", rng.choice(_LINKS))
        elif kind < 0.6:
            middle = ent("text_link", "this page", rng.choice(_LINKS))
        elif kind < 0.7:
            middle = ent("mention", "@" + rng.choice(("anna_i", "boris_p", "dana_c")))
        elif kind < 0.8:
            middle = ent("code", "make test")
        elif kind < 0.9:
            middle = ent("italic", rng.choice(_WORDS))
        else:
            middle = ent("hashtag", "#release")
        return (plain(head), middle, plain(tail))

    def _media(self, rng: random.Random, message_id: int, date: int, clock: Clock) -> Media:
        stamp = clock.file_part(date)
        roll = rng.random()
        if roll < 0.55:
            return Photo(
                f"photos/photo_{message_id}@{stamp}.jpg", 1280, 960, rng.randint(60_000, 400_000)
            )
        if roll < 0.7:
            return Document(
                "file",
                f"files/report_{message_id}.pdf",
                rng.randint(20_000, 4_000_000),
                "application/pdf",
                file_name=f"report_{message_id}.pdf",
            )
        if roll < 0.82:
            return Document(
                "voice_message",
                f"voice_messages/audio_{message_id}@{stamp}.ogg",
                rng.randint(5_000, 90_000),
                "audio/ogg",
                duration=rng.randint(2, 90),
            )
        if roll < 0.92:
            path = f"video_files/video_{message_id}@{stamp}.mp4"
            return Document(
                "video_file",
                path,
                rng.randint(300_000, 9_000_000),
                "video/mp4",
                duration=rng.randint(3, 300),
                width=1280,
                height=720,
                thumb=path + "_thumb.jpg",
                thumb_size=12_000,
            )
        return Document(
            "sticker",
            f"stickers/sticker_{message_id % 40}.webp",
            rng.randint(10_000, 60_000),
            "image/webp",
            width=512,
            height=512,
            thumb=f"stickers/sticker_{message_id % 40}.webp_thumb.jpg",
            thumb_size=5_000,
            sticker_emoji=rng.choice(_EMOJI),
        )

    def messages(self) -> Iterator[Message]:
        rng = random.Random(self.seed)
        clock = Clock(3 * 3600, None)
        date = self.start
        sender = self.users[0]
        message_id = 1000
        for index in range(self.n):
            message_id += 1 if rng.random() < 0.97 else rng.randint(2, 5)
            date += rng.choice((1, 4, 15, 40, 90, 300, 1200)) if rng.random() < 0.9 else 3600
            if rng.random() < 0.35:
                sender = rng.choice(self.users)
            if index and rng.random() < 0.008:
                action_kind = rng.choice(("invite_members", "pin_message", "edit_group_title"))
                action = Action(
                    action_kind,
                    title="Engineering 🛠 & Friends",
                    members=(rng.choice(self.users),),
                    message_id=message_id - rng.randint(1, 50),
                )
                yield Message(message_id, date, sender, action=action)
                continue
            message = Message(message_id, date, sender, parts=self._text(rng))
            roll = rng.random()
            if roll < 0.2 and index > 1:
                back = rng.randint(1, 40) if rng.random() < 0.9 else rng.randint(41, 3000)
                message.reply_to = max(1001, message_id - back)
            if rng.random() < 0.12:
                message.media = self._media(rng, message_id, date, clock)
                if rng.random() < 0.5:
                    message.parts = ()
            if rng.random() < 0.08:
                peer = rng.choice(self.users)
                message.reactions = (Reaction(rng.choice(_EMOJI), 1, ((peer, date + 60),)),) + (
                    (Reaction("👍", rng.randint(2, 30)),) if rng.random() < 0.5 else ()
                )
            if rng.random() < 0.04:
                message.edited = date + rng.randint(30, 3000)
            if rng.random() < 0.02:
                message.forwarded_from = self.channel
                message.forwarded_date = date - rng.randint(100, 100_000)
            elif rng.random() < 0.01:
                message.via_bot = self.bot
            yield message


def generate_big_export(
    folder: Path,
    n: int,
    *,
    seed: int = 20240501,
    formats: Sequence[str] = ("json", "html"),
    per_page: int = MESSAGES_PER_PAGE,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Path]:
    """Stream a synthetic export of ``n`` messages in the requested formats, in one pass."""
    big = BigChat(n, seed)
    chat = big.chat()
    result: dict[str, Path] = {}
    json_out: TextIO | None = None
    html: HtmlChatWriter | None = None
    clock = Clock(chat.utc_offset, chat.zone_label)
    if "json" in formats:
        (folder / "json").mkdir(parents=True, exist_ok=True)
        result["json"] = folder / "json" / "result.json"
        json_out = result["json"].open("w", encoding="utf-8", newline="\n")
        json_out.write("{" + json_chat_header(chat, 1))
    if "html" in formats:
        (folder / "html").mkdir(parents=True, exist_ok=True)
        result["html"] = folder / "html"
        html = HtmlChatWriter(chat, folder / "html", per_page)
    pending: list[str] = []
    for count, message in enumerate(big.messages()):
        if json_out is not None:
            pending.append(
                ("," if count else "") + "\n  " + json_message(message, 2, clock, chat.flavor)
            )
            if len(pending) >= 2000:
                json_out.write("".join(pending))
                pending.clear()
        if html is not None:
            html.add(message)
        if progress is not None and count % 100_000 == 0:
            progress(count)
    if json_out is not None:
        json_out.write("".join(pending) + "\n ]\n}")
        json_out.close()
    if html is not None:
        html.finish()
    return result
