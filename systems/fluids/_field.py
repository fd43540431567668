"""The shared driver of the pseudo-spectral field systems: ``FieldSystem.simulate``.

A field system describes its PDE as a semi-linear spectral problem  du/dt = L u + N(u)
(``SpectralProblem``) plus three physics hooks: an initial-field sampler, a resolution
check, and a-priori bounds (advective speed for the time step, a monitored norm for the
blow-up check). The driver here validates every input before any work, picks a stable step,
integrates the batch with an exponential RK4 stepper, checks the state at every saved
snapshot, and returns a CF-style ``xarray.Dataset``.

Stability (all steppers treat L exactly; the explicit part is advection, whose eigenvalues
are i (u kx + v ky), |.| <= S k_max with S = max(|u| + |v|) and k_max the largest retained
angular wavenumber per direction). Classical RK4 is stable on the imaginary axis up to
|dt lambda| = 2 sqrt(2), hence

    Courant number  C = dt * S * k_max  must stay  <= 2 sqrt(2) ~ 2.83.

A requested ``dt`` above the limit (with S from the system's a-priori speed bound) is a
ValueError; the automatic step aims at C = 1 (a safety factor of 2.8).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from warp_phys._version import __version__
from warp_phys.device import resolve_device
from warp_phys.validation import check_int, check_seed, is_integer

from ..base import System
from ..budget import check_output_size
from ..dataset import parameter_ranges_json, time_attrs
from ..simulate import SimulationError, resolve_params, time_grid
from ..spec import check_n_steps
from .spectral import check_grid
from .timestepping import RK4_IMAGINARY_LIMIT, STEPPERS

#: Courant number (dt * S * k_max) the automatic step aims at.
COURANT_TARGET = 1.0
#: A monitored norm above BLOWUP_FACTOR x its a-priori bound means the integration is unstable.
BLOWUP_FACTOR = 2.0


@dataclass
class SpectralProblem:
    """A batched semi-linear spectral PDE du/dt = L u + N(u) on a periodic grid.

    lin: real tensor broadcastable to the spectral state (B, *spectral_shape).
    nonlinear: spectral state -> spectral tendency (dealiased, forcing included).
    to_physical / to_spectral: transforms between (B, *grid_shape) real fields and states.
    mask: real 0/1 tensor of the retained (2/3-rule) modes, broadcastable to the state.
    speed: spectral state -> (B,) max advective speed S (max |u|+|v|, or max |u| in 1-D).
    norm: physical field -> (B,) the norm watched by the blow-up check (rms).
    k_max: largest retained angular wavenumber per direction.
    """

    lin: torch.Tensor
    nonlinear: Callable[[torch.Tensor], torch.Tensor]
    to_physical: Callable[[torch.Tensor], torch.Tensor]
    to_spectral: Callable[[torch.Tensor], torch.Tensor]
    mask: torch.Tensor
    speed: Callable[[torch.Tensor], torch.Tensor]
    norm: Callable[[torch.Tensor], torch.Tensor]
    k_max: float


class FieldSystem(System):
    """Base class of the pseudo-spectral PDE systems (``kind == "field"``).

    Subclasses set ``variables``/``parameters`` and the class attributes below, and implement
    ``_problem``, ``_sample_initial``, ``_check_resolution``, ``_speed_bound``, ``_norm_bound``
    and ``_spatial_coords``.
    """

    kind = "field"
    dims: ClassVar[tuple[str, ...]] = ("y", "x")
    default_grid: ClassVar[int] = 64
    method: ClassVar[str] = "IF-RK4"
    space_units: ClassVar[str] = "m"
    default_spinup: float = 0.0

    # ---- hooks ------------------------------------------------------------------
    def _problem(self, grid: int, p: dict[str, torch.Tensor], dtype: torch.dtype,
                 device: torch.device) -> SpectralProblem:
        raise NotImplementedError

    def _sample_initial(self, grid: int, n: int, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(n, *grid_shape) float64 CPU initial fields drawn with ``generator``."""
        raise NotImplementedError

    def _check_resolution(self, grid: int, u0: torch.Tensor, p: dict[str, torch.Tensor],
                          problem: SpectralProblem) -> None:
        """ValueError naming the fix when ``grid`` cannot resolve the flow."""

    def _speed_bound(self, u0: torch.Tensor, p: dict[str, torch.Tensor], problem: SpectralProblem) -> torch.Tensor:
        """(B,) a-priori estimate of max advective speed over the run (sets dt)."""
        raise NotImplementedError

    def _norm_bound(self, u0: torch.Tensor, p: dict[str, torch.Tensor], problem: SpectralProblem) -> torch.Tensor:
        """(B,) bound on ``problem.norm`` over the run (inf: none known)."""
        raise NotImplementedError

    def _spatial_coords(self, grid: int) -> dict[str, tuple]:
        raise NotImplementedError

    def _extra_attrs(self) -> dict[str, Any]:
        return {}

    def dt_cap(self, grid: int) -> float:
        """Largest automatic step regardless of the advective speed (accuracy cap)."""
        return math.inf

    # ---- shapes -------------------------------------------------------------------
    def grid_shape(self, grid: int) -> tuple[int, ...]:
        return (grid,) * len(self.dims)

    # ---- the driver ---------------------------------------------------------------
    def simulate(self, n_trajectories: int = 1, t_span: tuple[float, float] | None = None,
                 n_steps: int | None = None, *, grid: int | None = None, params: Any = "train",
                 ic: Any = None, seed: int = 0, dtype: torch.dtype = torch.float64,
                 device: str | torch.device = "auto", dt: float | None = None,
                 progress: bool = False, protocol: Any = None, spinup: float | None = None):
        """Simulate ``n_trajectories`` fields; returns an ``xarray.Dataset``.

        t_span: (t_start, t_end) of the saved window (system time units); n_steps: number of
            saved snapshots (>= 2, both ends included). None takes the protocol's.
        grid: points per direction (even, >= 8); None takes ``default_grid``.
        params: "train"/"test" (sampled from the ranges), None (current values), a dict
            {name: scalar or (n,) values}, or an (n, P) tensor (as for the ODE systems).
        ic: None (the system's random sampler), or initial fields (n, *grid_shape) or
            (*grid_shape,) in physical space; projected onto the retained (2/3-rule) modes.
        seed: seeds one CPU torch.Generator that draws the parameters, then the initial
            fields (so results do not depend on the device).
        dtype: torch.float64 or torch.float32 (the solve and the stored field).
        dt: the largest internal step wanted; the step used divides the save interval exactly
            (attribute ``dt``). None: automatic (Courant number 1). A dt above the stability
            limit raises ValueError naming the largest stable dt.
        spinup: time integrated before t_start and not saved (None: the system's default).
        progress: a tqdm bar over the saved snapshots.

        Raises ValueError for bad input, an unstable dt or an under-resolved grid (before any
        work), InputError when the output (n_trajectories x n_steps x grid points) would not fit
        in the available memory (before allocating), and SimulationError (a ValueError) when
        the run blows up.
        """
        import xarray as xr

        # ---- validate ------------------------------------------------------------
        n = check_int(n_trajectories, "n_trajectories", minimum=1)
        seed = check_seed(seed)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        grid = self.default_grid if grid is None else grid
        if not is_integer(grid):
            raise ValueError(f"grid must be an even integer >= 8 (points per direction), got {grid!r}")
        grid = check_grid(int(grid))
        if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number (or None for automatic), got {dt!r}")
        spinup = self.default_spinup if spinup is None else spinup
        if not (isinstance(spinup, (int, float)) and math.isfinite(spinup) and spinup >= 0):
            raise ValueError(f"spinup must be a finite number >= 0, got {spinup!r}")
        proto = self.protocol(protocol if protocol is not None else "default")
        steps = check_n_steps(proto.n_steps if n_steps is None else n_steps)
        check_output_size(self.name, n, steps, self.grid_shape(grid), bytes_per_value=dtype.itemsize,
                          what="grid points")
        t = time_grid(proto.t_span if t_span is None else t_span, steps)
        dev = resolve_device(device)

        gen = torch.Generator().manual_seed(seed)
        p, params_source = resolve_params(self, params, n, gen, proto)
        shape = self.grid_shape(grid)
        if ic is None:
            u_init, ic_source = self._sample_initial(grid, n, p, gen), "sampled"
        else:
            u_init, ic_source = self._explicit_ic(ic, n, shape), "explicit"

        pd = {name: p[:, j].to(device=dev, dtype=dtype) for j, name in enumerate(self.parameter_names)}
        problem = self._problem(grid, pd, dtype, dev)
        u0 = problem.to_spectral(u_init.to(device=dev, dtype=dtype)) * problem.mask

        self._check_resolution(grid, u0, pd, problem)

        # ---- time step --------------------------------------------------------------
        speed = float(self._speed_bound(u0, pd, problem).max())
        dt_stable = RK4_IMAGINARY_LIMIT / (speed * problem.k_max) if speed > 0 else math.inf
        save_dt = float(t[1] - t[0])
        if dt is not None and dt > dt_stable:
            raise ValueError(
                f"{self.name}: dt={dt:g} violates the CFL condition: Courant number dt*S*k_max = "
                f"{dt * speed * problem.k_max:.3g} > {RK4_IMAGINARY_LIMIT:.3f} (S = {speed:.3g} "
                f"{self.space_units}/{self.time_units} advective speed bound, k_max = {problem.k_max:g}); "
                f"the max stable dt is {dt_stable:.4g}: pass dt <= {dt_stable:.4g} or dt=None (automatic)"
            )
        target = dt if dt is not None else min(COURANT_TARGET / (speed * problem.k_max) if speed > 0 else math.inf,
                                               self.dt_cap(grid))
        per_save = max(1, math.ceil(save_dt / target - 1e-9))
        h = save_dt / per_save
        n_spin = math.ceil(spinup / h - 1e-9) if spinup > 0 else 0
        norm_bound = self._norm_bound(u0, pd, problem)

        stepper = STEPPERS[self.method](problem.lin, problem.nonlinear, h)
        check = _Checker(self, problem, h, norm_bound)

        # ---- integrate --------------------------------------------------------------------
        T = t.shape[0]
        out = torch.empty((n, T, *shape), dtype=dtype)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_spin + per_save * (T - 1), desc=f"{self.name} ({n} traj., {grid} grid)",
                       unit="step")
        u = u0
        with torch.no_grad():
            done = 0
            while done < n_spin:  # spin-up before t_start, checked at the save cadence
                m = min(per_save, n_spin - done)
                for _ in range(m):
                    u = stepper.step(u)
                done += m
                check(u, None, float(t[0]) - (n_spin - done) * h, spinup=True)
                if bar is not None:
                    bar.update(m)
            phys = problem.to_physical(u)
            check(u, phys, float(t[0]))
            out[:, 0] = phys.cpu()
            for i in range(1, T):
                for _ in range(per_save):
                    u = stepper.step(u)
                phys = problem.to_physical(u)
                check(u, phys, float(t[i]))
                out[:, i] = phys.cpu()
                if bar is not None:
                    bar.update(per_save)
        if bar is not None:
            bar.close()

        # ---- Dataset ----------------------------------------------------------------------
        attrs = {
            "system": self.name,
            "system_options": json.dumps(self.options(), sort_keys=True),
            "solver": "pseudo-spectral",
            "method": self.method,
            "dealiasing": "2/3 rule",
            "dt": float(h),
            "steps_per_save": int(per_save),
            "spinup": float(n_spin * h),
            "grid": int(grid),
            "courant_number_initial_bound": float(h * speed * problem.k_max),
            "seed": seed,
            "dtype": str(dtype).replace("torch.", ""),
            "device": str(dev),
            "protocol": proto.name,
            "params_source": params_source,
            "ic_source": ic_source,
            "parameter_ranges": parameter_ranges_json(self, proto),
            "warp_phys_version": __version__,
            **self._extra_attrs(),
        }
        var = self.variables[0]
        dims = ("trajectory", "time", *self.dims)
        coords: dict[str, Any] = {
            "trajectory": ("trajectory", np.arange(n, dtype=np.int64),
                           {"long_name": "trajectory index", "units": "1"}),
            "time": ("time", t.numpy(), time_attrs(self.time_units)),
            **self._spatial_coords(grid),
        }
        pn = p.numpy()
        for j, par in enumerate(self.parameters):
            coords[par.name] = ("trajectory", pn[:, j].astype(np.float64),
                                {"long_name": par.long_name, "units": par.units})
        data = {var.name: (dims, out.numpy(), {"long_name": var.long_name, "units": var.units})}
        base = {"Conventions": "CF-1.10", "featureType": "trajectory",
                "title": f"{self.name} fields ({attrs.get('forcing', self.name)})"}
        return xr.Dataset(data, coords=coords, attrs={**base, **attrs})

    def _explicit_ic(self, ic: Any, n: int, shape: tuple[int, ...]) -> torch.Tensor:
        try:
            u = torch.as_tensor(np.asarray(ic.detach().cpu() if isinstance(ic, torch.Tensor) else ic,
                                           dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: ic must be a numeric array of shape ({n}, {', '.join(map(str, shape))})"
                             ) from None
        if u.shape == shape:
            u = u.expand(n, *shape).clone()
        if tuple(u.shape) != (n, *shape):
            raise ValueError(
                f"{self.name}: ic must have shape {(n, *shape)} or {shape} (physical-space "
                f"{self.variables[0].name} on the grid, dims {('trajectory', *self.dims)}); got {tuple(u.shape)}. "
                f"Pass grid={u.shape[-1]} if the grid size differs"
            )
        bad = ~torch.isfinite(u).reshape(n, -1).all(1)
        if bool(bad.any()):
            raise ValueError(f"{self.name}: ic of trajectory {int(bad.nonzero()[0])} holds NaN/inf; "
                             "pass finite initial fields")
        return u


class _Checker:
    """The run-time check at every saved snapshot: non-finite state, a monitored norm above
    BLOWUP_FACTOR x its a-priori bound, or a Courant number above the RK4 limit."""

    def __init__(self, system: FieldSystem, problem: SpectralProblem, dt: float, norm_bound: torch.Tensor):
        self.system, self.problem, self.dt = system, problem, dt
        self.norm_limit = BLOWUP_FACTOR * norm_bound

    def __call__(self, u: torch.Tensor, phys: torch.Tensor | None, time: float, spinup: bool = False) -> None:
        sysname, tu = self.system.name, self.system.time_units
        when = f"t = {time:g} {tu}" + (" (during the spin-up)" if spinup else "")
        if phys is None:
            phys = self.problem.to_physical(u)
        finite = torch.isfinite(phys.reshape(phys.shape[0], -1)).all(1)
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            raise SimulationError(
                f"{sysname}: trajectory {i} blew up (non-finite field) at {when}; lower dt, raise "
                "the viscosity or refine the grid", trajectory=i, time=time)
        norm = self.problem.norm(phys)
        over = norm > self.norm_limit
        if bool(over.any()):
            i = int(over.nonzero()[0])
            raise SimulationError(
                f"{sysname}: trajectory {i} blew up at {when}: rms {norm[i].item():.4g} exceeds "
                f"{BLOWUP_FACTOR:g} x its a-priori bound {self.norm_limit[i].item() / BLOWUP_FACTOR:.4g} "
                "(a numerical instability); lower dt or refine the grid", trajectory=i, time=time)
        courant = self.dt * self.problem.speed(u) * self.problem.k_max
        over = courant > RK4_IMAGINARY_LIMIT
        if bool(over.any()):
            i = int(over.nonzero()[0])
            safe = self.dt * COURANT_TARGET / courant[i].item()
            raise SimulationError(
                f"{sysname}: trajectory {i} violated the CFL condition at {when}: Courant number "
                f"{courant[i].item():.3g} > {RK4_IMAGINARY_LIMIT:.3f} with dt = {self.dt:.4g}; rerun with "
                f"dt <= {safe:.4g}", trajectory=i, time=time)
