"""A raw RFC 5322 e-mail into a VOC submission, with the standard library only.

Korean mail arrives as UTF-8, EUC-KR or `ks_c_5601-1987` (Outlook's name for what
is really CP949, a superset of EUC-KR), in headers as encoded words
(`=?EUC-KR?B?...?=`) and in bodies as single or multipart messages. We keep the
subject and the plain-text body; attachments become metadata."""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.header import decode_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from pydantic import ValidationError

from shared.events import MAX_TEXT_CHARS, Attachment, VocSubmission

# EUC-KR and its aliases decode as CP949, which also covers the extended Hangul Outlook sends
_CHARSET_ALIASES = {"euc-kr": "cp949", "euc_kr": "cp949", "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949",
                    "ksc5601": "cp949", "x-windows-949": "cp949", "windows-949": "cp949", "unknown-8bit": "cp949"}


class EmailParseError(ValueError):
    pass


def _codec(charset: str | None) -> str:
    cs = (charset or "utf-8").strip().strip('"').lower()
    return _CHARSET_ALIASES.get(cs, cs)


def _decode(data: bytes, charset: str | None) -> str:
    for codec in (_codec(charset), "utf-8", "cp949"):
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


class _TextHeaders(email.policy.Compat32):
    """compat32, but a header with raw 8-bit bytes (a legacy mailer's EUC-KR filename, an 8-bit
    Message-ID or Date) is decoded to text: compat32 gives it as an email.header.Header, which has no
    str methods, and its parameters (a filename) as str with each byte replaced by U+FFFD."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # the parser keeps raw bytes as surrogate escapes
            return _decode(value.encode("utf-8", "surrogateescape"), None)
        return super().header_fetch_parse(name, value)


_POLICY = _TextHeaders()


def decode_header_value(raw: str | None) -> str:
    if not raw:
        return ""
    parts = []
    for chunk, charset in decode_header(raw):
        parts.append(_decode(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style).*?</\1>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def _body_and_attachments(msg: Message) -> tuple[str, list[Attachment]]:
    plain, html_parts, attachments = [], [], []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        disposition = (part.get("Content-Disposition") or "").lower()
        filename = part.get_filename()
        ctype = part.get_content_type()
        if filename or "attachment" in disposition or not ctype.startswith("text/"):
            attachments.append(Attachment(filename=decode_header_value(filename) or "(unnamed)",
                                          content_type=ctype, size=len(payload)))
        elif ctype == "text/plain":
            plain.append(_decode(payload, part.get_content_charset()))
        elif ctype == "text/html":
            html_parts.append(_html_to_text(_decode(payload, part.get_content_charset())))
    body = "\n".join(plain) if plain else "\n".join(html_parts)
    body = re.sub(r"\n{3,}", "\n\n", body.replace("\r\n", "\n")).strip()
    return body, attachments


def parse_email(raw: bytes, *, affiliate: str | None = None) -> VocSubmission:
    if not raw.strip():
        raise EmailParseError("empty message")
    msg = email.message_from_bytes(raw, policy=_POLICY)
    if not msg.keys():
        raise EmailParseError("no RFC 5322 headers found")
    subject = decode_header_value(msg.get("Subject"))
    body, attachments = _body_and_attachments(msg)
    if not body and not subject:
        raise EmailParseError("the message has neither a subject nor a text body")
    _, sender = parseaddr(decode_header_value(msg.get("From")))
    try:
        occurred = parsedate_to_datetime(msg["Date"]) if msg.get("Date") else None
        if occurred is not None and occurred.tzinfo is None:
            occurred = None
    except (TypeError, ValueError):
        occurred = None
    message_id = (msg.get("Message-ID") or "").strip() or None
    fields = dict(channel="email", text=(body or subject)[:MAX_TEXT_CHARS], title=subject[:500] or None,
                  customer=sender or None, channel_message_id=message_id[:200] if message_id else None,
                  affiliate=affiliate, attachments=tuple(attachments[:50]))
    try:
        return VocSubmission(**fields, occurred_at=occurred)
    except ValidationError as exc:
        # a date VocSubmission refuses (1990, from a device whose clock was reset) is unknown, as a date
        # without a zone is, not a reason to lose the complaint; the retry raises any other error
        if occurred is None or not any(e["loc"][:1] == ("occurred_at",) for e in exc.errors()):
            raise
        return VocSubmission(**fields, occurred_at=None)
