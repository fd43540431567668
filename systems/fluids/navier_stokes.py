"""2-D incompressible Navier-Stokes on the periodic square [0, 2 pi)^2, vorticity form.

    dw/dt + u . grad(w) = nu laplacian(w) - drag w + f_w,     laplacian(psi) = -w,
    (u, v) = (d psi/dy, -d psi/dx)

Units: lengths in m (box side 2 pi m), time in s, w in s-1, nu in m2 s-1, drag in s-1.

Forcing presets (structural option ``forcing``):

* ``"kolmogorov"`` (default; alias ``kolmogorov``): body force F = (A sin(k_f y), 0) [m s-2],
  i.e. vorticity forcing  f_w = curl F = -A k_f cos(k_f y)  [s-2]; A = ``forcing_amplitude``,
  k_f = ``k_f`` (integer, default 4). Random initial field (spectrum below, energy
  ``ic_energy``), spun up for ``default_spinup`` s before the saved window.
  For small Reynolds number the flow relaxes to the laminar state
  w = -A k_f cos(k_f y) / (nu k_f^2 + drag).
* ``"decaying"``: no forcing; random initial field with energy spectrum
  E(k) ~ k^4 exp(-2 (k / k_peak)^2) (random phases, seeded), scaled to mean kinetic energy
  ``initial_energy`` [m2 s-2].
* ``"taylor_green"``: w(0) = 2 U k sin(k x) sin(k y) (velocity u = U sin(kx) cos(ky),
  v = -U cos(kx) sin(ky)), U = ``amplitude``, k = ``k_tg`` (integer, default 1). The
  nonlinear term vanishes identically, so w(t) = w(0) exp(-(2 nu k^2 + drag) t) exactly.

Numerics: real FFTs, 2/3 dealiasing, integrating factor for viscosity + drag (exact), RK4
for advection + forcing (IF-RK4); see ``_field`` for the stability (CFL) rule.

A-priori bounds. Rigorous (for the dealiased Galerkin system; used by the blow-up check): with
<.> the domain mean, <|grad w|^2> >= <w^2> and Cauchy-Schwarz give
    w_rms(t) <= max(w_rms(0), f_w,rms / (nu + drag)),   f_w,rms = A k_f / sqrt(2).
These are loose (5-8x above measured turbulent values), so the time step and the resolution
check use the forced-response (laminar) scales instead, which measured Kolmogorov runs stay
below or near (max |u|+|v| <= 1.6 U_f, w_rms <= 0.7 W_f for nu in [0.01, 0.05], drag in
[0.05, 0.1], A = 1 at 64^2 and 128^2):
    U_f = A / (nu k_f^2 + drag)  (peak laminar velocity),
    W_f = f_w,rms / (nu k_f^2 + drag)  (laminar rms vorticity).
Speed for the step: S = max(max(|u|+|v|)(0), 2 U_f); a run that still exceeds the RK4
limit stops with SimulationError naming the dt to use.

Resolution criterion (checked before any work): in 2-D turbulence the enstrophy cascade is
cut off by viscosity at k_d = (beta / nu^3)^(1/6), with enstrophy flux beta ~ w_rms^3, so
k_d ~ sqrt(w_rms / nu). We require the dealiased grid to reach it:
    k_max >= sqrt(W / nu),   W = max(w_rms(0), W_f),   k_max = ceil(n/3) - 1,
i.e. the viscous damping rate at the grid scale, nu k_max^2, is at least the rms strain rate.
Measured: runs that pass it have E(k_max) / max E(k) < 1e-5.
(Taylor-Green has no cascade: it only needs k <= k_max.)
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ..base import Parameter, Protocol, TimeGrid, Variable
from ._field import FieldSystem, SpectralProblem
from .spectral import coordinates, cutoff, dealias_mask_2d, inverse_laplacian_2d, wavenumbers_2d

FORCINGS = ("kolmogorov", "decaying", "taylor_green")

_NU = Parameter("nu", 0.02, (0.02, 0.03), (0.019, 0.035), "m2 s-1", "kinematic viscosity", minimum=0.0)
_DRAG = Parameter("drag", 0.1, (0.09, 0.12), (0.08, 0.13), "s-1", "linear (Rayleigh) drag coefficient",
                  minimum=0.0, strict=False)


def random_vorticity(n: int, count: int, energy: torch.Tensor, k_peak: float,
                     generator: torch.Generator) -> torch.Tensor:
    """Random vorticity fields (count, n, n) float64 on [0, 2 pi)^2 with energy spectrum
    E(k) ~ k^4 exp(-2 (k / k_peak)^2), restricted to the 2/3-rule modes, each scaled to mean
    kinetic energy ``energy`` (count,) [m2 s-2]. Gaussian random phases from ``generator``.
    """
    noise = torch.randn(count, n, n, generator=generator, dtype=torch.float64)
    ky, kx = wavenumbers_2d(n)
    k = torch.sqrt(kx**2 + ky**2)
    # per-mode |w_hat|^2 ~ k^2 E(k) / k (2-D shell density) = k E(k)  ->  amplitude ~ k^2.5 exp(-(k/kp)^2)
    amp = k**2.5 * torch.exp(-((k / k_peak) ** 2)) * dealias_mask_2d(n)
    w_hat = torch.fft.rfft2(noise) * amp
    w = torch.fft.irfft2(w_hat, s=(n, n))
    from .diagnostics import kinetic_energy

    e = kinetic_energy(w)
    if bool((e <= 0).any()):
        raise ValueError(f"grid={n} keeps no modes near k_peak={k_peak}; use a larger grid")
    return w * torch.sqrt(energy.to(torch.float64) / e)[:, None, None]


class NavierStokes2D(FieldSystem):
    """2-D Navier-Stokes (vorticity form) with Kolmogorov / decaying / Taylor-Green presets."""

    name = "navier_stokes_2d"
    aliases = ("kolmogorov", "navier_stokes", "ns2d")
    description = "2-D incompressible Navier-Stokes on [0, 2 pi)^2 (vorticity form), pseudo-spectral"
    time_units = "s"
    space_units = "m"
    recommended_prior = None
    default_grid = 64
    method = "IF-RK4"
    variables = (Variable("vorticity", "s-1", "vertical vorticity (dv/dx - du/dy)"),)

    def __init__(self, forcing: str = "kolmogorov", *, k_f: int = 4, k_peak: float = 4.0,
                 k_tg: int = 1, ic_energy: float = 0.5, spinup: float | None = None,
                 **params: float) -> None:
        if forcing not in FORCINGS:
            raise ValueError(f"navier_stokes_2d: unknown forcing {forcing!r}; choose one of {list(FORCINGS)}")
        for key, val in (("k_f", k_f), ("k_tg", k_tg)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"navier_stokes_2d: {key} must be an integer wavenumber >= 1, got {val!r}")
        for key, val in (("k_peak", k_peak), ("ic_energy", ic_energy)):
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
                raise ValueError(f"navier_stokes_2d: {key} must be a positive number, got {val!r}")
        self.forcing, self.k_f, self.k_peak, self.k_tg = forcing, k_f, float(k_peak), k_tg
        self.ic_energy = float(ic_energy)
        if forcing == "kolmogorov":
            third = Parameter("forcing_amplitude", 1.0, (0.9, 1.0), (0.8, 1.05), "m s-2",
                              "Kolmogorov body-force amplitude A (force A sin(k_f y) along x)",
                              minimum=0.0, strict=False)
            self.default_spinup = 50.0 if spinup is None else float(spinup)
            self.default_time_grid = TimeGrid((0.0, 20.0), 101)
            self.chaotic = True
            if k_f == 4 and k_peak == 4.0 and ic_energy == 0.5 and not params:   # measured at the defaults only
                self.lyapunov_exponent, self.lyapunov_exponent_stderr = 0.251, 0.004
                self.lyapunov_method = (
                    "two-trajectory Benettin (warp_phys.lyapunov.largest_exponent) with this solver on 64^2; "
                    "0.2507 +- 0.0041 over 16 starts x 100 s after a 50 s spin-up (seed 0, "
                    "benchmarks/lyapunov_claims.py)")
        elif forcing == "decaying":
            third = Parameter("initial_energy", 0.5, (0.4, 0.6), (0.3, 0.8), "m2 s-2",
                              "mean kinetic energy of the initial field", minimum=0.0)
            self.default_spinup = 0.0 if spinup is None else float(spinup)
            self.default_time_grid = TimeGrid((0.0, 10.0), 101)
        else:
            third = Parameter("amplitude", 1.0, (0.8, 1.2), (0.5, 1.5), "m s-1",
                              "Taylor-Green velocity amplitude U", minimum=0.0)
            self.default_spinup = 0.0 if spinup is None else float(spinup)
            self.default_time_grid = TimeGrid((0.0, 10.0), 101)
        self.parameters = (_NU, _DRAG, third)
        super().__init__(**params)

    def _options_hint(self) -> str:
        return " and the structural options forcing, k_f, k_peak, k_tg, ic_energy, spinup"

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"forcing": self.forcing}
        if self.forcing == "kolmogorov":
            opts.update(k_f=self.k_f, k_peak=self.k_peak, ic_energy=self.ic_energy, spinup=self.default_spinup)
        elif self.forcing == "decaying":
            opts.update(k_peak=self.k_peak)
        else:
            opts.update(k_tg=self.k_tg)
        return opts

    def _extra_attrs(self) -> dict[str, Any]:
        formula = {
            "kolmogorov": f"F = (A sin({self.k_f} y), 0); f_w = -A {self.k_f} cos({self.k_f} y)",
            "decaying": f"none; initial E(k) ~ k^4 exp(-2 (k/{self.k_peak:g})^2)",
            "taylor_green": f"none; w(0) = 2 U {self.k_tg} sin({self.k_tg} x) sin({self.k_tg} y)",
        }[self.forcing]
        return {"forcing": self.forcing, "forcing_formula": formula, "domain_length": 2 * math.pi,
                "equation": "dw/dt + u.grad(w) = nu lap(w) - drag w + f_w; lap(psi) = -w; "
                            "(u, v) = (dpsi/dy, -dpsi/dx)"}

    # ---- problem -------------------------------------------------------------------
    def _problem(self, grid: int, p: dict[str, torch.Tensor], dtype: torch.dtype,
                 device: torch.device) -> SpectralProblem:
        n = grid
        kc = cutoff(n)
        if self.forcing == "kolmogorov" and self.k_f > kc:
            raise ValueError(f"navier_stokes_2d: the forcing wavenumber k_f={self.k_f} is removed by the "
                             f"2/3 dealiasing on a {n}^2 grid (k_max={kc}); use grid >= {3 * self.k_f + 2}")
        if self.forcing == "taylor_green" and self.k_tg > kc:
            raise ValueError(f"navier_stokes_2d: the Taylor-Green wavenumber k_tg={self.k_tg} is removed by "
                             f"the 2/3 dealiasing on a {n}^2 grid (k_max={kc}); use grid >= {3 * self.k_tg + 2}")
        return ns_problem(n, p["nu"], p["drag"], self._forcing_field(n, p, dtype, device), dtype, device)

    def _forcing_field(self, n: int, p: dict[str, torch.Tensor], dtype: torch.dtype,
                       device: torch.device) -> torch.Tensor | None:
        """Vorticity forcing f_w (B, n, n) [s-2] in physical space, or None."""
        if self.forcing != "kolmogorov":
            return None
        y = coordinates(n, dtype=dtype, device=device)
        profile = -self.k_f * torch.cos(self.k_f * y)[:, None].expand(n, n)
        return p["forcing_amplitude"][:, None, None] * profile

    def _sample_initial(self, grid: int, n: int, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.forcing == "taylor_green":
            x = coordinates(grid)
            k = self.k_tg
            shape = (2 * k * torch.sin(k * x)[None, :] * torch.sin(k * x)[:, None])
            return p[:, 2, None, None] * shape
        energy = p[:, 2] if self.forcing == "decaying" else torch.full((n,), self.ic_energy, dtype=torch.float64)
        return random_vorticity(grid, n, energy, self.k_peak, generator)

    # ---- bounds and checks ---------------------------------------------------------------
    def _forced_scales(self, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per trajectory: f_w,rms [s-2] (rms vorticity forcing), U_f [m s-1] (peak laminar
        velocity) and W_f [s-1] (laminar rms vorticity); zeros without forcing."""
        if self.forcing != "kolmogorov":
            z = torch.zeros_like(p["nu"])
            return z, z, z
        a = p["forcing_amplitude"].abs()
        damp = p["nu"] * self.k_f**2 + p["drag"]
        fw = a * self.k_f / math.sqrt(2)
        return fw, a / damp, fw / damp

    def _norm_bound(self, u0: torch.Tensor, p: dict[str, torch.Tensor], problem: SpectralProblem) -> torch.Tensor:
        w_rms0 = problem.norm(problem.to_physical(u0))
        fw, _, _ = self._forced_scales(p)
        return torch.maximum(w_rms0, fw / (p["nu"] + p["drag"]))

    def _speed_bound(self, u0: torch.Tensor, p: dict[str, torch.Tensor], problem: SpectralProblem) -> torch.Tensor:
        _, u_f, _ = self._forced_scales(p)
        return torch.maximum(problem.speed(u0), 2 * u_f)

    def _check_resolution(self, grid: int, u0: torch.Tensor, p: dict[str, torch.Tensor],
                          problem: SpectralProblem) -> None:
        if self.forcing == "taylor_green":
            return  # a single exact mode: no cascade (the wavenumber was checked in _problem)
        _, _, w_f = self._forced_scales(p)
        w_est = torch.maximum(problem.norm(problem.to_physical(u0)), w_f)
        k_d = torch.sqrt(w_est / p["nu"])
        bad = k_d > problem.k_max
        if bool(bad.any()):
            i = int(torch.argmax(k_d / problem.k_max))
            kd, nu, wb = k_d[i].item(), p["nu"][i].item(), w_est[i].item()
            need = 3 * math.ceil(kd) + 3
            need += need % 2
            raise ValueError(
                f"navier_stokes_2d: grid={grid} is too coarse for nu={nu:.4g} (trajectory {i}): the viscous "
                f"cutoff k_d = sqrt(w_rms / nu) = {kd:.3g} (w_rms estimate {wb:.3g} s-1) exceeds the largest "
                f"dealiased wavenumber k_max = {problem.k_max:g}. Use grid >= {need}, or raise nu to "
                f">= {wb / problem.k_max**2:.3g} (or add drag / lower the forcing)"
            )

    def _spatial_coords(self, grid: int) -> dict[str, tuple]:
        x = coordinates(grid).numpy()
        return {
            "y": ("y", x, {"long_name": "y coordinate (periodic, period 2 pi m)", "units": "m", "axis": "Y"}),
            "x": ("x", x.copy(), {"long_name": "x coordinate (periodic, period 2 pi m)", "units": "m", "axis": "X"}),
        }

    def laminar_vorticity(self, grid: int, nu: float | None = None, drag: float | None = None,
                          amplitude: float | None = None) -> torch.Tensor:
        """The laminar Kolmogorov state (grid, grid) [s-2 / s-1] -A k_f cos(k_f y) / (nu k_f^2 + drag)."""
        if self.forcing != "kolmogorov":
            raise ValueError("laminar_vorticity is defined for forcing='kolmogorov' only")
        nu = self.params["nu"] if nu is None else nu
        drag = self.params["drag"] if drag is None else drag
        a = self.params["forcing_amplitude"] if amplitude is None else amplitude
        y = coordinates(grid)
        return (-a * self.k_f * torch.cos(self.k_f * y) / (nu * self.k_f**2 + drag))[:, None].expand(grid, grid).clone()

    def _build_protocols(self) -> dict[str, Protocol]:
        return {}


def ns_problem(n: int, nu: torch.Tensor, drag: torch.Tensor, forcing: torch.Tensor | None,
               dtype: torch.dtype, device: torch.device) -> SpectralProblem:
    """The NS vorticity equation as a SpectralProblem on an n x n grid over [0, 2 pi)^2.

    nu, drag: (B,) per trajectory; forcing: (B, n, n) vorticity forcing in physical space or None.

    Layout: the spectral state keeps only the rfft2 columns kx = 0..k_c (k_c = ceil(n/3) - 1;
    the others are zero under the 2/3 rule), shape (B, n, k_c + 1); transforms are done as 1-D
    passes so the y pass skips the dropped columns.

    Nonlinear term in Basdevant's form (2 inverse + 2 forward transforms instead of 4 + 1):
        u . grad(w) = (d_xx - d_yy)(u v) + d_xy (v^2 - u^2),
    an identity for incompressible 2-D flow; with 2/3 dealiasing both forms give the exact
    Galerkin projection, so this equals the advective form to round-off (tested against
    ``reference_numpy``).
    """
    kc = cutoff(n)
    m = kc + 1
    ky, kx_full = wavenumbers_2d(n, dtype=dtype, device=device)
    kx = kx_full[:, :m]
    k2 = kx**2 + ky**2
    inv = inverse_laplacian_2d(ky, kx)
    mask = (ky.abs() <= kc).to(dtype).expand(n, m)
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    lin = -nu[:, None, None] * k2 - drag[:, None, None]

    def to_spectral(w: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft(torch.fft.rfft(w, dim=-1)[..., :m], dim=-2)

    def to_physical(w_hat: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.ifft(w_hat, dim=-2), n=n, dim=-1)

    # (u_hat, v_hat) = (i ky, -i kx) psi_hat, psi_hat = w_hat / |k|^2
    to_uv = (torch.stack([1j * ky * inv, -1j * kx * inv]) * mask).to(cdt)[:, None]   # (2, 1, n, m)
    # N = -u.grad(w) + f  ->  (kx^2 - ky^2) FFT(u v) + kx ky FFT(v^2 - u^2) + f
    c_uv = ((kx**2 - ky**2) * mask).to(cdt)
    c_sq = ((kx * ky) * mask).to(cdt)
    f_hat = None if forcing is None else (to_spectral(forcing) * mask).to(cdt)

    def nonlinear(w_hat: torch.Tensor) -> torch.Tensor:
        uv = to_physical(to_uv * w_hat)                       # (2, B, n, n): u, v
        u, v = uv[0], uv[1]
        prods = to_spectral(torch.stack([u * v, v * v - u * u]))
        out = c_uv * prods[0] + c_sq * prods[1]
        return out if f_hat is None else out + f_hat

    def speed(w_hat: torch.Tensor) -> torch.Tensor:
        uv = to_physical(to_uv * w_hat)
        return (uv[0].abs() + uv[1].abs()).amax(dim=(-2, -1))

    return SpectralProblem(
        lin=lin,
        nonlinear=nonlinear,
        to_physical=to_physical,
        to_spectral=to_spectral,
        mask=mask,
        speed=speed,
        norm=lambda w: torch.sqrt((w**2).mean(dim=(-2, -1))),
        k_max=float(kc),
    )
