"""Exponential smoothing: additive Holt (level + trend) and Holt-Winters (+ additive season).

Implemented here (statsmodels, the usual home of these models, is not a dependency of
warp_phys). Error-correction form, per variable, with y_t the observation and e_t = y_t - y_hat_t:

    y_hat_t = l_{t-1} + b_{t-1} + s_{t-m}
    l_t = l_{t-1} + b_{t-1} + alpha e_t
    b_t = b_{t-1} + beta (l_t - l_{t-1} - b_{t-1})
    s_t = s_{t-m} + gamma (y_t - l_t - s_{t-m})

Each window starts its own state: Holt from the least-squares line through its first
``INIT_STEPS`` steps (the heuristic of Hyndman et al. 2008; a linear series is then forecast
exactly), simple smoothing from l = y_0; Holt-Winters from the first two seasons (level and trend from their means,
the season from the first). alpha, beta, gamma (one set per variable) minimise the one-step
squared errors on the training windows (scipy L-BFGS-B, bounded in [0, 1]; the gradient by
forward differences, all perturbations in one vectorised pass). Shapes: x (B, T, d) normalised.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from warp_phys.validation import InputError, check_int

from .classical import SELECT_RTOL, ClassicalForecaster, SeasonalNaive, persistence_one_step, select

FD_STEP = 1e-6  # forward-difference step of the gradient (parameters live in [0, 1])
INIT_STEPS = 10  # Holt's initial level and trend: a line fitted to the first 10 steps (Hyndman et al. 2008)


def smooth(y: np.ndarray, params: np.ndarray, trend: bool, period: int | None
           ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Run the recursion on windows y (N, T, d) for K parameter sets ``params`` (K, 3, d)
    (alpha, beta, gamma). Returns the one-step predictions (K, N, T, d) (NaN before the first
    predicted step), the mean squared one-step error per set and variable (K, d) and the final
    state (level (K, N, d), trend (K, N, d), season (K, N, m, d) or None)."""
    N, T, d = y.shape
    K = params.shape[0]
    a, b, g = (params[:, j, None, :] for j in range(3))                  # (K, 1, d)
    m = period or 0
    if m:
        first, second = y[:, :m].mean(1), y[:, m:2 * m].mean(1)
        slope = (second - first) / m if trend else np.zeros_like(first)
        offsets = (np.arange(m) - (m - 1) / 2)[None, :, None]
        season = np.broadcast_to(y[:, :m] - (first[:, None] + offsets * slope[:, None]), (K, N, m, d)).copy()
        level, start = first + (m - 1) / 2 * slope, m
    elif trend:  # least-squares line through the first INIT_STEPS steps, at t = 0
        k = min(INIT_STEPS, T)
        tk = np.arange(k) - (k - 1) / 2
        slope = np.einsum("k,nkd->nd", tk, y[:, :k]) / np.sum(tk**2)
        level, season, start = y[:, :k].mean(1) - (k - 1) / 2 * slope, None, 1
    else:
        slope, level, season, start = np.zeros_like(y[:, 0]), y[:, 0], None, 1
    level = np.broadcast_to(level, (K, N, d)).copy()
    slope = np.broadcast_to(slope, (K, N, d)).copy()
    pred = np.full((K, N, T, d), np.nan)
    for t in range(start, T):
        s_old = season[:, :, t % m] if m else 0.0
        pred[:, :, t] = level + slope + s_old
        err = y[:, t] - pred[:, :, t]
        new_level = level + slope + a * err
        if trend:
            slope = slope + b * (new_level - level - slope)
        if m:
            season[:, :, t % m] = s_old + g * (y[:, t] - new_level - s_old)
        level = new_level
    with np.errstate(over="ignore", invalid="ignore"):
        mse = np.mean((pred[:, :, start:] - y[:, start:]) ** 2, axis=(1, 2)) if T > start else np.zeros((K, d))
    return pred, mse, (level, slope, season)


class ETS(ClassicalForecaster):
    """Additive exponential smoothing with fitted smoothing parameters.

    Args:
        n_variables: d.
        trend: True: Holt's linear trend; False: simple exponential smoothing (flat forecast);
            "auto" (default): the one with the lower validation forecast MSE (no trend on ties).
        seasonal: None (no season), a period m in steps (Holt-Winters; the context needs
            >= 2 m steps), or "auto" (default): the period the seasonal naive model picks on
            the validation windows, kept only when it lowers their forecast MSE.
        select_rtol: a more complex model (trend, season) must cut the validation MSE by more
            than this fraction to be chosen.
        output: "mean" only; seed: unused.

    After ``fit``: ``trend`` (bool) and ``period`` (int or None) say which model was chosen,
    ``params`` (3, d) its alpha, beta, gamma, ``val_scores`` {(trend, period): validation MSE}.
    """

    name = "ets"

    def __init__(self, n_variables: int, *, trend: bool | str = "auto", seasonal: int | str | None = "auto",
                 select_rtol: float = SELECT_RTOL, output: str = "mean", seed: int = 0) -> None:
        super().__init__(n_variables, output=output, seed=seed, select_rtol=select_rtol)
        if not (isinstance(trend, (bool, np.bool_)) or trend == "auto"):
            raise InputError(f"trend must be True (Holt), False (simple smoothing) or 'auto', got {trend!r}")
        if seasonal is not None and seasonal != "auto":
            seasonal = check_int(seasonal, "seasonal", minimum=2)
        self.trend_option = trend if trend == "auto" else bool(trend)
        self.trend, self.seasonal = trend is not False, seasonal
        self.period: int | None = None
        self.params = np.zeros((3, self.n_variables))                     # alpha, beta, gamma per variable

    @property
    def min_context(self) -> int:
        return 2 * self.period if self.period else (2 if self.trend else 1)

    def _fit_params(self, x: np.ndarray, period: int | None) -> np.ndarray:
        """(3, d) smoothing parameters minimising the one-step MSE of the windows x (N, T, d)."""
        d = self.n_variables
        active = [0] + ([1] if self.trend else []) + ([2] if period else [])

        def full(theta: np.ndarray) -> np.ndarray:
            p = np.zeros((3, d))
            p[active] = theta.reshape(len(active), d)
            return p

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            base = full(theta)
            step = np.where(base + FD_STEP > 1.0, -FD_STEP, FD_STEP)
            sets = [base] + [base + np.eye(3)[j][:, None] * step for j in active]
            mse = smooth(x, np.stack(sets), self.trend, period)[1]            # (1 + k, d)
            mse = np.where(np.isfinite(mse), mse, 1e300)
            grad = (mse[1:] - mse[:1]) / step[active]
            return float(mse[0].sum()), grad.reshape(-1)

        start = np.array([0.5, 0.1, 0.1])[active].repeat(d)
        res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * start.size)
        return full(np.clip(res.x, 0.0, 1.0))

    def _candidates(self, x: np.ndarray, x_val: np.ndarray, context: int) -> list[tuple[bool, int | None]]:
        """(trend, period) pairs to fit, simplest first; InputError when none fits the context."""
        if self.seasonal == "auto":
            period = SeasonalNaive(self.n_variables, select_rtol=self.select_rtol).fit(x, x_val, context).period
            periods = [None] + ([period] if period >= 2 and 2 * period <= min(context, x.shape[1]) else [])
        elif self.seasonal is not None and 2 * self.seasonal > min(context, x.shape[1]):
            raise InputError(f"ets with seasonal={self.seasonal} needs a context and windows of >= "
                             f"{2 * self.seasonal} steps; got context={context} and windows of {x.shape[1]}: "
                             "pass a longer context, or seasonal=None or 'auto'")
        else:
            periods = [self.seasonal]
        trends = [False, True] if self.trend_option == "auto" else [self.trend_option]
        if context < 2 and True in trends:
            if trends == [True]:
                raise InputError(f"ets with trend=True needs a context of >= 2 steps; got context={context}: "
                                 "pass a longer context or trend=False / 'auto'")
            trends = [False]
        return [(tr, p) for p in periods for tr in trends]

    def _fit(self, x: np.ndarray, x_val: np.ndarray, context: int) -> None:
        fits, self.val_scores = {}, {}
        for trend, period in self._candidates(x, x_val, context):
            self.trend, self.period = trend, period
            self.params = self._fit_params(x, period)
            fits[trend, period], self.fitted = self.params, True
            self.val_scores[trend, period] = self.val_score(x_val, context)
        self.trend, self.period = select(self.val_scores, self.select_rtol)
        self.params = fits[self.trend, self.period]

    def _one_step(self, x: np.ndarray) -> np.ndarray:
        self._need_fit()
        pred = smooth(x, self.params[None], self.trend, self.period)[0][0]
        return np.where(np.isnan(pred), persistence_one_step(x), pred)

    def _ahead(self, ctx: np.ndarray, n_ahead: int) -> np.ndarray:
        self._need_fit()
        level, slope, season = smooth(ctx, self.params[None], self.trend, self.period)[2]
        h = np.arange(1, n_ahead + 1)
        out = level[0][:, None] + h[None, :, None] * slope[0][:, None]
        if self.period:
            out = out + season[0][:, (ctx.shape[1] - 1 + h) % self.period]
        return out


__all__ = ["ETS", "smooth"]
