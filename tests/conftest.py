"""Fixtures shared by the test files."""
from __future__ import annotations

import pytest
from hypothesis import settings

# Property tests draw their examples from a fixed seed: the same examples on every run and machine,
# so CI cannot pass or fail by chance (examples a random run found are pinned with @example).
settings.register_profile("deterministic", derandomize=True)
settings.load_profile("deterministic")


def _fail(*args, **kwargs):
    raise AssertionError("expensive work (simulation, windowing or training) started before the bad input was caught")


@pytest.fixture
def guarded(monkeypatch):
    """Any simulation, window cutting or training fails the test: the input checks must fire first."""
    from warp_phys import workflow
    from warp_phys.pipeline import jobs
    from warp_phys.systems.base import System
    from warp_phys.systems.fluids._field import FieldSystem

    for name in ("system_splits", "field_splits", "series_splits"):
        monkeypatch.setattr(jobs, name, _fail)
    monkeypatch.setattr(workflow, "run", _fail)
    monkeypatch.setattr(System, "simulate", _fail)
    monkeypatch.setattr(FieldSystem, "simulate", _fail)
