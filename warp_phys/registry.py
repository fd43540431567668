"""One registry helper for every name -> thing table of the package.

Systems, priors, transitions, baselines and models are all looked up the same way:
names are case- and dash-insensitive, aliases map to one canonical name, an unknown
name raises a `ValueError` that lists the known ones and the closest match, and the
options of :meth:`Registry.create` are checked against the constructor's signature
*before* it is called (no reading of a ``TypeError``'s text).

This module is part of the small utility layer that ``systems/`` and ``priors/`` may
import; it imports nothing from the rest of the package.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

T = TypeVar("T")


def normalise_name(name: str) -> str:
    """The lookup key of a name: stripped, lower case, ``-`` and spaces as ``_``."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def accepted_options(factory: Callable[..., Any]) -> set[str] | None:
    """Keyword names that ``factory`` (a class or a function) accepts, or None when it takes
    ``**kwargs`` that cannot be traced. For a class, ``**kwargs`` passed on to a base class's
    ``__init__`` are followed up the MRO."""
    targets: Iterable[Any] = [c.__init__ for c in inspect.getmro(factory) if "__init__" in vars(c)] \
        if inspect.isclass(factory) else [factory]
    names: set[str] = set()
    for target in targets:
        try:
            params = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            return None
        open_ended = False
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                open_ended = True
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
        if not open_ended:
            return names
        if target is object.__init__:
            return names
    return None if not inspect.isclass(factory) else names


def check_options(factory: Callable[..., Any], options: Mapping[str, Any], what: str,
                  reserved: Iterable[str] = ()) -> None:
    """ValueError naming every option in ``options`` that ``factory`` does not accept.

    ``what`` names the thing in the message (e.g. "transition 'lowrank'"); ``reserved``
    are accepted names that the caller sets itself and the user may not pass."""
    valid = accepted_options(factory)
    if valid is None:
        return
    valid -= set(reserved)
    unknown = sorted(set(options) - valid)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
            if close:
                hints.append(f"{name!r} -> {close[0]!r}?")
        hint = f" (did you mean {', '.join(hints)})" if hints else ""
        raise ValueError(f"unknown option(s) {unknown} for {what}{hint}; valid options: "
                         f"{sorted(valid) if valid else 'none'}")


class Registry(Generic[T]):
    """A table of named entries with aliases, did-you-mean errors and checked options.

    An entry is an object (usually a class or a factory function) or a ``"module:attr"``
    string imported on first use (so heavy modules load lazily).

    >>> reg = Registry("widget")
    >>> reg.register("round_widget", dict, aliases=("round",))
    >>> reg.resolve("Round")
    'round_widget'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._aliases: dict[str, str] = {}

    # ---- building -------------------------------------------------------------------------
    def register(self, name: str, entry: T | str, aliases: Iterable[str] = ()) -> None:
        """Add ``entry`` under the canonical ``name`` (and its ``aliases``)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._entries[name] = entry
        self._aliases[normalise_name(name)] = name
        for alias in aliases:
            self._aliases.setdefault(normalise_name(alias), name)

    # ---- lookup ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(self._entries)

    def aliases(self) -> dict[str, str]:
        """Every accepted spelling (normalised) -> canonical name."""
        return dict(self._aliases)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise_name(name) in self._aliases

    def resolve(self, name: str) -> str:
        """The canonical name of ``name`` or an alias; ValueError with the closest match."""
        if not isinstance(name, str):
            raise ValueError(f"a {self.kind} name must be a string, got {type(name).__name__}")
        key = normalise_name(name)
        if key in self._aliases:
            return self._aliases[key]
        close = difflib.get_close_matches(key, list(self._aliases), n=1, cutoff=0.5)
        hint = f" Did you mean {self._aliases[close[0]]!r}?" if close else ""
        extra = sorted(a for a in self._aliases if a not in self._entries)
        also = f" (aliases: {', '.join(extra)})" if extra else ""
        raise ValueError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}{also}")

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (lazy entries are imported here)."""
        canonical = self.resolve(name)
        entry = self._entries[canonical]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[canonical] = entry
        return entry  # type: ignore[return-value]

    def create(self, name: str, *args: Any, reserved: Iterable[str] = (), **options: Any) -> Any:
        """``get(name)(*args, **options)`` after checking ``options`` against its signature."""
        factory = self.get(name)
        check_options(factory, options, f"{self.kind} {self.resolve(name)!r}", reserved)
        return factory(*args, **options)  # type: ignore[operator]


__all__ = ["Registry", "accepted_options", "check_options", "normalise_name"]
