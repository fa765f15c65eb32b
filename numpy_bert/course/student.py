"""Write the student version of the course: the solution version with its solutions taken out.

The solution version (the repository's ``course/``) marks what a student writes with
nbgrader's markers. In a ``.py`` file or a notebook's code cell::

    def gelu_forward(x):
        \"\"\"out = x Phi(x) ...\"\"\"
        ### BEGIN SOLUTION
        # HINT: Phi(x) = 0.5 (1 + erf(x / sqrt 2)); erf is imported above
        ...the solution...
        ### END SOLUTION

becomes, in the student version, the same function with the region replaced by one line at
the region's indentation::

        raise NotImplementedError("Phi(x) = 0.5 (1 + erf(x / sqrt 2)); erf is imported above")

(the ``# HINT:`` line is optional; without it the message is "write this part"). In a
notebook's Markdown cell, a written answer between ``<!-- BEGIN SOLUTION -->`` and
``<!-- END SOLUTION -->`` becomes "*Your answer here.*". Every cell's outputs and execution
counts are cleared. The hidden checks (``numpy_bert/course/checks``) are not part of the
course directory and never travel.

    write_student_version("course", "handout")      # or: numpy-bert course student handout
"""

import json
import os
import re
import shutil
from pathlib import Path

from numpy_bert.utils import atomic_write

__all__ = ["strip_solutions", "strip_markdown_answers", "student_notebook", "solution_regions",
           "write_student_version", "ANSWER_PLACEHOLDER"]

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
_END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
_HINT = re.compile(r"^[ \t]*# HINT:[ \t]?(?P<hint>.*)$")
_ANSWER = re.compile(r"<!--\s*BEGIN SOLUTION\s*-->.*?<!--\s*END SOLUTION\s*-->", re.DOTALL)
ANSWER_PLACEHOLDER = "*Your answer here.*"
DEFAULT_HINT = "write this part"

# what a student version holds: the manifest and, in each assignment directory, its files
# except the notebook sources and caches
_SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints", "src"}
_SKIPPED_FILES = {"build_notebooks.py"}


def solution_regions(text, where="text"):
    """The solution regions of ``text``: a list of ``(first line, last line, indent, hint, body
    lines)`` (line numbers of the BEGIN and END markers, from 0). Raises ValueError, naming
    ``where`` and the line, for a BEGIN without an END, an END without a BEGIN, or nesting."""
    lines = text.split("\n")
    regions = []
    start = None
    for number, line in enumerate(lines):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if start is not None:
                raise ValueError(f"{where}, line {number + 1}: BEGIN SOLUTION inside the region opened at "
                                 f"line {start + 1}; close that one first with ### END SOLUTION")
            start, indent = number, begin.group("indent")
        elif end:
            if start is None:
                raise ValueError(f"{where}, line {number + 1}: END SOLUTION without a BEGIN SOLUTION")
            body = lines[start + 1:number]
            hint = DEFAULT_HINT
            if body and _HINT.match(body[0]):
                hint = _HINT.match(body[0]).group("hint").strip() or DEFAULT_HINT
                body = body[1:]
            regions.append((start, number, indent, hint, body))
            start = None
    if start is not None:
        raise ValueError(f"{where}, line {start + 1}: BEGIN SOLUTION is never closed; add ### END SOLUTION")
    return regions


def strip_solutions(text, where="text"):
    """Replace each solution region of ``text`` (Python source) by
    ``raise NotImplementedError("<hint>")`` at the region's indentation."""
    lines = text.split("\n")
    out, previous = [], 0
    for start, end, indent, hint, _ in solution_regions(text, where):
        out += lines[previous:start]
        out.append(f"{indent}raise NotImplementedError({json.dumps(hint, ensure_ascii=False)})")
        previous = end + 1
    out += lines[previous:]
    return "\n".join(out)


def strip_markdown_answers(text):
    """Replace each ``<!-- BEGIN SOLUTION --> ... <!-- END SOLUTION -->`` by the placeholder."""
    return _ANSWER.sub(ANSWER_PLACEHOLDER, text)


def _cell_text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def student_notebook(notebook, where="notebook"):
    """The student version of a notebook (a dict in nbformat 4's JSON layout): solution
    regions of code cells stubbed out, answers of Markdown cells replaced, outputs cleared."""
    notebook = json.loads(json.dumps(notebook))  # a deep copy
    for index, cell in enumerate(notebook.get("cells", [])):
        text = _cell_text(cell)
        if cell.get("cell_type") == "code":
            cell["source"] = strip_solutions(text, f"{where}, cell {index}")
            cell["outputs"] = []
            cell["execution_count"] = None
        elif cell.get("cell_type") == "markdown":
            cell["source"] = strip_markdown_answers(text)
        else:
            cell["source"] = text
        cell.get("metadata", {}).pop("execution", None)
    return notebook


def _write_text(path, text):
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_student_version(course_dir, out_dir):
    """Write the student version of ``course_dir`` (with its ``manifest.json``) into
    ``out_dir``, which must not exist or be empty. Returns the list of files written
    (relative paths)."""
    course_dir, out_dir = Path(course_dir), Path(out_dir)
    if not (course_dir / "manifest.json").is_file():
        raise OSError(f"{course_dir} has no manifest.json: give the course's solution directory "
                      f"(the repository's course/)")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OSError(f"{out_dir} already exists and is not an empty directory; choose a new directory "
                      f"(the student version is never written over other files)")
    if out_dir.resolve() == course_dir.resolve() or course_dir.resolve() in out_dir.resolve().parents:
        raise ValueError(f"{out_dir} is inside the course directory {course_dir}; write the student "
                         f"version somewhere else")
    written = []
    for root, dirs, files in os.walk(course_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        relative_root = Path(root).relative_to(course_dir)
        for name in sorted(files):
            if name in _SKIPPED_FILES or name.startswith(".") or name.endswith(".pyc"):
                continue
            source, relative = Path(root) / name, relative_root / name
            target = out_dir / relative
            if name.endswith(".py"):
                _write_text(target, strip_solutions(source.read_text(encoding="utf-8"), str(relative)))
            elif name.endswith(".ipynb"):
                notebook = json.loads(source.read_text(encoding="utf-8"))
                _write_text(target, json.dumps(student_notebook(notebook, str(relative)), indent=1,
                                               ensure_ascii=False) + "\n")
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            written.append(str(relative))
    return written
