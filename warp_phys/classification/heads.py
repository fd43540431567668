"""Sequence-classifier modules: WARP, GRU, LSTM and a causal transformer behind one interface.

Input layout (what `warp_phys.training.Trainer` carries): x (B, T, d + 1) in normalised units,
whose last channel is the validity mask (1 on the steps of a sequence, 0 on the padding after
its end; every sequence has at least one valid step), and tau (T,) the step times
(tau_t = t * dt, dt fixed when the classifier is fitted, so padding a batch to more steps
does not move the times of the valid ones). ``forward(x, tau)`` returns class logits (B, K),
read at the last valid step L_i - 1 of each sequence. Every encoder is causal (step t sees
x_0 .. x_t only) and padded values are set to zero before it runs, so what lies beyond a
sequence's end changes nothing.

WARP reads the sequence teacher-forced with its linear weight recurrence
theta_t = A theta_{t-1} + B (x_t - x_{t-1}), theta_0 = phi(x_0) (x_t: the values, and by default
the running means of their squares and squared increments and of the signed areas between channel
pairs, ``WARPClassifierModule.features``) (`warp_phys.transitions`,
`warp_phys.hypernet`); only theta at the last valid step is built (for a factorable
transition, theta_L = theta_0 + c_L @ basis from the coefficients). Two read-outs:

* ``"theta"``: a small MLP of theta_L (D -> ``readout_width`` -> K);
* ``"root"``: the root network with weights theta_L and K outputs, evaluated at the time of
  the last valid step: its outputs are the logits.

``SequenceClassifier(readout="auto")`` picks "root": on held-out noisy spirals (clockwise vs
anticlockwise, random phase, speed and radius) it classified better than "theta" at equal
epochs, and trains faster (the "theta" MLP's first layer has D inputs). The root network is
nonlinear in its weights, so it can read products of the memory coordinates (a rotation's
amplitude whatever its phase), which a linear map of theta cannot.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from warp_phys.baselines.transformer import _Block
from warp_phys.hypernet import FreeInitialState, Hypernetwork
from warp_phys.root import RootNetwork, get_activation
from warp_phys.transitions import make_transition

READOUTS = ("theta", "root")


def last_valid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split x (B, T, d + 1) into the values (B, T, d), zero on padded steps, and the index
    (B,) (int64) of each sequence's last valid step."""
    mask = x[..., -1:] > 0.5
    values = torch.where(mask, x[..., :-1], torch.zeros((), dtype=x.dtype, device=x.device))
    last = (mask[..., 0].sum(dim=1) - 1).clamp_min(0)
    return values, last


def gather_steps(seq: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """seq (B, T, H) at step last[b] (B,) of each row -> (B, H)."""
    return seq[torch.arange(seq.shape[0], device=seq.device), last]


def levy_area_steps(values: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """The signed area swept at each step, per channel pair i < j: (B, T, d (d - 1) / 2) of
    (x_{t-1,i} dx_{t,j} - x_{t-1,j} dx_{t,i}) / 2 for values (B, T, d) and increments
    step (B, T, d) (step_0 = 0, x_{-1} = x_0); its running sum is the path's Levy area."""
    prev = torch.cat([values[:, :1], values[:, :-1]], dim=1)
    i, j = torch.triu_indices(values.shape[-1], values.shape[-1], offset=1, device=values.device)
    return 0.5 * (prev[..., i] * step[..., j] - prev[..., j] * step[..., i])


class SequenceClassifierModule(nn.Module):
    """Base class: ``n_variables`` = d + 1 (the mask channel), ``n_classes`` = K. Subclasses
    implement ``logits(values (B, T, d), tau (T,), last (B,)) -> (B, K)``."""

    def __init__(self, n_features: int, n_classes: int, config: dict[str, Any]) -> None:
        super().__init__()
        self.n_features, self.n_classes, self.n_variables = int(n_features), int(n_classes), int(n_features) + 1
        self.config = {"n_features": self.n_features, "n_classes": self.n_classes, **config}

    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Class logits (B, K) of x (B, T, d + 1) at times tau (T,); teacher forced only (p_force 1)."""
        if p_force != 1.0:
            raise ValueError(f"a sequence classifier reads the whole sequence teacher-forced; p_force must be 1, "
                             f"got {p_force}")
        values, last = last_valid(x)
        return self.logits(values, tau.to(values), last)

    def logits(self, values: torch.Tensor, tau: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """No extra loss term (zero, for the Trainer)."""
        return torch.zeros((), device=x.device)


class WARPClassifierModule(SequenceClassifierModule):
    """WARP encoder with a ``readout`` of the weights after the last valid step.

    Args: width, depth, activation of the root network (``depth`` hidden layers, K outputs);
    transition, rank, transition_options as in `warp_phys.model.WARP` (a transition with memory,
    e.g. "subspace", lets theta_L depend on the whole history, not only on x_0 and x_L);
    init_state "free" (default: one learned theta_0 for every sequence, so the decision rests on
    what the recurrence reads) or "hypernetwork" (theta_0 = phi(x_0), as WARP's forecasts do; on
    the spirals task it let the model fit the first point of each training sequence and
    generalise worse); readout "theta" | "root";
    readout_width: hidden units of the "theta" read-out MLP;
    energy: also read, per channel, the running means of x_t^2 and of (x_t - x_{t-1})^2
    (`features`; default True). The recurrence is linear in what it reads, so without them
    theta_L is a linear functional of the sequence and the power or roughness of a fast signal
    reaches the read-out only as a one-sample, random-phase estimate;
    area: also read, per channel pair i < j, the running mean of the signed area swept per step,
    (x_{t-1,i} dx_{t,j} - x_{t-1,j} dx_{t,i}) / 2 (`levy_area_steps`; the path's Levy area, the
    antisymmetric second-order term of its signature: a sense of rotation, which a linear
    functional of the path cannot hold and its square loses; default True; nothing for d = 1).
    The measurements behind both defaults: benchmarks/README.md, "Sequence classifier channels";
    seed: parameter initialisation.
    """

    def __init__(self, n_features: int, n_classes: int, *, readout: str = "theta", width: int = 48,
                 depth: int = 3, activation: str = "swish", transition: str = "subspace", rank: int = 8,
                 transition_options: dict | None = None, init_state: str = "free",
                 readout_width: int = 64, energy: bool = True, area: bool = True, seed: int = 0) -> None:
        super().__init__(n_features, n_classes, dict(
            readout=readout, width=width, depth=depth, activation=activation, transition=transition, rank=rank,
            transition_options=dict(transition_options or {}), init_state=init_state,
            readout_width=readout_width, energy=bool(energy), area=bool(area), seed=seed))
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {list(READOUTS)}")
        if init_state not in ("hypernetwork", "free"):
            raise ValueError(f"unknown init_state {init_state!r}; choose 'hypernetwork' or 'free'")
        self.readout, self.act, self.energy = readout, get_activation(activation), bool(energy)
        self.area = bool(area)
        d_in = (3 if self.energy else 1) * n_features + (n_features * (n_features - 1) // 2 if self.area else 0)
        self.root = RootNetwork(1, n_classes, width, depth, activation)
        D = self.root.size
        gen = torch.Generator().manual_seed(int(seed))
        theta_init = self.root.init_theta(gen)
        self.initial: nn.Module = (Hypernetwork(d_in, theta_init, activation=activation, generator=gen)
                                   if init_state == "hypernetwork" else FreeInitialState(theta_init))
        self.transition = make_transition(transition, D, d_in, rank=rank, generator=gen,
                                          options=transition_options)
        if readout == "theta":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                self.head = nn.Sequential(nn.Linear(D, readout_width), nn.SiLU(), nn.Linear(readout_width, n_classes))

    @property
    def weight_size(self) -> int:
        """D, the size of theta."""
        return self.root.size

    def features(self, values: torch.Tensor) -> torch.Tensor:
        """What the recurrence reads, (B, T, d_in): the values x_t; with ``energy`` the running means
        e_t = mean_{k<=t} x_k^2 and q_t = mean_{1<=k<=t} (x_k - x_{k-1})^2 of each channel (q_0 = 0;
        2d more); with ``area`` the running mean over 1 <= k <= t of `levy_area_steps` (d (d - 1) / 2
        more, zero at t = 0). Causal, so padding after a sequence's end changes nothing before it."""
        parts = [values]
        t = torch.arange(1, values.shape[1] + 1, device=values.device, dtype=values.dtype)[:, None]
        step = torch.cat([torch.zeros_like(values[:, :1]), values[:, 1:] - values[:, :-1]], dim=1)
        if self.energy:
            parts += [torch.cumsum(values ** 2, dim=1) / t, torch.cumsum(step ** 2, dim=1) / (t - 1).clamp_min(1)]
        if self.area and values.shape[-1] > 1:
            parts.append(torch.cumsum(levy_area_steps(values, step), dim=1) / (t - 1).clamp_min(1))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else values

    def weights(self, values: torch.Tensor) -> torch.Tensor:
        """theta_t (B, T, D) for values (B, T, d) (theta_t has read x_0 .. x_t); materialised."""
        values = self.features(values)
        return self.transition.trajectory(self.initial(values[:, 0]), values)

    def final_weights(self, values: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """theta at step last[b] of each row, (B, D); for a factorable transition from the
        coefficients (B, T, K) only, without a per-step weight trajectory."""
        values = self.features(values)
        theta0 = self.initial(values[:, 0])
        if self.transition.factorable:
            coeff = gather_steps(self.transition.coefficients(theta0, values), last)
            return theta0 + coeff @ self.transition.basis()
        return gather_steps(self.transition.trajectory(theta0, values), last)

    def logits(self, values: torch.Tensor, tau: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        theta = self.final_weights(values, last)
        if self.readout == "theta":
            return self.head(theta)
        return self.root.evaluate(theta, tau[last].unsqueeze(-1))


class RNNClassifierModule(SequenceClassifierModule):
    """GRU or LSTM (``cell``), ``layers`` layers of width ``hidden``; the hidden state at the
    last valid step -> a linear head (K logits)."""

    def __init__(self, n_features: int, n_classes: int, *, cell: str = "gru", hidden: int = 64, layers: int = 2,
                 seed: int = 0) -> None:
        super().__init__(n_features, n_classes, dict(cell=cell, hidden=hidden, layers=layers, seed=seed))
        cells = {"gru": nn.GRU, "lstm": nn.LSTM}
        if cell not in cells:
            raise ValueError(f"cell must be one of {sorted(cells)}; got {cell!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.rnn = cells[cell](n_features, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, n_classes)

    def logits(self, values: torch.Tensor, tau: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(values)
        return self.head(gather_steps(h, last))


class TransformerClassifierModule(SequenceClassifierModule):
    """Causal transformer (pre-LN blocks of `warp_phys.baselines.transformer`): token t embeds
    [x_t, x_t - x_{t-1}] (x_{-1} = x_0; the increment, which WARP's recurrence reads too, lets
    one block see the local direction of motion) plus a sinusoidal encoding of tau_t; the output
    token of the last valid step (which attends to steps 0 .. L - 1 only) -> LayerNorm -> linear
    head (K logits)."""

    def __init__(self, n_features: int, n_classes: int, *, hidden: int = 64, layers: int = 2, heads: int = 4,
                 max_frequency: float = 64.0, dropout: float = 0.0, seed: int = 0) -> None:
        super().__init__(n_features, n_classes, dict(hidden=hidden, layers=layers, heads=heads,
                                                     max_frequency=max_frequency, dropout=dropout, seed=seed))
        if hidden % heads or hidden % 2:
            raise ValueError(f"hidden={hidden} must be even and divisible by heads={heads}")
        n = hidden // 2  # angular frequencies pi .. pi * max_frequency, geometric
        self.register_buffer("freqs", math.pi * float(max_frequency) ** (torch.arange(n) / max(n - 1, 1)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.embed = nn.Linear(2 * n_features, hidden)
            self.blocks = nn.ModuleList(_Block(hidden, heads, dropout) for _ in range(layers))
            self.norm = nn.LayerNorm(hidden)
            self.head = nn.Linear(hidden, n_classes)

    def logits(self, values: torch.Tensor, tau: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        a = tau[:, None] * self.freqs.to(tau)
        step = values - torch.cat([values[:, :1], values[:, :-1]], dim=1)
        h = self.embed(torch.cat([values, step], -1)) + torch.cat([a.sin(), a.cos()], -1)
        for block in self.blocks:
            h, _ = block(h, None)
        return self.head(self.norm(gather_steps(h, last)))


#: ``SequenceClassifier(model=...)`` -> (module class, fixed keyword arguments).
MODULES: dict[str, tuple[type[SequenceClassifierModule], dict[str, Any]]] = {
    "warp": (WARPClassifierModule, {}), "gru": (RNNClassifierModule, {"cell": "gru"}),
    "lstm": (RNNClassifierModule, {"cell": "lstm"}), "transformer": (TransformerClassifierModule, {})}

__all__ = ["MODULES", "READOUTS", "RNNClassifierModule", "SequenceClassifierModule", "TransformerClassifierModule",
           "WARPClassifierModule", "gather_steps", "last_valid", "levy_area_steps"]
