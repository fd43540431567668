"""Declarative descriptions of a system: state variables, parameters, time grids and protocols.

Plain frozen data with their own validation; this module imports nothing else from
``systems`` (every other module of the package may import it).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from warp_phys.validation import InputError, check_int

Range = tuple[float, float]

#: What a protocol's trajectories are for: "forecast" (read a context, forecast the rest: what
#: ``reconstruct`` does) or "segment_repeat" (a sequence-to-sequence task built from the
#: trajectories by `systems.tasks.segment_repeat`: a short observed segment then zeros as input,
#: the segment repeated as target).
TASKS = ("forecast", "segment_repeat")


@dataclass(frozen=True)
class Variable:
    """One state variable: its name (a valid identifier), units and long name."""

    name: str
    units: str
    long_name: str


@dataclass(frozen=True)
class Parameter:
    """One physical parameter.

    ``train``/``test`` are uniform sampling ranges (test is wider: out of distribution).
    ``minimum`` is the physical lower bound (exclusive when ``strict``), e.g. mass > 0.
    """

    name: str
    default: float
    train: Range
    test: Range
    units: str
    long_name: str
    minimum: float = -math.inf
    strict: bool = True

    def admits(self, value: Any) -> Any:
        """Whether ``value`` (a float or a tensor, elementwise) is above the physical bound."""
        return value > self.minimum if self.strict else value >= self.minimum

    @property
    def bound(self) -> str:
        """The physical bound in words, e.g. "> 0 (mass)"."""
        return f"{'>' if self.strict else '>='} {self.minimum:g} ({self.long_name})"


class TimeGrid(NamedTuple):
    """A system's default time grid: ``n_steps`` evenly spaced points over ``t_span``
    (both ends included) and the scoring context ``n_ctx`` (None: n_steps // 4, at least 1)."""

    t_span: Range
    n_steps: int
    n_ctx: int | None = None

    def context(self) -> int:
        return max(1, int(self.n_steps) // 4) if self.n_ctx is None else int(self.n_ctx)


def check_t_span(t_span: Any) -> Range:
    """``t_span`` as (t_start, t_end) floats: finite, with t_end > t_start."""
    try:
        t0, t1 = (float(v) for v in t_span)
    except (TypeError, ValueError):
        raise InputError(f"t_span must be a pair (t_start, t_end) of numbers, got {t_span!r}") from None
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise InputError(f"t_span must be finite, got ({t0}, {t1}); pass e.g. t_span=(0.0, 10.0)")
    if not t1 > t0:
        raise InputError(f"t_span is reversed or empty: t_end={t1} must be > t_start={t0}; swap them")
    return t0, t1


def check_n_steps(n_steps: Any) -> int:
    """The number of grid points: an integer >= 2 (the grid includes both ends)."""
    n = check_int(n_steps, "n_steps")
    if n < 2:
        raise InputError(f"n_steps must be an integer >= 2 (the grid includes both ends), got {n}")
    return n


def _check_ranges(ranges: Mapping[str, Any], what: str) -> None:
    for key, rng in ranges.items():
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError):
            raise InputError(f"{what}[{key!r}] must be a pair (low, high) of numbers, got {rng!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise InputError(f"{what}[{key!r}] = ({lo}, {hi}) must be finite with low <= high")


@dataclass(frozen=True)
class Protocol:
    """A named data-generation preset: the one owner of a system's time grid, sampling
    ranges and split sizes.

    ``t_span``/``n_steps``: the time grid (both ends included). ``n_train``/``n_val``/``n_test``:
    trajectories per split (``n_val`` None: ``max(1, n_train // 8)``, see ``resolved_n_val``).
    ``n_ctx``: the context length used for scoring (metrics on steps >= n_ctx).
    ``train``/``test`` map parameter names to uniform ranges; parameters not named are held at
    the system's current values. ``ic_train``/``ic_test`` map variable names to uniform ranges
    or fixed values for the initial condition (None: the system's sampler). ``task``: one of
    `TASKS`, what the trajectories are for (default "forecast").

    Validated on construction (ValueError): n_steps >= 2, t_span increasing and finite,
    sizes >= 1, 1 <= n_ctx < n_steps, ranges with low <= high. ``replace`` makes a validated copy.
    """

    name: str
    t_span: Range
    n_steps: int
    n_train: int
    n_test: int
    n_ctx: int
    n_val: int | None = None
    train: Mapping[str, Range] = field(default_factory=dict)
    test: Mapping[str, Range] = field(default_factory=dict)
    ic_train: Mapping[str, Range | float] | None = None
    ic_test: Mapping[str, Range | float] | None = None
    description: str = ""
    task: str = "forecast"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"a protocol name must be a non-empty string, got {self.name!r}")
        set_ = object.__setattr__  # frozen: normalise in place once, here
        try:
            set_(self, "t_span", check_t_span(self.t_span))
            set_(self, "n_steps", check_n_steps(self.n_steps))
        except InputError as err:
            raise InputError(f"protocol {self.name!r}: {err}") from None
        for key in ("n_train", "n_test"):
            set_(self, key, check_int(getattr(self, key), f"protocol {self.name!r}: {key}", minimum=1))
        if self.n_val is not None:
            set_(self, "n_val", check_int(self.n_val, f"protocol {self.name!r}: n_val", minimum=1))
        set_(self, "n_ctx", check_int(self.n_ctx, f"protocol {self.name!r}: n_ctx", minimum=1))
        if self.n_ctx >= self.n_steps:
            raise InputError(f"protocol {self.name!r}: n_ctx ({self.n_ctx}) must be < n_steps ({self.n_steps}) "
                             "to leave steps to score")
        if self.task not in TASKS:
            raise InputError(f"protocol {self.name!r}: unknown task {self.task!r}; choose one of {list(TASKS)}")
        _check_ranges(self.train, f"protocol {self.name!r}: train")
        _check_ranges(self.test, f"protocol {self.name!r}: test")

    @property
    def resolved_n_val(self) -> int:
        """``n_val``, or ``max(1, n_train // 8)`` when it is None."""
        return self.n_val if self.n_val is not None else max(1, self.n_train // 8)

    @property
    def split_sizes(self) -> dict[str, int]:
        """{"train": n_train, "val": resolved_n_val, "test": n_test}."""
        return {"train": self.n_train, "val": self.resolved_n_val, "test": self.n_test}

    def replace(self, **changes: Any) -> "Protocol":
        """A validated copy with ``changes`` applied, e.g. ``proto.replace(n_steps=128, n_ctx=32)``.

        Raises ValueError for a field that does not exist (listing the valid ones) or an
        invalid result."""
        valid = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise InputError(f"Protocol has no field(s) {unknown}; valid fields: {valid}")
        return dataclasses.replace(self, **changes)


__all__ = ["TASKS", "Parameter", "Protocol", "Range", "TimeGrid", "Variable", "check_n_steps", "check_t_span"]
