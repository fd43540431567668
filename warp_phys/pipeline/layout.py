"""The layout of a result Dataset: truth, ``prediction_mean``/``prediction_std``, the
``context`` mask, CF attributes, provenance and the metrics as JSON (`result_dataset`).

Shared by the pipeline's test splits (`warp_phys.pipeline.engine`) and forecasts of new data
(`warp_phys.pipeline.forecasting`), so both have the same layout.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np
import xarray as xr


def result_dataset(truth: xr.Dataset, variable: str, mean: np.ndarray, std: np.ndarray, context: int,
                   attrs: Mapping[str, Any], metrics: Mapping[str, float], std_long_name: str) -> xr.Dataset:
    """Truth (``variable``), ``prediction_mean``/``prediction_std`` (same dims and units) and a
    ``context`` (time) int8 mask, with CF attributes, provenance and the metrics as JSON."""
    ds = truth[[variable]].copy()
    if variable == "state":
        ds = ds.transpose("trajectory", "time", "variable")
    va = dict(truth[variable].attrs)
    va.setdefault("units", "1")
    va.setdefault("long_name", variable)
    ds[variable].attrs = {**va, "long_name": f"{va['long_name']} (truth)"}
    dims = ds[variable].dims
    what = "state" if variable == "state" else variable
    ds["prediction_mean"] = (dims, np.asarray(mean, dtype=np.float64), {
        "units": va["units"],
        "long_name": f"predicted {what}: one-step-ahead from the truth inside the context, "
                     "autoregressive forecast after it"})
    ds["prediction_std"] = (dims, np.asarray(std, dtype=np.float64), {"units": va["units"], "long_name": std_long_name})
    mask = np.zeros(ds.sizes["time"], dtype=np.int8)
    mask[:context] = 1
    ds["context"] = ("time", mask, {
        "long_name": "context mask: 1 = observed step read by the model, 0 = forecast step",
        "units": "1", "flag_values": np.array([0, 1], dtype=np.int8), "flag_meanings": "forecast observed"})
    for name, coord in ds.coords.items():
        coord.attrs.setdefault("long_name", str(name))
        coord.attrs.setdefault("units", "1")
    base = {k: v for k, v in truth.attrs.items()
            if isinstance(v, (str, int, float, np.integer, np.floating)) and not isinstance(v, bool)}
    if "seed" in base:  # the simulation's own (derived) seed; "seed" in attrs is the user's
        base["simulation_seed"] = base.pop("seed")
    ds.attrs = {**base, "Conventions": "CF-1.10", "featureType": "trajectory", **attrs,
                "metrics": json.dumps(dict(metrics), sort_keys=True)}
    return ds


__all__ = ["result_dataset"]
