"""Sequence classification: `SequenceClassifier` (WARP, GRU, LSTM, transformer), trained with
`warp_phys.training.Trainer(loss="cross_entropy")`; physics tasks generated from the systems
library (`tasks`), the UCR/UEA sets bundled with sktime (`datasets`), and checksummed files of a
fitted classifier (`save_classifier`, `load_classifier`); seed ensembles that share one
training budget (`SeedEnsembleClassifier`); the training length chosen by k-fold
cross-validation for small sets (`model_selection`: `fit_cross_validated`)."""
from . import tasks
from .classifier import SequenceClassifier
from .datasets import available_ucr, load_ucr
from .ensemble import SeedEnsembleClassifier
from .model_selection import EpochSelection, fit_cross_validated, select_epochs, stratified_folds
from .persistence import load_classifier, save_classifier
from .tasks import TaskData, lorenz_chaos_labels, lorenz_regimes, spirals, system_regimes

__all__ = ["EpochSelection", "SeedEnsembleClassifier", "SequenceClassifier", "TaskData", "available_ucr",
           "fit_cross_validated", "load_classifier", "load_ucr", "lorenz_chaos_labels", "lorenz_regimes",
           "save_classifier", "select_epochs", "spirals", "stratified_folds", "system_regimes", "tasks"]
