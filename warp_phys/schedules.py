"""Training schedules of the `Trainer`: teacher forcing and the rollout horizon as functions of
the (0-based) epoch k. Pure functions of their arguments, so a resumed run follows the same schedule.

Scheduled sampling (Bengio et al. 2015), ``p_force_schedule``: the teacher-forcing probability
falls from ``start`` (the Trainer's ``p_force``, 1 by default) to ``floor`` at epoch ``K`` and
stays there::

    p(k) = floor + (start - floor) * g(min(k / K, 1)),    g(0) = 1, g(1) = 0

    linear           g(u) = 1 - u
    exponential      g(u) = (exp(-a u) - exp(-a)) / (1 - exp(-a)),            a = EXP_RATE = 5
                     (falls fast early, slowly late)
    inverse_sigmoid  g(u) = (s(b (1/2 - u)) - s(-b/2)) / (s(b/2) - s(-b/2)),  b = SIGMOID_SHARPNESS = 10,
                     s the logistic function (stays near start, falls around u = 1/2, flattens at floor)

so p(0) = start and p(k) = floor exactly for every k >= K.

Rollout curriculum, ``forecast_horizon_schedule = (start, growth)``: the forecast loss at epoch k
covers ``h(k) = min(start + growth * k, full)`` steps after the context, where ``full`` is the
Trainer's ``forecast_horizon`` (or, when that is None, the steps left after the context).
"""
from __future__ import annotations

import inspect
import math
from typing import Any

from warp_phys.validation import InputError, is_integer

P_FORCE_SCHEDULES = ("linear", "exponential", "inverse_sigmoid")
EXP_RATE = 5.0
SIGMOID_SHARPNESS = 10.0
#: Keywords of the autoregressive forward that the feedback options need (WARP accepts them).
FEEDBACK_KEYWORDS = ("feedback_passes", "detach_feedback", "noise_std")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def decay(kind: str, u: float) -> float:
    """g(u) of the module docstring for u in [0, 1] (clipped): 1 at u = 0, 0 at u = 1."""
    u = min(max(float(u), 0.0), 1.0)
    if kind == "linear":
        return 1.0 - u
    if kind == "exponential":
        a = EXP_RATE
        return (math.exp(-a * u) - math.exp(-a)) / (1.0 - math.exp(-a))
    if kind == "inverse_sigmoid":
        b = SIGMOID_SHARPNESS

        def s(z: float) -> float:
            return 1.0 / (1.0 + math.exp(-z))

        return (s(b * (0.5 - u)) - s(-b / 2)) / (s(b / 2) - s(-b / 2))
    raise InputError(f"p_force_schedule={kind!r} is not one of {P_FORCE_SCHEDULES}")


def p_force_at(epoch: int, *, start: float, floor: float, kind: str | None, schedule_epochs: int) -> float:
    """Teacher-forcing probability at ``epoch``: ``start`` when ``kind`` is None, else p(k) above."""
    if kind is None:
        return start
    if epoch >= schedule_epochs:
        return floor
    g = decay(kind, epoch / schedule_epochs)
    return start if g == 1.0 else floor + (start - floor) * g


def horizon_at(epoch: int, *, horizon: int | None, schedule: tuple[int, int] | None,
               available: int | None = None) -> int | None:
    """Forecast-loss horizon at ``epoch``: ``min(start + growth * epoch, horizon, available)``
    (None entries ignored; None when all are None: to the end of the trajectory)."""
    caps = [c for c in (horizon, available) if c is not None]
    if schedule is not None:
        caps.append(schedule[0] + schedule[1] * epoch)
    return min(caps) if caps else None


def check_schedule_options(*, epochs: int, p_force: float, p_force_schedule: Any, p_force_floor: Any,
                           schedule_epochs: Any, forecast_weight: float, forecast_horizon: int | None,
                           forecast_horizon_schedule: Any, feedback_noise: Any, feedback_passes: Any,
                           detach_feedback: Any) -> tuple[int, tuple[int, int] | None]:
    """InputError (a ValueError naming the argument, its value and the fix) for bad schedule and feedback
    options of the `Trainer`. Returns (schedule_epochs resolved, forecast_horizon_schedule as a tuple)."""
    if p_force_schedule is not None and p_force_schedule not in P_FORCE_SCHEDULES:
        raise InputError(f"p_force_schedule={p_force_schedule!r} is not one of {P_FORCE_SCHEDULES}; use None "
                         "for a constant p_force")
    if not _is_number(p_force_floor) or not 0.0 <= p_force_floor <= p_force:
        raise InputError(f"p_force_floor={p_force_floor!r} must be a number in [0, p_force={p_force}] (the "
                         "schedule falls from p_force to p_force_floor)")
    if p_force_schedule is None and (p_force_floor != 0.0 or schedule_epochs is not None):
        raise InputError(f"p_force_floor={p_force_floor!r} and schedule_epochs={schedule_epochs!r} only apply "
                         f"with a p_force_schedule (one of {P_FORCE_SCHEDULES}); set one or leave them at "
                         "0.0 and None")
    if schedule_epochs is None:
        schedule_epochs = max(epochs - 1, 1)
    elif not is_integer(schedule_epochs) or schedule_epochs < 1:
        raise InputError(f"schedule_epochs={schedule_epochs!r} must be an integer >= 1 (the epoch at which "
                         "p_force reaches p_force_floor), or None for the last epoch")
    if forecast_horizon_schedule is not None:
        sch = forecast_horizon_schedule
        if (not isinstance(sch, (tuple, list)) or len(sch) != 2 or not all(is_integer(v) for v in sch)
                or sch[0] < 1 or sch[1] < 0):
            raise InputError(f"forecast_horizon_schedule={sch!r} must be a pair (start, growth) of integers, "
                             "start >= 1 steps, growth >= 0 steps per epoch")
        if forecast_weight <= 0:
            raise InputError(f"forecast_horizon_schedule={tuple(sch)} needs forecast_weight > 0 (it schedules "
                             f"the forecast loss), got forecast_weight={forecast_weight}")
        if forecast_horizon is not None and sch[0] > forecast_horizon:
            raise InputError(f"forecast_horizon_schedule starts at {sch[0]} steps, beyond forecast_horizon="
                             f"{forecast_horizon}: start at most forecast_horizon steps")
        forecast_horizon_schedule = (int(sch[0]), int(sch[1]))
    if not _is_number(feedback_noise) or feedback_noise < 0:
        raise InputError(f"feedback_noise={feedback_noise!r} must be a finite number >= 0 (std of the noise "
                         "added to fed-back predictions, normalised units)")
    if feedback_passes is not None and (not is_integer(feedback_passes) or feedback_passes < 1):
        raise InputError(f"feedback_passes={feedback_passes!r} must be an integer >= 1 (parallel feedback "
                         "passes), or None for the sequential rollout")
    if not isinstance(detach_feedback, bool):
        raise InputError(f"detach_feedback={detach_feedback!r} must be True or False")
    if feedback_passes is None and not detach_feedback:
        raise InputError("detach_feedback=False only applies with feedback_passes (the sequential rollout is "
                         "always differentiable through its feedback): set feedback_passes or leave it True")
    lowest = p_force_floor if p_force_schedule is not None else p_force
    used = {k: v for k, v in (("feedback_noise", feedback_noise), ("feedback_passes", feedback_passes))
            if v not in (0.0, None)}
    if used and lowest >= 1.0:
        raise InputError(f"{', '.join(f'{k}={v!r}' for k, v in used.items())} has no effect at p_force=1 "
                         "(teacher forcing feeds nothing back): set p_force < 1 or a p_force_schedule with "
                         "p_force_floor < 1")
    return schedule_epochs, forecast_horizon_schedule


def feedback_kwargs(model: Any, *, feedback_noise: float, feedback_passes: int | None,
                    detach_feedback: bool) -> dict[str, Any]:
    """The feedback keywords of the Trainer's training forward ({} when all are at their
    defaults); InputError when they are set and ``model.forward`` does not accept them."""
    used = [f"{k}={v!r}" for k, v, default in (("feedback_noise", feedback_noise, 0.0),
                                               ("feedback_passes", feedback_passes, None),
                                               ("detach_feedback", detach_feedback, True)) if v != default]
    if not used:
        return {}
    params = inspect.signature(model.forward).parameters
    if not (all(k in params for k in FEEDBACK_KEYWORDS)
            or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())):
        raise InputError(f"{', '.join(used)} needs a model whose forward accepts {list(FEEDBACK_KEYWORDS)} "
                         f"(WARP); {type(model).__name__}.forward does not: leave feedback_noise=0, "
                         "feedback_passes=None, detach_feedback=True")
    return {"feedback_passes": feedback_passes, "detach_feedback": detach_feedback, "noise_std": feedback_noise}


__all__ = ["EXP_RATE", "FEEDBACK_KEYWORDS", "P_FORCE_SCHEDULES", "SIGMOID_SHARPNESS", "check_schedule_options",
           "decay", "feedback_kwargs", "horizon_at", "p_force_at"]
