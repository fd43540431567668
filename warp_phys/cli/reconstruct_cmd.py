"""``warp-phys reconstruct SYSTEM -o out.nc [--plot out.png] ...``: the one-call workflow
from the command line; prints the metrics table at the end."""
from __future__ import annotations

import argparse
import sys
import time


def _none_or_str(value: str) -> str | None:
    return None if value.lower() in ("none", "null", "") else value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reconstruct",
        help="train WARP on a system's simulated trajectories and forecast its test set",
        description="Simulate train/validation/test trajectories of SYSTEM, train WARP (with the "
                    "system's physics prior by default) or a baseline, forecast the test set from a "
                    "context, and write truth + forecast to NetCDF. Prints the metrics at the end.",
    )
    p.add_argument("system", help="system name (see `warp-phys systems`), e.g. lorenz, msd, lv")
    p.add_argument("-o", "--output", required=True, help="NetCDF file to write (written atomically)")
    p.add_argument("--plot", default=None, help="also save a PNG plot of one test trajectory here")
    p.add_argument("--trajectory", type=int, default=0, help="test trajectory to plot (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the system's recipe)")
    p.add_argument("--n-train", type=int, default=None, help="training trajectories (default: the recipe's)")
    p.add_argument("--context", type=int, default=None, help="observed steps before the forecast")
    p.add_argument("--horizon", type=int, default=None, help="forecast steps to score (default: to the end)")
    p.add_argument("--model", default="warp", help="warp (default), a baseline (gru, lstm, transformer, node, persistence, dmd), or ode_fit "
                        "(the system's own ODE, parameters fitted to each context by least squares)")
    p.add_argument("--prior", type=_none_or_str, default="auto",
                   help="physics prior: auto (the system's recommended one; default), none, or a name")
    p.add_argument("--protocol", default=None, help="the system's data protocol (default: the recipe's)")
    p.add_argument("--max-time", type=float, default=None, help="cap on the training time in seconds")
    p.add_argument("--forecast-weight", type=float, default=None,
                   help="add this weight times the MSE of the model's own forecast after the context to the "
                        "training loss (WARP only; default: the recipe's, usually 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and training")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from warp_phys.workflow import reconstruct

    from warp_phys.device import resolve_device
    from warp_phys.validation import check_int, check_output_path, check_seed

    # every cheap check before reconstruct() simulates anything
    out = check_output_path(args.output, "--output")
    if args.plot:
        check_output_path(args.plot, "--plot")
    check_int(args.trajectory, "--trajectory", minimum=0)
    check_seed(args.seed, "--seed")
    resolve_device(args.device)
    options = {}
    if args.max_time is not None:
        options["max_time"] = args.max_time
    if args.forecast_weight is not None:
        options["forecast_weight"] = args.forecast_weight
    if args.n_train is not None:
        options["n_train"] = args.n_train
    t0 = time.perf_counter()
    rec = reconstruct(system=args.system, context=args.context, horizon=args.horizon, prior=args.prior,
                      model=args.model, epochs=args.epochs, seed=args.seed,
                      device=args.device, progress=not args.quiet, protocol=args.protocol, **options)
    rec.to_netcdf(out)
    written = [str(out)]
    if args.plot:
        from warp_phys.plotting import save_figure

        save_figure(rec.plot(trajectory=args.trajectory), args.plot)
        written.append(str(args.plot))
    print(rec.summary())
    print(f"wrote {', '.join(written)} in {time.perf_counter() - t0:.1f} s", file=sys.stderr if args.quiet else sys.stdout)
    return 0
