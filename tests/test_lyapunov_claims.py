"""The Lyapunov claims of the systems library, checked against a fresh measurement.

Every registered system (default parameters and options) is measured with
``warp_phys.lyapunov.largest_exponent`` (two-trajectory Benettin estimate with the system's own
solver; mean over starts of the system's own sampler, with its standard error):

* a declared ``lyapunov_exponent`` must agree with the measurement within its stated error;
* ``chaotic = True`` needs a clearly positive largest exponent, ``chaotic = False`` a
  measurement that is not clearly positive.

The settings here are short versions of those of ``benchmarks/lyapunov_claims.py``, which
makes the long measurements behind the stored values (``python benchmarks/lyapunov_claims.py
--quick`` runs exactly these settings and prints the table).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch

from warp_phys.lyapunov import LyapunovEstimate, largest_exponent, settings_in_natural_time
from warp_phys.systems import available, get

# The stored values were measured with seed 0; a different seed makes this estimate
# independent of them, so the two errors add in quadrature.
SEED = 1

# Value check: |measured - stored| <= K_VALUE * sqrt(stored_stderr^2 + test_stderr^2).
# stored_stderr is the standard error the system states for its value (0 when it states none,
# e.g. a literature value taken as exact); test_stderr is this shorter estimate's own standard
# error over its starts. Both are standard errors of means of independent starts, so their
# difference is close to normal with that combined sigma; 4 sigma keeps false alarms
# below 1e-4 per system (about 1e-2 for the 6-start Navier-Stokes case, whose stderr comes
# from 6 values: Student's t with 5 degrees of freedom), while a wrong claim, such as the old
# KS value 0.043 against the measured 0.0485, lies 22 combined sigmas off at the settings of
# the stored value and about 7 here.
K_VALUE = 4.0

# Sign check: "clearly positive" means mean - K_SIGN * stderr > z, where
# z = 2 ln((align + T) / align) / T (LyapunovEstimate.zero_allowance) is the largest finite-time
# value a zero exponent shows when separations grow like a power t^q, q <= 2, of the time since
# the perturbation (regular motion: a limit cycle's phase, q = 0; shear on a torus, q = 1).
# chaotic = True must be clearly positive; chaotic = False must not be.
K_SIGN = 3.0

#: per-system settings (keyword arguments of largest_exponent); others: generic_settings
SETTINGS: dict[str, dict[str, Any]] = {
    "lorenz63": dict(n_starts=16, horizon=20.0, transient=10.0, align=5.0, dt=0.01),
    "lorenz96": dict(n_starts=16, horizon=10.0, transient=10.0, align=2.0, dt=0.01),
    "duffing": dict(n_starts=16, horizon=150.0, transient=20.0, align=50.0, dt=0.02),
    # a mixed phase space: most default starts are quasi-periodic, about one in five chaotic,
    # so the mean needs many starts and a long alignment (a small zero allowance)
    "double_pendulum": dict(n_starts=256, horizon=40.0, transient=20.0, align=40.0, dt=0.02),
    "kuramoto_sivashinsky": dict(n_starts=64, horizon=500.0, transient=100.0, align=25.0),
    "navier_stokes_2d": dict(n_starts=6, horizon=16.0, transient=25.0, align=8.0),
}
SLOW = {"double_pendulum", "navier_stokes_2d"}


def generic_settings(system: Any) -> dict[str, Any]:
    """Settings for a system without an entry: in units of its natural time."""
    return settings_in_natural_time(system, n_starts=8, horizon=10.0, transient=5.0, align=5.0, steps_per_time=100)


def test_settings(system: Any) -> dict[str, Any]:
    return dict(SETTINGS.get(system.name) or generic_settings(system))


test_settings.__test__ = False   # a helper (benchmarks/lyapunov_claims.py --quick), not a test


def sign_failure(chaotic: bool, est: LyapunovEstimate) -> str | None:
    """Why the measurement contradicts the ``chaotic`` flag, or None when it agrees."""
    z = est.zero_allowance()
    lower = est.mean - K_SIGN * est.stderr
    if chaotic and not lower > z:
        return (f"declared chaotic, but the largest exponent {est.mean:.4g} +- {est.stderr:.2g} is not clearly "
                f"positive (mean - {K_SIGN:g} stderr = {lower:.3g} <= zero allowance {z:.3g})")
    if not chaotic and lower > z:
        return (f"declared not chaotic, but the largest exponent {est.mean:.4g} +- {est.stderr:.2g} is clearly "
                f"positive (mean - {K_SIGN:g} stderr = {lower:.3g} > zero allowance {z:.3g})")
    return None


def value_failure(stored: float, stored_stderr: float | None, est: LyapunovEstimate) -> str | None:
    """Why the measurement contradicts the stored exponent, or None when it agrees."""
    sigma = math.hypot(stored_stderr or 0.0, est.stderr)
    if abs(est.mean - stored) > K_VALUE * sigma:
        return (f"stored lyapunov_exponent {stored:g} (stderr {stored_stderr}) but measured {est.mean:.4g} +- "
                f"{est.stderr:.2g}: {abs(est.mean - stored) / sigma:.1f} combined sigmas apart (> {K_VALUE:g})")
    return None


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # small batched solves: one thread is as fast, and it cannot be slowed down by
    # oversubscription on a busy machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@functools.lru_cache(maxsize=None)
def measured(name: str) -> LyapunovEstimate:
    """The test's estimate for the registered system ``name`` at its defaults (computed once)."""
    system = get(name)
    return largest_exponent(system, seed=SEED, **test_settings(system))


def _declares(name: str) -> bool:
    s = get(name)
    return bool(s.chaotic) or s.lyapunov_exponent is not None


def _params(names: list[str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


CLAIMS = [n for n in available() if _declares(n)]
OTHERS = [n for n in available() if not _declares(n)]


def test_the_claims_cover_the_known_chaotic_systems():
    assert {"lorenz63", "lorenz96", "duffing", "kuramoto_sivashinsky", "navier_stokes_2d"} <= set(CLAIMS)


@pytest.mark.parametrize("name", _params(CLAIMS))
def test_declared_exponent_and_chaotic_flag_agree_with_a_measurement(name):
    system, est = get(name), measured(name)
    problems = [sign_failure(bool(system.chaotic), est)]
    if system.lyapunov_exponent is not None:
        problems.append(value_failure(system.lyapunov_exponent,
                                      getattr(system, "lyapunov_exponent_stderr", None), est))
    problems = [p for p in problems if p]
    assert not problems, f"{name}: " + "; ".join(problems) + f" [{est.method}]"


@pytest.mark.parametrize("name", _params(OTHERS))
def test_systems_not_declared_chaotic_are_not_chaotic(name):
    system, est = get(name), measured(name)
    failure = sign_failure(bool(system.chaotic), est)
    assert failure is None, f"{name}: {failure} [{est.method}]"


@pytest.mark.parametrize("name", CLAIMS)
def test_every_declared_exponent_states_its_error_and_method(name):
    s = get(name)
    if s.lyapunov_exponent is None:
        return
    assert s.chaotic and s.lyapunov_exponent > 0, f"{name}: a positive exponent implies chaotic=True"
    se, method = getattr(s, "lyapunov_exponent_stderr", None), getattr(s, "lyapunov_method", None)
    assert se is not None and 0 < se < s.lyapunov_exponent, f"{name}: state lyapunov_exponent_stderr"
    assert isinstance(method, str) and method, f"{name}: state lyapunov_method (how it was measured)"


def test_the_checks_reject_the_former_false_claims():
    # The old Duffing defaults (gamma = 0.37) settle on a period-5 orbit: a chaotic=True claim
    # there must fail the sign check (the test settings of the current defaults).
    old = largest_exponent(get("duffing", gamma=0.37), seed=SEED, **SETTINGS["duffing"])
    assert old.mean < 0
    assert sign_failure(True, old) is not None
    # The old Kuramoto-Sivashinsky value 0.043 (no stated error) fails the value check.
    assert value_failure(0.043, None, measured("kuramoto_sivashinsky")) is not None
