"""One home per option: a settings field carries its default, its help line and its range.

:func:`option` is a dataclass field whose metadata everything else reads. The command line
makes one flag per option with this help text and shows the default in force. The config
namespace accepts exactly these names, and :func:`check_options` validates the values.
So adding an option is one field, plus its line in the YAML of defaults (a test keeps the
two in step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING,
           minimum: float | None = None, above: float | None = None, maximum: float | None = None,
           choices: Sequence[str] | None = None) -> Any:
    """A settings field: ``default`` (or ``factory``), one line of ``help`` and its range.

    ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive lower bound;
    ``choices`` lists the allowed strings. ``None`` passes every check when it is the default.
    """
    metadata = {"help": help, "minimum": minimum, "above": above, "maximum": maximum,
                "choices": tuple(choices) if choices else None}
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def option_fields(cls, exclude: Sequence[str] = ()) -> dict[str, dataclasses.Field]:
    """The fields of a settings class that are options (set from config and flags)."""
    return {f.name: f for f in dataclasses.fields(cls) if "help" in f.metadata and f.name not in exclude}


def option_help(f: dataclasses.Field) -> str:
    return f.metadata.get("help") or f.name.replace("_", " ")


def option_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def option_kind(f: dataclasses.Field) -> type:
    """bool, int, float, str or list: how a flag or config value for this field is read."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    for prefix, kind in (("bool", bool), ("tuple", list), ("list", list), ("int", int), ("float", float)):
        if text.startswith(prefix):
            return kind
    return str


def _problem(f: dataclasses.Field, value: Any, name: str | None = None) -> str | None:
    if value is None and option_default(f) is None:
        return None
    meta, kind, name = f.metadata, option_kind(f), name or f.name
    if kind is bool:
        return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"
    if meta.get("choices"):
        return None if value in meta["choices"] else f"{name} must be one of {meta['choices']!r}, got {value!r}"
    if kind in (int, float):
        whole = kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            return f"{name} must be {'an integer' if whole else 'a number'}, got {value!r}"
        low, high, above = meta.get("minimum"), meta.get("maximum"), meta.get("above")
        if above is not None and not value > above:
            return f"{name} must be > {above:g}, got {value!r}"
        if low is not None and high is not None and not low <= value <= high:
            return f"{name} must be within {low:g}..{high:g}, got {value!r}"
        if low is not None and value < low:
            return f"{name} must be {'an integer ' if whole else ''}>= {low:g}, got {value!r}"
    return None


def check_options(settings: Any) -> list[str]:
    """Every option of ``settings`` whose value is out of its type or range, as messages."""
    problems = (_problem(f, getattr(settings, f.name)) for f in option_fields(type(settings)).values())
    return [p for p in problems if p]


def check_values(cls, values: dict[str, Any], label) -> list[str]:
    """The same checks on raw ``values`` for the options of ``cls``, each message naming the
    option by ``label(name)`` (the command line names the flag and the config key)."""
    fields = option_fields(cls)
    problems = (_problem(fields[name], value, label(name)) for name, value in values.items() if name in fields)
    return [p for p in problems if p]
