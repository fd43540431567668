"""``warp-phys reconstruct SYSTEM -o out.nc [--plot out.png] ...``: the one-call workflow
from the command line; prints the metrics table at the end. ``warp-phys reconstruct --data
FILE -o out.nc`` does the same on the user's trajectories (file formats: `warp_phys.cli.data_file`).
Under ``torchrun --nproc_per_node N warp-phys reconstruct ...`` training is data-parallel
(`warp_phys.distributed`) and only rank 0 writes the files and prints the metrics."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

#: warp_phys.transition_inputs.TRANSITION_INPUTS, spelled out so that `--help` does not import torch.
TRANSITION_INPUT_CHOICES = ("state", "moments", "lstsq")


def _none_or_str(value: str) -> str | None:
    return None if value.lower() in ("none", "null", "") else value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reconstruct",
        help="train WARP on a system's simulated trajectories and forecast its test set",
        description="Simulate train/validation/test trajectories of SYSTEM, train WARP (with the "
                    "system's physics prior by default) or a baseline, forecast the test set from a "
                    "context, and write truth + forecast to NetCDF. Prints the metrics at the end. "
                    "With --data FILE instead of SYSTEM: the same on your trajectories (split 70/15/15 "
                    "by trajectory), or on one series cut into windows (--window).",
        epilog="--data formats: NetCDF (.nc) with state(trajectory, time, variable) and a time coordinate "
               "(written by warp_phys.to_netcdf or xarray); or CSV (.csv) with a header row: "
               "'time,<var1>,<var2>,...' (one series; needs --window) or 'trajectory,time,<var1>,...' "
               "(several trajectories on the same times). '#' lines are comments. Or a Zarr store (.zarr, e.g. from "
               "`warp-phys simulate NAME --out x.zarr`) with state(trajectory, time, variable): streamed from disk "
               "in batches (data larger than memory; no classical baselines, at most 1024 test trajectories scored).",
    )
    p.add_argument("system", nargs="?", default=None,
                   help="system name (see `warp-phys systems`), e.g. lorenz, msd, lv; omit it with --data")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="your trajectories instead of a system: a NetCDF or CSV file, or a .zarr store (formats below)")
    p.add_argument("--window", type=int, default=None,
                   help="with --data holding ONE series: steps per window it is cut into (split in time order)")
    p.add_argument("--split-by", choices=("window", "forecast"), default=None,
                   help="with --window: what puts a window in the validation or test block: all its steps (window; "
                        "default) or its forecast steps, the context reading the steps before (forecast: every "
                        "forecast origin of the block is scored)")
    p.add_argument("--phases", nargs="+", default=None, metavar="P",
                   help="with --window: known periodic inputs, periods in record steps (e.g. 52.18) or, on a date "
                        "axis, year / week / day (sin and cos of the phase, read at every step, never predicted)")
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
                   help="physics prior: auto (the system's recommended one; default), none, or a name (e.g. "
                        "grey_box; quadratic: a quadratic vector field with free coefficients, needs no system)")
    p.add_argument("--protocol", default=None, help="the system's data protocol (default: the recipe's)")
    p.add_argument("--max-time", type=float, default=None, help="cap on the training time in seconds")
    p.add_argument("--forecast-weight", type=float, default=None,
                   help="add this weight times the MSE of the model's own forecast after the context to the "
                        "training loss (WARP only; default: the recipe's, usually 0)")
    p.add_argument("--batches-per-epoch", type=int, default=None,
                   help="validate (and select the model) every this many optimiser steps instead of after each "
                        "pass over the training set: for large training sets (default: one pass)")
    p.add_argument("--transition-input", choices=TRANSITION_INPUT_CHOICES, default=None,
                   help="what WARP's weights read: the state (default), also its running moments (the "
                        "least-squares statistics of a quadratic vector field), or also the running least-squares "
                        "fit of that field (lstsq)")
    p.add_argument("--ar-lags", type=int, default=None,
                   help="WARP: add a learned linear function of the last this many inputs to each prediction (an "
                        "AR(p) model inside the network, zero at the start; e.g. the order of a good AR fit)")
    p.add_argument("--ar-gate", action="store_true", default=None,
                   help="WARP with --ar-lags: the network's outputs pass through a gate that starts at zero, so "
                        "training starts from the least-squares AR(p) fit (kept if training does not beat it on "
                        "validation)")
    p.add_argument("--context-scaling", action=argparse.BooleanOptionalAction, default=None,
                   help="rescale each window by the mean and standard deviation of its own context before the "
                        "model reads it, and map the forecast back (for records whose level or amplitude drifts; "
                        "default: reconstruct's)")
    p.add_argument("--parameter-fit", action="store_true", default=None,
                   help="WARP with a grey-box or quadratic prior: the parameters (field coefficients) its forecast "
                        "holds after the context start from a least-squares fit to the context; the network adds a "
                        "gated correction")
    p.add_argument("--val-horizon", type=int, default=None,
                   help="score the validation forecast over its first this many steps only (default: to the end); "
                        "for a chaotic system about two Lyapunov times")
    p.add_argument("--observation-noise", type=float, default=None, metavar="LEVEL",
                   help="a system only: the data are noisy observations, Gaussian noise of LEVEL x each variable's "
                        "std on the training and validation trajectories and on the test contexts (the scored "
                        "future stays clean), e.g. 0.01")
    p.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and training")
    p.add_argument("--ensemble", type=int, default=None, metavar="N",
                   help="train N runs (seeds SEED .. SEED+N-1; the data drawn from SEED for all) and write their deep ensemble "
                        "instead: the mean forecast, the members' spread in prediction_std (warp_phys.ensemble)")
    p.add_argument("--calibrate", action="store_true",
                   help="with --ensemble: widen the ensemble's band until it holds 95.4 %% of the validation split "
                        "(ensemble(..., calibrate=True); the factor in the attribute std_scale)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from warp_phys.workflow import reconstruct

    from warp_phys.device import resolve_device
    from warp_phys.validation import check_int, check_output_path, check_seed

    # every cheap check before reconstruct() simulates or reads anything
    data_path = _check_combination(args)
    out = check_output_path(args.output, "--output")
    if args.plot:
        check_output_path(args.plot, "--plot")
    check_int(args.trajectory, "--trajectory", minimum=0)
    check_seed(args.seed, "--seed")
    if args.ensemble is not None:
        check_int(args.ensemble, "--ensemble", minimum=2)
        check_seed(args.seed + args.ensemble - 1, "--seed + --ensemble - 1")
    resolve_device(args.device)
    options = {name: getattr(args, name) for name in ("max_time", "forecast_weight", "n_train", "batches_per_epoch",
                                                      "val_horizon", "transition_input", "ar_lags",
                                                      "ar_gate", "parameter_fit", "context_scaling",
                                                      "observation_noise")
               if getattr(args, name) is not None}
    t0 = time.perf_counter()
    common = dict(context=args.context, horizon=args.horizon, prior=args.prior, model=args.model, epochs=args.epochs,
                  device=args.device, progress=not args.quiet, **options)
    if args.split_by is not None:
        common["split_by"] = args.split_by
    if args.phases is not None:
        common["phases"] = [_number_or_name(v) for v in args.phases]
    source = _data_arguments(data_path, args.window) if data_path is not None else \
        dict(system=args.system, protocol=args.protocol)
    if args.ensemble is not None:  # the members share the data (and its split) drawn from --seed
        common["data_seed"] = args.seed
    runs = [reconstruct(**source, **common, seed=seed) for seed in range(args.seed, args.seed + (args.ensemble or 1))]
    from warp_phys.distributed import is_main_process

    if not is_main_process():  # under torchrun: every rank trains, rank 0 writes and prints
        return 0
    from warp_phys.io import to_netcdf
    from warp_phys.plotting import plot_reconstruction, save_figure

    if args.ensemble is None:
        result, summary = runs[0].dataset, runs[0].summary()
    else:
        result, summary = _ensemble_result(runs, calibrate=args.calibrate)
    to_netcdf(result, out)
    written = [str(out)]
    if args.plot:
        fig = runs[0].plot(trajectory=args.trajectory) if args.ensemble is None else \
            plot_reconstruction(result, args.trajectory, title=result.attrs["model"])
        save_figure(fig, args.plot)
        written.append(str(args.plot))
    print(summary)
    print(f"wrote {', '.join(written)} in {time.perf_counter() - t0:.1f} s", file=sys.stderr if args.quiet else sys.stdout)
    return 0


def _ensemble_result(runs: list, calibrate: bool = False) -> tuple[Any, str]:
    """The ensemble's test Dataset (its band scaled on validation with ``calibrate``) and a summary:
    each member's test MSE, then the ensemble's metrics."""
    import json

    from warp_phys.pipeline.ensemble import ensemble
    from warp_phys.pipeline.results import format_metrics

    result = ensemble(runs, calibrate=calibrate)
    members = ", ".join(f"seed {r.seed}: {r.metrics['mse']:.4g}" for r in runs)
    scaled = f"; std x {result.attrs['std_scale']:.3g} (calibrated on validation)" if calibrate else ""
    title = f"{result.attrs['model']}; members' test mse: {members}{scaled}"
    return result, format_metrics({"test": json.loads(result.attrs["metrics"])}, title=title)


def _number_or_name(value: str) -> float | str:
    """A --phases entry: a period in steps (a number) or a named period ("year", ...)."""
    try:
        return float(value)
    except ValueError:
        return value


def _check_combination(args: argparse.Namespace) -> Path | None:
    """Refuse argument combinations that make no sense; returns the checked --data path."""
    from warp_phys.cli.data_file import check_data_path
    from warp_phys.validation import InputError, check_int

    if args.calibrate and args.ensemble is None:
        raise InputError("--calibrate scales the band of an ensemble: give --ensemble N (N >= 2) too")
    if args.data is None:
        if args.system is None:
            raise InputError("give a SYSTEM name (see `warp-phys systems`) or --data FILE with your trajectories")
        if args.window is not None:
            raise InputError("--window cuts one measured series from --data FILE into windows; a SYSTEM is "
                             "simulated as whole trajectories: drop --window")
        if args.split_by is not None:
            raise InputError("--split-by says how the windows of one measured series (--data FILE --window STEPS) "
                             "are split; a SYSTEM is simulated as whole trajectories: drop --split-by")
        if args.phases is not None:
            raise InputError("--phases are known inputs of one measured series (--data FILE --window STEPS); a "
                             "SYSTEM has none: drop --phases")
        return None
    if args.system is not None:
        raise InputError(f"give either a SYSTEM ({args.system!r}) or --data FILE ({args.data!r}), not both: a "
                         "system is simulated, --data reads your trajectories")
    given = [flag for flag, value in (("--n-train", args.n_train), ("--protocol", args.protocol)) if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} describe simulated systems; with --data your file sets the "
                         "trajectories and the time grid: drop them")
    if args.window is not None:
        check_int(args.window, "--window", minimum=2)
    return check_data_path(args.data, "--data")


def _data_arguments(path: Path, window: int | None) -> dict[str, Any]:
    """reconstruct()'s data arguments from the file (InputError on content before any training)."""
    from warp_phys.cli.data_file import read_data_file
    from warp_phys.validation import InputError

    f = read_data_file(path)
    if f.series and window is None:
        raise InputError(f"{path} holds one series (no trajectory axis/column); pass --window STEPS to cut it into "
                         "windows (split in time order), or give several trajectories (CSV: a leading "
                         "'trajectory' column; NetCDF: state(trajectory, time, variable))")
    if not f.series and window is not None:
        n = f.data.sizes["trajectory"] if hasattr(f.data, "sizes") else "its" if isinstance(f.data, str) \
            else f.data.shape[0]
        raise InputError(f"{path} already holds {n} trajectories; --window cuts one series into windows: drop it")
    out = {"data": f.data, "time": f.time, "variables": f.variables}
    if window is not None:
        out["window"] = window
    return out
