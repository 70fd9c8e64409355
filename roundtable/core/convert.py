"""Plain values (JSON, YAML, text from a flag) as the types written on dataclass fields:
the one conversion the settings (``config/settings.py``) and the results.json records
(``results/records.py``) share, so a number, a list or an optional value means the same
thing in both.

Two modes, because the two readers trust their input differently. ``loose`` (settings):
text from a flag and loosely typed values from a file or a call become the field's type
(``"3"`` is 3, ``"yes"`` is True, ``"a,b"`` is a list). Strict (records): a file written
by roundtable has JSON's own types, so a string where a number belongs is an error, not a
guess; a non-finite number is None, as roundtable's writer writes it. Either way a value
that does not convert raises ``ConversionError``, naming where it is and what was
expected; each caller words it for its readers.
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import field, fields, is_dataclass
from typing import Any

AS_WRITTEN = "as_written"
"""Metadata key of a field that receives the whole mapping as written (``as_written()``)."""


class ConversionError(ValueError):
    """``value`` at ``where`` is not ``expected``. Not a UserError: the caller decides
    whether the reader or the file is to blame, and words the line."""

    def __init__(self, where: str, expected: str, value: object) -> None:
        self.where, self.expected, self.value = where, expected, value
        got = "null" if value is None else f"{type(value).__name__} {json.dumps(value, default=str)[:40]}"
        super().__init__(f"{where or 'the top level'}: expected {expected}, got {got}")


def as_written() -> Any:
    """A field that keeps the mapping a dataclass was built from exactly as written, also
    its keys that no field names (those added after this reader)."""
    return field(default_factory=dict, repr=False, compare=False, metadata={AS_WRITTEN: True})


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a dataclass (its annotations are strings)."""
    return typing.get_type_hints(cls)


def optional_of(kind: Any) -> tuple[Any, bool]:
    """``kind`` without its ``| None``, and whether it had one."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = typing.get_args(kind)
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"no conversion to {kind}")  # a union of two types: which one would be a guess
        return rest[0], type(None) in args
    return kind, False


def convert(value: Any, kind: Any, where: str = "", *, loose: bool = False) -> Any:
    """``value`` as type ``kind``: bool, int, float, str, a dataclass (from a mapping), a
    ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict`` or ``dict[str, X]``, each
    maybe ``| None``. None stays None where ``kind`` allows it and inside containers."""
    kind, optional = optional_of(kind)
    if value is None and optional:
        return None
    if is_dataclass(kind):
        return build(typing.cast(type, kind), value, where, loose=loose)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return _bool(value, where, loose)
    if kind in (int, float):
        return _number(value, kind, where, loose)
    if kind is str:
        if isinstance(value, str):
            return value
        if loose and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConversionError(where, "a string", value)
    if kind is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise ConversionError(where, "an object", value)
        if kind is dict:
            return dict(value)
        return {str(k): None if x is None else convert(x, args[1], f"{where}.{k}", loose=loose)
                for k, x in value.items()}
    if origin is list:
        if loose and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [x.strip() for x in str(value).split(",")]  # a comma-separated flag
        if not isinstance(value, (list, tuple)):
            raise ConversionError(where, "a list", value)
        items = [x.strip() if loose and isinstance(x, str) else x for x in value]
        if loose:  # an empty item of a flag's list ("a,,b", "a,") is no item
            items = [x for x in items if str(x).strip()]
        return [convert(x, args[0], f"{where}[{i}]", loose=loose) for i, x in enumerate(items)]
    if origin is tuple:
        varying = args[-1] is Ellipsis
        if not isinstance(value, (list, tuple)) or (not varying and len(value) != len(args)):
            raise ConversionError(where, "a list" if varying else f"a list of {len(args)}", value)
        kinds = [args[0]] * len(value) if varying else list(args)
        return tuple(None if x is None else convert(x, k, f"{where}[{i}]", loose=loose)
                     for i, (k, x) in enumerate(zip(kinds, value)))
    if loose:
        return value  # a type of no flag (a nested group, a callable): its own class checks it
    raise TypeError(f"no conversion to {kind}")  # a field of a type this module does not know


def build(cls: type, mapping: Any, where: str = "", *, loose: bool = False) -> Any:
    """``cls`` from a mapping: each field converted from its key, its default where the
    key is missing or null or the value converts to None (a non-finite number); a field
    made with ``as_written()`` gets the mapping itself."""
    if not isinstance(mapping, Mapping):
        raise ConversionError(where, "an object", mapping)
    kinds = hints(cls)
    kw: dict[str, Any] = {}
    for f in fields(typing.cast(Any, cls)):
        if f.metadata.get(AS_WRITTEN):
            kw[f.name] = dict(mapping)
        elif mapping.get(f.name) is not None:
            v = convert(mapping[f.name], kinds[f.name], f"{where}.{f.name}".lstrip("."), loose=loose)
            if v is not None:
                kw[f.name] = v
    return cls(**kw)


def _bool(value: Any, where: str, loose: bool) -> bool:
    if isinstance(value, bool):
        return value
    if loose and str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if loose and str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ConversionError(where, "true or false", value)


def _number(value: Any, kind: type, where: str, loose: bool) -> Any:
    expected = "an integer" if kind is int else "a number"
    if isinstance(value, bool):  # true is not 1 here: a flag or file that says so meant something else
        raise ConversionError(where, expected, value)
    if loose and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            raise ConversionError(where, expected, value) from None
    if not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ConversionError(where, expected, value)
    if loose:
        return kind(value)
    return kind(value) if math.isfinite(value) else None
