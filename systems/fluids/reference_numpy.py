"""A straightforward single-threaded numpy reference of the 2-D Navier-Stokes IF-RK4 scheme.

The same discretisation as ``navier_stokes.ns_problem`` + ``timestepping.IFRK4`` (vorticity
form on [0, 2 pi)^2, rfft2, 2/3 dealiasing, integrating factor for nu k^2 + drag, RK4 for
advection and forcing), written plainly with ``numpy.fft`` (pocketfft, one thread). It is the
baseline of ``benchmarks/fluids.py`` and a cross-check of the torch solver in the tests.
"""
from __future__ import annotations

import math

import numpy as np


class NumpyNS2D:
    """IF-RK4 stepper for a batch of vorticity fields.

    nu, drag: floats or (B,) arrays; forcing: vorticity forcing (n, n) or (B, n, n) in
    physical space, or None; dt: the step. States are rfft2 arrays (B, n, n//2+1) complex128.
    """

    def __init__(self, n: int, nu, drag, forcing: np.ndarray | None, dt: float):
        self.n, self.dt = n, float(dt)
        ky = np.fft.fftfreq(n, 1.0 / n)[:, None]
        kx = np.fft.rfftfreq(n, 1.0 / n)[None, :]
        k2 = kx**2 + ky**2
        self.ky, self.kx = ky, kx
        self.inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
        c = math.ceil(n / 3) - 1
        self.mask = ((np.abs(ky) <= c) & (kx <= c)).astype(np.float64)
        nu = np.asarray(nu, dtype=np.float64).reshape(-1, 1, 1)
        drag = np.asarray(drag, dtype=np.float64).reshape(-1, 1, 1)
        lin = -nu * k2 - drag
        self.e = np.exp(lin * dt)
        self.e2 = np.exp(lin * dt / 2)
        self.f_hat = None if forcing is None else np.fft.rfft2(forcing) * self.mask

    def to_spectral(self, w: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(w) * self.mask

    def to_physical(self, w_hat: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(w_hat, s=(self.n, self.n))

    def nonlinear(self, w_hat: np.ndarray) -> np.ndarray:
        s = (self.n, self.n)
        psi_hat = w_hat * self.inv_k2
        u = np.fft.irfft2(1j * self.ky * psi_hat * self.mask, s=s)
        v = np.fft.irfft2(-1j * self.kx * psi_hat * self.mask, s=s)
        wx = np.fft.irfft2(1j * self.kx * w_hat * self.mask, s=s)
        wy = np.fft.irfft2(1j * self.ky * w_hat * self.mask, s=s)
        out = -np.fft.rfft2(u * wx + v * wy) * self.mask
        return out if self.f_hat is None else out + self.f_hat

    def step(self, w_hat: np.ndarray) -> np.ndarray:
        h, e, e2, N = self.dt, self.e, self.e2, self.nonlinear
        k1 = N(w_hat)
        k2 = N(e2 * (w_hat + h / 2 * k1))
        k3 = N(e2 * w_hat + h / 2 * k2)
        k4 = N(e * w_hat + h * e2 * k3)
        return e * w_hat + h / 6 * (e * k1 + 2 * e2 * (k2 + k3) + k4)
