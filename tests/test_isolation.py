"""The suite's isolation from the machine (tests/conftest.py) holds."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from numpy_bert import corpus, hub



def test_every_test_has_its_own_home_and_numpy_bert_home(tmp_path_factory, _isolated_from_the_machine):
    root = _isolated_from_the_machine
    assert Path(os.environ["HOME"]) == root / "home" and Path(os.path.expanduser("~")) == root / "home"
    assert hub.cache_dir() == root / "numpy_bert"
    assert corpus.default_corpus_path().parent == root / "numpy_bert" / "corpus"
    assert Path(os.environ["XDG_CACHE_HOME"]).is_relative_to(root)
    assert tmp_path_factory.getbasetemp() in root.parents
    assert "NUMPY_BERT_DEBUG" not in os.environ


def test_subprocesses_inherit_the_isolation(_isolated_from_the_machine):
    code = "from numpy_bert import hub; import os; print(hub.cache_dir()); print(os.path.expanduser('~'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    assert out.stdout.split() == [str(_isolated_from_the_machine / "numpy_bert"),
                                  str(_isolated_from_the_machine / "home")]


def test_two_tests_do_not_share_a_home(_isolated_from_the_machine):
    marker = Path(os.environ["NUMPY_BERT_HOME"]) / "marker"
    assert not marker.exists()
    marker.parent.mkdir(parents=True)
    marker.write_text("left by a test")


test_two_tests_do_not_share_a_home_again = test_two_tests_do_not_share_a_home


def test_hypothesis_profiles():
    hypothesis = pytest.importorskip("hypothesis")
    ci = hypothesis.settings.get_profile("ci")
    assert ci.derandomize and ci.database is None
    if os.environ.get("HYPOTHESIS_PROFILE") == "ci":  # as .ci/run sets it
        assert hypothesis.settings().derandomize
        from tests.test_tokenization_properties import SETTINGS
        assert SETTINGS.derandomize and SETTINGS.max_examples == 300
