"""Sharded simulation into a Zarr store: wall time and peak memory against the number of
trajectories and of Dask workers, measured side by side in one run.

Each configuration runs `warp_phys.sharded.simulate_to_zarr` in a fresh process (so that its
peak resident memory is its own: ``ru_maxrss`` of the largest process of the run, the Dask
workers included) and writes a new store. Printed: seconds, trajectories per second, the
speed-up of N workers over 1 worker at the same size, peak RSS, and the store's size.

    python benchmarks/scale.py                       # Lorenz-63, 1000 steps, n = 2e3, 2e4; 1 and 2 workers
    python benchmarks/scale.py --sizes 2000 20000 200000 --workers 1 2 --out benchmarks/results/scale.md
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", default="lorenz63")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--folder", default=None, help="where the stores are written (default: a temporary folder)")
    ap.add_argument("--out", default=None, help="also write the table (Markdown) here")
    args = ap.parse_args()
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
