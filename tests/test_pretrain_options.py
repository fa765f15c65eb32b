"""numpy-bert pretrain's options that the other train tests leave alone: the optimizer
choice, the tiny preset (the shipped model's), and the default corpus."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from numpy_bert import corpus as corpus_module
from numpy_bert import optim, train
from numpy_bert.weights import load_safetensors
from tests.conftest import REPO
from tests.test_train import write_corpus


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


def test_optimizer_option_picks_the_optimizer(tmp_path, toy_corpus, monkeypatch):
    made = []
    original = train.make_optimizer

    def spy(name, params, **kwargs):
        made.append(original(name, params, **kwargs))
        return made[-1]

    monkeypatch.setattr(train, "make_optimizer", spy)
    for name, cls, eps, corrected in (("adamweightdecay", optim.AdamWeightDecay, 1e-6, False),
                                      ("adamw", optim.AdamW, 1e-8, True)):
        train.pretrain(tmp_path / name, corpus=str(toy_corpus), preset="micro", steps=3, quiet=True,
                       optimizer=name)
        opt = made[-1]
        assert type(opt) is cls and opt.eps == eps and opt.bias_correction is corrected and opt.step_count == 3
        state = json.loads((tmp_path / name / "checkpoint" / "trainer_state.json").read_text())
        assert state["settings"]["optimizer"] == name
    with pytest.raises(ValueError, match="unknown optimizer"):
        train.pretrain(tmp_path / "bad", corpus=str(toy_corpus), preset="micro", steps=3, quiet=True,
                       optimizer="sgd")


def test_cli_optimizer_adamw_changes_the_run(tmp_path, toy_corpus):
    runs = {}
    for name in ("adamweightdecay", "adamw"):
        out = subprocess.run([sys.executable, "-m", "numpy_bert", "pretrain", "--corpus", str(toy_corpus),
                              "--out", str(tmp_path / name), "--preset", "micro", "--steps", "6", "--quiet",
                              "--optimizer", name], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        runs[name] = load_safetensors(tmp_path / name / "checkpoint" / "model.safetensors")
    # same seed, same data: only the update rule differs (bias correction: AdamW's early
    # steps are larger), so the weights differ
    w = "bert.encoder.layer.0.attention.self.query.weight"
    assert np.abs(runs["adamw"][w] - runs["adamweightdecay"][w]).max() > 1e-5


def test_tiny_preset_is_the_documented_model_and_runs(tmp_path, toy_corpus):
    s = train.make_settings("tiny")
    config = train._model_config(s, s["vocab_size"])
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size,
            config.max_position_embeddings, config.vocab_size) == (128, 2, 2, 512, 128, 8000)
    assert (s["batch_size"], s["seq_len"], s["lr"], s["warmup_steps"], s["time_budget"]) == (64, 128, 1e-3, 300, 9.5)
    assert train.make_settings("tiny", steps=5)["time_budget"] is None  # an explicit step count is not cut
    # the shipped model is a tiny run: its config is the preset's (vocab as trained)
    shipped = json.loads((REPO / "weights" / "numpy-bert-tiny" / "config.json").read_text())
    assert (shipped["hidden_size"], shipped["num_hidden_layers"], shipped["num_attention_heads"],
            shipped["intermediate_size"], shipped["max_position_embeddings"]) == (128, 2, 2, 512, 128)
    # two steps of the preset itself (smaller batches, so it takes a second)
    summary = train.pretrain(tmp_path / "run", corpus=str(toy_corpus), preset="tiny", steps=2, batch_size=4,
                             quiet=True)
    assert summary["steps"] == 2
    saved = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert (saved["hidden_size"], saved["intermediate_size"], saved["max_position_embeddings"]) == (128, 512, 128)
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    assert state["settings"]["preset"] == "tiny"


def test_default_corpus_is_built_once_into_numpy_bert_home(monkeypatch):
    # corpus=None reads the default corpus, built into $NUMPY_BERT_HOME/corpus (here the
    # test's own, see conftest) and reused; one small source keeps it quick
    calls = []
    original = corpus_module.build_default_corpus

    def small(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, sources=("pydoc_topics",), **kwargs)

    monkeypatch.setattr(corpus_module, "build_default_corpus", small)
    documents = train.load_documents(None)
    path = corpus_module.default_corpus_path(sources=("pydoc_topics",))
    assert path.parent == corpus_module.Path(os.environ["NUMPY_BERT_HOME"]) / "corpus" and path.is_file()
    assert documents == corpus_module.read_corpus(path)
    assert len(documents) > 100 and all(documents)
    mtime = path.stat().st_mtime_ns
    assert train.load_documents(None) == documents and path.stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert len(calls) == 2
