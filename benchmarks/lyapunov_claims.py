"""Measure the largest Lyapunov exponent of every registered system and set it against the claims.

For each system (``warp_phys.systems.available()``, at its default parameters and options) this
runs ``warp_phys.lyapunov.largest_exponent``: the two-trajectory Benettin estimate with the
system's own solver (RK4 for ODEs; the pseudo-spectral stepper and step rule of ``simulate``
for fields), from ``n_starts`` starts of the system's own initial-condition sampler, and prints

    system | chaotic flag | stored exponent (± stored stderr) | measured mean ± stderr |
    (measured - stored) / combined error | starts | horizon | dt | sign of the measurement

The standard error is over starts (sample std / sqrt(n_starts)). The sign column says
"positive" when mean - 3 stderr exceeds z = 2 ln((a + T) / a) / T, the finite-time value a zero
exponent can show when separations grow like t^2 (regular motion: at most a power of the time)
over the horizon T after the alignment time a (``LyapunovEstimate.zero_allowance``); the same
rule as tests/test_lyapunov_claims.py.

    python benchmarks/lyapunov_claims.py                              # the systems with claims
    python benchmarks/lyapunov_claims.py --systems kuramoto_sivashinsky duffing
    python benchmarks/lyapunov_claims.py --all                        # every registered system
    python benchmarks/lyapunov_claims.py --systems duffing --params '{"gamma": 0.37}'
    python benchmarks/lyapunov_claims.py --systems kuramoto_sivashinsky --resolution   # dt/2, finer grid
    python benchmarks/lyapunov_claims.py --quick                      # the test's short settings

Run one system per invocation on a shared machine (the Navier-Stokes row is the longest).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import format_machine, machine_info, markdown_table  # noqa: E402

from warp_phys.lyapunov import largest_exponent, settings_in_natural_time  # noqa: E402
from warp_phys.systems import available, get  # noqa: E402

#: the long measurements behind the stored values (keyword arguments of largest_exponent)
FULL: dict[str, dict[str, Any]] = {
    "lorenz63": dict(n_starts=64, horizon=500.0, transient=50.0, align=10.0, dt=0.01),
    "lorenz96": dict(n_starts=32, horizon=200.0, transient=50.0, align=10.0, dt=0.01),
    "duffing": dict(n_starts=128, horizon=4000.0, transient=100.0, align=50.0, dt=0.02),
    "double_pendulum": dict(n_starts=512, horizon=200.0, transient=50.0, align=50.0, dt=0.02),
    "kuramoto_sivashinsky": dict(n_starts=128, horizon=4000.0, transient=100.0, align=50.0),
    "navier_stokes_2d": dict(n_starts=16, horizon=100.0, transient=50.0, align=20.0),
}


def generic_settings(system: Any) -> dict[str, Any]:
    """Settings for a system without an entry: in units of its natural time."""
    return settings_in_natural_time(system)


def measure(name: str, settings: dict[str, Any], params: dict[str, float], seed: int) -> dict[str, Any]:
    system = get(name, **params)
    t0 = time.perf_counter()
    est = largest_exponent(system, seed=seed, **settings)
    wall = time.perf_counter() - t0
    stored = system.lyapunov_exponent
    stored_se = getattr(system, "lyapunov_exponent_stderr", None)
    z = est.zero_allowance()
    clearly_positive = est.mean - 3 * est.stderr > z
    row = {
        "system": name, "params": params, "chaotic_flag": bool(system.chaotic),
        "stored": stored, "stored_stderr": stored_se,
        "mean": est.mean, "stderr": est.stderr, "n_starts": est.n_starts, "horizon": est.horizon,
        "transient": est.transient, "align": est.align, "dt": est.dt, "zero_allowance": z,
        "sign": "positive" if clearly_positive else "not positive",
        "flag_agrees": bool(system.chaotic) == clearly_positive,
        "per_start_min": float(est.per_start.min()), "per_start_median": float(est.per_start.median()),
        "per_start_max": float(est.per_start.max()),
        "method": est.method, "wall_s": wall,
    }
    if stored is not None:
        row["deviation_sigma"] = (est.mean - stored) / math.hypot(est.stderr, stored_se or 0.0)
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", nargs="*", default=None, help="names (default: those in FULL)")
    ap.add_argument("--all", action="store_true", help="every registered system")
    ap.add_argument("--params", default="{}", help="JSON parameter overrides (with one system)")
    ap.add_argument("--quick", action="store_true", help="the short settings of the test file")
    ap.add_argument("--resolution", action="store_true", help="halve dt (and use a 1.5x grid for fields)")
    ap.add_argument("--n-starts", type=int, default=None)
    ap.add_argument("--horizon", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    names = available() if args.all else (args.systems or list(FULL))
    params = json.loads(args.params)
    if args.quick:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
        from test_lyapunov_claims import test_settings
    rows = []
    for name in names:
        system = get(name, **params)
        if args.quick:
            settings = test_settings(system)
        else:
            settings = dict(FULL.get(name) or generic_settings(system))
        if args.n_starts:
            settings["n_starts"] = args.n_starts
        if args.horizon:
            settings["horizon"] = args.horizon
        if args.resolution:
            if system.kind == "field":
                grid = 3 * system.default_grid // 2
                settings["grid"] = grid + grid % 2
                settings["dt"] = 0.5 * largest_exponent(system, n_starts=2, horizon=1.0, transient=0.0).dt
            else:
                settings["dt"] = 0.5 * settings.get("dt", 0.01)
        row = measure(name, settings, params, args.seed)
        rows.append(row)
        print(f"{name}: {row['mean']:.4g} +- {row['stderr']:.2g} ({row['method']}; {row['wall_s']:.0f} s)",
              flush=True)

    def fmt_stored(r: dict[str, Any]) -> str:
        if r["stored"] is None:
            return "-"
        return f"{r['stored']:.4g}" + (f" ± {r['stored_stderr']:.2g}" if r["stored_stderr"] else "")

    table = [[r["system"] + (f" {r['params']}" if r["params"] else ""), r["chaotic_flag"], fmt_stored(r),
              f"{r['mean']:.4g} ± {r['stderr']:.2g}",
              f"{r['deviation_sigma']:+.1f}" if "deviation_sigma" in r else "-",
              r["n_starts"], f"{r['horizon']:g}", f"{r['dt']:.4g}",
              f"{r['sign']} (z = {r['zero_allowance']:.2g})", "yes" if r["flag_agrees"] else "NO"]
             for r in rows]
    print()
    print(markdown_table(["system", "chaotic", "stored", "measured mean ± stderr", "dev. (σ)", "starts",
                          "horizon", "dt", "sign", "flag agrees"], table))
    print()
    print(format_machine(machine_info()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
