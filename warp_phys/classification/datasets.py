"""Real classification sets that ship inside a package: the UCR/UEA sets bundled with sktime.

    >>> from warp_phys.classification.datasets import load_ucr
    >>> X, y = load_ucr("ItalyPowerDemand", split="train")
    >>> X.shape
    (67, 24, 1)

sktime is an optional dependency (``pip install "warp-phys[classify]"``); it is imported only
when a set is loaded. The sets are read from the files sktime installs (no download).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from warp_phys.validation import InputError

#: the bundled sets: name -> (classes, length (None: variable), variables, train size, test size)
UCR_SETS: dict[str, dict[str, Any]] = {
    "ACSF1": dict(n_classes=10, length=1460, n_variables=1, n_train=100, n_test=100),
    "ArrowHead": dict(n_classes=3, length=251, n_variables=1, n_train=36, n_test=175),
    "BasicMotions": dict(n_classes=4, length=100, n_variables=6, n_train=40, n_test=40),
    "GunPoint": dict(n_classes=2, length=150, n_variables=1, n_train=50, n_test=150),
    "ItalyPowerDemand": dict(n_classes=2, length=24, n_variables=1, n_train=67, n_test=1029),
    "JapaneseVowels": dict(n_classes=9, length=None, n_variables=12, n_train=270, n_test=370),
    "OSULeaf": dict(n_classes=6, length=427, n_variables=1, n_train=200, n_test=242),
    "PLAID": dict(n_classes=11, length=None, n_variables=1, n_train=537, n_test=537),
}
INSTALL_HINT = 'pip install "warp-phys[classify]"'


def available_ucr() -> list[str]:
    """The names ``load_ucr`` accepts."""
    return sorted(UCR_SETS)


def _resolve(name: Any) -> str:
    if isinstance(name, str):
        folded = {k.lower().replace("_", "").replace("-", ""): k for k in UCR_SETS}
        key = folded.get(name.lower().replace("_", "").replace("-", ""))
        if key is not None:
            return key
    raise InputError(f"unknown UCR/UEA set {name!r}; the sets bundled with sktime that load_ucr reads "
                     f"are {available_ucr()}")


def load_ucr(name: str, *, split: str = "train") -> tuple[Any, np.ndarray]:
    """One split of a UCR/UEA set bundled with sktime, time-major.

    name: one of ``available_ucr()`` (case, "_" and "-" ignored); split: "train" or "test" (the
    archive's own split). Returns (X, y): X a float64 array (N, T, d) for equal-length sets, or
    a list of N (T_i, d) arrays for variable-length ones (JapaneseVowels, T_i 7 to 29; PLAID,
    100 to 1344), ready
    for ``SequenceClassifier.fit``; y (N,) the archive's labels as strings.
    Raises InputError for an unknown name or split, ImportError naming the install command
    when sktime is missing.
    """
    key = _resolve(name)
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    try:
        from sktime.datasets import load_UCR_UEA_dataset
    except ImportError as err:   # pragma: no cover - depends on the environment
        raise ImportError(f"load_ucr needs sktime, which bundles the UCR/UEA sets; install it with "
                          f"{INSTALL_HINT}") from err
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if UCR_SETS[key]["length"] is None:
            frame, y = load_UCR_UEA_dataset(key, split=split, return_X_y=True, return_type="nested_univ")
            X: Any = [np.stack([np.asarray(frame.iloc[i, j], dtype=np.float64) for j in range(frame.shape[1])],
                               axis=1) for i in range(len(frame))]
        else:
            arr, y = load_UCR_UEA_dataset(key, split=split, return_X_y=True, return_type="numpy3D")
            X = np.ascontiguousarray(np.transpose(np.asarray(arr, dtype=np.float64), (0, 2, 1)))
    return X, np.asarray(y).astype(str)


__all__ = ["load_ucr", "available_ucr", "UCR_SETS"]
