"""Sequence classification: `SequenceClassifier` (WARP, GRU, LSTM, transformer), trained with
`warp_phys.training.Trainer(loss="cross_entropy")`."""
from .classifier import SequenceClassifier

__all__ = ["SequenceClassifier"]
