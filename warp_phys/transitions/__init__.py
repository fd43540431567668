"""Weight-space transitions of WARP: theta_t = A theta_{t-1} + B (x_t - x_{t-1}), one registry.

=============  =====================================================  ===========  ==========
name           A                                                      factorable   has memory
=============  =====================================================  ===========  ==========
``identity``   I (fixed)                                              yes (K = d)  no
``lowrank``    I + U V^T, rank r                                      yes (r + d)  no
``diagonal``   diag(a)                                                no           no
``dense``      a learned D x D matrix (limited by max_dense_params)   no           no
``subspace``   identity outside span(U), damped rotations on it:      yes (2r + d) yes
               a learned linear memory of the history (r modes)
=============  =====================================================  ===========  ==========

A factorable transition keeps theta_t in theta_0 + span(basis), so the root network is
evaluated from (B, T, K) coefficients without materialising theta_t. A transition with memory
(``has_memory``) carries a state besides theta, so `Transition.step` from theta alone is
undefined and the plain path steps `Transition.step_state`.

Layout: `base` (the contract and the parallel scan), `linear` (the four transitions whose
state is theta alone), `subspace` (the memory transition); this module holds the registry
and depends on them, never the other way round.

Shapes: theta0 (B, D); x (B, T, d); trajectories (B, T, D); coefficients (B, T, K).
"""
from __future__ import annotations

from typing import Any

import torch

from warp_phys.registry import Registry, accepted_options, check_options
from warp_phys.transitions.base import Transition, linear_scan
from warp_phys.transitions.linear import DenseTransition, DiagonalTransition, IdentityTransition, LowRankTransition
from warp_phys.transitions.subspace import SubspaceTransition

#: name -> transition class (every transition, with or without memory).
REGISTRY: Registry[type[Transition]] = Registry("transition")
for _cls in (IdentityTransition, LowRankTransition, DiagonalTransition, DenseTransition, SubspaceTransition):
    REGISTRY.register(_cls.kind, _cls)

#: Constructor arguments that `make_transition` sets itself (not ``options``).
STRUCTURAL = ("D", "d", "rank", "generator", "max_dense_params")


def available() -> list[str]:
    """Names accepted by `make_transition`, sorted."""
    return REGISTRY.names()


def get(name: str) -> type[Transition]:
    """The transition class registered as ``name`` (ValueError with a did-you-mean otherwise)."""
    return REGISTRY.get(name)


def option_names(name: str) -> list[str]:
    """The ``options`` that transition ``name`` accepts (sorted; empty for most)."""
    return sorted((accepted_options(get(name)) or set()) - set(STRUCTURAL))


def make_transition(
    kind: str, D: int, d: int, *, rank: int = 4, max_dense_params: int = 4096,
    generator: torch.Generator | None = None, options: dict[str, Any] | None = None,
) -> Transition:
    """Build the transition named ``kind`` for weight size D and d variables.

    ``rank``: of ``lowrank``, or the number of memory modes of ``subspace``; ``generator``
    seeds the random initial parameters; ``dense`` is refused when D > max_dense_params.
    ``options``: extra keyword arguments of the transition's class (`option_names`; only
    ``subspace`` takes any: ``input_scale``, ``min_decay``, ``max_decay``, ``min_period``,
    ``max_period``). Unknown names, and any option for a transition without options, raise a
    ValueError that lists them and the valid ones.
    """
    name = REGISTRY.resolve(kind)
    cls = REGISTRY.get(name)
    options = dict(options or {})
    if options and not option_names(name):
        with_options = [n for n in available() if option_names(n)]
        raise ValueError(f"transition {name!r} takes no transition_options, got {sorted(options)}; "
                         f"only {', '.join(repr(n) for n in with_options)} has options")
    check_options(cls, options, f"transition_options of transition {name!r}", reserved=STRUCTURAL)
    accepted = accepted_options(cls) or set()
    structural = {"rank": rank, "generator": generator, "max_dense_params": max_dense_params}
    return cls(D, d, **{k: v for k, v in structural.items() if k in accepted}, **options)


__all__ = [
    "DenseTransition", "DiagonalTransition", "IdentityTransition", "LowRankTransition", "REGISTRY",
    "STRUCTURAL", "SubspaceTransition", "Transition", "available", "get", "linear_scan", "make_transition",
    "option_names",
]
