"""Sequence classification: `SequenceClassifier` (WARP, GRU, LSTM, transformer), trained with
`warp_phys.training.Trainer(loss="cross_entropy")`; physics tasks generated from the systems
library (`tasks`), the UCR/UEA sets bundled with sktime (`datasets`), and checksummed files of a
fitted classifier (`save_classifier`, `load_classifier`)."""
from . import tasks
from .classifier import SequenceClassifier
from .datasets import available_ucr, load_ucr
from .persistence import load_classifier, save_classifier
from .tasks import TaskData, lorenz_chaos_labels, lorenz_regimes, spirals, system_regimes

__all__ = ["SequenceClassifier", "TaskData", "available_ucr", "load_classifier", "load_ucr", "lorenz_chaos_labels",
           "lorenz_regimes", "save_classifier", "spirals", "system_regimes", "tasks"]
