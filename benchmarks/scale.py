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

``--stream``: training from a Zarr store larger than memory (`warp_phys.pipeline.streamed`). A
store of ``--store-mib`` MiB (default 4 x ``--limit-mib``) of damped oscillators (``--vars``
variables, ``--steps-stream`` steps, one trajectory per Zarr chunk) is written, then
``reconstruct(data=<store path>, epochs=1)`` runs in a child process whose memory is capped at
``--limit-mib`` MiB with ``resource.setrlimit``: ``--limit-kind data`` (default) caps RLIMIT_DATA,
the process's private writable memory (heap, anonymous mappings, thread stacks: every array numpy
or torch allocates), so an allocation beyond it raises MemoryError; ``as`` caps the whole address
space (RLIMIT_AS), which also counts the ~0.65 GiB of shared libraries torch maps and the zarr
threads' reserved stacks, so it needs a larger cap. For contrast the same child tries the in-memory
path (``xr.open_zarr(path).load()``) under the same cap. Printed: seconds, peak RSS, peak address
space, store size.

    python benchmarks/scale.py --stream --limit-mib 640 --out benchmarks/results/scale_stream.md
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


STREAM_RUN = """
import json, resource, sys, time
cfg = json.loads(sys.argv[1])
lim, kind = cfg["limit_mib"] * 2**20, getattr(resource, "RLIMIT_" + cfg["limit_kind"].upper())
resource.setrlimit(kind, (lim, lim))
import torch
torch.set_num_threads(1)
import xarray as xr
import warp_phys as wp
start, out = time.perf_counter(), {}
try:
    data = cfg["path"] if cfg["mode"] == "stream" else xr.open_zarr(cfg["path"]).load()
    rec = wp.reconstruct(data=data, model="warp", epochs=1, seed=0, device="cpu", progress=False, width=8, depth=1,
                         prev_obs_input=False, lr=1e-3, output_clip=10.0,
                         batch_size=cfg["batch_size"],
                         **({"max_test_trajectories": cfg["max_test"]} if cfg["mode"] == "stream" else {}))
    h = rec.history
    from warp_phys.data import split_indices
    n_train = len(split_indices(int(xr.open_zarr(cfg["path"]).sizes["trajectory"]), seed=0)[0])
    out = dict(ok=True, n_train=n_train, epochs=h.epochs_run, train_loss=h.train_loss[-1], val_loss=h.val_loss[-1],
               mse=rec.metrics["mse"], mse_zero=rec.metrics["mse_zero"], scored=rec.dataset.attrs.get(
                   "test_trajectories_scored", ""), fit_s=h.time_s)
except MemoryError:
    out = dict(ok=False, error="MemoryError")
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
out.update(seconds=time.perf_counter() - start, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           peak_vm_mib=int(status["VmPeak"].split()[0]) / 1024)
print("RESULT " + json.dumps(out), flush=True)
"""


def write_oscillator_store(path: Path, n: int, steps: int, d: int, block: int = 512) -> None:
    """A Zarr store (format 2, consolidated) of n trajectories (n, steps, d) float32 of damped
    oscillators (random frequency, damping and phase per trajectory and variable pair), one
    trajectory per Zarr chunk, written ``block`` trajectories at a time (bounded memory)."""
    import dask.array as dsa
    import numpy as np
    import xarray as xr

    t = np.linspace(0.0, 4.0, steps)

    def make(block_info: dict | None = None) -> np.ndarray:
        (lo, hi), _, _ = block_info[None]["array-location"]
        rng = np.random.default_rng([7, lo])
        w = rng.uniform(1.0, 6.0, (hi - lo, 1, d // 2))
        c = rng.uniform(0.05, 0.5, (hi - lo, 1, d // 2))
        ph = rng.uniform(0.0, 6.3, (hi - lo, 1, d // 2))
        arg, decay = w * t[None, :, None] + ph, np.exp(-c * t[None, :, None])
        return np.concatenate([decay * np.cos(arg), decay * np.sin(arg)], axis=-1).astype(np.float32)

    state = dsa.map_blocks(make, chunks=((block,) * (n // block) + ((n % block,) if n % block else ()),
                                         (steps,), (d,)), dtype=np.float32)
    ds = xr.Dataset({"state": (("trajectory", "time", "variable"), state)},
                    coords={"trajectory": np.arange(n), "time": t, "variable": [f"x{i}" for i in range(d)]})
    import dask

    with dask.config.set(scheduler="synchronous"):
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True,
                   encoding={"state": {"chunks": (1, steps, d)}})


def run_stream(args: argparse.Namespace) -> None:
    """Write a store ~4x the memory cap, then train one epoch from it in a capped child process."""
    folder = Path(args.folder or tempfile.mkdtemp(prefix="warp_stream_"))
    per_traj = args.steps_stream * args.vars * 4
    store_mib = args.store_mib or 4 * args.limit_mib
    n = int(store_mib * 2**20 // per_traj)
    path = folder / "oscillators.zarr"
    start = time.perf_counter()
    write_oscillator_store(path, n, args.steps_stream, args.vars)
    write_s = time.perf_counter() - start
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"wrote {n} trajectories ({n * per_traj / 2**20:.0f} MiB float32, {disk / 2**20:.0f} MiB on disk) "
          f"in {write_s:.0f} s", flush=True)
    rows = []
    for mode in ("memory", "stream"):
        cfg = dict(path=str(path), mode=mode, limit_mib=args.limit_mib, limit_kind=args.limit_kind,
                   batch_size=args.batch_size_stream,
                   max_test=args.max_test)
        proc = subprocess.run([sys.executable, "-c", STREAM_RUN, json.dumps(cfg)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"})
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            raise SystemExit(f"the {mode} run failed (status {proc.returncode}):\n{proc.stderr[-3000:]}")
        r = json.loads(lines[-1][7:])
        what = ("reconstruct(data=xr.open_zarr(path).load())" if mode == "memory"
                else "reconstruct(data=path) (streamed)")
        outcome = (f"1 epoch over {r['n_train']} training trajectories (fit with validation {r['fit_s']:.0f} s); "
                   f"train loss {r['train_loss']:.4g}, val loss {r['val_loss']:.4g}; test mse {r['mse']:.4g} "
                   f"(zero forecast {r['mse_zero']:.4g}) on {r['scored']} test trajectories" if r["ok"]
                   else r["error"])
        rows.append([what, outcome, f"{r['seconds']:.0f}", f"{r['peak_rss_mib']:.0f}", f"{r['peak_vm_mib']:.0f}"])
        print(rows[-1], flush=True)
        if not r["ok"] and mode == "stream":
            raise SystemExit("the streamed run did not complete under the cap")
    table = markdown_table([f"run (child process, RLIMIT_{args.limit_kind.upper()} cap)", "outcome", "seconds",
                            "peak RSS MiB",
                            "peak address space MiB"], rows)
    text = (f"# Training from a Zarr store larger than memory: {n} trajectories x {args.steps_stream} steps x "
            f"{args.vars} variables, float32 = {n * per_traj / 2**20:.0f} MiB ({disk / 2**20:.0f} MiB on disk, "
            f"one trajectory per chunk); memory cap {args.limit_mib} MiB (RLIMIT_{args.limit_kind.upper()}) = "
            f"store / {n * per_traj / 2**20 / args.limit_mib:.1f}\n\n"
            f"WARP width 8, depth 1 (prev_obs_input=False, output_clip=10), lr 1e-3, batch "
            f"{args.batch_size_stream}, 1 epoch, seed 0, one torch thread; store "
            f"written in {write_s:.0f} s.\n\n{format_machine(machine_info())}\n\n{table}\n")
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text)
    if not args.folder:
        shutil.rmtree(folder)


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
    ap.add_argument("--stream", action="store_true", help="train one epoch from a store 4x a memory cap instead")
    ap.add_argument("--limit-mib", type=int, default=640, help="--stream: memory cap of the child (MiB)")
    ap.add_argument("--limit-kind", choices=["data", "as"], default="data",
                    help="--stream: RLIMIT_DATA (private writable memory, default) or RLIMIT_AS (address space)")
    ap.add_argument("--store-mib", type=int, default=None, help="--stream: store size (default 4 x --limit-mib)")
    ap.add_argument("--vars", type=int, default=32, help="--stream: variables per trajectory (default 32)")
    ap.add_argument("--steps-stream", type=int, default=200, help="--stream: steps per trajectory (default 200)")
    ap.add_argument("--batch-size-stream", type=int, default=64, help="--stream: batch size (default 64)")
    ap.add_argument("--max-test", type=int, default=256, help="--stream: test trajectories scored (default 256)")
    args = ap.parse_args()
    if args.stream:
        return run_stream(args)
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
