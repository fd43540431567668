"""WARP (and baselines) on flow fields: ``reconstruct_field(system="kolmogorov")``.

Representation (see the README): fields -> POD coefficients (fit on the training runs) ->
one global scale -> a `SequenceModel` on the r coefficients (WARP: black-box, identity
transition, factored evaluation) -> forecast -> decode with the POD basis. The decoder is
the physics prior: every forecast lies in the span of the training flow's own modes, and
vorticity decoded there gives a divergence-free velocity through the stream function.

Steps: simulate train / validation / test runs (separate seeds) -> cut windows -> fit the
basis on the training runs -> encode -> train (selection on the validation forecast error)
-> forecast each test window from ``context`` observed snapshots -> decode -> score the
relative L2 field error vs lead time.
"""
from __future__ import annotations

import json
import time as _time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from warp_phys._version import __version__
from warp_phys.device import resolve_device
from warp_phys.scaling import Scaler

from .data import cut_windows, field_name, shift_augment
from .dmd import DMD
from .metrics import field_metrics, persistence_fields, relative_l2
from .recipes import FieldRecipe, field_recipe_fields, get_field_recipe
from .reduction import FieldBasis, fit_basis

FIELD_MODELS = ("warp", "gru", "lstm", "transformer", "node", "dmd", "persistence")
_BATCH = 256


def _seed_for(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([int(seed), 7919, int(k)]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class FieldReconstruction:
    """Result of `reconstruct_field`.

    dataset: the test windows with the truth (``vorticity`` or ``u``, physical units),
        ``prediction_mean``, ``prediction_std`` (0 for point models), ``context`` (time)
        int8 mask, ``relative_l2_error`` (trajectory, time), CF attributes and the metrics
        as a JSON attribute.
    metrics: see `warp_phys.fields.metrics.field_metrics`.
    error_curve: mean relative L2 error vs time (DataArray over ``time``).
    model: the trained `SequenceModel` (normalised coefficients); basis, scaler: the
    reduction (fields -> coefficients -> normalised coefficients).
    """

    dataset: xr.Dataset
    metrics: dict[str, float]
    error_curve: xr.DataArray
    model: Any
    basis: FieldBasis
    scaler: Scaler
    history: Any
    system: Any
    recipe: FieldRecipe
    context: int
    model_name: str
    seed: int
    runtime_s: float = float("nan")

    @property
    def variable(self) -> str:
        """Name of the field variable ("vorticity" or "u")."""
        return field_name(self.dataset)

    def encode(self, fields) -> torch.Tensor:
        """Normalised model coordinates (..., r) of fields (..., *grid)."""
        return self.scaler.normalise(self.basis.encode(fields).float())

    def decode(self, z) -> torch.Tensor:
        """Fields (..., *grid) from normalised coordinates (..., r)."""
        return self.basis.decode(self.scaler.denormalise(torch.as_tensor(z)).double())

    def plot(self, trajectory: int = 0, n_times: int = 4):
        """Truth vs forecast fields at ``n_times`` lead times, their difference, and E(k)."""
        from .plotting import plot_field_reconstruction

        return plot_field_reconstruction(self.dataset, trajectory, n_times=n_times)

    def to_netcdf(self, path) -> None:
        """Write ``dataset`` atomically (``warp_phys.io.to_netcdf``)."""
        from warp_phys.io import to_netcdf

        to_netcdf(self.dataset, path)

    def summary(self) -> str:
        lines = [f"{self.system.name}: model={self.model_name}, basis={self.basis.kind} r={self.basis.rank}, "
                 f"context={self.context} steps, seed={self.seed}, runtime {self.runtime_s:.1f} s"]
        w = max(len(k) for k in self.metrics)
        lines += [f"{k:<{w}}  {v:.4g}" for k, v in self.metrics.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<FieldReconstruction {self.system.name} model={self.model_name} "
                f"rel_l2={self.metrics.get('rel_l2', float('nan')):.4g}>")


# ---------------------------------------------------------------------------------------
def _resolve_system(system: Any, recipe_opts: dict | None) -> tuple[Any, FieldRecipe]:
    from warp_phys import systems as S

    if isinstance(system, str):
        base = S.get(system)
        recipe = get_field_recipe(base)
        opts = recipe.system_options if recipe_opts is None else recipe_opts
        sys_obj = S.get(system, **opts) if opts else base
    else:
        sys_obj = system
        recipe = get_field_recipe(sys_obj)
    if getattr(sys_obj, "kind", "ode") != "field":
        raise ValueError(f"reconstruct_field needs a field system (kind 'field'); {sys_obj.name} is of kind "
                         f"{getattr(sys_obj, 'kind', '?')!r}: use warp_phys.reconstruct for ODE systems")
    return sys_obj, recipe


def simulate_splits(sys_obj: Any, recipe: FieldRecipe, seed: int, *, progress: bool = False,
                    device: str | torch.device = "cpu") -> dict[str, xr.Dataset]:
    """Runs (train, val, test) simulated with distinct seeds, cut into windows; plus the raw
    training runs under "train_runs" (for the basis)."""
    n_steps = int(round(recipe.run_duration / recipe.dt)) + 1
    out: dict[str, xr.Dataset] = {}
    for k, (split, n) in enumerate((("train", recipe.n_runs_train), ("val", recipe.n_runs_val),
                                    ("test", recipe.n_runs_test))):
        if n < 1:
            raise ValueError(f"n_runs_{split} must be >= 1, got {n}")
        runs = sys_obj.simulate(n, t_span=(0.0, (n_steps - 1) * recipe.dt), n_steps=n_steps, grid=recipe.grid,
                                params=None, seed=_seed_for(seed, k), spinup=recipe.spinup,
                                progress=progress, device=device)
        stride = recipe.test_stride if split == "test" else recipe.stride
        out[split] = cut_windows(runs, recipe.window, stride)
        if split == "train":
            out["train_runs"] = runs
    return out


def _scaler(a: torch.Tensor, how: str) -> Scaler:
    r = a.shape[-1]
    flat = a.reshape(-1, r).double()
    if how == "global":
        s = torch.sqrt((flat**2).mean())
        return Scaler(torch.zeros(r), torch.full((r,), float(s)))
    if how == "per_mode":
        return Scaler(flat.mean(0).float(), flat.std(0).clamp_min(1e-12).float())
    raise ValueError(f"normalise must be 'global' or 'per_mode', got {how!r}")


def build_model(name: str, r: int, recipe: FieldRecipe, scaler: Scaler, dt: float, duration: float,
                system: Any, seed: int, options: dict) -> Any:
    """The `SequenceModel` ``name`` on r normalised coefficients."""
    if name == "warp":
        from warp_phys.model import WARP
        from warp_phys.priors import BindContext

        from warp_phys import priors

        ctx = BindContext(n_variables=r, dt=dt, duration=duration, scaler=scaler, system=system)
        prior = priors.get(recipe.prior, **recipe.prior_options) if recipe.prior else None
        return WARP(r, width=recipe.width, depth=recipe.depth, transition=recipe.transition,
                    output=recipe.output, prior=prior, bind_context=ctx, seed=seed,
                    **{"prev_obs_input": recipe.prev_obs_input, **options})
    if name == "dmd":
        return DMD(r, **options)
    from warp_phys import baselines

    if name == "persistence":
        return baselines.get("persistence", r)
    return baselines.get(name, r, output=recipe.output, seed=seed, **options)


@torch.no_grad()
def forecast(model: Any, z: torch.Tensor, tau: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched forecast of normalised (N, T, r) from ``context`` steps; mean, std on CPU."""
    model.eval()
    means, stds = [], []
    for i in range(0, z.shape[0], _BATCH):
        p = model.forecast(z[i:i + _BATCH, :context], tau)
        means.append(p.mean.detach().cpu())
        stds.append((p.std if p.std is not None else torch.zeros_like(p.mean)).detach().cpu())
    return torch.cat(means), torch.cat(stds)


def _result_dataset(test: xr.Dataset, name: str, mean: np.ndarray, std: np.ndarray, err: np.ndarray,
                    context: int, attrs: dict, metrics: dict) -> xr.Dataset:
    ds = test[[name]].copy()
    fa = dict(test[name].attrs)
    fa.setdefault("units", "1")
    fa.setdefault("long_name", name)
    ds[name].attrs = {**fa, "long_name": f"{fa['long_name']} (truth)"}
    dims = test[name].dims
    ds["prediction_mean"] = (dims, mean, {"units": fa["units"], "long_name":
                                          f"predicted {name}: decoded one-step predictions inside the context, "
                                          "autoregressive forecast after it"})
    ds["prediction_std"] = (dims, std, {"units": fa["units"], "long_name":
                                        f"predictive standard deviation of {name} (0: point predictions)"})
    mask = np.zeros(ds.sizes["time"], dtype=np.int8)
    mask[:context] = 1
    ds["context"] = ("time", mask, {"long_name": "context mask: 1 = observed step read by the model, "
                                                 "0 = forecast step", "units": "1",
                                    "flag_values": np.array([0, 1], dtype=np.int8),
                                    "flag_meanings": "forecast observed"})
    ds["relative_l2_error"] = (("trajectory", "time"), err, {
        "units": "1", "long_name": "relative L2 error ||prediction_mean - truth|| / ||truth|| over the grid"})
    base = {k: v for k, v in test.attrs.items() if isinstance(v, (str, int, float, np.integer, np.floating))
            and not isinstance(v, bool)}
    if "seed" in base:
        base["simulation_seed"] = base.pop("seed")
    ds.attrs = {**base, "Conventions": "CF-1.10", "featureType": "trajectory", **attrs,
                "metrics": json.dumps(metrics, sort_keys=True)}
    return ds


def reconstruct_field(system: Any = "kolmogorov", *, model: str = "warp", context: int | None = None,
                      horizon: int | None = None, epochs: int | None = None, prior: str | None = "auto",
                      prior_options: dict | None = None, seed: int = 0, device: str = "auto", progress: bool = True,
                      system_options: dict | None = None, data: dict[str, xr.Dataset] | None = None,
                      **options: Any) -> FieldReconstruction:
    """Reconstruct and forecast a field system (WARP or a baseline on a reduced basis).

    Args:
        system: a field-system name ("kolmogorov", "burgers", ...) or a field `System`.
        model: one of ``FIELD_MODELS`` ("warp", "gru", "lstm", "transformer", "node", "dmd",
            "persistence"). Persistence holds the last observed *field* (not its projection).
        context: observed steps per window (default: the recipe's).
        horizon: forecast steps per window (sets the window to context + horizon steps;
            default: the recipe's window).
        epochs: training epochs (default: the recipe's).
        prior: WARP's decoder on the coefficients: "auto" (the recipe's, "increment"), a
            name from ``warp_phys.priors.available()``, or None (black-box); prior_options
            are its keyword arguments.
        seed: seeds the simulations, the initialisation and the training.
        device: "auto" | "cpu" | "cuda" (training and forecast; simulation on CPU).
        system_options: options of ``systems.get(name, ...)`` replacing the recipe's.
        data: precomputed splits from `simulate_splits` (to compare models on one data set).
        **options: `FieldRecipe` fields (grid, dt, rank, basis, window, ...) or keyword
            arguments of the model constructor.

    Returns a `FieldReconstruction`; metrics are on the physical field over the forecast steps.
    """
    t_start = _time.perf_counter()
    if model not in FIELD_MODELS:
        raise ValueError(f"unknown model {model!r} for fields; choose one of {list(FIELD_MODELS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    sys_obj, recipe = _resolve_system(system, system_options)
    names = set(field_recipe_fields()) - {"model_options"}
    changes = {k: options.pop(k) for k in list(options) if k in names}
    if context is not None:
        changes["context"] = context
    if epochs is not None:
        changes["epochs"] = epochs
    if prior != "auto":
        if model != "warp" and prior is not None:
            raise ValueError(f"prior={prior!r} applies to model='warp' only; model={model!r} takes prior='auto' or None")
        changes["prior"] = None if prior == "none" else prior
    if prior_options:
        changes["prior_options"] = dict(prior_options)
    if horizon is not None:
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be a positive number of steps, got {horizon!r}")
        if data is not None:
            raise ValueError("horizon= cannot change the windows of precomputed data=; cut them with cut_windows")
        changes["window"] = int(changes.get("context", recipe.context)) + int(horizon)
        if recipe.window is None:  # one window per run, from its start
            changes["stride"] = changes["test_stride"] = 1 << 30
    recipe = recipe.replace(**changes) if changes else recipe
    model_opts = {**recipe.model_options, **options}
    dev = resolve_device(device)

    # ---- validate everything cheap before any simulation ---------------------------------
    if not isinstance(recipe.rank, int) or isinstance(recipe.rank, bool) or recipe.rank < 1:
        raise ValueError(f"rank must be a positive integer (number of basis modes), got {recipe.rank!r}")
    try:
        build_model(model, recipe.rank, recipe, Scaler.identity(recipe.rank), 1.0, 1.0, sys_obj, int(seed),
                    dict(model_opts))
    except TypeError as err:
        raise ValueError(f"unknown option in {sorted(model_opts)} for model {model!r} ({err}); field-recipe "
                         f"options are {field_recipe_fields()}, the rest go to the model's constructor") from None
    if data is None:
        T_run = int(round(recipe.run_duration / recipe.dt)) + 1
        T_win = recipe.window or T_run
        if not 1 <= recipe.context < min(T_win, T_run):
            raise ValueError(f"context ({recipe.context} steps) must be in [1, {min(T_win, T_run) - 1}] for windows "
                             f"of {min(T_win, T_run)} steps; use a smaller context or a longer window/run")

    splits = data if data is not None else simulate_splits(sys_obj, recipe, int(seed), progress=progress)
    name = field_name(splits["train"])
    train, val, test = splits["train"], splits["val"], splits["test"]
    T = train.sizes["time"]
    ctx = int(recipe.context)
    if not 1 <= ctx < T:
        raise ValueError(f"context ({ctx} steps) must be in [1, {T - 1}] for windows of {T} steps; use a "
                         f"smaller context or a longer window")
    n_space = train[name].ndim - 2
    shifts = int(recipe.augment_shifts)
    train = shift_augment(train, shifts)
    basis = fit_basis(recipe.basis, shift_augment(splits.get("train_runs", splits["train"]), shifts)[name].values,
                      int(recipe.rank), n_grid_dims=n_space)
    a_train = basis.encode(train[name].values).float()
    scaler = _scaler(a_train, recipe.normalise)
    z_train = scaler.normalise(a_train)
    z_val = scaler.normalise(basis.encode(val[name].values).float())
    z_test = scaler.normalise(basis.encode(test[name].values).float())
    t = train["time"].values.astype(np.float64)
    tau = torch.as_tensor((t - t[0]) / (t[-1] - t[0]), dtype=torch.float32)
    dt, duration = float(t[1] - t[0]), float(t[-1] - t[0])

    net = build_model(model, basis.rank, recipe, scaler, dt, duration, sys_obj, int(seed), model_opts)
    history = None
    if model == "dmd":
        net.fit(z_train)
    elif model != "persistence":
        from warp_phys.training import Trainer

        trainer = Trainer(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                          loss="nll" if recipe.output == "gaussian" else "mse", p_force=recipe.p_force,
                          val_n_ctx=ctx, seed=int(seed), device=dev, progress=progress,
                          max_time=recipe.max_time,
                          **({"patience": recipe.patience} if recipe.patience is not None else {}))
        history = trainer.fit(net, z_train, tau, z_val)
    net = net.to(dev)

    truth = test[name].values.astype(np.float64)
    if model == "persistence":  # on the fields themselves (no projection error): the honest baseline
        mean = persistence_fields(truth, ctx)
        mean[:, 1:ctx] = truth[:, :ctx - 1]
        std = np.zeros_like(mean)
    else:
        mean_z, std_z = forecast(net, z_test.to(dev), tau.to(dev), ctx)
        mean = basis.decode(scaler.denormalise(mean_z).double()).numpy()
        std_a = (std_z * scaler.scale.to(std_z)).double()
        modes2 = (basis.modes**2).to(std_a)
        std = torch.sqrt((std_a**2) @ modes2.T).reshape(mean.shape).numpy()   # independent modes
    bad = ~np.isfinite(mean.reshape(mean.shape[0], -1)).all(1)
    if bad.any():
        warnings.warn(f"{int(bad.sum())} of {bad.size} test forecasts of model {model!r} diverged (non-finite "
                      "values); their errors are NaN. Train longer / with a lower lr, or use p_force=1",
                      RuntimeWarning, stacklevel=2)
    projection = basis.decode(basis.encode(truth)).numpy()
    scale = recipe.time_scale or getattr(sys_obj, "time_scale", None)
    metrics, curve = field_metrics(truth, mean, ctx, dt=dt, time_scale=scale, projection=projection)
    err = relative_l2(truth, mean)
    attrs = {
        "title": f"warp_phys field reconstruction of {sys_obj.name}",
        "system": sys_obj.name, "model": model, "seed": int(seed), "context_steps": ctx,
        "basis": basis.kind, "basis_rank": basis.rank, "coefficient_normalisation": recipe.normalise,
        **{k: v for k, v in basis.to_attrs().items() if k not in ("basis", "basis_rank")},
        "recipe": json.dumps(recipe.to_dict(), sort_keys=True, default=str),
        "model_options": json.dumps(model_opts, sort_keys=True, default=str),
        "time_scale": float(scale) if scale else float("nan"),
        "time_scale_kind": recipe.time_scale_kind or (getattr(sys_obj, "time_scale_kind", None) or "none"),
        "device": str(dev), "warp_phys_version": __version__,
        "metrics_description": (
            "relative L2 error of the decoded field over the forecast steps (time >= context), mean over "
            "test windows; rel_l2_persistence: last observed snapshot held; horizon_persistence_50: lead "
            "time where the persistence error first reaches 0.5 (rel_l2_at_persistence_50: this model's "
            "error there); rel_l2_projection: the truth projected onto the basis (the floor)"),
    }
    ds = _result_dataset(test, name, mean, std, err, ctx, attrs, metrics)
    curve_da = xr.DataArray(curve, dims=("time",), coords={"time": ds["time"]}, name="relative_l2_error",
                            attrs={"units": "1", "long_name": "mean relative L2 error over test windows"})
    return FieldReconstruction(dataset=ds, metrics=metrics, error_curve=curve_da, model=net, basis=basis,
                               scaler=scaler, history=history, system=sys_obj, recipe=recipe, context=ctx,
                               model_name=model, seed=int(seed), runtime_s=_time.perf_counter() - t_start)


__all__ = ["FIELD_MODELS", "FieldReconstruction", "build_model", "forecast", "reconstruct_field",
           "simulate_splits"]
