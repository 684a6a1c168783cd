"""The chat behind the bundled sample export (``tg_pipeline/sample_export``).

Its ``json/result.json`` and ``html/messages.html`` + ``messages2.html`` are the same chat,
written by :mod:`tg_pipeline_tests.synthetic` from :func:`sample_chat` and committed as
package data, so ``make run`` has something real-looking to ingest on a fresh clone. The
chat is made up. It has five people (Boris renames himself from "Borya" halfway through),
replies, an edit, a forward, a message via an inline bot, media of several kinds, reactions
and service entries. Pages hold 40 messages instead of tdesktop's 1000 so that the HTML
version shows paging.

Rebuild the files with
``python -m tg_pipeline_tests.synthetic sample tg_pipeline/sample_export``.
"""

from __future__ import annotations

from typing import Any

from tg_pipeline_tests.synthetic import (
    MODERN,
    Action,
    Chat,
    Contact,
    Document,
    Location,
    Message,
    Part,
    Peer,
    Photo,
    Poll,
    PollAnswer,
    Reaction,
    channel,
    ent,
    file_stamp,
    plain,
    user,
)

SAMPLE_PER_PAGE = 40
SAMPLE_CHAT_ID = 1_845_302_117

ANNA = user(5_211_093_448, "Anna", "Sokolova")
BORYA = user(6_032_117_905, "Borya")
BORIS = user(6_032_117_905, "Boris", "Petrov")
CHEN = user(1_204_566_781, "Chen", "Li")
DANA = user(987_654_321, "Dana", "Cohen")
EMIL = user(7_340_002_219, "Emil")
WEATHER_BOT = user(5_000_123_456, "Weather", "Bot", "weather_bot")
TRAILS = channel(1_576_220_904, "Trail Conditions Daily")


OFFSET = 3 * 3600


class _Timeline:
    """Hands out increasing message ids and times, as a chat produces them."""

    def __init__(self, first_id: int, start: int) -> None:
        self.messages: list[Message] = []
        self.id = first_id - 1
        self.date = start

    def at(self, date: int) -> None:
        self.date = date

    def add(self, gap: int, sender: Peer | None, *pieces: str | Part, **extra: Any) -> Message:
        self.id += 1
        self.date += gap
        parts = tuple(plain(p) if isinstance(p, str) else p for p in pieces)
        message = Message(self.id, self.date, sender, parts, **extra)
        self.messages.append(message)
        return message

    def service(self, gap: int, actor: Peer, action: Action) -> Message:
        return self.add(gap, actor, action=action)

    def stamp(self, gap: int) -> str:
        """The media file-name stamp of the next message, ``gap`` seconds from now."""
        return file_stamp(self.date + gap, OFFSET)


def sample_chat() -> Chat:
    """The sample chat: June 2024, exported on a machine at UTC+03:00 (Moscow)."""
    t = _Timeline(8_801, 1_717_567_200)  # Wednesday 2024-06-05 06:00 UTC
    t.service(0, ANNA, Action("create_group", title="Hiking Club 🥾", members=(BORYA, CHEN)))
    welcome = t.add(40, ANNA, "Welcome everyone! This is the place to plan our summer hikes.")
    t.add(
        25,
        ANNA,
        "Rules: be kind, share photos, and ",
        ent("bold", "always"),
        " check the forecast.",
    )
    t.add(300, BORYA, "Привет всем! Glad to be here 👋")
    t.add(45, CHEN, "Hi! Where are we going first?", reply_to=welcome.id)
    t.service(600, ANNA, Action("invite_members", members=(DANA, EMIL)))
    t.add(120, DANA, "Thanks for the invite 🙂")
    t.add(30, EMIL, "Hello hello")
    proposal = t.add(
        900,
        ANNA,
        "Proposal for Saturday: ",
        ent("text_link", "Sunny Ridge loop", "https://maps.example.org/routes/sunny-ridge"),
        ", 14 km, about 600 m up.",
    )
    t.add(60, BORYA, "I'm in. Can we start early? It gets hot after noon.", reply_to=proposal.id)
    t.add(20, BORYA, "Like 7:00 at the station?")
    t.add(200, CHEN, "7:00 works for me")
    t.add(
        30,
        DANA,
        "Same. I'll bring the first-aid kit.",
        reactions=(Reaction("👍", 2, ((ANNA, t.date + 430), (CHEN, t.date + 530))),),
    )
    t.add(
        400,
        ANNA,
        media=Poll(
            "Which trail on Saturday?",
            (
                PollAnswer("Sunny Ridge loop", 3, chosen=True),
                PollAnswer("Lake trail (flat)", 1),
                PollAnswer("Both, if we're fast", 1),
            ),
        ),
    )
    t.add(
        86_400,
        CHEN,
        ent("bold", "Sunny Ridge: "),
        "trail open, some mud after km 9.\nRangers ask to keep dogs on a leash.",
        forwarded_from=TRAILS,
        forwarded_date=1_717_650_000,
    )
    t.add(90, ANNA, "Good to know, thanks Chen")
    t.add(30, EMIL, "☀️ Saturday: 24°C, wind 3 m/s, no rain expected.", via_bot=WEATHER_BOT)
    t.add(45, DANA, "Perfect weather!", reactions=(Reaction("🔥", 3),))

    t.at(1_717_819_200)  # Saturday 2024-06-08 04:00 UTC: the hike
    t.add(0, BORYA, "Leaving home now 🚆")
    t.add(20, BORYA, "Running 5 min late, sorry!")
    t.add(300, ANNA, "No worries, we're at the kiosk")
    t.add(60, ANNA, media=Location(55.751244, 37.618423))
    stamp = t.stamp(3_400)
    view = t.add(
        3_400,
        CHEN,
        "First viewpoint! 🏔",
        media=Photo(f"photos/photo_1@{stamp}.jpg", 1280, 960, 187_433),
    )
    view.reactions = (
        Reaction("😍", 2, ((DANA, view.date + 60), (ANNA, view.date + 90))),
        Reaction("🔥", 1, ((BORYA, view.date + 120),)),
    )
    stamp = t.stamp(40)
    t.add(40, CHEN, media=Photo(f"photos/photo_2@{stamp}.jpg", 960, 1280, 164_020))
    t.add(25, CHEN, "The view from the top is even better")
    stamp = t.stamp(500)
    voice = t.add(
        500,
        DANA,
        media=Document(
            "voice_message",
            f"voice_messages/audio_1@{stamp}.ogg",
            41_235,
            "audio/ogg",
            duration=11,
        ),
    )
    t.add(60, EMIL, "Haha 😂 I heard the wind more than you", reply_to=voice.id)
    video = f"video_files/video_1@{t.stamp(3_900)}.mp4"
    t.add(
        3_900,
        EMIL,
        "Crossing the stream, ",
        ent("italic", "very carefully"),
        media=Document(
            "video_file",
            video,
            8_421_773,
            "video/mp4",
            duration=27,
            width=1280,
            height=720,
            thumb=video + "_thumb.jpg",
            thumb_size=14_220,
        ),
    )
    t.add(120, ANNA, "Lunch break at the lake, 30 min")
    t.add(
        40,
        BORYA,
        media=Document(
            "sticker",
            "stickers/sticker.webp",
            27_690,
            "image/webp",
            width=512,
            height=512,
            thumb="stickers/sticker.webp_thumb.jpg",
            thumb_size=6_112,
            sticker_emoji="🥪",
        ),
    )
    t.add(9_400, DANA, "Back at the station. 14.6 km, 5 h 10 min 💪")
    thanks = t.add(
        40,
        ANNA,
        "Thank you all, that was wonderful! Photos go in the album: ",
        ent("link", "https://photos.example.org/album/hike-0608"),
    )
    thanks.reactions = (Reaction("❤", 4, ((DANA, thanks.date + 200), (CHEN, thanks.date + 220))),)

    t.at(1_718_384_400)  # Friday 2024-06-14 17:00 UTC; Borya now calls himself Boris Petrov
    t.add(
        0,
        BORIS,
        "I wrote up the route with timings, see the PDF",
        media=Document(
            "file",
            "files/sunny_ridge_notes.pdf",
            312_554,
            "application/pdf",
            file_name="sunny_ridge_notes.pdf",
        ),
    )
    idea = t.add(
        60,
        BORIS,
        "Next trip idea: two days, with a night in the hut at ",
        ent("bold", "Krasnaya Polyana"),
        ".",
    )
    idea.edited = idea.date + 95
    t.add(30, CHEN, "Count me in! Who has a tent?", reply_to=idea.id)
    t.add(50, DANA, media=Contact("Mountain Hut", "Booking", "+7 862 555 0142"))
    t.add(20, DANA, "That's the hut, they answer in English too")
    t.service(300, ANNA, Action("pin_message", message_id=idea.id))
    t.service(30, ANNA, Action("edit_group_title", title="Hiking Club 🥾⛺"))
    sorry = t.add(600, EMIL, "I can't make it this time, sorry 😢 ", ent("hashtag", "#nextTime"))
    t.add(40, BORIS, "We'll miss you!", reply_to=sorry.id)
    t.add(
        1_800,
        CHEN,
        "Song for the road 🎶",
        media=Document(
            "audio_file",
            "files/on_the_road_again.mp3",
            4_116_203,
            "audio/mpeg",
            file_name="on_the_road_again.mp3",
            duration=157,
            performer="The Trailheads",
            title="On the Road Again",
        ),
    )
    t.add(
        30,
        ANNA,
        "Reminder: ",
        ent("code", "sleeping bag rated to +5 °C"),
        ", headlamp, 2 l of water. Questions to ",
        ent("mention", "@anna_sokolova"),
        ".",
    )
    t.add(45, BORIS, "Got everything except the headlamp 🔦")
    spare = t.add(20, BORIS, "Who has a spare one?")
    spare.reactions = (Reaction("👍", 1, ((DANA, spare.date + 70),)),)
    t.add(80, DANA, "I do, I'll bring it")
    t.service(7_200, ANNA, Action("remove_members", members=(EMIL,)))
    t.service(60, DANA, Action("join_group_by_link", inviter=ANNA))
    t.add(30, DANA, "Oops, I left by accident and came back via the link 🙈")
    t.add(40, ANNA, "Welcome back 😄")
    return Chat(
        name="Hiking Club 🥾⛺",
        type="private_supergroup",
        id=SAMPLE_CHAT_ID,
        messages=t.messages,
        utc_offset=OFFSET,
        flavor=MODERN,
    )
