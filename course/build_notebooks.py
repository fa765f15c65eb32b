"""Build the course's notebooks from their readable sources in course/src/.

Each notebook is a plain Python file in the "percent" format (as notebooks/src/ has)::

    # %% [markdown]
    # # A title
    # Markdown, each line prefixed with "# ".

    # %%
    x = 1 + 1          # a code cell

``src/a1_tokenization.py`` becomes ``a1_tokenization/a1_tokenization.ipynb`` (no outputs),
next to the exercises file it imports. Written answers go in Markdown cells between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``; ``numpy-bert course student``
replaces them. The notebook JSON is written directly (nbformat 4.5), so building needs
nothing beyond the standard library:

    python course/build_notebooks.py
"""

import json
import re
import sys
from pathlib import Path

COURSE_DIR = Path(__file__).resolve().parent
_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")


def parse_cells(text):
    """Percent-format text -> list of (kind, source)."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.split("\n"))
        cells.append((kind, body))

    for line in text.split("\n"):
        match = _MARKER.match(line)
        if match:
            flush()
            kind, lines = ("markdown" if match.group("markdown") else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build_notebook(source):
    """The notebook (a dict in nbformat 4.5's layout, without outputs) of one source file."""
    cells = []
    for index, (kind, body) in enumerate(parse_cells(Path(source).read_text(encoding="utf-8"))):
        cell = {"cell_type": kind, "id": f"cell-{index:03d}", "metadata": {},
                "source": body.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}


def main(argv=None):
    names = argv if argv is not None else sys.argv[1:]
    for source in sorted((COURSE_DIR / "src").glob("a[0-9]_*.py")):
        if names and not any(name in source.stem for name in names):
            continue
        target = COURSE_DIR / source.stem / (source.stem + ".ipynb")
        target.write_text(json.dumps(build_notebook(source), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"built {target.relative_to(COURSE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
