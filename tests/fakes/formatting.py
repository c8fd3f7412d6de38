"""Telegram-like text formatting for the fake Bot API server.

Telegram parses ``parse_mode`` text on the server: the returned ``Message.text`` has the markup
removed and carries ``entities`` (offsets and lengths in UTF-16 code units).  Broken markup is
refused with ``400 Bad Request: can't parse entities: ...``.  This module reproduces that closely
enough for tests to catch the classic mistakes (an unescaped ``<`` or ``&`` in HTML, ``<br>``,
an unescaped ``.`` or ``-`` in MarkdownV2, an unclosed ``*``) instead of passing them silently.

The error texts follow tdlib's ``MessageEntity.cpp`` wording.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "parse_text",
    "utf16_len",
]


class EntityParseError(ValueError):
    """Markup Telegram would refuse; ``str(err)`` is what follows "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Builder:
    """Accumulates plain text and entities while a parser walks the markup."""

    parts: list[str] = field(default_factory=list)
    position: int = 0  # UTF-16 offset of the end of the text so far
    entities: list[dict[str, Any]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.position += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        length = self.position - start
        if length > 0:
            self.entities.append({"type": kind, "offset": start, "length": length, **extra})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        return _strip("".join(self.parts), self.entities)


def _strip(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace as Telegram does, keeping entities aligned."""
    stripped_left = text.lstrip()
    left = utf16_len(text) - utf16_len(stripped_left)
    stripped = stripped_left.rstrip()
    total = utf16_len(stripped)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - left, 0)
        end = min(entity["offset"] + entity["length"] - left, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped, fixed


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` for ``text`` sent with ``parse_mode``.

    Raises :class:`EntityParseError` for markup Telegram refuses, and ``ValueError`` for an
    unknown parse mode.
    """
    if parse_mode is None or parse_mode == "":
        return _strip(text, [])
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise ValueError(f"Unsupported parse_mode {parse_mode!r}")


# --------------------------------------------------------------------------------------- HTML

_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_NAME = re.compile(r"[A-Za-z0-9-]*")
_ATTRIBUTE = re.compile(r"\s*([A-Za-z0-9-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_CHAR_REF = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});")


@dataclass
class _OpenTag:
    name: str
    start: int
    attributes: dict[str, str]
    language: str | None = None


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[_OpenTag] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "&":
            match = _CHAR_REF.match(text, i)
            decoded = html.unescape(match.group(0)) if match else "&"
            if match and decoded != match.group(0):
                out.add(decoded)
                i = match.end()
            else:
                out.add("&")
                i += 1
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            name_match = _TAG_NAME.match(text, i + 2)
            assert name_match is not None
            name = name_match.group(0).lower()
            j = name_match.end()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, begin)}"
                )
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            top = stack[-1]
            if name and name != top.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {_byte_offset(text, begin)}, expected "</'
                    f'{top.name}>", found "</{name}>"'
                )
            stack.pop()
            _close_html_tag(out, top, stack)
            i = j + 1
            continue
        name_match = _TAG_NAME.match(text, i + 1)
        assert name_match is not None
        name = name_match.group(0).lower()
        if name not in _HTML_ENTITY_TYPES:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        j = name_match.end()
        attributes: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[j] == ">":
                break
            attribute = _ATTRIBUTE.match(text, j)
            if attribute is None or attribute.end() == j:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            value = attribute.group(2) or ""
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            attributes[attribute.group(1).lower()] = html.unescape(value)
            j = attribute.end()
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise EntityParseError(
                'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        stack.append(_OpenTag(name, out.position, attributes))
        i = j + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.result()


def _close_html_tag(out: _Builder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    kind = _HTML_ENTITY_TYPES[tag.name]
    if kind == "text_link":
        url = tag.attributes.get("href")
        if url:
            out.entity("text_link", tag.start, url=url)
        return
    if kind == "code":
        language = tag.attributes.get("class", "")
        parent = stack[-1] if stack else None
        if parent is not None and parent.name == "pre" and language.startswith("language-"):
            parent.language = language.removeprefix("language-")
            return
        out.entity("code", tag.start)
        return
    if kind == "pre":
        if tag.language:
            out.entity("pre", tag.start, language=tag.language)
        else:
            out.entity("pre", tag.start)
        return
    if kind == "blockquote":
        out.entity(
            "expandable_blockquote" if "expandable" in tag.attributes else "blockquote", tag.start
        )
        return
    if kind == "custom_emoji":
        emoji_id = tag.attributes.get("emoji-id")
        if emoji_id:
            out.entity("custom_emoji", tag.start, custom_emoji_id=emoji_id)
        return
    out.entity(kind, tag.start)


# --------------------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


@dataclass
class _OpenEntity:
    kind: str
    start: int
    byte_offset: int
    language: str | None = None


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[_OpenEntity] = []
    quote_start: int | None = None
    i = 0
    n = len(text)

    def opened(kind: str) -> bool:
        return any(entity.kind == kind for entity in stack)

    def close(kind: str) -> None:
        if not stack or stack[-1].kind != kind:
            raise EntityParseError(
                f"Can't find end of {_MDV2_NAMES[stack[-1].kind]} entity at byte offset "
                f"{stack[-1].byte_offset}"
            )
        entity = stack.pop()
        out.entity(kind, entity.start)

    while i < n:
        char = text[i]
        top = stack[-1] if stack else None
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if top is not None and top.kind in ("code", "pre"):
            if top.kind == "pre" and text.startswith("```", i):
                entity = stack.pop()
                if entity.language:
                    out.entity("pre", entity.start, language=entity.language)
                else:
                    out.entity("pre", entity.start)
                i += 3
                continue
            if top.kind == "code" and char == "`":
                stack.pop()
                out.entity("code", top.start)
                i += 1
                continue
            out.add(char)
            i += 1
            continue
        at_line_start = i == 0 or text[i - 1] == "\n"
        if char == ">" and at_line_start and not stack:
            if quote_start is None:
                quote_start = out.position
            i += 1
            continue
        if char == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if char not in _MDV2_RESERVED:
            out.add(char)
            i += 1
            continue
        offset = _byte_offset(text, i)
        if char == "*":
            if opened("bold"):
                close("bold")
            else:
                stack.append(_OpenEntity("bold", out.position, offset))
            i += 1
        elif char == "_":
            if text.startswith("__", i) and (opened("underline") or not opened("italic")):
                if opened("underline"):
                    close("underline")
                else:
                    stack.append(_OpenEntity("underline", out.position, offset))
                i += 2
            elif opened("italic"):
                close("italic")
                i += 1
            else:
                stack.append(_OpenEntity("italic", out.position, offset))
                i += 1
        elif char == "~":
            if opened("strikethrough"):
                close("strikethrough")
            else:
                stack.append(_OpenEntity("strikethrough", out.position, offset))
            i += 1
        elif char == "|" and text.startswith("||", i):
            if opened("spoiler"):
                close("spoiler")
            else:
                stack.append(_OpenEntity("spoiler", out.position, offset))
            i += 2
        elif char == "`":
            if text.startswith("```", i):
                end_of_line = text.find("\n", i + 3)
                language = text[i + 3 : end_of_line].strip() if end_of_line != -1 else ""
                stack.append(_OpenEntity("pre", out.position, offset, language or None))
                i = end_of_line + 1 if end_of_line != -1 else i + 3
            else:
                stack.append(_OpenEntity("code", out.position, offset))
                i += 1
        elif char == "[":
            stack.append(_OpenEntity("text_link", out.position, offset))
            i += 1
        elif char == "]" and opened("text_link"):
            if stack[-1].kind != "text_link":
                close("text_link")  # raises for the unclosed inner entity
            entity = stack.pop()
            i += 1
            url = ""
            if i < n and text[i] == "(":
                j = i + 1
                url_chars: list[str] = []
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    url_chars.append(text[j])
                    j += 1
                if j >= n:
                    raise EntityParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                    )
                url = "".join(url_chars)
                i = j + 1
            if url:
                out.entity("text_link", entity.start, url=url)
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
    if stack:
        entity = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[entity.kind]} entity at byte offset "
            f"{entity.byte_offset}"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


# ----------------------------------------------------------------------------- Markdown (legacy)

_MD_KINDS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.add(char)
            i += 1
            continue
        begin = i
        start = out.position
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end == -1:
                raise EntityParseError(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, begin)}"
                )
            body = text[i + 3 : end]
            language = None
            if "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            out.add(body)
            if language:
                out.entity("pre", start, language=language)
            else:
                out.entity("pre", start)
            i = end + 3
            continue
        end_char = "]" if char == "[" else char
        end = text.find(end_char, i + 1)
        if end == -1:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        out.add(text[i + 1 : end])
        i = end + 1
        if char == "[":
            if i < n and text[i] == "(":
                close_paren = text.find(")", i + 1)
                if close_paren != -1:
                    out.entity("text_link", start, url=text[i + 1 : close_paren])
                    i = close_paren + 1
            continue
        out.entity(_MD_KINDS[char], start)
    return out.result()
