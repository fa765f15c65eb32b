"""Tests of numpy_bert.train (``numpy-bert pretrain``): files, determinism, resume, bad input.

Every run here uses the ``micro`` preset (hidden 32, 2 layers, seq 32, batch 8) on a
small synthetic corpus written to a temporary directory, so a run takes a second or two.
"""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numpy_bert.train import WALL_CLOCK_FIELDS, TrainingDiverged, pretrain, read_metrics

REPO = Path(__file__).resolve().parent.parent

TOPICS = [
    "river water boat fish bridge shore current bank stream flood",
    "planet star orbit moon telescope light galaxy comet space sun",
    "bread flour oven butter salt yeast dough crust baker loaf",
    "train station ticket rail platform engine track carriage journey passenger",
    "piano note chord melody song rhythm concert singer tune band",
    "garden flower seed soil rain leaf tree root plant spring",
    "castle king queen knight tower wall sword crown guard gate",
    "doctor patient fever medicine nurse clinic pain health cure wound",
]


def write_corpus(path, n_documents=16, sentences=(4, 9), seed=0):
    """Documents of short sentences, each document about one topic (so NSP is learnable)."""
    rng = np.random.default_rng(seed)
    glue = "the a of and to in is was with for".split()
    lines = []
    for d in range(n_documents):
        words = TOPICS[d % len(TOPICS)].split()
        for _ in range(int(rng.integers(*sentences))):
            n = int(rng.integers(5, 12))
            sentence = " ".join(str(rng.choice(words if rng.random() < 0.6 else glue)) for _ in range(n))
            lines.append(sentence.capitalize() + ".")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


def run(out, corpus, **kw):
    kw.setdefault("steps", 12)
    return pretrain(out, corpus=str(corpus), preset="micro", quiet=True, **kw)


def without_wall_clock(records):
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK_FIELDS} for r in records]


def _record_training_calls(monkeypatch):
    """Each training step's (MLM loss, NSP loss, MLM correct, masked, NSP correct, pairs)."""
    from numpy_bert.model import BertForPreTraining

    original, steps = BertForPreTraining.loss_and_grads, []

    def recording(self, input_ids, token_type_ids=None, attention_mask=None, labels=None,
                  next_sentence_label=None, return_details=False):
        result = original(self, input_ids, token_type_ids, attention_mask, labels, next_sentence_label, True)
        if self.training:
            d, targets = result[2], labels[labels != -100]
            steps.append((d["mlm_loss"], d["nsp_loss"], int((d["mlm_logits"].argmax(-1) == targets).sum()),
                          targets.size, int((d["seq_relationship_logits"].argmax(-1) == next_sentence_label).sum()),
                          next_sentence_label.size))
        return result if return_details else result[:2]

    monkeypatch.setattr(BertForPreTraining, "loss_and_grads", recording)
    return steps


def test_short_run_writes_every_file(tmp_path, corpus, monkeypatch):
    steps = _record_training_calls(monkeypatch)
    summary = run(tmp_path / "run", corpus, steps=12)
    out = tmp_path / "run"
    assert summary["steps"] == 12
    for name in ("metrics.jsonl", "curves.png", "vocab.txt", "checkpoint/config.json",
                 "checkpoint/model.safetensors", "checkpoint/vocab.txt", "checkpoint/tokenizer_config.json",
                 "checkpoint/optimizer.safetensors", "checkpoint/trainer_state.json"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = read_metrics(out / "metrics.jsonl")
    train = [r for r in records if "mlm_loss" in r]
    assert [r["step"] for r in train] == [5, 10, 12]  # log_every 5 and the last step
    # each line averages the steps since the one before: losses per step, accuracies per
    # masked token and per pair
    assert len(steps) == 12
    for r, window in zip(train, (steps[0:5], steps[5:10], steps[10:12])):
        mlm, nsp, mlm_ok, mlm_n, nsp_ok, nsp_n = (np.array(c, dtype=float) for c in zip(*window))
        assert r["mlm_loss"] == pytest.approx(mlm.mean(), rel=1e-12)
        assert r["nsp_loss"] == pytest.approx(nsp.mean(), rel=1e-12)
        assert r["mlm_acc"] == mlm_ok.sum() / mlm_n.sum() and r["nsp_acc"] == nsp_ok.sum() / nsp_n.sum()
        assert r["tokens_per_s"] > 0
    held = [r for r in records if "heldout_mlm_loss" in r]
    assert [r["step"] for r in held] == [0, 10, 12]  # eval_every 10, the start and the end
    # the vocab trained on the corpus (300 tokens) was saved with the checkpoint
    vocab = (out / "checkpoint" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert "[MASK]" in vocab and "river" in vocab
    assert (out / "checkpoint" / "vocab.txt").read_bytes() == (out / "vocab.txt").read_bytes()
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 12 and "state" in state["dropout_rng"]


def test_checkpoint_loads_in_numpy_bert(tmp_path, corpus, monkeypatch):
    from numpy_bert.model import BertForPreTraining
    from numpy_bert.tokenization import BertTokenizer
    from numpy_bert.weights import load_safetensors

    seen = {}
    original = BertForPreTraining.loss_and_grads

    def keep_model(self, *args, **kwargs):
        seen["model"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BertForPreTraining, "loss_and_grads", keep_model)
    run(tmp_path / "run", corpus, steps=6)
    ckpt = tmp_path / "run" / "checkpoint"
    model = BertForPreTraining.from_pretrained(ckpt)
    tokenizer = BertTokenizer.from_pretrained(ckpt)
    assert model.config.vocab_size == len(tokenizer.vocab)
    assert model.config.hidden_size == 32 and model.config.max_position_embeddings == 32
    stored = load_safetensors(ckpt / "model.safetensors")
    assert all(stored[k].dtype == np.float32 for k in stored)
    enc = tokenizer("the river boat", "a star in space", return_tensors="np")
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"][0]) == [
        "[CLS]", "the", "river", "boat", "[SEP]", "a", "star", "in", "space", "[SEP]"]
    out = model(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    assert out["prediction_logits"].shape == (1, enc["input_ids"].shape[1], model.config.vocab_size)
    # the checkpoint holds the run's last weights: the trained model, kept from the run,
    # gives the same outputs (float32 saved as float32; same process and threads: bit for bit)
    trained = seen["model"]
    trained.eval()
    for key, value in trained(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]).items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)
    # and they are trained weights, not the initial ones
    initial = BertForPreTraining(model.config, seed=0)
    assert not np.allclose(initial.params["bert.embeddings.word_embeddings.weight"],
                           model.params["bert.embeddings.word_embeddings.weight"])


def test_training_lowers_the_loss(tmp_path, corpus):
    from numpy_bert.data import tokenize_documents
    from numpy_bert.tokenization import BertTokenizer
    from numpy_bert.train import load_documents

    summary = run(tmp_path / "run", corpus, steps=40, lr=1e-3)
    # the baselines: an untrained model (logits near 0, init std 0.02) predicts every one of
    # the V tokens alike, a loss of log(V); a model that learned only token frequencies
    # reaches the corpus's unigram entropy H (masked positions are drawn uniformly over the
    # ordinary tokens). The held-out part of this toy corpus is a few dozen tokens: too noisy.
    tokenizer = BertTokenizer.from_pretrained(tmp_path / "run" / "checkpoint")
    ids = np.concatenate([s for d in tokenize_documents(load_documents(str(corpus)), tokenizer) for s in d])
    p = np.bincount(ids) / ids.size
    unigram = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    log_v = math.log(len(tokenizer.vocab))
    assert log_v - unigram > 1.0  # here log(284) = 5.65 and H = 4.12
    train = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "mlm_loss" in r]
    # the first window (steps 1-5, lr still warming up) is at log(V): within 0.25, about
    # three standard errors of a window's mean over ~150 masked tokens
    assert abs(train[0]["mlm_loss"] - log_v) < 0.25
    # after 40 steps it has closed at least half the gap to H (in runs: all of it, ~4.2);
    # the margin, (log V - H) / 2 = 0.77, is several standard errors of the window's mean
    assert train[-1]["mlm_loss"] < unigram + (log_v - unigram) / 2
    assert summary["last"]["heldout_mlm_loss"] < log_v + 0.5  # and no divergence on held-out text


def test_same_seed_gives_identical_metrics(tmp_path, corpus):
    run(tmp_path / "a", corpus, steps=10, seed=3)
    run(tmp_path / "b", corpus, steps=10, seed=3)
    run(tmp_path / "c", corpus, steps=10, seed=4)
    a, b, c = (without_wall_clock(read_metrics(tmp_path / d / "metrics.jsonl")) for d in "abc")
    # bit for bit: the promise of a seed (same seed, same process, same threads)
    assert a == b
    assert a != c
    assert ((tmp_path / "a" / "checkpoint" / "model.safetensors").read_bytes()
            == (tmp_path / "b" / "checkpoint" / "model.safetensors").read_bytes())


def _cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "numpy_bert", "pretrain", *map(str, args)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_sigkill_then_resume_is_bit_identical(tmp_path, corpus):
    common = ["--corpus", corpus, "--preset", "micro", "--steps", 60, "--save-every", 10, "--quiet"]
    straight = _cli("--out", tmp_path / "straight", *common)
    assert straight.wait(timeout=120) == 0, straight.stderr.read()

    killed = _cli("--out", tmp_path / "killed", *common)
    state = tmp_path / "killed" / "checkpoint" / "trainer_state.json"
    deadline = time.time() + 120
    while time.time() < deadline and killed.poll() is None:
        if state.is_file():
            break
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    step = json.loads(state.read_text())["step"]
    assert 10 <= step < 60

    resumed = _cli("--out", tmp_path / "killed", "--resume", *common)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    # bit for bit: --resume's promise (same seed, same machine, same thread settings: the
    # three processes run the same BLAS calls in the same order)
    a = (tmp_path / "straight" / "checkpoint" / "model.safetensors").read_bytes()
    b = (tmp_path / "killed" / "checkpoint" / "model.safetensors").read_bytes()
    assert a == b
    assert ((tmp_path / "straight" / "checkpoint" / "optimizer.safetensors").read_bytes()
            == (tmp_path / "killed" / "checkpoint" / "optimizer.safetensors").read_bytes())
    assert (without_wall_clock(read_metrics(tmp_path / "straight" / "metrics.jsonl"))
            == without_wall_clock(read_metrics(tmp_path / "killed" / "metrics.jsonl")))


def _fail_at_training_call(monkeypatch, n, make_failure):
    """Make the n-th training call of loss_and_grads go wrong (make_failure(loss, grads, details))."""
    from numpy_bert.model import BertForPreTraining

    original = BertForPreTraining.loss_and_grads
    calls = {"n": 0}

    def patched(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if self.training:
            calls["n"] += 1
            if calls["n"] == n:
                return make_failure(*result)
        return result

    monkeypatch.setattr(BertForPreTraining, "loss_and_grads", patched)


def test_interrupted_run_resumed_in_process_matches_straight_run(tmp_path, corpus, monkeypatch):
    run(tmp_path / "straight", corpus, steps=20, save_every=10)

    def crash(*result):
        raise KeyboardInterrupt  # as if Ctrl-C hit in the middle of step 15

    with monkeypatch.context() as m:
        _fail_at_training_call(m, 15, crash)
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / "parts", corpus, steps=20, save_every=10)
    state = json.loads((tmp_path / "parts" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 10
    run(tmp_path / "parts", corpus, steps=None, resume=True)
    # bit for bit: --resume's promise (same seed, same process, same threads)
    for name in ("model.safetensors", "optimizer.safetensors"):
        assert ((tmp_path / "straight" / "checkpoint" / name).read_bytes()
                == (tmp_path / "parts" / "checkpoint" / name).read_bytes()), name
    assert (without_wall_clock(read_metrics(tmp_path / "straight" / "metrics.jsonl"))
            == without_wall_clock(read_metrics(tmp_path / "parts" / "metrics.jsonl")))


# ---------------------------------------------------------------- bad input

def test_empty_corpus_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        run(tmp_path / "run", empty)


def test_single_document_corpus_is_a_clear_error(tmp_path):
    one = write_corpus(tmp_path / "one.txt", n_documents=1)
    with pytest.raises(ValueError, match="document"):
        run(tmp_path / "run", one)


def test_missing_corpus_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError, match="not found"):
        run(tmp_path / "run", tmp_path / "nope.txt")


def test_resume_with_nothing_to_resume(tmp_path, corpus):
    with pytest.raises(ValueError, match="nothing to resume"):
        run(tmp_path / "run", corpus, resume=True)


def test_new_run_refuses_to_overwrite_a_checkpoint(tmp_path, corpus):
    run(tmp_path / "run", corpus, steps=3)
    with pytest.raises(ValueError, match="--resume"):
        run(tmp_path / "run", corpus, steps=3)


def test_resume_with_a_different_vocab_is_refused(tmp_path, corpus):
    run(tmp_path / "run", corpus, steps=4)
    other = tmp_path / "other_vocab.txt"
    lines = (tmp_path / "run" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    other.write_text("\n".join(lines[:-3] + ["zzz", "yyy", ""]), encoding="utf-8")
    with pytest.raises(ValueError, match="does not match the vocabulary"):
        run(tmp_path / "run", corpus, steps=4, resume=True, vocab=str(other))


def test_resume_with_another_corpus_is_refused(tmp_path, corpus):
    run(tmp_path / "run", corpus, steps=4)
    other = write_corpus(tmp_path / "other.txt", seed=1)
    with pytest.raises(ValueError, match="corpus differs"):
        run(tmp_path / "run", other, steps=4, resume=True)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path, corpus, monkeypatch):
    from numpy_bert.model import BertForPreTraining

    def nan(loss, grads, details):
        grads["bert.pooler.dense.weight"][0, 0] = np.nan
        return float("nan"), grads, details

    _fail_at_training_call(monkeypatch, 7, nan)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 7.*step 5\) is intact"):
        run(out, corpus, steps=12, save_every=5)
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 5
    model = BertForPreTraining.from_pretrained(out / "checkpoint")
    assert all(np.isfinite(p).all() for p in model.params.values())
    assert isinstance(TrainingDiverged("x"), ValueError)  # the CLI prints it as one line


def test_cli_reports_bad_input_in_one_line(tmp_path):
    from numpy_bert.cli import main

    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    code = main(["pretrain", "--corpus", str(empty), "--out", str(tmp_path / "run"), "--preset", "micro",
                 "--quiet"])
    assert code == 1


def test_pretrain_options_live_in_cli():
    from numpy_bert import cli

    args = cli.build_parser().parse_args(["pretrain", "--out", "runs/x"])
    assert args._run is cli.run_pretrain
    assert (args.preset, args.seed, args.steps, args.threads, args.optimizer, args.resume, args.quiet) == (
        "tiny", 0, None, 1, "adamweightdecay", False, False)


def test_resume_accepts_new_intervals_and_refuses_options_that_change_the_run():
    from numpy_bert.train import check_resume, make_settings

    def state():
        return {"settings": make_settings("micro", steps=12, seed=0), "total_steps": 12}

    settings = check_resume(state(), None, 0, "micro", {"log_every": 3, "time_budget": 5.0, "lr": None})
    assert settings["log_every"] == 3 and settings["time_budget"] is None  # the run keeps its own budget
    with pytest.raises(ValueError, match=r"--steps 99 differs from the run being resumed \(12 steps\)"):
        check_resume(state(), 99, 0, "micro", {})
    with pytest.raises(ValueError, match=r"options differ from it: \{'lr': 0.5, 'seed': 2\}$"):
        check_resume(state(), None, 2, "micro", {"lr": 0.5})
    with pytest.raises(ValueError, match=r"options differ from it: \{\} preset tiny$"):
        check_resume(state(), None, 0, "tiny", {})

def test_bad_settings_are_clear_errors(tmp_path, corpus):
    with pytest.raises(ValueError, match="--batch-size"):
        run(tmp_path / "a", corpus, batch_size=0)
    with pytest.raises(ValueError, match="--lr"):
        run(tmp_path / "b", corpus, lr=-1.0)
    with pytest.raises(ValueError, match="preset"):
        pretrain(tmp_path / "c", corpus=str(corpus), preset="huge", quiet=True)


def test_time_budget_sizes_the_run_to_fit(tmp_path, corpus):
    start = time.time()
    summary = run(tmp_path / "run", corpus, steps=100_000, time_budget=0.25)  # 15 seconds
    wall = time.time() - start
    assert wall < 15 + 5
    assert 20 <= summary["steps"] < 100_000
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    train = [r for r in records if "mlm_loss" in r]
    assert train[-1]["lr"] < 0.2 * 1e-3  # the learning rate decayed towards 0 by the end
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").is_file()


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# summarize: first and last held-out records, the paths under their names, the closing line
def test_summary_has_the_first_and_last_held_out_records_and_the_paths(tmp_path):
    import types

    from numpy_bert.train import summarize
    records = [{"step": 5, "loss": 9.0},
               {"step": 10, "heldout_mlm_loss": 8.0, "heldout_nsp_acc": 0.5},
               {"step": 20, "heldout_mlm_loss": 6.0, "heldout_nsp_acc": 0.6},
               {"step": 30, "heldout_mlm_loss": 4.0, "heldout_nsp_acc": 0.75}]
    said = []
    summary = summarize(records, 30, 40, types.SimpleNamespace(start=time.time() - 61.5), tmp_path, said.append)
    wall = summary.pop("wall_s")
    assert 61.5 <= wall < 120
    assert summary == {"steps": 30, "total_steps": 40, "first": records[1], "last": records[3],
                       "checkpoint": str(tmp_path / "checkpoint"), "metrics": str(tmp_path / "metrics.jsonl"),
                       "curves": str(tmp_path / "curves.png")}
    assert said == [f"done: 30 steps in 1m{int(wall) - 60:02d}s; held-out MLM loss 8.000 -> 4.000 "
                    f"(0.500 of the start), NSP acc 0.750; checkpoint in {tmp_path / 'checkpoint'}"]


# make_settings: the message for a negative warmup
def test_a_negative_warmup_is_refused_by_name():
    from numpy_bert.train import make_settings
    with pytest.raises(ValueError, match="^--warmup-steps must be >= 0, got -1$"):
        make_settings(warmup_steps=-1)


# fit_time_budget: at calibration the run is sized to the steps that fit what is left
def test_time_budget_sizes_the_run_from_the_time_per_step_so_far():
    import types

    from numpy_bert.train import CALIBRATION_STEPS, fit_time_budget
    now = time.time()
    # 20 steps in 20 s; 100 s budget less 20 s gone and the 10 s reserve: 70 s, so about 70 more
    clock = types.SimpleNamespace(loop_start_step=0, loop_start=now - 20.0, start=now - 20.0, budget_s=100.0,
                                  eval_seconds=0.0, RESERVE_S=10.0)
    settings = {"steps": 1000, "log_every": 10, "eval_every": 10, "time_budget": 100 / 60}
    said = []
    fits = fit_time_budget(CALIBRATION_STEPS, 50, settings, clock, said.append)
    assert CALIBRATION_STEPS == 20 and 85 <= fits <= 90
    assert said and said[0].startswith("time budget") and said[0].endswith(f"so {fits} steps in all")
    assert fit_time_budget(CALIBRATION_STEPS, 50, {**settings, "steps": 60}, clock, said.append) == 60


# train_step: a diverged run writes metrics.jsonl with every record up to the step before
def test_a_diverged_run_writes_its_records_up_to_the_step_before(tmp_path, corpus, monkeypatch):
    def nan(loss, grads, details):
        return float("nan"), grads, details

    _fail_at_training_call(monkeypatch, 7, nan)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 7"):
        run(tmp_path / "run", corpus, steps=12, save_every=5, log_every=1)
    steps = [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "mlm_loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


# -- found by the full mutation run of train: check_resume's intervals and its test of which
# -- options differ, check_time_budget on a bool or a string

def _micro_state():
    from numpy_bert.train import make_settings
    return {"settings": make_settings("micro", steps=12, seed=0), "total_steps": 12}


def test_resume_takes_new_eval_and_save_intervals_and_options_equal_to_the_runs():
    """check_resume takes new --eval-every and --save-every, and accepts options equal to the run's own."""
    from numpy_bert.train import check_resume

    settings = check_resume(_micro_state(), None, 0, "micro", {"eval_every": 3, "save_every": 4})
    assert (settings["eval_every"], settings["save_every"]) == (3, 4)
    same = check_resume(_micro_state(), 12, 0, "micro", {"lr": 1e-3, "batch_size": 8, "seq_len": 32})
    assert same == _micro_state()["settings"]


def test_resume_refuses_one_changed_option_or_a_changed_seed_alone():
    """check_resume refuses a changed option with the seed kept, and a changed seed with no option changed."""
    from numpy_bert.train import check_resume

    start = r"^--resume continues the run exactly as it was started; these options differ from it: "
    with pytest.raises(ValueError, match=start + r"\{'lr': 0\.5\}$"):
        check_resume(_micro_state(), None, 0, "micro", {"lr": 0.5})
    with pytest.raises(ValueError, match=start + r"\{'seed': 2\}$"):
        check_resume(_micro_state(), None, 2, "micro", {})


@pytest.mark.parametrize("minutes", [True, "5", -1, math.inf])
def test_a_time_budget_that_is_not_a_number_of_minutes_is_refused(minutes):
    """check_time_budget refuses a bool, a string, a negative or an infinite budget, with the whole message."""
    from numpy_bert.train import check_time_budget

    with pytest.raises(ValueError, match=rf"^--time-budget must be a number of minutes >= 0 \(0 = no budget\), "
                                         rf"got {re.escape(repr(minutes))}$"):
        check_time_budget(minutes)
