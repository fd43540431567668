"""Analytic-form priors: the root network emits the parameters of a known closed-form solution."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import BindContext, Prior, check_context

_LN2 = math.log(2.0)


def _scaled_softplus(raw: torch.Tensor, scale: float) -> torch.Tensor:
    """scale * softplus(raw) / ln 2: positive, equal to ``scale`` at raw = 0."""
    return scale * F.softplus(raw) / _LN2


class DampedOscillator(Prior):
    """x(t) = a exp(-zeta omega t) cos(omega_d t + phi) [+ c],  omega_d = omega sqrt(1 - zeta^2),
    with t = tau * duration (physical time since t_0); for d = 2 the second variable is the
    velocity, the analytic derivative dx/dt.

    raw (..., 4 [+1]) -> a = raw0 * scale_0 (physical units of x), zeta = sigmoid(raw1) in
    [0, 1), omega = omega_scale * softplus(raw2) / ln 2 > 0 (rad per time unit), phi = raw3,
    and with ``offset=True`` the equilibrium c = loc_0 + raw4 * scale_0.
    ``omega_scale`` default (None): 2 pi / system.period when the system has one, else
    2 pi / duration.
    """

    name = "damped_oscillator"
    description = "analytic damped oscillation a exp(-zeta omega t) cos(omega_d t + phi) (d = 1: x; d = 2: x, v)"

    def __init__(self, omega_scale: float | None = None, offset: bool = False) -> None:
        super().__init__()
        if omega_scale is not None and not omega_scale > 0:
            raise ValueError(f"omega_scale must be > 0 (rad per time unit), got {omega_scale!r}")
        self.omega_scale_option = None if omega_scale is None else float(omega_scale)
        self.offset = bool(offset)
        self.options = {"omega_scale": self.omega_scale_option, "offset": self.offset}

    def bind(self, ctx: BindContext) -> None:
        check_context(ctx, self.name)
        if ctx.n_variables not in (1, 2):
            raise ValueError(f"prior {self.name!r} describes a position (d=1) or a position and a velocity "
                             f"(d=2); the data has d={ctx.n_variables}")
        if self.omega_scale_option is not None:
            self.omega_scale = self.omega_scale_option
        else:
            period = getattr(ctx.system, "period", None) if ctx.system is not None else None
            self.omega_scale = 2 * math.pi / (period if period else ctx.duration)
        self.ctx = ctx

    @property
    def n_outputs(self) -> int:
        self._bound()
        return 5 if self.offset else 4

    def interpret(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """{amplitude, damping_ratio, omega, phase[, offset]}, each (...,), physical units."""
        ctx = self._bound()
        s0, l0 = ctx.scaler.scale.to(raw)[0], ctx.scaler.loc.to(raw)[0]
        out = {
            "amplitude": raw[..., 0] * s0,
            "damping_ratio": torch.sigmoid(raw[..., 1]),
            "omega": _scaled_softplus(raw[..., 2], self.omega_scale),
            "phase": raw[..., 3],
        }
        if self.offset:
            out["offset"] = l0 + raw[..., 4] * s0
        return out

    def physical(self, raw: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The closed form in physical units, (..., d)."""
        ctx = self._bound()
        q = self.interpret(raw)
        a, zeta, omega, phi = q["amplitude"], q["damping_ratio"], q["omega"], q["phase"]
        t = tau[..., 0] * ctx.duration
        omega_d = omega * torch.sqrt(1 - zeta**2)
        env = a * torch.exp(-zeta * omega * t)
        arg = omega_d * t + phi
        x = env * torch.cos(arg)
        if self.offset:
            x = x + q["offset"]
        if ctx.n_variables == 1:
            return x[..., None]
        v = env * (-zeta * omega * torch.cos(arg) - omega_d * torch.sin(arg))
        return torch.stack([x, v], dim=-1)

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        return self._bound().scaler.normalise(self.physical(raw, tau))


class Sinusoid(Prior):
    """x_i(tau) = A_i sin(2 pi f_i tau + phi_i) [+ c_i] per variable, tau the normalised time.

    raw layout (..., k d): [A (d), phi (d), f (d) unless ``frequency`` is fixed, c (d) if
    ``offset``]. A = raw * scale_i (physical units), phi = raw, f = frequency_scale *
    softplus(raw) / ln 2 (cycles per unit tau), c = loc_i + raw * scale_i.
    """

    name = "sinusoid"
    description = "A sin(2 pi f tau + phi) per variable (frequency learned or fixed)"

    def __init__(self, frequency: float | None = None, frequency_scale: float = 1.0, offset: bool = False) -> None:
        super().__init__()
        if frequency is not None and not frequency > 0:
            raise ValueError(f"frequency must be > 0 (cycles per unit tau) or None, got {frequency!r}")
        if not frequency_scale > 0:
            raise ValueError(f"frequency_scale must be > 0, got {frequency_scale!r}")
        self.frequency = None if frequency is None else float(frequency)
        self.frequency_scale = float(frequency_scale)
        self.offset = bool(offset)
        self.options = {"frequency": self.frequency, "frequency_scale": self.frequency_scale, "offset": self.offset}

    @property
    def n_outputs(self) -> int:
        d = self._bound().n_variables
        return d * (2 + (self.frequency is None) + self.offset)

    def interpret(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """{amplitude, phase, frequency[, offset]}, each (..., d), physical units."""
        ctx = self._bound()
        d = ctx.n_variables
        if raw.shape[-1] != self.n_outputs:
            raise ValueError(f"prior {self.name!r} expects {self.n_outputs} raw outputs, got {raw.shape[-1]}")
        chunks = list(raw.split(d, dim=-1))
        scale, loc = ctx.scaler.scale.to(raw), ctx.scaler.loc.to(raw)
        out = {"amplitude": chunks.pop(0) * scale, "phase": chunks.pop(0)}
        if self.frequency is None:
            out["frequency"] = _scaled_softplus(chunks.pop(0), self.frequency_scale)
        else:
            out["frequency"] = torch.full_like(out["phase"], self.frequency)
        if self.offset:
            out["offset"] = loc + chunks.pop(0) * scale
        return out

    def physical(self, raw: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The sinusoid in physical units, (..., d)."""
        q = self.interpret(raw)
        x = q["amplitude"] * torch.sin(2 * math.pi * q["frequency"] * tau + q["phase"])
        return x + q["offset"] if self.offset else x

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        return self._bound().scaler.normalise(self.physical(raw, tau))
