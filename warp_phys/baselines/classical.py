"""Classical closed-form forecasters: seasonal naive and autoregressive (AR / VAR) models.

Not trained by gradient: ``fit(x, x_val, context)`` fits them on the training windows and
selects their order / period on the validation windows' forecast MSE after ``context`` steps
(`warp_phys.pipeline.engine.train` calls it with both; the `Trainer` then returns at once,
the models have no parameters). The scoring is `warp_phys.metrics.forecast_mse` over
`warp_phys.metrics.forecast_window`, the window `reconstruct` scores.

Shapes (normalised units, like every `SequenceModel`): x (B, T, d), tau (T,). Arithmetic is
float64 numpy; outputs come back in the input's dtype and device. ``forecast`` returns the
one-step predictions on the context, then the iterated multi-step forecast.
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import numpy as np
import torch

from warp_phys.metrics import forecast_mse, forecast_window
from warp_phys.sequence import Prediction, SequenceModel
from warp_phys.validation import InputError, check_int, check_number, check_seed

from .base import check_inputs

#: A larger order / period must cut the validation MSE by more than this fraction to be chosen.
SELECT_RTOL = 1e-3


def as_windows(x: Any, name: str, n_variables: int) -> np.ndarray:
    """``x`` (N, T >= 2, d) as a finite float64 array; InputError naming ``name`` otherwise."""
    arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != n_variables or arr.shape[1] < 2 or arr.shape[0] < 1:
        raise InputError(f"{name} must have shape (windows, time >= 2, {n_variables}); got {arr.shape}. "
                         "Add a window axis with x[None] for one series")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or inf; remove or interpolate those steps first")
    return arr


def select(scores: Mapping[Hashable, float], rtol: float) -> Hashable:
    """The first candidate (candidates in order of complexity) whose score is within
    ``rtol`` of the best finite score (ties go to the simplest)."""
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:
        raise InputError(f"every candidate diverged on the validation windows (scores {dict(scores)}); "
                         "pass the order / period explicitly")
    best = min(finite.values())
    return next(k for k, v in finite.items() if v <= best + rtol * abs(best))


class ClassicalForecaster(SequenceModel):
    """Base class: checks, the fit / forward / forecast plumbing. Subclasses implement
    ``_fit``, ``_one_step`` (B, T, d) -> (B, T, d), ``_ahead`` (B, C, d) -> (B, H, d) and
    ``min_context``. ``output`` is "mean" only (point forecasts); ``seed`` is unused
    (deterministic) and accepted for a uniform interface."""

    name = "classical"

    def __init__(self, n_variables: int, *, output: str = "mean", seed: int = 0,
                 select_rtol: float = SELECT_RTOL) -> None:
        super().__init__()
        self.n_variables = check_int(n_variables, "n_variables", minimum=1)
        if output != "mean":
            raise InputError(f"model {self.name!r} gives point forecasts: output must be 'mean', got {output!r}")
        self.seed = check_seed(seed)
        self.select_rtol = check_number(select_rtol, "select_rtol", minimum=0.0)
        self.val_scores: dict[Any, float] = {}
        self.fitted = False

    # ---- to implement ---------------------------------------------------------------
    def _fit(self, x: np.ndarray, x_val: np.ndarray, context: int) -> None:
        raise NotImplementedError

    def _one_step(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _ahead(self, ctx: np.ndarray, n_ahead: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def min_context(self) -> int:
        """The shortest context (steps) a forecast can start from."""
        return 1

    # ---- shared ---------------------------------------------------------------------
    def fit(self, x: Any, x_val: Any | None = None, context: int | None = None) -> "ClassicalForecaster":
        """Fit on training windows ``x`` (N, T, d) and select on ``x_val`` (M, T', d) (None:
        on ``x`` itself) from ``context`` steps (None: half the steps); returns self."""
        x = as_windows(x, "x", self.n_variables)
        x_val = x if x_val is None else as_windows(x_val, "x_val", self.n_variables)
        if context is None:
            context = max(1, x_val.shape[1] // 2)
        context = check_int(context, "context", minimum=1, maximum=x_val.shape[1] - 1)
        self._fit(x, x_val, context)
        self.fitted = True
        return self

    def val_score(self, x_val: np.ndarray, context: int) -> float:
        """Forecast MSE of x_val (M, T, d) over the steps after ``context`` (normalised units)."""
        pred = self._forecast_np(x_val[:, :context], x_val.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):
            return forecast_mse(x_val, pred, forecast_window(x_val.shape[1], context))

    def _forecast_np(self, ctx: np.ndarray, n_steps: int) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.concatenate([self._one_step(ctx), self._ahead(ctx, n_steps - ctx.shape[1])], axis=1)

    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None) -> Prediction:
        """Teacher-forced one-step predictions (B, T, d); ``p_force`` is ignored (closed form)."""
        check_inputs(x, tau, self.n_variables)
        return Prediction(torch.as_tensor(self._one_step(x.detach().cpu().double().numpy())).to(x))

    @torch.no_grad()
    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        """Read x_ctx (B, C, d), forecast to len(tau) steps: Prediction (B, T, d)."""
        if not isinstance(x_ctx, torch.Tensor) or x_ctx.dim() != 3 or x_ctx.shape[-1] != self.n_variables:
            raise ValueError(f"x_ctx must be a 3-D tensor (batch, n_ctx, {self.n_variables})")
        T, C = int(torch.as_tensor(tau).shape[0]), x_ctx.shape[1]
        if not 1 <= C <= T:
            raise ValueError(f"context length {C} must be in [1, {T}] (len(tau))")
        if C < self.min_context:
            raise InputError(f"model {self.name!r} as fitted needs a context of >= {self.min_context} steps, "
                             f"got context={C}; pass a longer context= (or a smaller order / period)")
        out = self._forecast_np(x_ctx.detach().cpu().double().numpy(), T)
        return Prediction(torch.as_tensor(out).to(x_ctx))

    def _need_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"model {self.name!r} is not fitted: call .fit(x_train, x_val, context) first")


def persistence_one_step(x: np.ndarray) -> np.ndarray:
    """mean[:, t] = x[:, t-1], mean[:, 0] = x[:, 0]: (B, T, d)."""
    out = x.copy()
    out[:, 1:] = x[:, :-1]
    return out


class SeasonalNaive(ClassicalForecaster):
    """x_hat[C-1+h] = x[C-1+h-P k] with the smallest k >= 1 inside the context: the last
    observed season repeated. ``period`` P (steps): given, or (None) chosen on the validation
    windows among 1..min(``max_period``, context). P = 1 is persistence."""

    name = "seasonal_naive"

    def __init__(self, n_variables: int, *, period: int | None = None, max_period: int | None = None,
                 select_rtol: float = SELECT_RTOL, output: str = "mean", seed: int = 0) -> None:
        super().__init__(n_variables, output=output, seed=seed, select_rtol=select_rtol)
        self.period = None if period is None else check_int(period, "period", minimum=1)
        self.max_period = None if max_period is None else check_int(max_period, "max_period", minimum=1)
        self.fitted = self.period is not None

    @property
    def min_context(self) -> int:
        return self.period or 1

    def _fit(self, x: np.ndarray, x_val: np.ndarray, context: int) -> None:
        if self.period is not None and self.period > context:
            raise InputError(f"period={self.period} is longer than the context ({context} steps): a season must "
                             f"be observed; pass period <= {context} or a longer context")
        fixed = self.period
        top = min(self.max_period or context, context)
        self.val_scores = {}
        for p in ([fixed] if fixed is not None else range(1, top + 1)):
            self.period, self.fitted = p, True
            self.val_scores[p] = self.val_score(x_val, context)
        self.period = int(select(self.val_scores, self.select_rtol))

    def _one_step(self, x: np.ndarray) -> np.ndarray:
        self._need_fit()
        out = persistence_one_step(x)
        P = self.period
        if x.shape[1] > P:
            out[:, P:] = x[:, :-P]
        return out

    def _ahead(self, ctx: np.ndarray, n_ahead: int) -> np.ndarray:
        self._need_fit()
        C, P = ctx.shape[1], self.period
        return ctx[:, C - P + np.arange(n_ahead) % P]


def lag_matrix(x: np.ndarray, p: int) -> np.ndarray:
    """Lags (N, T-p, p d) of x (N, T, d): block k-1 (columns (k-1)d .. kd-1) is x[:, t-k]."""
    T = x.shape[1]
    return np.concatenate([x[:, p - k:T - k] for k in range(1, p + 1)], axis=-1)


class AR(ClassicalForecaster):
    """Autoregression x_t = c + sum_{k=1..p} A_k x_{t-k}, fitted by ridge-stabilised least
    squares on every lagged step of all training windows (float64 normal equations; the
    penalty ``ridge`` times the mean diagonal of the lag Gram matrix, the intercept free).

    ``multivariate=False`` (default): one AR per variable (A_k diagonal), one common order,
    the robust classical reference on short measured series; True: a VAR(p) (A_k full, d^2 p
    coefficients). ``order`` p: given, or (None) chosen on the validation windows' iterated
    multi-step forecast MSE among 1..min(``max_order``, context). Forecasts iterate the
    one-step map on their own output.
    """

    name = "ar"

    def __init__(self, n_variables: int, *, order: int | None = None, max_order: int = 12,
                 multivariate: bool = False, ridge: float = 1e-6, select_rtol: float = SELECT_RTOL,
                 output: str = "mean", seed: int = 0) -> None:
        super().__init__(n_variables, output=output, seed=seed, select_rtol=select_rtol)
        self.order = None if order is None else check_int(order, "order", minimum=1)
        self.max_order = check_int(max_order, "max_order", minimum=1)
        if not isinstance(multivariate, (bool, np.bool_)):
            raise InputError(f"multivariate must be True (a VAR) or False (one AR per variable), got {multivariate!r}")
        self.multivariate = bool(multivariate)
        self.ridge = check_number(ridge, "ridge", minimum=0.0)
        self.weights = np.zeros((0, self.n_variables))        # (p d, d): x_t = lags @ weights + intercept
        self.intercept = np.zeros(self.n_variables)           # (d,)

    @property
    def min_context(self) -> int:
        return self.order or 1

    def coefficients(self) -> np.ndarray:
        """A (p, d, d) with x_t = c + sum_k A[k-1] @ x_{t-k} (diagonal blocks for per-variable AR)."""
        self._need_fit()
        d = self.n_variables
        return np.stack([self.weights[k * d:(k + 1) * d].T for k in range(self.order)])

    def _solve(self, x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares (weights (p d, d), intercept (d,)) of order p on windows x (N, T, d)."""
        d = self.n_variables
        X = lag_matrix(x, p).reshape(-1, p * d)
        Y = x[:, p:].reshape(-1, d)
        if self.multivariate:
            cols = [np.concatenate([X, np.ones((X.shape[0], 1))], 1)]
            targets = [Y]
        else:  # variable i reads its own lags only: columns (k-1) d + i
            cols = [np.concatenate([X[:, i::d], np.ones((X.shape[0], 1))], 1) for i in range(d)]
            targets = [Y[:, i:i + 1] for i in range(d)]
        weights, intercept = np.zeros((p * d, d)), np.zeros(d)
        for i, (A, y) in enumerate(zip(cols, targets)):
            G = A.T @ A
            n_lag = A.shape[1] - 1
            scale = float(np.mean(np.diag(G)[:n_lag]))
            reg = np.eye(A.shape[1]) * self.ridge * (scale if scale > 0 else 1.0)
            reg[-1, -1] = 0.0
            coef = np.linalg.lstsq(G + reg, A.T @ y, rcond=None)[0]        # (n_lag + 1, d or 1)
            if self.multivariate:
                weights, intercept = coef[:-1], coef[-1]
            else:
                weights[i::d, i], intercept[i] = coef[:-1, 0], coef[-1, 0]
        return weights, intercept

    def _fit(self, x: np.ndarray, x_val: np.ndarray, context: int) -> None:
        limit = min(context, x.shape[1] - 1)
        if self.order is not None and self.order > limit:
            raise InputError(f"order={self.order} needs more than {self.order} steps of context and of training "
                             f"windows; the context is {context} and the windows have {x.shape[1]} steps: pass "
                             f"order <= {limit}")
        candidates = [self.order] if self.order is not None else range(1, min(self.max_order, limit) + 1)
        fits, self.val_scores = {}, {}
        for p in candidates:
            self.order, (self.weights, self.intercept) = p, self._solve(x, p)
            fits[p] = (self.weights, self.intercept)
            self.fitted = True
            self.val_scores[p] = self.val_score(x_val, context)
        self.order = int(select(self.val_scores, self.select_rtol))
        self.weights, self.intercept = fits[self.order]

    def _one_step(self, x: np.ndarray) -> np.ndarray:
        self._need_fit()
        out, p = persistence_one_step(x), self.order
        if x.shape[1] > p:
            out[:, p:] = lag_matrix(x, p) @ self.weights + self.intercept
        return out

    def _ahead(self, ctx: np.ndarray, n_ahead: int) -> np.ndarray:
        self._need_fit()
        B, C, d = ctx.shape
        p = self.order
        buf = np.empty((B, p + n_ahead, d))
        buf[:, :p] = ctx[:, C - p:]
        for h in range(n_ahead):
            lags = buf[:, h:p + h][:, ::-1].reshape(B, p * d)               # lag 1 first
            buf[:, p + h] = lags @ self.weights + self.intercept
        return buf[:, p:]


__all__ = ["AR", "ClassicalForecaster", "SELECT_RTOL", "SeasonalNaive", "as_windows", "lag_matrix",
           "persistence_one_step", "select"]
