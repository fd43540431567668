"""How well the running least-squares fit (``transition_input="lstsq"``) reads the physical
parameters of a polynomial system from a context, with no learning.

    python benchmarks/lstsq_read.py [--steps 100] [--n 64]

For the out-of-distribution test trajectories of the MSD (the paper's protocol) and of
Lorenz-63 (parameters sampled from the test ranges), the coefficients of the fit after
``--steps`` steps give k/m and c/m (MSD) and sigma, rho, beta (Lorenz-63); the table prints the
median and maximum relative error of each over the trajectories for three forms of the fit:

* Euler: increments x_t - x_{t-1} regressed on library(x_{t-1}) (the form before 2026-12-05 PM);
* trapezoid: x_t - x_{t-1} on (library(x_{t-1}) + library(x_t)) / 2;
* Simpson (the package's, `warp_phys.transition_inputs.features`): x_t - x_{t-2} on
  (library(x_{t-2}) + 4 library(x_{t-1}) + library(x_t)) / 3, with its fading ridge;

and, for Simpson, a fixed ridge of 1e-6 of the mean diagonal. States are standardised per
variable (as the package's scaler does) and float32, as the model reads them.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import warp_phys.transition_inputs as ti
from warp_phys import systems


def _solve(psi: torch.Tensor, dx: torch.Tensor, ridge: float) -> torch.Tensor:
    """Coefficients (B, L, d) of dx (B, n, d) on psi (B, n, L), ridge relative to the mean diagonal."""
    gram = psi.transpose(1, 2) @ psi
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None]
    eye = torch.eye(psi.shape[-1], dtype=psi.dtype)
    return torch.linalg.solve(gram + (ridge * scale + 1e-8) * eye, psi.transpose(1, 2) @ dx)


def coefficients(form: str, u: torch.Tensor) -> torch.Tensor:
    """dt times the field's coefficients (B, L, d) from standardised states u (B, T, d)."""
    w = u.double()
    lib = ti.library(w)
    if form == "euler":
        return _solve(lib[:, :-1], w[:, 1:] - w[:, :-1], 1e-12)
    if form == "trapezoid":
        return _solve((lib[:, :-1] + lib[:, 1:]) / 2, w[:, 1:] - w[:, :-1], 1e-12)
    if form == "simpson, ridge 1e-6":
        return _solve((lib[:, :-2] + 4 * lib[:, 1:-1] + lib[:, 2:]) / 3, w[:, 2:] - w[:, :-2], 1e-6)
    d = u.shape[-1]
    return ti.features("lstsq", u)[:, -1, d:].double().reshape(u.shape[0], -1, d) / ti.AREA_SCALE


def read_parameters(name: str, c: torch.Tensor, mu: torch.Tensor, sd: torch.Tensor) -> dict[str, torch.Tensor]:
    """Physical parameters from the coefficients c = dt W (B, L, d) in standardised units."""
    if name == "lorenz":  # library: 1, x, y, z, ...; dx = sigma (y - x), dy = x (rho - z) - y, dz = xy - beta z
        return {"sigma": c[:, 2, 0] * sd[0] / sd[1], "rho": c[:, 1, 1] * sd[1] / sd[0] + mu[2], "beta": -c[:, 3, 2]}
    return {"k/m": -c[:, 1, 1] * sd[1] / sd[0], "c/m": -c[:, 2, 1]}  # dv = -(k/m) x - (c/m) v


def truth(name: str, ds) -> dict[str, np.ndarray]:
    if name == "lorenz":
        return {k: ds[k].values for k in ("sigma", "rho", "beta")}
    return {"k/m": ds["k"].values / ds["m"].values, "c/m": ds["c"].values / ds["m"].values}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100, help="context length (steps read)")
    p.add_argument("--n", type=int, default=64, help="test trajectories per system")
    args = p.parse_args(argv)
    forms = ("euler", "trapezoid", "simpson, ridge 1e-6", "simpson (package)")
    print(f"# Parameters read by the running least-squares fit after {args.steps} steps, no learning "
          f"({args.n} OOD test trajectories per system, seed 0)\n")
    print("| system | parameter | " + " | ".join(f"{f}: median / max" for f in forms) + " |")
    print("|---|---|" + "---|" * len(forms))
    for name, kw in (("mass_spring_damper", dict(protocol="paper")), ("lorenz", {})):
        ds = systems.get(name).simulate(args.n, params="test", seed=0, device="cpu", **kw)
        x = torch.as_tensor(ds["state"].transpose("trajectory", "time", "variable").values)[:, :args.steps]
        dt = float(ds["time"].values[1] - ds["time"].values[0])
        mu, sd = x.mean((0, 1)), x.std((0, 1))
        u = ((x - mu) / sd).float()
        true = truth(name, ds)
        cells: dict[str, list[str]] = {k: [] for k in true}
        for form in forms:
            est = read_parameters(name, coefficients(form, u) / dt, mu, sd)
            for k in true:
                rel = np.abs(est[k].numpy() / true[k] - 1)
                cells[k].append(f"{100 * np.median(rel):.3g} % / {100 * rel.max():.3g} %")
        for k, row in cells.items():
            print(f"| {name} (dt {dt:.4g}) | {k} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
