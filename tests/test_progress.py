"""warp_phys.progress: the notebook widget bar only where ipywidgets can draw it."""
import importlib.util
import warnings

import tqdm.auto
import tqdm.std

from warp_phys import progress


def test_text_bar_without_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    assert progress.bar_class() is tqdm.std.tqdm
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "IProgress not found" or any other warning
        bar = progress.progress_bar(total=3, disable=False, leave=False)
        bar.update(3)
        assert bar.n == 3
        bar.close()


def test_auto_bar_with_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "ipywidgets" else real(name, *a))
    assert progress.bar_class() is tqdm.auto.tqdm
