"""`warp-phys systems` (the table of systems) and `warp-phys simulate` (data to NetCDF or a Zarr store)."""
from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path

#: NetCDF engines `warp-phys simulate` can write with, by the module each needs.
ENGINES = {"netcdf4": "netCDF4", "h5netcdf": "h5netcdf"}


def installed_engines() -> list[str]:
    """The NetCDF engines whose package is installed here (importlib.util.find_spec)."""
    return [name for name, module in ENGINES.items() if importlib.util.find_spec(module) is not None]


def _engine(value: str) -> str:
    """argparse type of --engine: an installed engine, else an error naming the installed ones."""
    if value not in ENGINES:
        raise argparse.ArgumentTypeError(f"unknown engine {value!r}; choose one of {installed_engines()}")
    if value not in installed_engines():
        raise argparse.ArgumentTypeError(f"engine {value!r} is not installed (pip install {ENGINES[value]}); "
                                         f"installed: {installed_engines()}")
    return value


def _time_scale(system) -> str:
    if not system.time_scale:
        return "-"
    kind = "Lyapunov time" if system.time_scale_kind == "lyapunov_time" else "period"
    units = "" if system.time_units == "1" else f" {system.time_units}"
    return f"{kind} {system.time_scale:.3g}{units}"


def _short(items: list[str], limit: int = 6) -> str:
    return ", ".join(items) if len(items) <= limit else ", ".join(items[:3]) + f", ... ({len(items)})"


def systems_table() -> str:
    """The Markdown-style table printed by `warp-phys systems`."""
    from warp_phys.systems import available, get

    rows = [("name", "kind", "aliases", "variables", "parameters", "time scale")]
    for name in available():
        s = get(name)
        rows.append((name, s.kind, ", ".join(s.aliases) or "-", _short(s.variable_names),
                     ", ".join(s.parameter_names) or "-", _time_scale(s)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    lines = [fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(r) for r in rows[1:]]
    return "\n".join(lines)


def run_systems(args: argparse.Namespace) -> int:
    print(systems_table())
    return 0


def _check_simulate(args: argparse.Namespace, system) -> tuple[float, float] | None:
    """Every cheap check of `warp-phys simulate` (before anything is simulated); returns t_span."""
    from warp_phys.device import resolve_device
    from warp_phys.validation import InputError, check_int, check_output_path, check_seed

    check_int(args.n, "-n", minimum=1)
    if not _is_zarr(args):
        check_output_path(args.output, "--output")
        given = [flag for flag, on in (("--chunk", args.chunk is not None), ("--workers", args.workers != 1),
                                       ("--scheduler", args.scheduler is not None)) if on]
        if given:
            raise InputError(f"{', '.join(given)} shard the simulation into a Zarr store: give an output path ending "
                             f"in .zarr (e.g. --out {Path(args.output).with_suffix('.zarr')}), or drop them")
    else:  # a store is a directory: the same command completes an interrupted one
        parent = Path(args.output).expanduser().resolve().parent
        if not parent.is_dir():
            raise InputError(f"--output {args.output!r}: its folder {parent} does not exist; create it first")
        check_int(args.chunk or 4096, "--chunk", minimum=1)
        check_int(args.workers, "--workers", minimum=1)
    check_seed(args.seed, "--seed")
    resolve_device(args.device)
    if system.kind != "ode":
        given = [f"--{k}" for k in ("backend", "method", "rtol", "atol") if getattr(args, k) is not None]
        if given:
            raise InputError(f"{given} apply to ODE systems only; {system.name} is a {system.kind} system with "
                             "its own solver: drop them")
    elif args.grid is not None:
        raise InputError(f"--grid applies to field systems only; {system.name} is an ODE system")
    for flag, tol in (("--rtol", args.rtol), ("--atol", args.atol)):
        if tol is not None and not (math.isfinite(tol) and tol > 0):
            raise InputError(f"{flag} must be a finite number > 0, got {tol!r}")
    if args.t_end is None and args.t_start is None:
        return None
    default = system.protocol(args.protocol).t_span
    t_span = (float(default[0]) if args.t_start is None else args.t_start,
              float(default[1]) if args.t_end is None else args.t_end)
    if not all(math.isfinite(v) for v in t_span) or t_span[1] <= t_span[0]:
        raise InputError(f"the time span [--t-start, --t-end] = [{t_span[0]:g}, {t_span[1]:g}] must be finite "
                         "with t_end > t_start; fix --t-start / --t-end")
    return t_span


def _is_zarr(args: argparse.Namespace) -> bool:
    """A Zarr store is written for an output path ending in .zarr (sharded, `warp_phys.sharded`)."""
    return str(args.output).rstrip("/").endswith(".zarr")


def run_simulate(args: argparse.Namespace) -> int:
    from warp_phys.io import to_netcdf
    from warp_phys.systems import get

    system = get(args.name)
    t_span = _check_simulate(args, system)
    kwargs = dict(params=args.params, seed=args.seed, device=args.device, protocol=args.protocol,
                  progress=not args.quiet)
    if system.kind == "ode":
        kwargs.update(backend=args.backend or "torch", method=args.method,
                      rtol=1e-7 if args.rtol is None else args.rtol, atol=1e-9 if args.atol is None else args.atol)
    elif args.grid is not None:
        kwargs["grid"] = args.grid
    start = time.perf_counter()
    if _is_zarr(args):
        from warp_phys.sharded import simulate_to_zarr

        kwargs.pop("progress")
        ds = simulate_to_zarr(system, args.n, args.output, chunk=args.chunk or 4096, workers=args.workers,
                              scheduler=args.scheduler, seed=kwargs.pop("seed"), progress=not args.quiet,
                              t_span=t_span, n_steps=args.steps, **kwargs)
        path = args.output
    else:
        ds = system.simulate(args.n, t_span, args.steps, **kwargs)
        path = to_netcdf(ds, args.output, engine=args.engine)
    secs = time.perf_counter() - start
    dims = " x ".join(f"{ds.sizes[k]} {k}" for k in ds["state"].dims) if "state" in ds else str(dict(ds.sizes))
    t = ds["time"].values
    solver = f"backend={ds.attrs.get('backend', kwargs['backend'])}, " if system.kind == "ode" else ""
    print(f"wrote {path}: {system.name}, {dims}, t in [{t[0]:g}, {t[-1]:g}] {ds['time'].attrs.get('units', '')}, "
          f"params={args.params}, {solver}seed={args.seed} ({secs:.2f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("systems", help="list the dynamical systems in the library",
                              description="Table of systems: aliases, variables, parameters, time scale.")
    p.set_defaults(func=run_systems)

    p = subparsers.add_parser("simulate", help="simulate trajectories of a system into NetCDF or a Zarr store",
                              description="Simulate trajectories and write them (atomically) to NetCDF, or chunk "
                                          "by chunk (in parallel with Dask) to a Zarr store.")
    p.add_argument("name", help="system name or alias (see `warp-phys systems`)")
    p.add_argument("-n", type=int, default=64, help="number of trajectories (default 64)")
    p.add_argument("--steps", type=int, default=None, help="time steps incl. both ends (default: protocol's)")
    p.add_argument("--t-start", type=float, default=None, help="start time (default: protocol's)")
    p.add_argument("--t-end", type=float, default=None, help="end time (default: protocol's)")
    p.add_argument("-o", "--output", "--out", required=True,
                   help="output path: NetCDF (overwritten atomically), or a Zarr store when it ends in .zarr "
                        "(written chunk by chunk, in parallel with --workers; an interrupted store is completed "
                        "by the same command)")
    p.add_argument("--chunk", type=int, default=None, help="trajectories per chunk of a .zarr store (default 4096)")
    p.add_argument("--workers", type=int, default=1, help="local Dask worker processes for a .zarr store (default 1)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler for a .zarr store "
                                                     "(default: --workers local processes)")
    p.add_argument("--backend", choices=("torch", "scipy"), default=None, help="ODE systems only (default torch)")
    p.add_argument("--method", default=None, help="solver method, ODE systems only (default dopri5 for torch, "
                                                  "DOP853 for scipy)")
    p.add_argument("--rtol", type=float, default=None, help="ODE systems only (default 1e-7)")
    p.add_argument("--atol", type=float, default=None, help="ODE systems only (default 1e-9)")
    p.add_argument("--params", choices=("train", "test"), default="train",
                   help="sample parameters from the train or the wider test ranges")
    p.add_argument("--protocol", default="default", help="protocol preset, e.g. 'paper' (default 'default')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda' (torch backend)")
    p.add_argument("--grid", type=int, default=None, help="grid points per direction (field systems only)")
    engines = installed_engines()
    p.add_argument("--engine", type=_engine, default=engines[0] if engines else "netcdf4",
                   metavar="{" + ",".join(engines) + "}", help=f"NetCDF engine (installed here: {', '.join(engines)})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_simulate)
