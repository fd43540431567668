"""One-off: digits completion with WARP's clamp passing inward gradients (clip_gradient="inward") against
the clamp's own zero gradient, VALIDATION only (no test figure computed), 60 s per run, the completion-loss
option of benchmarks/complete.py, seed 0. Usage: python ... NAME [NAME ...]"""
import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "sizes_probe", Path(__file__).resolve().parent / "complete_digits_sizes_probe_2026-12-06.py")
_sizes_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sizes_probe)
probe = _sizes_probe.probe

VARIANTS = {"w32_rank32_zero": {"width": 32, "rank": 32}, "w32_rank32_inward": {"width": 32, "rank": 32, "clip_gradient": "inward"},
            "w32_rank24_inward": {"width": 32, "rank": 24, "clip_gradient": "inward"},
            "w24_rank16_zero": {}, "w24_rank16_inward": {"clip_gradient": "inward"}}

if __name__ == "__main__":
    probe(VARIANTS, sys.argv[1:])
