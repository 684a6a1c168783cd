"""What each warehouse column means, in one sentence: shown in the UI's column views and
kept next to the schema so a new column without a description is noticed by a test."""

from __future__ import annotations

COLUMN_DOCS: dict[str, str] = {
    # messages
    "chat_id": "Telegram's chat id; a large negative surrogate for an HTML-only chat.",
    "chat_name": "The chat's name as this record's dump gave it.",
    "chat_type": "personal_chat, private_group, private_supergroup, public_channel, …",
    "message_id": "Telegram's id of the entry, unique within its chat.",
    "kind": "'message' for a message, 'service' for a service entry (join, pin, call, …); "
    "only messages are counted.",
    "sent_at": "When the entry was sent, as an instant (shown in UTC).",
    "edited_at": "When it was last edited, if ever.",
    "time_source": "Where sent_at came from: unixtime, html_offset, assumed (default zone) "
    "or inferred (from a neighbour).",
    "sender_id": "Telegram's id of the sender (user123, channel456); empty in HTML dumps.",
    "sender_name": "The sender's name as this record's dump gave it.",
    "text": "The text, formatting removed; empty for media without a caption.",
    "entities": "JSON list of the text's parts: links, mentions, bold, code, …",
    "reply_to_message_id": "The message this one replies to, in the same chat.",
    "forwarded_from": "Who the message was forwarded from.",
    "via_bot": "The inline bot the message was sent through.",
    "author": "The signature on a channel post.",
    "media_type": "photo, video_file, voice_message, sticker, file, …",
    "media_path": "The media file's path inside the export (media files are not copied).",
    "action": "What a service entry did: invite_members, pin_message, phone_call, …",
    "actor": "Who did it, for a service entry.",
    "reactions": "JSON list of reactions with their counts.",
    "extra": "JSON object with every other field of the export's entry, kept as is.",
    "source_file": "The file the record was read from, in the dump's raw copy under data/raw/.",
    "source_position": "Where in that file: messages[17] in JSON, a page element in HTML.",
    "sender_key": "The sender's stable key: sender_id when known, else name:<sender_name>.",
    "ingested_dump": "The dump that last wrote this row.",
    "updated_at": "When this row was last written.",
    # user_message_counts
    "message_count": "Messages (kind = 'message') by this sender in this chat; service "
    "entries are not counted.",
    "first_message_at": "The sender's first message in the chat.",
    "last_message_at": "The sender's last message in the chat.",
}


def column_doc(name: str) -> str | None:
    return COLUMN_DOCS.get(name)
