"""One-off: WARP's digit-completion size on VALIDATION only (no test figure is computed), 60 s per run,
the completion-loss option of benchmarks/complete.py, seed 0. Usage: python ... NAME [NAME ...]
(`probe` is shared with clip_gradient_probe_2026-12-06.py, which added the train-loss field after this ran.)"""
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import complete as C  # noqa: E402
from warp_phys.training import Trainer  # noqa: E402

VARIANTS = {"rank16": {}, "rank24": {"rank": 24}, "rank32": {"rank": 32}, "width48": {"width": 48},
            "width24": {"width": 24}, "depth3": {"depth": 3}}

def probe(variants: dict, names: list[str]) -> None:
    """Train WARP (SIZES["warp"] changed by ``variants[name]``) for each name; print its validation score."""
    torch.set_num_threads(1)
    data = C.digits_splits(0, False)
    xtr, xva = (torch.from_numpy(data[k])[..., None] for k in ("train", "val"))
    tau = torch.linspace(0.0, 1.0, 64)
    for name in names:
        sizes = dict(C.SIZES, warp=dict(C.SIZES["warp"], **variants[name]))
        model = C.build("warp", sizes, 1, 0)
        trainer = Trainer(epochs=400, patience=400, val_n_ctx=C.DIGITS_OBSERVED, max_time=60, seed=0, device="cpu",
                          progress=False, **C.COMMON, **C.trainer_options("warp", "completion_loss"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            h = trainer.fit(model, xtr, tau, xva)
        print(f"{name}: val completion MSE {h.best_score:.4f} (best epoch {h.best_epoch + 1} of {h.epochs_run}, "
              f"{h.time_s:.0f} s, stop: {h.stop_reason}); first epochs' train loss "
              f"{[round(v, 3) for v in h.train_loss[:4]]}", flush=True)


if __name__ == "__main__":
    probe(VARIANTS, sys.argv[1:])
