"""The one-call workflow: ``warp_phys.reconstruct(system="lorenz")`` -> `Reconstruction`.

Steps: make (or take) trajectories -> split train / validation / test -> normalise with a
`Scaler` fit on the training split -> build WARP (with a physics prior) or a baseline ->
train (model selection on the validation forecast error, never on the test set) ->
forecast each test split from ``context`` observed steps -> score the forecast window
-> return the truth, the forecast and the metrics as an xarray Dataset.
"""
from __future__ import annotations

import json
import time as _time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from warp_phys import data as D
from warp_phys import metrics as M
from warp_phys._version import __version__
from warp_phys.device import resolve_device
from warp_phys.recipes import Recipe, get_recipe, recipe_fields, user_data_recipe
from warp_phys.scaling import Scaler

_FORECAST_BATCH = 256  # trajectories per forecast call (bounds memory)


# ---------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------
def available_models() -> list[str]:
    """``"warp"``, the baselines' names, and ``"ode_fit"`` (the system's own ODE with its
    parameters fitted to each context by least squares: the classical reference; needs a system)."""
    from warp_phys import baselines

    return ["warp", *baselines.available(), "ode_fit"]


def _check_model_name(model: str) -> str:
    valid = available_models()
    if not isinstance(model, str) or model not in valid:
        raise ValueError(f"unknown model {model!r}; choose one of {valid}")
    return model


def _resolve_prior_name(prior: Any, model: str, system: Any) -> str | None:
    """``"auto"`` -> the system's recommended prior (warp only); "none"/None -> None."""
    from warp_phys import priors

    if prior is None or prior == "none":
        return None
    if not isinstance(prior, str):
        raise ValueError(f"prior must be a name (str), 'auto' or None; got {type(prior).__name__}")
    if prior == "auto":
        if model != "warp" or system is None:
            return None
        return getattr(system, "recommended_prior", None)
    valid = priors.available()
    if prior not in valid:
        raise ValueError(f"unknown prior {prior!r}; choose one of {['auto', *valid]} (or None)")
    if model != "warp":
        raise ValueError(f"prior={prior!r} applies to model='warp' only (physics priors shape WARP's root "
                         f"network); model={model!r} takes prior=None or 'auto'")
    return prior


def _is_field_system(system: Any) -> bool:
    """True for a field system (name or instance); unknown names fall through to get()'s error."""
    from warp_phys import systems as S

    sys_obj = S.get(system) if isinstance(system, str) else system
    return getattr(sys_obj, "kind", "ode") == "field"


def _seed_for(seed: int, k: int) -> int:
    """Independent, deterministic sub-seeds for the splits (k = 0, 1, 2, ...)."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0] & 0x7FFFFFFF)


# ---------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------
@dataclass
class Reconstruction:
    """Result of `reconstruct`.

    Attributes:
        dataset: the primary test split (out of distribution when the system defines
            one, else in distribution; for user data the held-out trajectories) with
            ``state`` (truth, physical units), ``prediction_mean``, ``prediction_std``,
            ``context`` (time) int8 mask (1 = observed), parameter coordinates, and the
            metrics as a JSON attribute.
        datasets: every scored split by name ("test", and "test_id" when the primary is
            out of distribution).
        metrics: metrics of the primary split (see `warp_phys.metrics.forecast_metrics`).
        model: the trained `SequenceModel` (normalised units; see ``scaler``).
        history: the Trainer's history.
        system: the `System`, or None for user data.
        scaler: the `Scaler` fit on the training split.
        recipe: the `Recipe` actually used.
    """

    dataset: xr.Dataset
    datasets: dict[str, xr.Dataset]
    metrics: dict[str, float]
    model: Any
    history: Any
    system: Any
    scaler: Scaler
    recipe: Recipe
    context: int
    horizon: int | None
    model_name: str
    prior_name: str | None
    device: torch.device
    seed: int
    all_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    runtime_s: float = float("nan")

    # ---- helpers ------------------------------------------------------------------
    def _split(self, split: str) -> xr.Dataset:
        if split not in self.datasets:
            raise ValueError(f"unknown split {split!r}; available: {sorted(self.datasets)}")
        return self.datasets[split]

    def _inputs(self, ds: xr.Dataset, trajectory) -> tuple[torch.Tensor, torch.Tensor, xr.Dataset]:
        """The sequence the model read during the forecast: truth in the context, its own
        forecast after; normalised, (B, T, d), with tau (T,)."""
        if trajectory is not None:
            idx = np.atleast_1d(np.asarray(trajectory))
            ds = ds.isel(trajectory=idx)
        ctx = ds["context"].values.astype(bool)
        seq = np.where(ctx[None, :, None], ds["state"].values, ds["prediction_mean"].values)
        dev = self.device
        z = self.scaler.normalise(torch.as_tensor(seq, dtype=torch.float32)).to(dev)
        tau = D.normalised_time(ds["time"].values, device=dev)
        return z, tau, ds

    # ---- public API -----------------------------------------------------------------
    def weights(self, split: str = "test", trajectory: int | list[int] | None = None) -> xr.DataArray:
        """theta_t, the root-network weights along the forecast: DataArray (trajectory,
        time, weight). ``trajectory`` selects trajectories (None: all; theta has D entries
        per step, so this is N*T*D floats). WARP only."""
        if self.model_name != "warp" or not hasattr(self.model, "weights"):
            raise ValueError(f"weights() needs a WARP model; this reconstruction used model={self.model_name!r}, "
                             "whose hidden state is not a weight vector")
        z, tau, ds = self._inputs(self._split(split), trajectory)
        self.model.eval()
        with torch.no_grad():
            w = self.model.weights(z, tau).detach().cpu().numpy()
        return xr.DataArray(w, dims=("trajectory", "time", "weight"),
                            coords={"trajectory": ds["trajectory"].values, "time": ds["time"],
                                    "weight": np.arange(w.shape[-1])},
                            name="theta",
                            attrs={"long_name": "root-network weights theta_t (flattened weights and biases)",
                                   "units": "1"})

    def parameters(self, split: str = "test", trajectory: int | list[int] | None = None) -> xr.Dataset:
        """Physical quantities the prior reads off the root network at every step (e.g. the
        grey-box prior's sigma, rho, beta), as a Dataset of (trajectory, time) variables,
        with the true per-trajectory values as coordinates ``<name>_true`` when known."""
        if self.model_name != "warp" or not hasattr(self.model, "interpret"):
            raise ValueError(f"parameters() needs a WARP model with a prior; model={self.model_name!r}")
        z, tau, ds = self._inputs(self._split(split), trajectory)
        self.model.eval()
        with torch.no_grad():
            out = self.model.interpret(z, tau)
        if not out:
            raise ValueError(f"the prior {self.prior_name!r} exposes no interpretable parameters; use "
                             "prior='grey_box' to read physical parameters off the weights")
        units = {}
        if self.system is not None:
            units = {p.name: (p.units, p.long_name) for p in self.system.parameters}
        data_vars = {}
        for name, val in out.items():
            arr = val.detach().cpu().numpy()
            u, ln = units.get(name, ("1", name))
            data_vars[name] = (("trajectory", "time"), arr, {"units": u, "long_name": f"inferred {ln}"})
        coords = {"trajectory": ds["trajectory"].values, "time": ds["time"]}
        for name in out:
            if name in ds.coords and ds[name].dims == ("trajectory",):
                coords[f"{name}_true"] = ("trajectory", ds[name].values, dict(ds[name].attrs))
        return xr.Dataset(data_vars, coords=coords,
                          attrs={"title": "parameters inferred by the prior along the forecast"})

    def plot(self, trajectory: int = 0, split: str | None = None):
        """Truth vs forecast (±2 std band, context shaded) and a phase portrait for
        2-/3-variable systems; returns a matplotlib Figure."""
        from warp_phys.plotting import plot_reconstruction

        ds = self.dataset if split is None else self._split(split)
        return plot_reconstruction(ds, trajectory)

    def to_netcdf(self, path, split: str | None = None) -> None:
        """Write the primary (or the named) split to NetCDF, atomically (never half-written)."""
        from warp_phys.io import to_netcdf

        to_netcdf(self.dataset if split is None else self._split(split), path)

    def summary(self) -> str:
        """A plain-text table of the metrics of every split."""
        return format_metrics(self.all_metrics or {"test": self.metrics}, title=self._title())

    def _title(self) -> str:
        what = self.system.name if self.system is not None else "user data"
        prior = self.prior_name or "none"
        return (f"{what}: model={self.model_name}, prior={prior}, context={self.context} steps, "
                f"seed={self.seed}, runtime {self.runtime_s:.1f} s")

    def __repr__(self) -> str:
        return f"<Reconstruction {self._title()}; mse={self.metrics.get('mse', float('nan')):.4g}>"


def format_metrics(all_metrics: Mapping[str, Mapping[str, float]], title: str = "") -> str:
    """Metrics table: one row per metric, one column per split."""
    splits = list(all_metrics)
    keys: list[str] = []
    for m in all_metrics.values():
        keys += [k for k in m if k not in keys]
    w = max([len(k) for k in keys] + [6])
    lines = [title] if title else []
    lines.append(f"{'metric':<{w}}  " + "  ".join(f"{s:>12}" for s in splits))
    for k in keys:
        row = [all_metrics[s].get(k) for s in splits]
        lines.append(f"{k:<{w}}  " + "  ".join(f"{v:>12.4g}" if v is not None else f"{'-':>12}" for v in row))
    notes = []
    if any("vpt" in m for m in all_metrics.values()):
        notes.append(f"vpt: valid prediction time in Lyapunov times (median over trajectories; first step "
                     f"where the per-variable-std-normalised RMS error exceeds {M.VPT_THRESHOLD})")
    notes.append("mse_persistence / mse_zero: trivial forecasts (last context value held / zero), for scale")
    return "\n".join(lines + notes)


# ---------------------------------------------------------------------------------------
# data preparation
# ---------------------------------------------------------------------------------------
def _distinct_test_distribution(system: Any, proto: Any, sampled: bool = True) -> bool:
    """True when the protocol's test parameter (or initial-condition) ranges differ from training."""
    if sampled and system.parameter_ranges("train", proto) != system.parameter_ranges("test", proto):
        return True
    if proto.ic_train is not None or proto.ic_test is not None:
        return proto.ic_test is not None and dict(proto.ic_test) != dict(proto.ic_train or {})
    return bool(system.ic_test) and dict(system.ic_test) != dict(system.ic_train)


def _system_splits(system: Any, recipe: Recipe, seed: int, device: torch.device) -> tuple[dict, dict]:
    """Simulate train, val (train distribution, own seed), test_id and test (OOD) sets."""
    if recipe.parameters not in ("sampled", "fixed"):
        raise ValueError(f"parameters must be 'sampled' or 'fixed', got {recipe.parameters!r}")
    sampled = recipe.parameters == "sampled"
    proto = system.protocol(recipe.protocol)
    kw = dict(t_span=recipe.t_span or proto.t_span, n_steps=recipe.n_steps or proto.n_steps,
              protocol=proto, device=device)

    def sim(n: int, split: str, k: int) -> xr.Dataset:
        if sampled:
            return system.simulate(n, params=split, seed=_seed_for(seed, k), **kw)
        return system.simulate(n, params=None, ic=split, seed=_seed_for(seed, k), **kw)

    train, val = sim(recipe.n_train, "train", 0), sim(recipe.n_val, "train", 1)
    tests = {}
    if _distinct_test_distribution(system, proto, sampled):
        tests["test"] = sim(recipe.n_test, "test", 3)
        tests["test_id"] = sim(recipe.n_test, "train", 2)
    else:
        tests["test"] = sim(recipe.n_test, "train", 2)
    what = "parameters and initial conditions" if sampled else "initial conditions (parameters fixed)"
    for name, ds in tests.items():
        ds.attrs["split"] = name
        ds.attrs["split_description"] = (
            f"out of distribution: {what} from the protocol's test ranges"
            if name == "test" and "test_id" in tests else f"in distribution: {what} from the training ranges")
    return {"train": train, "val": val}, tests


def _user_splits(data: Any, time: Any, seed: int, variables: Sequence[str] | None = None) -> tuple[dict, dict]:
    ds = D.as_dataset(data, time, variable_names=variables)
    tr, va, te = D.split_indices(ds.sizes["trajectory"], seed=seed)
    test = ds.isel(trajectory=te)
    test.attrs["split"] = "test"
    test.attrs["split_description"] = "held-out trajectories of the user's data (seeded 70/15/15 split)"
    return {"train": ds.isel(trajectory=tr), "val": ds.isel(trajectory=va)}, {"test": test}


def _split_options(recipe: Recipe, options: dict, model: str = "warp") -> tuple[Recipe, dict]:
    """Options that name Recipe fields override it; the rest are model constructor options.
    The recipe's own ``model_options`` are WARP settings and apply to model="warp" only."""
    names = set(recipe_fields()) - {"model_options"}
    changes = {k: options.pop(k) for k in list(options) if k in names}
    recipe = recipe.replace(**changes) if changes else recipe
    model_opts = {**(recipe.model_options if model == "warp" else {}), **options}
    return recipe, model_opts


# ---------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------
def _build_model(model: str, prior_name: str | None, prior_options: dict, d: int, recipe: Recipe,
                 scaler: Scaler, dt: float, duration: float, system: Any, seed: int, options: dict):
    try:
        return _construct(model, prior_name, prior_options, d, recipe, scaler, dt, duration, system, seed, options)
    except TypeError as err:
        if "unexpected keyword" not in str(err):
            raise
        raise ValueError(f"unknown option in {sorted(options)} for model {model!r} ({err}); valid recipe "
                         f"options are {recipe_fields()}, the rest go to the model's constructor") from None


def _construct(model: str, prior_name: str | None, prior_options: dict, d: int, recipe: Recipe,
               scaler: Scaler, dt: float, duration: float, system: Any, seed: int, options: dict):
    if model == "warp":
        from warp_phys import priors
        from warp_phys.model import WARP
        from warp_phys.priors import BindContext

        prior = priors.get(prior_name, **prior_options) if prior_name else None
        ctx = BindContext(n_variables=d, dt=dt, duration=duration, scaler=scaler, system=system)
        return WARP(d, width=recipe.width, depth=recipe.depth, transition=recipe.transition,
                    output=recipe.output, prior=prior, bind_context=ctx, seed=seed, **options)
    from warp_phys import baselines

    if prior_options:
        raise ValueError("prior_options apply to model='warp' only")
    if model == "ode_fit":
        from warp_phys.baselines.ode_fit import ODEFit
        from warp_phys.priors import BindContext

        if system is None:
            raise ValueError("model='ode_fit' fits the system's own equations, so it needs system=...; "
                             "your data have no system attached")
        ctx = BindContext(n_variables=d, dt=dt, duration=duration, scaler=scaler, system=system)
        return ODEFit(d, bind_context=ctx, output=recipe.output, seed=seed, **options)
    return baselines.get(model, d, output=recipe.output, seed=seed, **options)


@torch.no_grad()
def _forecast(model: Any, z: torch.Tensor, tau: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forecast (N, T, d) normalised trajectories from their first ``context`` steps in
    batches; returns mean and std (zeros for point models), on CPU."""
    model.eval()
    means, stds = [], []
    for i in range(0, z.shape[0], _FORECAST_BATCH):
        pred = model.forecast(z[i:i + _FORECAST_BATCH, :context], tau)
        means.append(pred.mean.detach().cpu())
        std = pred.std if pred.std is not None else torch.zeros_like(pred.mean)
        stds.append(std.detach().cpu())
    return torch.cat(means), torch.cat(stds)


# ---------------------------------------------------------------------------------------
# output dataset
# ---------------------------------------------------------------------------------------
def _result_dataset(truth: xr.Dataset, mean: np.ndarray, std: np.ndarray, context: int,
                    attrs: dict, metrics: dict, gaussian: bool) -> xr.Dataset:
    ds = truth[["state"]].copy()
    ds = ds.transpose("trajectory", "time", "variable")
    st_attrs = dict(truth["state"].attrs)
    st_attrs.setdefault("units", "1")
    st_attrs.setdefault("long_name", "state")
    ds["state"].attrs = {**st_attrs, "long_name": f"{st_attrs['long_name']} (truth)"}
    dims = ("trajectory", "time", "variable")
    ds["prediction_mean"] = (dims, np.asarray(mean, dtype=np.float64), {
        "units": st_attrs["units"],
        "long_name": "predicted state: one-step-ahead from the truth inside the context, "
                     "autoregressive forecast after it"})
    std_ln = ("predictive standard deviation of the state" if gaussian else
              "predictive standard deviation (0: the model gives point predictions, no uncertainty)")
    ds["prediction_std"] = (dims, np.asarray(std, dtype=np.float64), {"units": st_attrs["units"], "long_name": std_ln})
    T = ds.sizes["time"]
    mask = np.zeros(T, dtype=np.int8)
    mask[:context] = 1
    ds["context"] = ("time", mask, {
        "long_name": "context mask: 1 = observed step read by the model, 0 = forecast step",
        "units": "1", "flag_values": np.array([0, 1], dtype=np.int8), "flag_meanings": "forecast observed"})
    for name in ("time",):
        ds[name].attrs.setdefault("long_name", "time")
        ds[name].attrs.setdefault("units", "1")
    for name, coord in ds.coords.items():
        coord.attrs.setdefault("long_name", str(name))
        coord.attrs.setdefault("units", "1")
    base = {k: v for k, v in truth.attrs.items() if isinstance(v, (str, int, float, np.integer, np.floating))}
    if "seed" in base:  # the simulation's own (derived) seed; "seed" below is the user's
        base["simulation_seed"] = base.pop("seed")
    ds.attrs = {**base, "Conventions": "CF-1.10", "featureType": "trajectory", **attrs,
                "metrics": json.dumps(metrics, sort_keys=True)}
    return ds


# ---------------------------------------------------------------------------------------
# the workflow
# ---------------------------------------------------------------------------------------
def reconstruct(system: Any = None, data: xr.Dataset | np.ndarray | None = None, *, time: Any = None,
                context: int | None = None, horizon: int | None = None, prior: str | None = "auto",
                model: str = "warp", epochs: int | None = None, n_train: int | None = None,
                seed: int = 0, device: str = "auto", progress: bool = True, protocol: str | None = None,
                prior_options: dict | None = None, variables: Sequence[str] | None = None,
                **model_options: Any) -> Reconstruction:
    """Reconstruct and forecast a dynamical system with WARP (or a baseline).

    Args:
        system: a system name (``warp_phys.systems.available()``) or a `System`; the data
            are simulated from its protocol (train, a separate validation set from the
            training distribution, and in-/out-of-distribution test sets).
        data: the user's trajectories instead: an xarray Dataset with ``state(trajectory,
            time, variable)``, or an array (trajectory, time, variable) with ``time`` (T,)
            uniform and strictly increasing. Split 70/15/15 by trajectory (seeded).
        context: observed steps before the forecast (default: the recipe's).
        horizon: forecast steps to score after the context (default: to the end).
        prior: "auto" (the system's recommended prior for WARP; none for user data or
            baselines), a name from ``warp_phys.priors.available()``, or None.
        model: "warp" or a baseline name (``warp_phys.baselines.available()``).
        epochs, n_train: override the recipe (see `warp_phys.recipes.Recipe`).
        seed: seeds data generation, splits, initialisation and training.
        device: "auto" (CUDA when present), "cpu", "cuda", ...
        protocol: the system's data protocol (default: the recipe's).
        prior_options: keyword arguments of the prior (``warp_phys.priors.get``).
        variables: names of the variables of array ``data`` (default "x0", "x1", ...); they
            label the results (Dataset coordinate, plots). Simulated systems name their own.
        **model_options: Recipe fields (n_val, n_test, t_span, n_steps, batch_size, lr,
            p_force, patience, max_time, forecast_weight, forecast_horizon, width, depth,
            transition, output) or keyword
            arguments of the model constructor.

    Returns a `Reconstruction`; its ``metrics`` are scored on the raw (physical) state,
    over the forecast window of the primary test split.
    """
    t_start = _time.perf_counter()
    if (system is None) == (data is None):
        raise ValueError("pass exactly one of system=<name> (simulated data) or data=<your trajectories>")
    if system is not None and variables is not None:
        raise ValueError("variables= names the variables of your own data=; a system names its own "
                         "(warp_phys.systems.get(name).variable_names)")
    if system is not None and _is_field_system(system):
        from warp_phys.fields import reconstruct_field

        if n_train is not None or protocol is not None:
            raise ValueError("n_train= and protocol= apply to ODE systems; field systems take FieldRecipe "
                             "options instead (e.g. n_runs_train=, grid=, window=; see warp_phys.fields.recipes)")
        return reconstruct_field(system, model=model, context=context, horizon=horizon, epochs=epochs,
                                 prior=prior, prior_options=prior_options, seed=seed, device=device,
                                 progress=progress, **model_options)
    model = _check_model_name(model)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    dev = resolve_device(device)

    # ---- the system and the recipe ----------------------------------------------------
    sys_obj = None
    if system is not None:
        from warp_phys import systems as S

        sys_obj = S.get(system) if isinstance(system, str) else system
        recipe = get_recipe(sys_obj, protocol)
        if protocol is not None:
            recipe = recipe.replace(protocol=protocol)
    else:
        if protocol is not None:
            raise ValueError("protocol= applies to system= only (it selects the system's data preset)")
        if isinstance(data, (list, tuple)):
            lengths = sorted({len(item) for item in data})
            if len(lengths) > 1:
                raise ValueError(f"the trajectories have different lengths {lengths}; WARP needs a common "
                                 f"(trajectory, time, variable) array: trim them to {lengths[0]} steps or cut "
                                 f"them into equal windows")
        n_steps_hint = np.shape(data["state"])[1] if isinstance(data, xr.Dataset) and "state" in data else (
            np.shape(data)[1] if np.ndim(data) >= 2 else 2)
        recipe = user_data_recipe(int(n_steps_hint))
    prior_name = _resolve_prior_name(prior, model, sys_obj)
    overrides = {k: v for k, v in (("epochs", epochs), ("n_train", n_train), ("context", context)) if v is not None}
    recipe, model_opts = _split_options(recipe, {**overrides, **model_options}, model)

    # ---- data --------------------------------------------------------------------------
    if sys_obj is not None:
        fit_sets, tests = _system_splits(sys_obj, recipe, int(seed), torch.device("cpu"))
    else:
        fit_sets, tests = _user_splits(data, time, int(seed), variables)
    t = np.asarray(fit_sets["train"]["time"].values, dtype=np.float64)
    T = t.shape[0]
    ctx_len = recipe.context if recipe.context is not None else max(1, T // 4)
    ctx_len = D.check_context(ctx_len, T)
    window = M.forecast_window(T, ctx_len, horizon)
    x_train = D.to_tensor(fit_sets["train"])
    x_val = D.to_tensor(fit_sets["val"])
    scaler = D.fit_scaler(x_train)
    tau = D.normalised_time(t)
    dt, duration = float(t[1] - t[0]), float(t[-1] - t[0])
    d = x_train.shape[-1]

    # ---- model and training --------------------------------------------------------------
    from warp_phys.training import Trainer

    net = _build_model(model, prior_name, dict(prior_options or {}), d, recipe, scaler, dt, duration,
                       sys_obj, int(seed), model_opts)
    trainer = Trainer(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                      loss="nll" if recipe.output == "gaussian" else "mse", p_force=recipe.p_force,
                      val_n_ctx=ctx_len, forecast_weight=recipe.forecast_weight,
                      forecast_context=ctx_len if recipe.forecast_weight > 0 else None,
                      forecast_horizon=recipe.forecast_horizon, seed=int(seed), device=dev, progress=progress,
                      max_time=recipe.max_time,
                      **({"patience": recipe.patience} if recipe.patience is not None else {}))
    history = trainer.fit(net, scaler.normalise(x_train), tau, scaler.normalise(x_val))
    if history is None:
        history = getattr(trainer, "history", None)
    net = net.to(dev)

    # ---- forecast and score -----------------------------------------------------------------
    # VPT in Lyapunov times, for systems that know their largest Lyapunov exponent
    lyap = getattr(sys_obj, "lyapunov_exponent", None) if sys_obj is not None else None
    chaotic, t_scale = bool(lyap), (1.0 / lyap if lyap else None)
    names = [str(v) for v in tests["test"]["variable"].values]
    provenance = {
        "title": f"warp_phys reconstruction of {sys_obj.name if sys_obj is not None else 'user data'}",
        "system": sys_obj.name if sys_obj is not None else "user data",
        "model": model,
        "prior": prior_name or "none",
        "seed": int(seed),
        "context_steps": int(ctx_len),
        "horizon_steps": int(window.sum()),
        "device": str(dev),
        "recipe": json.dumps(recipe.to_dict(), sort_keys=True, default=str),
        "model_options": json.dumps(model_opts, sort_keys=True, default=str),
        "warp_phys_version": __version__,
        "metrics_description": (
            "mse/mae on the raw state over the forecast window (steps context..context+horizon-1), "
            "mean over trajectories, steps and variables; mse_<var>: per variable; mse_persistence/"
            "mse_zero: trivial forecasts; vpt (chaotic systems): median over trajectories of the valid "
            "prediction time in Lyapunov times, the time from the last observed step to the last step "
            f"whose error ||(pred - truth) / std_i||_rms stays <= {M.VPT_THRESHOLD}, std_i the per-variable "
            "standard deviation of the truth over the split"),
    }
    datasets, all_metrics = {}, {}
    for name, ds in tests.items():
        x = D.to_tensor(ds)
        mean_z, std_z = _forecast(net, scaler.normalise(x).to(dev), tau.to(dev), ctx_len)
        mean = scaler.denormalise(mean_z).double().numpy()
        std = (std_z * scaler.scale.to(std_z)).double().numpy()
        truth = ds["state"].transpose("trajectory", "time", "variable").values
        met = M.forecast_metrics(truth, mean, window, variable_names=names, context=ctx_len, time=t,
                                 time_scale=t_scale, chaotic=chaotic)
        all_metrics[name] = met
        datasets[name] = _result_dataset(ds, mean, std, ctx_len, {**provenance, "split": name}, met,
                                         gaussian=recipe.output == "gaussian")
    runtime = _time.perf_counter() - t_start
    return Reconstruction(dataset=datasets["test"], datasets=datasets, metrics=all_metrics["test"],
                          model=net, history=history, system=sys_obj, scaler=scaler, recipe=recipe,
                          context=ctx_len, horizon=horizon, model_name=model, prior_name=prior_name,
                          device=dev, seed=int(seed), all_metrics=all_metrics, runtime_s=runtime)
