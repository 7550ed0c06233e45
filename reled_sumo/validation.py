"""Type checks for the frozen config dataclasses: each ``__post_init__`` calls :func:`check_field_types`.

Checked against the field's annotation: ``int`` (an integer, never a bool, never 2.0),
``float`` (an int or float, never a bool, always finite), ``bool``, ``str``, ``Literal[...]``,
``X | None``, ``tuple[X, ...]`` and nested dataclasses. Anything else is left to the class's own
range checks. A bad value raises :class:`~reled_sumo.errors.ConfigError` naming the field.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any, Literal, Mapping

from reled_sumo.errors import ConfigError


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _problem(value: Any, tp: Any) -> str | None:
    """Why ``value`` does not fit ``tp`` (None: it fits, or ``tp`` is not checked here)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return None if ok else "must be a whole number"
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return "must be a number"
        return None if math.isfinite(value) else "must be finite"
    if tp is str:
        return None if isinstance(value, str) else "must be a string"
    if origin is Literal:
        return None if any(value == a and type(value) is type(a) for a in args) else \
            f"must be one of {', '.join(repr(a) for a in args)}"
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_problem(value, a) for a in args if a is not type(None)]
        return None if any(p is None for p in problems) else problems[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, (tuple, list)):
            return "must be a list"
        for v in value:
            if (p := _problem(v, args[0])) is not None:
                return f"items {p}"
        return None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        ok = isinstance(value, (tp, Mapping))  # a class may turn a mapping into its nested config itself
        return None if ok else f"must be a {tp.__name__} mapping"
    return None


def check_field_types(obj: Any, prefix: str = "") -> None:
    """Raise ConfigError for the first field of dataclass ``obj`` whose value does not fit its annotation."""
    hints = _hints(type(obj))  # type: ignore[arg-type]  # a class is hashable
    for f in dataclasses.fields(obj):
        tp = hints.get(f.name)
        if tp is None:
            continue
        value = getattr(obj, f.name)
        if (why := _problem(value, tp)) is not None:
            raise ConfigError(f"{prefix}{f.name} {why}, got {value!r}")
