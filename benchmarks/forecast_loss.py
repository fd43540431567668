"""Cost of the Trainer's forecast loss (``forecast_weight > 0``): the forecast steps only vs the
full rollout with the context's one-step predictions, side by side in one process.

The forecast loss scores a model's own rollout after ``n_ctx`` observed steps. Before
`warp_phys.sequence.forecast_after` it ran the whole differentiable rollout: WARP evaluated its
root network at every context step too (and autograd ran backward through those unused outputs),
the baselines read the context one token per step. Now WARP evaluates the root network from
step n_ctx on only and the baselines read the context in one call. Both give the same loss and
gradients (tests/test_forecast_after.py); this script times one forward + backward of the loss
(no optimiser step), each path in turn, ``--rounds`` interleaved rounds, and prints the median
time per path and their ratio.

Cases: the digits completion models of benchmarks/complete.py (T = 64, n_ctx = 32, batch 64,
d = 1; WARP's subspace memory of 16 modes, GRU / LSTM / Transformer of width 64, 2 layers) and
the MSD black box of the medium paper table (T = 256, n_ctx = 128, batch 16, d = 2).

    python benchmarks/forecast_loss.py            # all cases, 5 rounds
    python benchmarks/forecast_loss.py --quick    # tiny sizes, 1 round (a smoke check)
    python benchmarks/forecast_loss.py --device cuda   # on a GPU (synchronised before each clock read)
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import torch

from warp_phys import baselines
from warp_phys.completion import with_context_forecast
from warp_phys.device import resolve_device
from warp_phys.model import WARP
from warp_phys.sequence import forecast_after, forecast_from

DIGITS_WARP = dict(width=32, depth=2, transition="subspace", rank=16, transition_options={"input_scale": 10.0},
                   output_clip=5.0)
MEDIUM_BLACK_BOX = dict(width=32, depth=2, transition="subspace", rank=8, transition_options={"input_scale": 10.0},
                        prev_obs_input=True, transition_input="moments")
BASELINE = dict(hidden=64, layers=2)


def cases(quick: bool) -> list[dict[str, Any]]:
    """The benchmark's cases: name, model builder, batch, steps T, context n_ctx, variables d."""
    if quick:
        small = dict(width=8, depth=1, transition="subspace", rank=2)
        return [dict(name="WARP (tiny)", build=lambda: WARP(1, **small, seed=0), B=4, T=12, n_ctx=6, d=1),
                dict(name="GRU (tiny)", build=lambda: baselines.get("gru", 1, hidden=8, layers=1, seed=0),
                     B=4, T=12, n_ctx=6, d=1)]
    digits = dict(B=64, T=64, n_ctx=32, d=1)
    return [dict(name="WARP, digits", build=lambda: WARP(1, **DIGITS_WARP, seed=0), **digits),
            dict(name="GRU, digits", build=lambda: baselines.get("gru", 1, **BASELINE, seed=0), **digits),
            dict(name="LSTM, digits", build=lambda: baselines.get("lstm", 1, **BASELINE, seed=0), **digits),
            dict(name="Transformer, digits",
                 build=lambda: baselines.get("transformer", 1, **BASELINE, heads=4, seed=0), **digits),
            dict(name="WARP, MSD medium black box", build=lambda: WARP(2, **MEDIUM_BLACK_BOX, seed=0),
                 B=16, T=256, n_ctx=128, d=2)]


def _losses(model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor, n: int) -> dict[str, Callable[[], Any]]:
    def full() -> torch.Tensor:  # the rollout with the context's one-step predictions, then sliced
        return ((forecast_from(model, x, tau, n, grad=True).mean[:, n:] - x[:, n:]) ** 2).mean()

    def steps() -> torch.Tensor:  # the forecast steps only
        return ((forecast_after(model, x, tau, n, grad=True).mean - x[:, n:]) ** 2).mean()
    return {"full rollout": full, "forecast steps": steps}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(case: dict[str, Any], rounds: int, device: torch.device = torch.device("cpu")) -> dict[str, Any]:
    """Median seconds of one forward + backward per path, and the two losses' difference."""
    torch.manual_seed(0)
    model = with_context_forecast(case["build"]().to(device))
    x = (torch.randn(case["B"], case["T"], case["d"]).cumsum(1) * 0.1).to(device)
    tau = torch.linspace(0.0, 1.0, case["T"], device=device)
    paths = _losses(model, x, tau, case["n_ctx"])
    values = {k: float(f().detach()) for k, f in paths.items()}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(rounds + 1):  # round 0 warms up
        for k, f in paths.items():
            model.zero_grad(set_to_none=True)
            _sync(device)
            t0 = time.perf_counter()
            f().backward()
            _sync(device)
            if r:
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(name=case["name"], B=case["B"], T=case["T"], n_ctx=case["n_ctx"], full_s=med["full rollout"],
                steps_s=med["forecast steps"], loss_diff=abs(values["full rollout"] - values["forecast steps"]))


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table; ratio = full rollout time / forecast-steps time."""
    lines = ["| case | B | T | n_ctx | full rollout s | forecast steps s | ratio | loss difference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['B']} | {r['T']} | {r['n_ctx']} | {r['full_s']:.4f} | {r['steps_s']:.4f} "
                     f"| {r['full_s'] / r['steps_s']:.2f}x | {r['loss_diff']:.1e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 round")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per path (default 5, quick 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rounds = args.rounds or (1 if args.quick else 5)
    rows = [run(c, rounds, device) for c in cases(args.quick)]
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s), {rounds} round(s), "
          f"median per path")
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
