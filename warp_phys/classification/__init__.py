"""Sequence classification: `SequenceClassifier` (WARP, GRU, LSTM, transformer), trained with
`warp_phys.training.Trainer(loss="cross_entropy")`; physics tasks generated from the systems
library (`tasks`) and the UCR/UEA sets bundled with sktime (`datasets`)."""
from . import tasks
from .classifier import SequenceClassifier
from .datasets import available_ucr, load_ucr
from .tasks import TaskData, lorenz_chaos_labels, lorenz_regimes, spirals, system_regimes

__all__ = ["SequenceClassifier", "TaskData", "available_ucr", "load_ucr", "lorenz_chaos_labels", "lorenz_regimes",
           "spirals", "system_regimes", "tasks"]
