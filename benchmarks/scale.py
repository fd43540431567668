"""Sharded simulation into a Zarr store: wall time and peak memory against the number of
trajectories and of Dask workers, measured side by side in one run.

Each configuration runs `warp_phys.sharded.simulate_to_zarr` in a fresh process (so that its
peak resident memory is its own: ``ru_maxrss`` of the largest process of the run, the Dask
workers included) and writes a new store. Printed: seconds, trajectories per second, the
speed-up of N workers over 1 worker at the same size, peak RSS, and the store's size.

    python benchmarks/scale.py                       # Lorenz-63, 1000 steps, n = 2e3, 2e4; 1 and 2 workers
    python benchmarks/scale.py --sizes 2000 20000 200000 --workers 1 2 --out benchmarks/results/scale.md

``--ddp``: data-parallel training instead (`warp_phys.distributed`): the same WARP run (damped
oscillators, seed 0) in 1 process and in ``--nproc`` CPU processes under torchrun (gloo) at the
same global batch; prints the validation loss of every epoch side by side and the final metrics.
With ``--double`` (float64) the curves agree to ~1e-15 (only the order of the gradient sums
differs); in float32 they agree to rounding, which grows slowly over the epochs.

    python benchmarks/scale.py --ddp                 # 2 processes, 10 epochs, float32
    python benchmarks/scale.py --ddp --nproc 2 --epochs 20 --double --out benchmarks/results/scale_ddp.md
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_machine, machine_info, markdown_table  # noqa: E402

RUN = """
import json, sys
from warp_phys.sharded import simulate_to_zarr
cfg = json.loads(sys.argv[1])
simulate_to_zarr(cfg["system"], cfg["n"], cfg["path"], chunk=cfg["chunk"], workers=cfg["workers"],
                 n_steps=cfg["steps"], seed=0)
"""


def run_one(system: str, n: int, workers: int, chunk: int, steps: int, folder: Path) -> dict:
    """One configuration in a child process: wall seconds, peak RSS (MiB) and store size (GiB)."""
    path = folder / f"{system}_{n}_{workers}.zarr"
    cfg = dict(system=system, n=n, workers=workers, chunk=chunk, steps=steps, path=str(path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, json.dumps(cfg)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"configuration {cfg} failed with status {status}")
    # ru_maxrss of the child covers its own waited-for children (the Dask nanny and workers): KiB on Linux
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    shutil.rmtree(path)
    return dict(n=n, workers=workers, seconds=seconds, peak_rss_mib=usage.ru_maxrss / 1024, store_gib=size / 2**30)


def ddp_worker(cfg: dict) -> None:
    """One training run (under torchrun: one rank of it); rank 0 writes the history as JSON."""
    import torch

    from warp_phys.distributed import is_main_process
    from warp_phys.model import WARP
    from warp_phys.training import Trainer

    torch.set_num_threads(1)
    dtype = torch.float64 if cfg["double"] else torch.float32
    g = torch.Generator().manual_seed(0)
    n, steps = cfg["n_train"] + cfg["n_val"], cfg["steps"]
    tau = torch.linspace(0.0, 4.0, steps, dtype=torch.float64)
    w = 2.0 + 3.0 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    c = 0.05 + 0.3 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    phase = 6.3 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    decay = torch.exp(-c * tau)
    x = torch.stack([decay * torch.cos(w * tau + phase), decay * torch.sin(w * tau + phase)], dim=-1).to(dtype)
    model = WARP(2, width=16, depth=2, seed=0).to(dtype)
    start = time.perf_counter()
    h = Trainer(epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=3e-3, patience=cfg["epochs"], seed=0,
                device="cpu", progress=False).fit(model, x[: cfg["n_train"]], tau.to(dtype), x[cfg["n_train"]:])
    if is_main_process():
        Path(cfg["out"]).write_text(json.dumps(dict(val=h.val_loss, train=h.train_loss, best_epoch=h.best_epoch,
                                                    best=h.best_score, seconds=time.perf_counter() - start)))


def run_ddp(args: argparse.Namespace) -> None:
    """1 process against ``args.nproc`` processes under torchrun (gloo), same global batch."""
    folder = Path(args.folder or tempfile.mkdtemp(prefix="warp_ddp_"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = {}
    for nproc in (1, args.nproc):
        cfg = dict(epochs=args.epochs, batch_size=args.batch_size, n_train=args.n_train, n_val=args.n_val,
                   steps=args.steps_ddp, double=args.double, out=str(folder / f"ddp_{nproc}.json"))
        cmd = [sys.executable, __file__, "--ddp-worker", json.dumps(cfg)]
        if nproc > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   *cmd[1:]]
        start = time.perf_counter()
        if subprocess.run(cmd, env=env).returncode != 0:
            raise SystemExit(f"the run with {nproc} process(es) failed: {' '.join(cmd)}")
        results[nproc] = {**json.loads(Path(cfg["out"]).read_text()), "wall": time.perf_counter() - start}
    one, many = results[1], results[args.nproc]
    headers = ["epoch", "val loss, 1 process", f"val loss, {args.nproc} processes", "relative difference"]
    rows = [[e, f"{a:.8g}", f"{b:.8g}", f"{abs(a - b) / max(abs(a), 1e-300):.1e}"]
            for e, (a, b) in enumerate(zip(one["val"], many["val"]))]
    final = markdown_table(["processes", "best epoch", "best val loss", "final train loss", "fit seconds",
                            "wall seconds (with start-up)"],
                           [[k, r["best_epoch"], f"{r['best']:.8g}", f"{r['train'][-1]:.8g}", f"{r['seconds']:.1f}",
                             f"{r['wall']:.1f}"] for k, r in results.items()])
    text = (f"# Data-parallel training: WARP, {args.n_train} trajectories of {args.steps_ddp} steps, global batch "
            f"{args.batch_size}, {'float64' if args.double else 'float32'}, gloo on CPU\n\n"
            f"{format_machine(machine_info())}\n\n{markdown_table(headers, rows)}\n\n{final}\n")
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--ddp-worker":
        return ddp_worker(json.loads(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", default="lorenz63")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--folder", default=None, help="where the stores are written (default: a temporary folder)")
    ap.add_argument("--out", default=None, help="also write the table (Markdown) here")
    ap.add_argument("--ddp", action="store_true", help="compare 1 process with --nproc under torchrun instead")
    ap.add_argument("--nproc", type=int, default=2, help="--ddp: processes under torchrun (default 2)")
    ap.add_argument("--epochs", type=int, default=10, help="--ddp: training epochs (default 10)")
    ap.add_argument("--batch-size", type=int, default=32, help="--ddp: the global batch (default 32)")
    ap.add_argument("--n-train", type=int, default=256, help="--ddp: training trajectories (default 256)")
    ap.add_argument("--n-val", type=int, default=64, help="--ddp: validation trajectories (default 64)")
    ap.add_argument("--steps-ddp", type=int, default=50, help="--ddp: steps per trajectory (default 50)")
    ap.add_argument("--double", action="store_true", help="--ddp: train in float64")
    args = ap.parse_args()
    if args.ddp:
        return run_ddp(args)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="warp_scale_"))
    rows, base = [], {}
    for n in args.sizes:
        for w in args.workers:
            r = run_one(args.system, n, w, args.chunk, args.steps, folder)
            base.setdefault(n, r["seconds"] if w == min(args.workers) else None)
            speedup = base[n] / r["seconds"] if base[n] else float("nan")
            rows.append([n, w, f"{r['seconds']:.1f}", f"{n / r['seconds']:.0f}", f"{speedup:.2f}x",
                         f"{r['peak_rss_mib']:.0f}", f"{r['store_gib']:.3f}"])
            print(markdown_table(["trajectories", "workers", "seconds", "traj/s", "speed-up vs fewest workers",
                                  "peak RSS MiB (largest process)", "store GiB"], rows[-1:]).splitlines()[-1],
                  flush=True)
    table = markdown_table(["trajectories", "workers", "seconds", "traj/s", "speed-up vs fewest workers",
                            "peak RSS MiB (largest process)", "store GiB"], rows)
    text = (f"# Sharded simulation: {args.system}, {args.steps} steps, chunk {args.chunk}, float32\n\n"
            f"{format_machine(machine_info())}\n\n{table}\n")
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
