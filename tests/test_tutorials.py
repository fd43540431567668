"""Every tutorial runs top to bottom in fast mode and saves its gallery figure; its .ipynb
matches its .py source and carries the saved outputs of a full run."""
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
    assert len(SOURCES) >= 6


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_in_sync_with_source(source):
    import nbformat

    notebook = source.with_suffix(".ipynb")
    assert notebook.exists(), f"{notebook.name} missing: run python tutorials/build.py {source.stem}"
    expected = [(c.cell_type, c.source) for c in build.load_source(source).cells]
    saved = [(c.cell_type, c.source) for c in nbformat.read(notebook, as_version=4).cells]
    assert saved == expected, f"{notebook.name} is stale: run python tutorials/build.py {source.stem}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_has_saved_outputs_and_figure(source):
    """The committed notebook was executed (every code cell ran, plots embedded) and its
    gallery figure is in tutorials/figures."""
    import nbformat

    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    not_run = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not not_run, f"code cells {not_run} of {source.stem}.ipynb have no outputs: run python tutorials/build.py {source.stem}"
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert images >= 1, f"{source.stem}.ipynb has no embedded figure"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert build.figure_path(source).is_file(), f"gallery figure {build.figure_path(source).name} missing"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_executes_in_fast_mode(source, tmp_path):
    # Any exception in a cell (including the tutorials' own asserts on physical numbers)
    # fails here. Figures go to tmp_path so the gallery keeps the full-size ones.
    build.execute(build.load_source(source), fast=True, timeout=900, figures=tmp_path)
    assert build.figure_path(source, tmp_path).stat().st_size > 10_000, "the tutorial should save its figure"
