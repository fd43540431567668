"""Data sources of the pipeline: where the train / validation / test splits come from.

* `system_splits`: an ODE system simulated from its `Protocol` (train, a validation set
  from the training distribution with its own seed, and in- / out-of-distribution tests);
* `user_splits`: the user's own trajectories, split by trajectory (seeded 70/15/15);
  both score their validation split too (``tests["val"]``: `with_scored_validation`);
* `field_splits`: runs of a field system cut into windows (train / val / test runs);
* `series_splits`: one long record cut into windows, split in time order (train on the
  past, validate on the next block, test on the last; see `warp_phys.pipeline.series`).

Every source returns a `Splits`; the rest of the pipeline does not know which one it got.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import xarray as xr

from warp_phys.data import as_dataset, split_indices
from warp_phys.validation import InputError, check_int, check_seed


def derive_seed(seed: int, k: int, salt: Sequence[int] = ()) -> int:
    """Independent, deterministic 31-bit sub-seed number ``k`` of ``seed`` (``salt`` keeps
    the streams of different sources apart). ``seed`` is checked (`check_seed`)."""
    seed = check_seed(seed)
    return int(np.random.SeedSequence([seed, *salt, check_int(k, "k", minimum=0)]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class Splits:
    """The data of one reconstruction.

    ``train``/``val``: Datasets the model is fit and selected on; ``tests``: the scored
    splits by name (the primary one is "test"); ``basis_data``: what a reduced basis is fit
    on (the whole training runs for fields; None: ``train``).
    """

    train: xr.Dataset
    val: xr.Dataset
    tests: dict[str, xr.Dataset]
    basis_data: xr.Dataset | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _distinct_test_distribution(system: Any, proto: Any, sampled: bool) -> bool:
    """True when the protocol's test parameter (or initial-condition) ranges differ from training."""
    if sampled and system.parameter_ranges("train", proto) != system.parameter_ranges("test", proto):
        return True
    if proto.ic_train is not None or proto.ic_test is not None:
        return proto.ic_test is not None and dict(proto.ic_test) != dict(proto.ic_train or {})
    return bool(system.ic_test) and dict(system.ic_test) != dict(system.ic_train)


#: Keeps the observation-noise seeds apart from the simulation seeds of the same run.
NOISE_SALT = 4099


def system_splits(system: Any, proto: Any, *, sampled: bool, seed: int, n_train: int, n_val: int,
                  n_test: int, t_span: tuple[float, float], n_steps: int, observation_noise: float = 0.0,
                  n_ctx: int | None = None) -> Splits:
    """Simulate train, val (train distribution, own seed), test_id and test (OOD) sets of an
    ODE system on the protocol ``proto``'s grid. ``sampled``: parameters drawn per trajectory
    from the protocol's ranges (else the system's values, initial conditions varied).
    ``observation_noise`` > 0: `with_observation_noise` on the result (``n_ctx``: the context)."""
    seed = check_seed(seed)
    kw = dict(t_span=t_span, n_steps=n_steps, protocol=proto, device="cpu")

    def sim(n: int, split: str, k: int) -> xr.Dataset:
        if sampled:
            return system.simulate(n, params=split, seed=derive_seed(seed, k), **kw)
        return system.simulate(n, params=None, ic=split, seed=derive_seed(seed, k), **kw)

    train, val = sim(n_train, "train", 0), sim(n_val, "train", 1)
    tests = {}
    if _distinct_test_distribution(system, proto, sampled):
        tests["test"] = sim(n_test, "test", 3)
        tests["test_id"] = sim(n_test, "train", 2)
    else:
        tests["test"] = sim(n_test, "train", 2)
    what = "parameters and initial conditions" if sampled else "initial conditions (parameters fixed)"
    for name, ds in tests.items():
        ds.attrs["split"] = name
        ds.attrs["split_description"] = (
            f"out of distribution: {what} from the protocol's test ranges"
            if name == "test" and "test_id" in tests else f"in distribution: {what} from the training ranges")
    splits = Splits(train, val, tests)
    if observation_noise:
        splits = with_observation_noise(splits, observation_noise, n_ctx, seed)
    return with_scored_validation(splits, f"in distribution: {what} from the training ranges, drawn with their "
                                          "own seed; the split the model was selected on")


def with_scored_validation(splits: Splits, description: str) -> Splits:
    """``splits`` with the validation split scored like a test split (first in ``tests``, as
    "val"): ``rec.datasets["val"]`` and ``rec.all_metrics["val"]``, the forecast of the data the
    model was selected on (what `warp_phys.ensemble` calibrates its band on)."""
    splits.val.attrs["split"] = "val"
    splits.val.attrs["split_description"] = description
    splits.tests = {"val": splits.val, **{k: v for k, v in splits.tests.items() if k != "val"}}
    return splits


def with_observation_noise(splits: Splits, noise: float, n_ctx: int | None, seed: int) -> Splits:
    """Simulated ``splits`` as noisy observations (`warp_phys.systems.observe`): Gaussian noise of
    ``noise`` x each variable's std over the clean training split on every step of train and
    val and on the first ``n_ctx`` steps of each test split (its scored future stays clean)."""
    from warp_phys.systems import observation_scale, observe

    if n_ctx is None:
        raise InputError("observation noise on the test splits needs their context length n_ctx")
    scale = observation_scale(splits.train)
    seeds = [derive_seed(seed, k, salt=(NOISE_SALT,)) for k in range(2 + len(splits.tests))]
    tests = {}
    for k, (name, ds) in enumerate(splits.tests.items()):
        tests[name] = observe(ds, noise, seed=seeds[2 + k], scale=scale, steps=n_ctx)
        tests[name].attrs["split_description"] += (f"; observed with noise ({noise:g} x each variable's std) over "
                                                   f"the {n_ctx}-step context, the scored future clean")
    return Splits(observe(splits.train, noise, seed=seeds[0], scale=scale),
                  observe(splits.val, noise, seed=seeds[1], scale=scale), tests,
                  basis_data=splits.basis_data, extra=splits.extra)


def user_splits(data: Any, time: Any, seed: int, variables: Sequence[str] | None = None) -> Splits:
    """The user's trajectories (Dataset or array + ``time``), split 70/15/15 by trajectory."""
    seed = check_seed(seed)
    ds = as_dataset(data, time, variable_names=variables)
    tr, va, te = split_indices(ds.sizes["trajectory"], seed=seed)
    test = ds.isel(trajectory=te)
    test.attrs["split"] = "test"
    test.attrs["split_description"] = "held-out trajectories of the user's data (seeded 70/15/15 split)"
    return with_scored_validation(Splits(ds.isel(trajectory=tr), ds.isel(trajectory=va), {"test": test}),
                                  "validation trajectories of the user's data (seeded 70/15/15 split): the "
                                  "split the model was selected on")


def series_splits(record: Any, plan: Any) -> Splits:
    """Windows of one long record (a `series.SeriesRecord`) by block of the chronological
    `series.WindowPlan`: each window lies wholly inside its block (with ``split_by="forecast"``,
    a val/test window's forecast steps do). ``extra`` keeps the record and the plan (for the
    forecast beyond the record's end). The validation block is scored too (``tests`` holds "val"
    and "test"): ``rec.all_metrics["val"]`` is its forecast error in the record's units, beside the
    classical forecasters', so runs with different transforms can be compared on validation."""
    out = {}
    order = {"train": "first (the past)", "val": "next", "test": "last"}
    for name in ("train", "val", "test"):
        lo, hi = plan.blocks[name]
        ds = record.windows(plan.starts[name], plan.window)
        ds.attrs["split"] = name
        inside = ("wholly inside" if name == "train" or plan.split_by == "window" else
                  f"whose forecast steps (from step {plan.context} on) lie inside")
        ds.attrs["split_description"] = (
            f"windows of {plan.window} steps (stride {plan.stride}) {inside} steps {lo}..{hi - 1} of the "
            f"record: the {order[name]} block of a chronological split")
        out[name] = ds
    return Splits(out["train"], out["val"], {"val": out["val"], "test": out["test"]},
                  extra={"series": record, "plan": plan})


def field_splits(system: Any, recipe: Any, seed: int, *, progress: bool = False,
                 device: Any = "cpu") -> Splits:
    """Runs of a field system (train, val, test; distinct seeds) cut into windows of
    ``recipe.window`` steps; the whole training runs are kept for the basis."""
    from warp_phys.fields.data import cut_windows

    seed = check_seed(seed)
    n_steps = int(round(recipe.run_duration / recipe.dt)) + 1
    out: dict[str, xr.Dataset] = {}
    runs_train = None
    for k, (split, n) in enumerate((("train", recipe.n_runs_train), ("val", recipe.n_runs_val),
                                    ("test", recipe.n_runs_test))):
        if n < 1:
            raise InputError(f"n_runs_{split} must be >= 1, got {n}")
        runs = system.simulate(n, t_span=(0.0, (n_steps - 1) * recipe.dt), n_steps=n_steps, grid=recipe.grid,
                               params=None, seed=derive_seed(seed, k, salt=(7919,)), spinup=recipe.spinup,
                               progress=progress, device=device)
        stride = recipe.test_stride if split == "test" else recipe.stride
        out[split] = cut_windows(runs, recipe.window, stride)
        if split == "train":
            runs_train = runs
    return Splits(out["train"], out["val"], {"test": out["test"]}, basis_data=runs_train)


__all__ = ["Splits", "derive_seed", "field_splits", "series_splits", "system_splits", "user_splits",
           "with_observation_noise", "with_scored_validation"]
