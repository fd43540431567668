"""`warp-phys systems` (the table of systems) and `warp-phys simulate` (data to NetCDF)."""
from __future__ import annotations

import argparse
import time


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


def run_simulate(args: argparse.Namespace) -> int:
    from warp_phys.io import to_netcdf
    from warp_phys.systems import get

    system = get(args.name)
    t_span = None
    if args.t_end is not None or args.t_start is not None:
        default = system.protocol(args.protocol).t_span
        t_span = (default[0] if args.t_start is None else args.t_start,
                  default[1] if args.t_end is None else args.t_end)
    kwargs = dict(params=args.params, seed=args.seed, device=args.device, protocol=args.protocol,
                  progress=not args.quiet)
    if system.kind == "ode":
        kwargs.update(backend=args.backend, method=args.method, rtol=args.rtol, atol=args.atol)
        if args.grid is not None:
            raise ValueError(f"--grid applies to field systems only; {system.name} is an ODE system")
    elif args.grid is not None:
        kwargs["grid"] = args.grid
    start = time.perf_counter()
    ds = system.simulate(args.n, t_span, args.steps, **kwargs)
    path = to_netcdf(ds, args.output, engine=args.engine)
    secs = time.perf_counter() - start
    dims = " x ".join(f"{ds.sizes[k]} {k}" for k in ds["state"].dims) if "state" in ds else str(dict(ds.sizes))
    t = ds["time"].values
    print(f"wrote {path}: {system.name}, {dims}, t in [{t[0]:g}, {t[-1]:g}] {ds['time'].attrs.get('units', '')}, "
          f"params={args.params}, backend={ds.attrs.get('backend', args.backend)}, seed={args.seed} ({secs:.2f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("systems", help="list the dynamical systems in the library",
                              description="Table of systems: aliases, variables, parameters, time scale.")
    p.set_defaults(func=run_systems)

    p = subparsers.add_parser("simulate", help="simulate trajectories of a system into a NetCDF file",
                              description="Simulate trajectories and write them (atomically) to NetCDF.")
    p.add_argument("name", help="system name or alias (see `warp-phys systems`)")
    p.add_argument("-n", type=int, default=64, help="number of trajectories (default 64)")
    p.add_argument("--steps", type=int, default=None, help="time steps incl. both ends (default: protocol's)")
    p.add_argument("--t-start", type=float, default=None, help="start time (default: protocol's)")
    p.add_argument("--t-end", type=float, default=None, help="end time (default: protocol's)")
    p.add_argument("-o", "--output", required=True, help="output NetCDF path (overwritten atomically)")
    p.add_argument("--backend", choices=("torch", "scipy"), default="torch", help="ODE systems only")
    p.add_argument("--method", default=None, help="solver method (default dopri5 for torch, DOP853 for scipy)")
    p.add_argument("--rtol", type=float, default=1e-7)
    p.add_argument("--atol", type=float, default=1e-9)
    p.add_argument("--params", choices=("train", "test"), default="train",
                   help="sample parameters from the train or the wider test ranges")
    p.add_argument("--protocol", default="default", help="protocol preset, e.g. 'paper' (default 'default')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda' (torch backend)")
    p.add_argument("--grid", type=int, default=None, help="grid points per direction (field systems only)")
    p.add_argument("--engine", choices=("netcdf4", "h5netcdf"), default="netcdf4")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_simulate)
