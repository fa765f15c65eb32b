"""Build the teaching notebooks from their readable sources in notebooks/src/.

Each notebook is written as a plain Python file in the "percent" format, so it can
be read, diffed and reviewed like any other code:

    # %% [markdown]
    # # A title
    # Some *Markdown* text, each line prefixed with "# ".

    # %%
    x = 1 + 1          # a code cell

    # %% tags=["check"]
    print(round(x, 4))  # a cell whose text output the tests compare after re-running

This script turns ``src/NN_name.py`` into ``NN_name.ipynb`` (without outputs).
``run_notebooks.py`` builds and then executes them, writing the outputs in place.

    python notebooks/build_notebooks.py            # all notebooks, no outputs
"""

import json
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parent
SOURCE_DIR = NOTEBOOKS_DIR / "src"

_CELL_MARKER = re.compile(r"^# %%(?P<kind> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def source_files():
    """The notebook sources, in reading order: src/01_*.py, src/02_*.py, ..."""
    return sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))


def notebook_path(source):
    """src/01_tokenization.py -> notebooks/01_tokenization.ipynb"""
    return NOTEBOOKS_DIR / (Path(source).stem + ".ipynb")


def parse_cells(text):
    """Split percent-format text into a list of (kind, tags, source) triples."""
    cells = []
    kind, tags, lines = None, [], []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            # "# text" -> "text"; a bare "#" is an empty Markdown line
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                             for line in body.split("\n"))
        cells.append((kind, tags, body))

    for line in text.split("\n"):
        match = _CELL_MARKER.match(line)
        if match:
            flush()
            kind = "markdown" if match.group("kind") else "code"
            tags = json.loads(match.group("tags")) if match.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build_notebook(source):
    """The nbformat notebook (no outputs) described by one source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, tags, body) in enumerate(parse_cells(Path(source).read_text(encoding="utf-8"))):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = list(tags)
        # stable ids keep diffs of the committed notebooks small
        cell["id"] = f"cell-{index:03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:])
    for source in source_files():
        if names and not any(name in source.stem for name in names):
            continue
        nb = build_notebook(source)
        nbformat.write(nb, notebook_path(source))
        print(f"built {notebook_path(source).relative_to(NOTEBOOKS_DIR.parent)} (no outputs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
