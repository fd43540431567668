"""Every tutorial runs top to bottom in fast mode, and its .ipynb matches its .py source."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
_spec = importlib.util.spec_from_file_location("tutorial_build", TUTORIALS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SOURCES = build.sources()


def test_there_are_tutorials():
    assert len(SOURCES) >= 1


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_in_sync_with_source(source):
    import nbformat

    notebook = source.with_suffix(".ipynb")
    assert notebook.exists(), f"{notebook.name} missing: run python tutorials/build.py {source.stem}"
    expected = [(c.cell_type, c.source) for c in build.load_source(source).cells]
    saved = [(c.cell_type, c.source) for c in nbformat.read(notebook, as_version=4).cells]
    assert saved == expected, f"{notebook.name} is stale: run python tutorials/build.py {source.stem}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_executes_in_fast_mode(source):
    # Any exception in a cell (including the tutorials' own asserts on metrics) fails here.
    build.execute(build.load_source(source), fast=True, timeout=120)
