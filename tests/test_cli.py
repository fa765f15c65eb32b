"""The pipeline commands of ``numpy-bert`` run as a user runs them: in a subprocess.

Good input prints a table (or exactly the pipeline's output with --json) and exits 0;
each kind of bad input prints one line on stderr, no traceback, and exits non-zero.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from numpy_bert import hub
from tests.conftest import FIXTURES, REPO

MODEL_DIR = FIXTURES / "pipeline" / "model"
EXPECTED = json.loads((FIXTURES / "pipeline" / "expected.json").read_text(encoding="utf-8"))


def numpy_bert(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "numpy_bert", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env=full_env, timeout=120)


def assert_clean_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_fill_mask_table():
    case = next(c for c in EXPECTED["fill_mask"] if c["name"] == "single")
    result = numpy_bert("fill-mask", case["inputs"], "--model", MODEL_DIR)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "using the model in tests/fixtures/pipeline/model"
    assert lines[1].split() == ["score", "token", "token_str", "sequence"]
    assert len(lines) == 2 + 5
    for line, want in zip(lines[2:], case["output"]):
        score, token, token_str, *_ = line.split()
        assert (int(token), token_str) == (want["token"], want["token_str"])
        assert abs(float(score) - want["score"]) <= 6e-5
        assert line.endswith(want["sequence"])


def test_fill_mask_json_is_what_the_pipeline_returns():
    case = next(c for c in EXPECTED["fill_mask"] if c["name"] == "targets")
    args = ["fill-mask", case["inputs"], "--model", MODEL_DIR, "--top-k", "3", "--json",
            "--targets", *case["kwargs"]["targets"]]
    result = numpy_bert(*args)
    assert result.returncode == 0, result.stderr
    from numpy_bert import pipeline

    in_process = pipeline("fill-mask", model=MODEL_DIR)(case["inputs"], top_k=3, targets=case["kwargs"]["targets"])
    assert json.loads(result.stdout) == in_process  # exactly, floats included
    assert [r["token"] for r in in_process] == [r["token"] for r in case["output"][:3]]
    assert "using the model in" in result.stderr  # the model line stays off stdout


def test_fill_mask_several_masks_table():
    result = numpy_bert("fill-mask", "The [MASK] sat on the [MASK].", "--model", MODEL_DIR, "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert "[MASK] 1 of 2:" in result.stdout and "[MASK] 2 of 2:" in result.stdout


def test_embed_and_nsp():
    result = numpy_bert("embed", "Replace me by any text you'd like.", "--model", MODEL_DIR)
    assert result.returncode == 0, result.stderr
    assert "shape (1, 12, 12)" in result.stdout and "[CLS]" in result.stdout
    result = numpy_bert("embed", "Short.", "--model", MODEL_DIR, "--json")
    assert result.returncode == 0, result.stderr
    want = next(c for c in EXPECTED["feature_extraction"] if c["text"] == "Short.")["output"]
    got = json.loads(result.stdout)
    assert len(got) == 1 and len(got[0]) == len(want[0]) and len(got[0][0]) == 12
    # the values themselves: transformers' hidden states, within float32 rounding (as
    # test_pipelines' feature-extraction check) and the JSON's decimal printing
    np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-5, rtol=0)
    case = EXPECTED["next_sentence"][0]
    result = numpy_bert("nsp", case["a"], case["b"], "--model", MODEL_DIR)
    assert result.returncode == 0, result.stderr
    assert f"P(IsNext) = {case['is_next']:.4f}" in result.stdout


def test_no_model_argument_says_which_model_it_used(tmp_path):
    result = numpy_bert("fill-mask", "Hello I'm a [MASK] model.", env={"NUMPY_BERT_HOME": str(tmp_path)})
    if (REPO / "weights" / "bert-base-cased" / "model.safetensors").is_file():
        assert result.returncode == 0 and result.stdout.startswith("using bert-base-cased from")
    elif hub.SHIPPED_MODEL_DIR.is_dir():
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == (
            "using the small model shipped in weights/numpy-bert-tiny "
            "(bert-base-cased is not downloaded: numpy-bert download bert-base-cased)")
    else:
        assert_clean_error(result, "numpy-bert download bert-base-cased")


@pytest.mark.parametrize("args,fragments", [
    (["fill-mask", "No mask in here.", "--model", MODEL_DIR], ["no [MASK] token"]),
    (["fill-mask", "word " * 600 + "[MASK]", "--model", MODEL_DIR], ["603 tokens long", "512"]),
    (["fill-mask", "", "--model", MODEL_DIR], ["empty"]),
    (["fill-mask", "a [MASK].", "--model", "no-such-bert"], ["unknown model 'no-such-bert'",
                                                             "numpy-bert download bert-base-cased"]),
    (["fill-mask", "a [MASK].", "--model", MODEL_DIR, "--top-k", "0"], ["top_k"]),
    (["embed", "", "--model", MODEL_DIR], ["empty"]),
    (["nsp", "One sentence.", "", "--model", MODEL_DIR], ["sentence B is empty"]),
], ids=["no-mask", "too-long", "empty", "unknown-model", "top-k-0", "embed-empty", "nsp-empty"])
def test_bad_input_is_one_clear_line(args, fragments):
    assert_clean_error(numpy_bert(*args), *fragments)


def test_model_dir_missing_a_file(tmp_path):
    for f in ("config.json", "model.safetensors"):
        (tmp_path / f).write_bytes((MODEL_DIR / f).read_bytes())
    assert_clean_error(numpy_bert("fill-mask", "a [MASK].", "--model", tmp_path), "missing vocab.txt")


def test_help_has_an_example():
    result = numpy_bert("fill-mask", "--help")
    assert result.returncode == 0
    assert 'numpy-bert fill-mask "Hello I\'m a [MASK] model."' in result.stdout


def test_version():
    from numpy_bert import __version__

    result = numpy_bert("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"numpy_bert {__version__}"
    assert __version__ and __version__[0].isdigit()


def test_numpy_bert_debug_shows_the_traceback():
    args = ["fill-mask", "No mask in here.", "--model", MODEL_DIR]
    assert_clean_error(numpy_bert(*args), "no [MASK] token")
    debug = numpy_bert(*args, env={"NUMPY_BERT_DEBUG": "1"})
    assert debug.returncode != 0
    assert debug.stderr.startswith("Traceback") and "ValueError" in debug.stderr and "no [MASK] token" in debug.stderr


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    from numpy_bert import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_gradcheck", interrupted)
    assert cli.main(["gradcheck"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_in_a_subprocess_exits_130(tmp_path):
    import signal
    import time

    # a pretraining run long enough to be interrupted, on a corpus of its own
    from tests.test_train import write_corpus

    corpus = write_corpus(tmp_path / "corpus.txt")
    proc = subprocess.Popen([sys.executable, "-m", "numpy_bert", "pretrain", "--corpus", str(corpus), "--out",
                             str(tmp_path / "run"), "--preset", "micro", "--steps", "100000", "--quiet"],
                            cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not metrics.is_file():
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
