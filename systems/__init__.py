"""The library of dynamical systems (installed as warp_phys.systems).

    >>> from warp_phys.systems import get, available
    >>> lorenz = get("lorenz", rho=28.0)
    >>> ds = lorenz.simulate(64, (0.0, 10.0), 1000, params="train", seed=0)
"""
from .base import System
from .budget import DEFAULT_MAX_STEPS, SimulationError, SolverBudgetError
from .dataset import build_dataset, ds_params_tensor, trajectories_to_tensor
from .lorenz import Lorenz63, Lorenz96
from .observation import observation_scale, observe
from .oscillators import Duffing, MassSpringDamper, VanDerPol
from .pendulums import DoublePendulum, Pendulum
from .population import LotkaVolterra
from .registry import ODE_SYSTEMS, aliases, available, get, resolve_name, system_classes
from .sine import Sine
from .spec import TASKS, Parameter, Protocol, TimeGrid, Variable
from .tasks import SegmentTask, minmax_bounds, minmax_scale, segment_repeat

__all__ = [
    "Parameter", "Protocol", "System", "TimeGrid", "Variable", "SimulationError",
    "SolverBudgetError", "DEFAULT_MAX_STEPS",
    "available", "get", "aliases", "resolve_name", "system_classes", "ODE_SYSTEMS",
    "build_dataset", "trajectories_to_tensor", "ds_params_tensor",
    "Lorenz63", "Lorenz96", "Pendulum", "DoublePendulum", "MassSpringDamper", "LotkaVolterra",
    "VanDerPol", "Duffing", "Sine",
    "TASKS", "SegmentTask", "segment_repeat", "minmax_bounds", "minmax_scale",
    "observe", "observation_scale",
]
