"""Config keys, declared once: name, default, meaning and what values it takes.

A stage declares the keys it reads (gen/compose.py the compose stage's); the config gathers
every declaration into its dataclass, its validation, ``fractalvid keys`` and docs/keys.md,
and hands each stage a settings object made from the same declarations (``settings_class``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    """One config key. ``check`` (on a value of the right type) says whether it is allowed,
    ``need`` how to put it right: "{name}={value}: must be {need}"."""

    name: str
    default: Any
    help: str
    group: str
    check: Callable[[Any], bool] | None = None
    need: str = ""

    @property
    def type(self) -> Any:
        """bool, int, float, str, tuple[str, ...] or a pair tuple[int | float, int | float]."""
        d = self.default
        if isinstance(d, tuple):
            if all(isinstance(v, str) for v in d):
                return tuple[str, ...]
            return tuple[int, int] if all(isinstance(v, int) for v in d) else tuple[float, float]
        return type(d)

    @property
    def shown(self) -> str:
        """The default as --set takes it."""
        d = self.default
        return ",".join(str(v) for v in d) if isinstance(d, tuple) else str(d).lower() \
            if isinstance(d, bool) else str(d)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (None when it is)."""
        if self.check is None or self.check(value):
            return None
        shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else value
        return f"{self.name}={shown}: must be {self.need}"


def in_range(lo: float, hi: float) -> tuple:
    """(check, need) of a value in lo..hi, for ``Key(name, default, help, group, *rule)``."""
    return (lambda v: lo <= v <= hi), f"in {lo:g}..{hi:g}"


def at_least(lo: int) -> tuple:
    return (lambda v: v >= lo), f"at least {lo}"


UNIT = ((lambda v: 0 <= v <= 1), "in [0, 1]")


def key(name: str, default: Any, help: str, group: str, rule: tuple = (None, "")) -> Key:
    """A Key with its (check, need) rule as one argument."""
    return Key(name, default, help, group, *rule)


def probability(name: str, default: float, help: str, group: str) -> Key:
    return Key(name, default, help, group, lambda v: 0 <= v <= 1, "a probability in [0, 1]")


def span(name: str, default: tuple, help: str, group: str, hi: float | None = None) -> Key:
    """A LOW,HIGH range with 0 <= LOW <= HIGH (<= hi)."""
    top = f" <= {hi:g}" if hi is not None else ""
    return Key(name, default, help, group,
               lambda v: len(v) == 2 and 0 <= v[0] <= v[1] and (hi is None or v[1] <= hi),
               f"LOW,HIGH with 0 <= LOW <= HIGH{top}")


def scales(name: str, default: tuple, help: str, group: str) -> Key:
    """A LOW,HIGH range of scale factors in (0, 1]."""
    return Key(name, default, help, group,
               lambda v: len(v) == 2 and 0 < v[0] <= v[1] <= 1, "LOW,HIGH in (0, 1], LOW <= HIGH")


def settings_of(cfg: Any, cls: type) -> Any:
    """A settings dataclass (RenderSettings, Thresholds, ...) from the config's keys of its
    field names."""
    return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls) if hasattr(cfg, f.name)})


def settings_class(name: str, keys: list[Key], module: str) -> type:
    """A frozen dataclass of ``keys`` (with their defaults), as a stage's settings object."""
    cls = make_dataclass(name, [(k.name, k.type, field(default=k.default)) for k in keys],
                         frozen=True)
    cls.__module__ = module
    return cls
