"""Progress bars: tqdm's notebook widget where it can be drawn, its text bar elsewhere.

``tqdm.auto`` picks the widget in Jupyter, but without ipywidgets installed it warns
"IProgress not found" on every bar before falling back to text; here the text bar is chosen
up front in that case, silently.
"""
from __future__ import annotations

import importlib.util
from typing import Any


def bar_class() -> type:
    """The tqdm class to use: ``tqdm.auto.tqdm`` when ipywidgets is importable, else ``tqdm.std.tqdm``."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(**kwargs: Any):
    """A tqdm bar (keyword arguments as tqdm's: total, desc, disable, ...)."""
    return bar_class()(**kwargs)
