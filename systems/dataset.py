"""Trajectory data as ``xarray.Dataset`` and back to tensors.

Layout (CF-style, the one every ODE system's ``simulate`` returns and the library reads):
``state(trajectory, time, variable)`` float64; coordinate ``variable`` holds the state names;
per-trajectory coordinates hold the physical parameters (named exactly as the parameters)
and the initial conditions (``<variable>_0``).

The helpers read a system's metadata only (``name``, ``time_units``, ``variables``,
``parameters``, ``parameter_names``, ``parameter_ranges``), so any ``System`` works and this
module does not import ``base``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np
import torch
import xarray as xr



def time_attrs(units: str) -> dict[str, str]:
    """CF attributes of a time coordinate in ``units``. CF's standard_name "time" needs a unit
    of time, so a dimensionless time (units "1", the paper protocols' t in [0, 1]) has none."""
    attrs = {"long_name": "time", "units": units, "axis": "T"}
    if units not in ("1", ""):
        attrs["standard_name"] = "time"
    return attrs

def build_dataset(system: Any, t: np.ndarray, states: np.ndarray, params: np.ndarray,
                  ic: np.ndarray, attrs: Mapping[str, Any]) -> xr.Dataset:
    """Assemble the CF-style Dataset.

    t: (T,) times in ``system.time_units``; states: (N, T, d); params: (N, P); ic: (N, d).
    ``attrs`` are added to the global attributes (provenance).
    """
    n = states.shape[0]
    units = [v.units for v in system.variables]
    state_units = units[0] if len(set(units)) == 1 else "mixed: see coordinate variable_units"
    coords: dict[str, Any] = {
        "trajectory": ("trajectory", np.arange(n, dtype=np.int64),
                       {"long_name": "trajectory index", "units": "1"}),
        "time": ("time", np.asarray(t, dtype=np.float64), time_attrs(system.time_units)),
        "variable": ("variable", np.array(system.variable_names, dtype=str),
                     {"long_name": "state variable name", "units": "1"}),
        "variable_units": ("variable", np.array(units, dtype=str),
                           {"long_name": "units of each state variable", "units": "1"}),
        "variable_long_name": ("variable", np.array([v.long_name for v in system.variables], dtype=str),
                               {"long_name": "long name of each state variable", "units": "1"}),
    }
    for j, par in enumerate(system.parameters):
        coords[par.name] = ("trajectory", np.asarray(params[:, j], dtype=np.float64),
                            {"long_name": par.long_name, "units": par.units})
    for j, var in enumerate(system.variables):
        coords[f"{var.name}_0"] = ("trajectory", np.asarray(ic[:, j], dtype=np.float64),
                                   {"long_name": f"initial {var.long_name}", "units": var.units})
    data_vars = {
        "state": (("trajectory", "time", "variable"), np.asarray(states, dtype=np.float64),
                  {"long_name": f"{system.name} state", "units": state_units}),
    }
    base_attrs = {
        "Conventions": "CF-1.10",
        "featureType": "trajectory",
        "title": f"{system.name} trajectories",
    }
    return xr.Dataset(data_vars, coords=coords, attrs={**base_attrs, **dict(attrs)})


def trajectories_to_tensor(ds: xr.Dataset, dtype: torch.dtype = torch.float64,
                           device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The package's one Dataset -> tensor converter.

    Returns ``state`` as x: (N, T, d) and ``time`` as t: (T,), both in ``dtype`` on ``device``
    (default float64 on the CPU, an exact copy). Raises ValueError when the Dataset lacks
    ``state(trajectory, time, variable)`` or its state holds NaN/inf (also after the cast).
    """
    if "state" not in ds:
        raise ValueError("the Dataset has no 'state' variable; expected state(trajectory, time, variable)")
    st = ds["state"]
    want = ("trajectory", "time", "variable")
    if set(st.dims) != set(want):
        raise ValueError(f"'state' must have dims {want}, got {st.dims}")
    x = torch.from_numpy(np.array(st.transpose(*want).values, dtype=np.float64, order="C", copy=True))
    if not bool(torch.isfinite(x).all()):
        raise ValueError("'state' holds NaN/inf values; drop or fill those trajectories first")
    x = x.to(dtype=dtype, device=device)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"'state' overflows {dtype}; convert to a wider dtype or rescale the data")
    t = torch.from_numpy(np.array(ds["time"].values, dtype=np.float64, copy=True)).to(dtype=dtype, device=device)
    return x, t


def ds_params_tensor(ds: xr.Dataset, system: Any) -> torch.Tensor:
    """Per-trajectory parameters (N, P) float64 in the order of ``system.parameter_names``.

    Raises ValueError naming the parameter coordinates that are missing.
    """
    missing = [n for n in system.parameter_names if n not in ds.coords and n not in ds]
    if missing:
        raise ValueError(
            f"the Dataset lacks parameter coordinate(s) {missing} of system {system.name}; "
            "simulate it with warp_phys.systems or add them as per-trajectory coordinates"
        )
    cols = [np.array(ds[n].values, dtype=np.float64).reshape(-1) for n in system.parameter_names]
    if not cols:
        n = ds.sizes.get("trajectory", 0)
        return torch.zeros(n, 0, dtype=torch.float64)
    return torch.from_numpy(np.stack(cols, axis=1))


def parameter_ranges_json(system: Any, protocol: Any) -> str:
    """The train/test ranges used by ``protocol`` as a JSON string (for provenance)."""
    out = {}
    for name in system.parameter_names:
        out[name] = {
            "train": list(system.parameter_ranges("train", protocol)[name]),
            "test": list(system.parameter_ranges("test", protocol)[name]),
        }
    return json.dumps(out, sort_keys=True)
