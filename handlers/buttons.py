"""Typed button data: `prefix:a:b`, at most 64 bytes, ids and choices only, never amounts.

Data that comes back from a client is untrusted: `unpack` returns None for anything that is not
exactly one of the declared shapes. An int field is an id, a page or a small choice: plain
digits from 0 to the database's largest integer, so a forged id beyond that range (or negative,
or written any other way) is a stale button, never a database error. A str field is a code:
1 to 48 ASCII letters, digits, "-", "_" or ".".
"""

from __future__ import annotations

import dataclasses
import re
import typing
from enum import Enum
from typing import Any, ClassVar, Self

from domain.limits import parse_id
from handlers.contract import MAX_BUTTON_DATA_BYTES

SEPARATOR = ":"
# What a str field may hold: a code (a campaign's, say), never free text.
CODE = re.compile(r"[A-Za-z0-9_.-]{1,48}")
_REGISTRY: dict[str, type[ButtonData]] = {}


class ButtonData:
    """Base of every button's data. Subclasses are frozen dataclasses with a unique prefix.

    Field types allowed: int (0 to the database's largest integer), str (a code: see
    `CODE`), bool, and str/int enums.
    """

    prefix: ClassVar[str]

    def __init_subclass__(cls, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not prefix or SEPARATOR in prefix:
            raise ValueError(f"bad button prefix {prefix!r}")
        if prefix in _REGISTRY:
            raise ValueError(f"button prefix {prefix!r} used twice")
        cls.prefix = prefix
        _REGISTRY[prefix] = cls

    def pack(self) -> str:
        parts = [self.prefix]
        for field in _fields(type(self)):
            value = getattr(self, field.name)
            text = _encode(value)
            if type(value) is int and parse_id(text) is None:
                raise ValueError(f"{field.name} out of range: {value}")
            if type(value) is str and not CODE.fullmatch(text):
                raise ValueError(f"{field.name} is not a code: {value!r}")
            if SEPARATOR in text:
                raise ValueError(f"{field.name} may not contain {SEPARATOR!r}")
            parts.append(text)
        packed = SEPARATOR.join(parts)
        if len(packed.encode()) > MAX_BUTTON_DATA_BYTES:
            raise ValueError(f"button data over {MAX_BUTTON_DATA_BYTES} bytes: {packed!r}")
        return packed

    @classmethod
    def parse(cls, data: str) -> Self | None:
        """This class's data from `data`, or None when it is another kind or malformed."""
        parsed = unpack(data)
        return parsed if isinstance(parsed, cls) else None


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"unsupported button field value {value!r}")


def _decode(kind: Any, text: str) -> object:
    if kind is bool:
        if text not in ("0", "1"):
            raise ValueError(text)
        return text == "1"
    if kind is int:
        number = parse_id(text)
        if number is None:
            raise ValueError(text)
        return number
    if isinstance(kind, type) and issubclass(kind, Enum):
        for member in kind:
            if str(member.value) == text:
                return member
        raise ValueError(text)
    if kind is str:
        if not CODE.fullmatch(text):
            raise ValueError(text)
        return text
    raise TypeError(f"unsupported button field type {kind!r}")


_Fields = tuple[dataclasses.Field[Any], ...]
_Shape = tuple[_Fields, dict[str, Any]]
_FIELDS: dict[type[ButtonData], _Fields] = {}
_SHAPES: dict[type[ButtonData], _Shape] = {}


def _fields(cls: type[ButtonData]) -> _Fields:
    """A button class's fields in order, worked out once per class."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = dataclasses.fields(cls)  # type: ignore[arg-type]
    return fields


def _shape(cls: type[ButtonData]) -> _Shape:
    """A button class's fields and their types, worked out once per class."""
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = (_fields(cls), typing.get_type_hints(cls))
    return shape


def unpack(data: str | None) -> ButtonData | None:
    """The typed data of a pressed button, or None for unknown, stale or forged data."""
    if not data or len(data.encode()) > MAX_BUTTON_DATA_BYTES:
        return None
    prefix, *values = data.split(SEPARATOR)
    cls = _REGISTRY.get(prefix)
    if cls is None:
        return None
    fields, hints = _shape(cls)
    # A button sent before a field with a default was added carries fewer values: it still works.
    required = sum(
        1
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if not required <= len(values) <= len(fields):
        return None
    try:
        kwargs = {
            field.name: _decode(hints[field.name], text)
            for field, text in zip(fields[: len(values)], values, strict=True)
        }
        return cls(**kwargs)
    except (ValueError, TypeError):
        return None


def registered() -> tuple[type[ButtonData], ...]:
    """Every declared kind of button data."""
    return tuple(_REGISTRY.values())
