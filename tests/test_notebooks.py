"""The teaching notebooks run top to bottom and their committed outputs are current.

For every notebook in notebooks/ (built from notebooks/src/):
- the committed .ipynb holds the cells its source describes, every code cell executed;
- a fresh execution raises no error and writes nothing to stderr (where warnings go);
- the text outputs of cells tagged "check" (rounded numbers, comparison tables) equal
  the committed ones, so a notebook whose outputs came from older code fails here.
  Refresh them with: python notebooks/run_notebooks.py

Needs the optional extra (pip install -e ".[notebooks]"); skipped without it.

The kernels inherit the test's isolated environment (tests/conftest.py): a notebook that
builds the default corpus builds it in that test's own $NUMPY_BERT_HOME, never in
~/.cache/numpy_bert.
"""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

for _module in ("nbclient", "nbformat", "ipykernel"):
    pytest.importorskip(_module, reason=f"the notebook tests need {_module}: pip install -e '.[notebooks]'")

import nbformat  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
sys.path.insert(0, str(NOTEBOOKS_DIR))
from build_notebooks import build_notebook, notebook_path, source_files  # noqa: E402
from run_notebooks import cell_text, execute, problems  # noqa: E402

SOURCES = source_files()
_REQUIRES = re.compile(r"^# requires: (?P<module>[\w.]+)(?: \((?P<why>.*)\))?$", re.M)


def _skip_unless_requirements(source):
    """A source may start with '# requires: module (install hint)' lines."""
    for match in _REQUIRES.finditer(source.read_text(encoding="utf-8")):
        if importlib.util.find_spec(match.group("module")) is None:
            pytest.skip(f"{source.name} needs {match.group('module')}: {match.group('why') or ''}")


_executed = {}


def executed(source):
    """The notebook built from ``source``, freshly executed (once per test session)."""
    if source not in _executed:
        _skip_unless_requirements(source)
        _executed[source] = execute(build_notebook(source))
    return _executed[source]


def committed(source):
    path = notebook_path(source)
    assert path.is_file(), f"{path.name} is not committed: run python notebooks/run_notebooks.py"
    return nbformat.read(path, as_version=4)


def test_there_are_eight_notebooks():
    names = [source.stem for source in SOURCES]
    assert names == ["01_tokenization", "02_forward_pass", "03_backward_pass",
                     "04_pretraining", "05_using_bert", "06_exercises", "07_finetuning",
                     "08_looking_inside"], names


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_notebook_matches_its_source_and_was_executed(source):
    built, saved = build_notebook(source), committed(source)
    assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in saved.cells] == \
        [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in built.cells], \
        f"{source.name} changed since {notebook_path(source).name} was written: " \
        "run python notebooks/run_notebooks.py"
    not_run = [i for i, c in enumerate(saved.cells) if c.cell_type == "code" and c.execution_count is None]
    assert not not_run, f"cells {not_run} of {notebook_path(source).name} were never executed"
    assert problems(saved) == []


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_runs_cleanly_and_check_outputs_are_current(source):
    fresh, saved = executed(source), committed(source)
    assert problems(fresh) == [], f"{source.name} fails or warns when executed"
    checks = [i for i, c in enumerate(fresh.cells) if "check" in c.metadata.get("tags", [])]
    assert checks, f"{source.name} has no cell tagged 'check'"
    for index in checks:
        assert cell_text(fresh.cells[index]) == cell_text(saved.cells[index]), (
            f"cell {index} of {notebook_path(source).name} prints something else now: "
            "the committed outputs are stale; run python notebooks/run_notebooks.py")
    # every figure made it into the committed notebook as a PNG
    for index, (a, b) in enumerate(zip(fresh.cells, saved.cells)):
        pngs = [sum("image/png" in o.get("data", {}) for o in c.get("outputs", [])) for c in (a, b)]
        assert pngs[0] == pngs[1], f"cell {index}: {pngs[0]} figure(s) now, {pngs[1]} committed"


# ---------------------------------------------------------------------------------------
# 06_exercises: the students' cells start as stubs; the check cells must tell a right
# answer from a wrong one without ever raising. The reference solutions live here, not in
# the notebook.

SOLUTIONS = {
    "gelu_backward": '''
def gelu_backward(dout, x):
    out, cache = layers.gelu_forward(x)
    return layers.gelu_backward(dout, cache)
''',
    "layer_norm_backward": '''
def layer_norm_backward(dout, x, weight, bias):
    out, cache = layers.layer_norm_forward(x, weight, bias, EPS)
    return layers.layer_norm_backward(dout, cache)
''',
    "softmax_backward": '''
def softmax_backward(dout, z):
    p, _ = layers.softmax_forward(z)
    return p * (dout - (dout * p).sum(-1, keepdims=True))
''',
    "attention_backward": '''
def attention_backward(dcontext, q, k, v):
    scale = 1 / np.sqrt(q.shape[-1])
    p, _ = layers.softmax_forward(q @ k.T * scale)
    dv = p.T @ dcontext
    dp = dcontext @ v.T
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return ds @ k * scale, ds.T @ q * scale, dv
''',
}

# plausible mistakes: a forgotten term, a missing transpose, a wrong sign
MISTAKES = {
    "gelu_backward": "def gelu_backward(dout, x):\n    return dout * 0.5 * (1 + layers.erf(x / np.sqrt(2)))\n",
    "layer_norm_backward": '''
def layer_norm_backward(dout, x, weight, bias):
    r = 1 / np.sqrt(x.var(-1, keepdims=True) + EPS)
    xhat = (x - x.mean(-1, keepdims=True)) * r
    return dout * weight * r, (dout * xhat).reshape(-1, x.shape[-1]).sum(0), dout.reshape(-1, x.shape[-1]).sum(0)
''',
    "softmax_backward": "def softmax_backward(dout, z):\n    p, _ = layers.softmax_forward(z)\n    return p * dout\n",
    "attention_backward": '''
def attention_backward(dcontext, q, k, v):
    scale = 1 / np.sqrt(q.shape[-1])
    p, _ = layers.softmax_forward(q @ k.T * scale)
    dp = dcontext @ v.T
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return ds @ k * scale, ds @ q * scale, p @ dcontext
''',
}


def _exercise_notebook(replacements):
    source = next(s for s in SOURCES if s.stem == "06_exercises")
    _skip_unless_requirements(source)
    nb = build_notebook(source)
    exercises = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    names = [re.search(r"def (\w+)\(", c.source).group(1) for c in exercises]
    assert sorted(names) == sorted(SOLUTIONS), names
    for cell, name in zip(exercises, names):
        cell.source = replacements[name]
    execute(nb)
    assert problems(nb) == []
    return [cell_text(c) for c in nb.cells if "check" in c.metadata.get("tags", [])]


def test_exercise_checks_say_not_yet_correct_for_the_stubs():
    source = next(s for s in SOURCES if s.stem == "06_exercises")
    for nb in (executed(source), committed(source)):
        texts = [cell_text(c) for c in nb.cells if "check" in c.metadata.get("tags", [])]
        assert len(texts) == 4
        for text in texts:
            assert "not yet correct" in text, text


def test_exercise_checks_accept_right_answers_and_reject_plausible_mistakes():
    right = _exercise_notebook(SOLUTIONS)
    for text in right:
        assert ": correct" in text and "not yet" not in text and "WRONG" not in text, text
    wrong = _exercise_notebook(MISTAKES)
    for text in wrong:
        assert "not yet correct" in text and "WRONG" in text, text
