"""Build the tutorial notebooks from their jupytext sources.

    python tutorials/build.py            # full sizes: execute, save outputs into the .ipynb
    python tutorials/build.py --fast     # WARP_PHYS_FAST=1 sizes (what the tests run)
    python tutorials/build.py 01_quickstart --no-execute   # sync the .ipynb cells only

The ``.py`` file (percent format) is the source of truth; the ``.ipynb`` beside it is
generated, with its outputs (plots) saved so it reads well on a repository page. Each
tutorial saves one gallery figure, ``figures/NN_name.png`` (``WARP_PHYS_FIGURES`` moves
it: fast runs write theirs to a temporary folder so the gallery keeps the full-size figures).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
FAST_ENV = "WARP_PHYS_FAST"
FIGURES_ENV = "WARP_PHYS_FIGURES"
FIGURES = HERE / "figures"

# Environment of the kernel: the inline backend (figures saved as PNG in the notebook, also
# when the caller's shell sets MPLBACKEND=Agg). Progress bars need no setting: without
# ipywidgets, warp_phys.progress picks tqdm's text bar (no "IProgress not found" warning).
KERNEL_ENV = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}


def sources() -> list[Path]:
    """The tutorial sources, in reading order (NN_name.py)."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def figure_path(source: Path, figures: Path = FIGURES) -> Path:
    """The gallery figure a tutorial saves: figures/NN_name.png."""
    return figures / f"{source.stem}.png"


def load_source(path: Path) -> nbformat.NotebookNode:
    """Read a percent-format source as a notebook with the python3 kernel."""
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, *, fast: bool, timeout: int = 600,
            figures: str | os.PathLike | None = None) -> nbformat.NotebookNode:
    """Execute in a fresh kernel started in tutorials/; raises CellExecutionError on any error.

    ``figures``: where the gallery figure goes (None: tutorials/figures for full runs, a new
    temporary folder for fast runs, unless WARP_PHYS_FIGURES is set).
    """
    if figures is None:
        figures = os.environ.get(FIGURES_ENV) or (tempfile.mkdtemp(prefix="warp_phys_figures_") if fast else FIGURES)
    changes = {FAST_ENV: "1" if fast else "0", FIGURES_ENV: str(figures), **KERNEL_ENV}
    previous = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="tutorial names (default: all)")
    parser.add_argument("--fast", action="store_true", help=f"small sizes ({FAST_ENV}=1)")
    parser.add_argument("--no-execute", action="store_true", help="only sync cells, no outputs")
    args = parser.parse_args(argv)
    chosen = [p for p in sources() if not args.names or p.stem in args.names]
    if args.names and len(chosen) != len(args.names):
        known = [p.stem for p in sources()]
        parser.error(f"unknown tutorial in {args.names}; known: {known}")
    for path in chosen:
        start = time.perf_counter()
        nb = load_source(path)
        if not args.no_execute:
            execute(nb, fast=args.fast)
        target = path.with_suffix(".ipynb")
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, target)
        print(f"{path.stem}: {time.perf_counter() - start:.1f} s -> {target.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
