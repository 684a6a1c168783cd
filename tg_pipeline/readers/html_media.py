"""Media blocks, polls and reactions of an HTML message, in the JSON export's vocabulary.

tdesktop writes media two ways (``pushMedia`` in ``export_output_html.cpp``): a thumbnail
link (``a.photo_wrap``, ``a.video_file_wrap``, ``a.animated_wrap``, ``a.sticker_wrap``) when
it has a thumbnail, and otherwise a generic block ``.media.media_<kind>`` with a title,
a description and a status line. The generic block for videos, animations and video
messages shares one class (``media_video``), so its title tells them apart. The media
types produced here are the ``media_type`` values the JSON reader uses.
"""

from __future__ import annotations

import re
from typing import Any

from selectolax.lexbor import LexborNode

from tg_pipeline.readers.html_text import plain_text

#: tdesktop's ``NoFileDescription``: the file is not in the export.
_NOT_INCLUDED = (
    "Not included, change data exporting settings to download.",
    "Exceeds maximum size, change data exporting settings to download.",
    "Unavailable, please try again later.",
)

_WRAP_TYPES = {
    "photo_wrap": "photo",
    "video_file_wrap": "video_file",
    "animated_wrap": "animation",
    "sticker_wrap": "sticker",
}

_GENERIC_TYPES = {
    "media_photo": "photo",
    "media_video": "video_file",
    "media_voice_message": "voice_message",
    "media_audio_file": "audio_file",
    "media_file": "file",
    "media_contact": "contact",
    "media_location": "location",
    "media_live_location": "location",
    "media_venue": "location",
    "media_game": "game",
    "media_invoice": "invoice",
}

_VIDEO_TITLES = {"Video message": "video_message", "Animation": "animation"}

_IMG_TYPES = {"photo": "photo", "sticker": "sticker", "video_file": "video_file"}

_COORDS = re.compile(r"\s*(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?)\s*")
_VOTES = re.compile(r"(\d+) votes?")


def _classes(node: LexborNode) -> list[str]:
    return (node.attributes.get("class") or "").split()


def is_global_link(href: str) -> bool:
    return href.startswith(("http://", "https://", "HTTP://", "HTTPS://"))


def _generic(node: LexborNode, kind: str) -> tuple[str | None, str | None, dict[str, Any]]:
    details: dict[str, Any] = {}
    note = None
    for part in node.iter():
        part_classes = _classes(part)
        if part_classes[:1] != ["body"]:
            continue
        for field in part.iter():
            name = _classes(field)[:1]
            value = plain_text(field)
            if not name or not value:
                continue
            if name[0] == "title":
                details["title"] = value
            elif name[0] == "description":
                if value in _NOT_INCLUDED:
                    note = value
                else:
                    details["description"] = value
            elif name[0] == "status":
                details["status"] = value
    media_type = _GENERIC_TYPES.get(kind)
    title = details.get("title", "")
    if kind == "media_video":
        media_type = _VIDEO_TITLES.get(title, "video_file")
    elif kind == "media_photo" and title == "Sticker":
        media_type = "sticker"
    elif kind == "media_call":
        media_type = None
    extra: dict[str, Any] = {}
    if details:
        extra["media_details"] = details
    if note:
        extra["media_note"] = note
    if kind == "media_live_location":
        details["live"] = True
    status = details.get("status", "")
    if media_type == "location":
        coords = _COORDS.fullmatch(status)
        if coords is not None:
            extra["location_information"] = {
                "latitude": float(coords.group(1)),
                "longitude": float(coords.group(2)),
            }
    elif media_type == "contact":
        extra["contact_information"] = {
            "name": title,
            "phone_number": status.removesuffix(" - vCard"),
        }
    href = node.attributes.get("href") if node.tag == "a" else None
    path = None
    if href:
        if is_global_link(href):
            details["link"] = href
        else:
            path = href
    return media_type, path, extra


def _poll(node: LexborNode) -> dict[str, Any]:
    """The poll in the shape of the JSON export's ``poll`` object."""
    question = ""
    closed = False
    total = 0
    answers: list[dict[str, Any]] = []
    for part in node.iter():
        name = _classes(part)[:1]
        if not name:
            continue
        if name[0] == "question":
            question = plain_text(part)
        elif name[0] == "details":
            closed = plain_text(part) == "Final results"
        elif name[0] == "total":
            votes = _VOTES.search(plain_text(part))
            total = int(votes.group(1)) if votes else 0
        elif name[0] == "answer":
            own: list[str] = []
            detail = ""
            for child in part.iter(include_text=True):
                if child.tag == "-text":
                    own.append(child.text_content or "")
                elif child.tag != "-comment":
                    detail += child.text(deep=True)
            text = "".join(own).strip()
            if text.startswith("- "):
                text = text[2:]
            elif text == "-":
                text = ""
            votes = _VOTES.search(detail)
            answers.append(
                {
                    "text": text.strip(),
                    "voters": int(votes.group(1)) if votes else 0,
                    "chosen": "chosen vote" in detail,
                }
            )
    return {"question": question, "closed": closed, "total_voters": total, "answers": answers}


def read_media(wrap: LexborNode) -> tuple[str | None, str | None, dict[str, Any]]:
    """``(media_type, media_path, extra)`` of a ``div.media_wrap``.

    ``extra`` holds what HTML shows besides the file: the title/status lines, a
    "not included" note (then the path is null), poll details, call details.
    """
    fallback_path = None
    for node in wrap.iter():
        classes = _classes(node)
        first = classes[0] if classes else ""
        wrap_type = _WRAP_TYPES.get(first)
        if wrap_type is not None:
            extra: dict[str, Any] = {}
            duration = node.css_first(".video_duration")
            if duration is not None:
                extra["media_details"] = {"duration": plain_text(duration)}
            return wrap_type, node.attributes.get("href") or None, extra
        if first == "media_poll":
            return "poll", None, {"poll": _poll(node)}
        if first == "media" or first.startswith("media_"):
            kind = next((c for c in classes if c.startswith("media_")), "")
            if kind == "media_call":
                _, _, extra = _generic(node, kind)
                extra["call"] = True
                return None, None, extra
            if kind in _GENERIC_TYPES:
                media_type, path, extra = _generic(node, kind)
                return media_type, path or fallback_path, extra
        if node.tag == "a":
            # Hand-made pages: a bare link around an <img class="photo|sticker">.
            href = node.attributes.get("href") or None
            image = node.css_first("img")
            image_classes = _classes(image) if image is not None else []
            image_type = _IMG_TYPES.get(image_classes[0]) if image_classes else None
            if image_type is not None:
                return image_type, href, {}
            fallback_path = fallback_path or href
    if fallback_path:
        return "file", fallback_path, {}
    return None, None, {"media_unrecognised": plain_text(wrap)}


def read_reactions(node: LexborNode) -> list[dict[str, Any]]:
    """``span.reactions`` (``div`` before v5.13) as the JSON export's reaction list."""
    reactions: list[dict[str, Any]] = []
    for item in node.iter():
        classes = _classes(item)
        if "reaction" not in classes:
            continue
        emoji = ""
        document = None
        count = None
        recent: list[dict[str, Any]] = []
        for part in item.iter():
            name = _classes(part)[:1]
            if not name:
                continue
            if name[0] == "emoji":
                emoji = part.text(deep=True).strip()
                link = part.css_first("a")
                if link is not None:
                    document = link.attributes.get("href") or None
            elif name[0] == "count":
                digits = part.text(deep=True).strip()
                count = int(digits) if digits.isdigit() else None
            elif name[0] == "userpics":
                for pic in part.css("[title]"):
                    who = (pic.attributes.get("title") or "").strip()
                    if who:
                        recent.append({"from": who})
        if count is None:
            count = len(recent) or 1
        entry: dict[str, Any]
        if "paid" in classes:
            entry = {"type": "paid", "count": count}
        elif document is not None or (not emoji and item.css_first("a") is not None):
            entry = {"type": "custom_emoji", "count": count, "document_id": document}
        else:
            entry = {"type": "emoji", "count": count, "emoji": emoji}
        if recent:
            entry["recent"] = recent
        reactions.append(entry)
    return reactions
