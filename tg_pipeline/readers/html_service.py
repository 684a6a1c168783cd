"""Service entries of an HTML export: English prose back to JSON's ``action`` names.

HTML writes a service entry as one sentence ("Alice invited Bob and Carol") with no actor
id and no time. The sentences come from fixed templates in tdesktop's
``export_output_html.cpp``, so matching those templates recovers the action name the JSON
export would give, the actor's display name and, where the sentence holds them, the
members or the new title. It is best effort: names that themselves contain a template's
words can be split wrongly, and an unknown sentence (a newer tdesktop) keeps
``action = None`` with its prose intact in ``text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_GO_TO_MESSAGE = re.compile(r"go_to_message(-?\d+)|GoToMessage\((-?\d+)\)")


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    action: str | None
    actor: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def _names(listing: str) -> list[str]:
    """tdesktop's "A, B and C" list back to names."""
    head, sep, last = listing.rpartition(" and ")
    if not sep:
        return [listing]
    return [*head.split(", "), last]


# (pattern, action). Order matters: the more specific sentence comes first. A group named
# "actor" is the acting user's display name.
_TEMPLATES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), action)
    for pattern, action in (
        (r"(?P<actor>.+?) invited (?P<members>.+) to the voice chat", "invite_to_group_call"),
        (r"(?P<actor>.+?) invited(?: (?P<members>.*))?", "invite_members"),
        (r"(?P<actor>.+?) removed group photo", "delete_group_photo"),
        (r"Channel photo removed", "delete_group_photo"),
        (r"(?P<actor>.+?) changed group photo", "edit_group_photo"),
        (r"Channel photo changed", "edit_group_photo"),
        (r"(?P<actor>.+?) joined group by link from (?P<inviter>.+)", "join_group_by_link"),
        (r"(?P<actor>.+?) joined group by request", "join_group_by_request"),
        (r"(?P<actor>.+?) removed (?P<members>.+)", "remove_members"),
        (
            r"(?P<actor>.+?) created group «(?P<title>.*)»(?: with members (?P<members>.+))?",
            "create_group",
        ),
        (r"Channel «(?P<title>.*)» created", "create_channel"),
        (r"(?P<actor>.+?) changed group title to «(?P<title>.*)»", "edit_group_title"),
        (r"Channel title changed to «(?P<title>.*)»", "edit_group_title"),
        (r"(?P<actor>.+?) converted this group to a supergroup", "migrate_to_supergroup"),
        (
            r"(?P<actor>.+?) converted a basic group to this supergroup «(?P<title>.*)»",
            "migrate_from_group",
        ),
        (r"(?P<actor>.+?) pinned .+", "pin_message"),
        (r"History cleared", "clear_history"),
        (r"(?P<actor>.+?) scored (?P<score>\d+) in .+", "score_in_game"),
        (r"You were charged .+", "send_payment"),
        (r"You have successfully transferred .+", "send_payment"),
        (r"(?P<actor>.+?) took a screenshot", "take_screenshot"),
        (r"You allowed this bot to message you.*", "allow_sending_messages"),
        (r"You have sent the following documents: .+", "send_passport_values"),
        (r"(?P<actor>.+?) joined Telegram", "joined_telegram"),
        (r"You are now within .+", "proximity_reached"),
        (r".+ is now within .+", "proximity_reached"),
        (r"(?P<actor>.+?) requested your phone number", "requested_phone_number"),
        (r"(?P<actor>.+?) started voice chat.*", "group_call"),
        (r"Voice chat scheduled for .+", "group_call_scheduled"),
        (r"(?P<actor>.+?) scheduled a voice chat for .+", "group_call_scheduled"),
        (r"Voice chat.*", "group_call"),
        (r"New messages will (?:not )?auto-delete.*", "set_messages_ttl"),
        (r"(?P<actor>.+?) has set messages (?:not )?to auto-delete.*", "set_messages_ttl"),
        (r"Channel theme was (?:disabled|changed to .+)", "edit_chat_theme"),
        (r"(?P<actor>.+?) (?:disabled chat theme|changed chat theme to .+)", "edit_chat_theme"),
        (r"You have just successfully transferred data from the .+", "send_webview_data"),
        (r"(?P<actor>.+?) sent you a gift.*", "send_premium_gift"),
        (r"(?P<actor>.+?) created topic «(?P<title>.*)»", "topic_created"),
        (r"(?P<actor>.+?) changed topic .+", "topic_edit"),
        (r"(?P<actor>.+?) suggests to use this photo", "suggest_profile_photo"),
        (r"requested: .*", "requested_peer"),
        (r"(?P<actor>.+?) set a new background for this chat", "set_chat_wallpaper"),
        (r"(?P<actor>.+?) set .+ for this chat", "set_same_chat_wallpaper"),
        (r"This message is not supported by this version of Telegram Desktop.*", "unsupported"),
    )
)


def classify_service(text: str, link: str | None = None) -> ServiceInfo:
    """Action, actor and details of one service sentence; ``link`` is its ``<a href>``."""
    for pattern, action in _TEMPLATES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        groups = match.groupdict()
        extra: dict[str, Any] = {}
        if groups.get("members"):
            extra["members"] = _names(groups["members"])
        if groups.get("title") is not None:
            extra["title"] = groups["title"]
        if groups.get("inviter"):
            extra["inviter"] = groups["inviter"]
        if groups.get("score"):
            extra["score"] = int(groups["score"])
        if link:
            target = _GO_TO_MESSAGE.search(link)
            if target is not None:
                extra["message_id"] = int(target.group(1) or target.group(2))
        return ServiceInfo(action, groups.get("actor"), extra)
    return ServiceInfo(None, None, {})
