"""weights/numpy-bert-tiny/replay_run.py: a run whose step count changed as it went (a time
budget) is replayed step for step from its metrics.jsonl, and probes.json belongs to the
shipped model."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from numpy_bert import train
from numpy_bert.optim import learning_rate
from tests.test_train import write_corpus

SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "numpy-bert-tiny"


def load_replay_module():
    spec = importlib.util.spec_from_file_location("replay_run", SHIPPED / "replay_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_runs_schedule_is_read_back_exactly():
    replay_run = load_replay_module()
    records = train.read_metrics(SHIPPED / "metrics.jsonl")
    settings = train.make_settings("tiny")
    schedule = replay_run.logged_schedule(records, settings["lr"], settings["warmup_steps"], settings["log_every"])
    after_warmup = [r for r in records if "mlm_loss" in r and r["step"] - 1 >= settings["warmup_steps"]]
    assert len(schedule) == len(after_warmup)
    for record in after_warmup:
        k = record["step"] - 1
        assert learning_rate(k, settings["lr"], settings["warmup_steps"], schedule[k - k % 10]) == record["lr"]
    # the run ended where its last estimate said it would
    assert schedule[max(schedule)] == records[-1]["step"]


def test_a_run_with_a_changing_step_count_is_replayed_step_for_step(tmp_path, monkeypatch):
    replay_run = load_replay_module()
    corpus = write_corpus(tmp_path / "corpus.txt")
    # the original run: its step count re-estimated at every log line, as a time budget does
    # (here by a rule of its own, so that the test does not depend on the machine's speed)
    estimates = {}

    def changing_estimate(step, total_steps, settings, clock, say):
        if step % settings["log_every"]:
            return total_steps
        estimates[step] = 36 + (step // 5) % 3 * 2  # 36, 38 or 40
        return estimates[step]

    with monkeypatch.context() as m:
        m.setattr(train, "fit_time_budget", changing_estimate)
        train.pretrain(tmp_path / "original", corpus=str(corpus), preset="micro", steps=40, quiet=True)
    original = train.read_metrics(tmp_path / "original" / "metrics.jsonl")
    assert len(set(estimates.values())) == 3 and len({r["lr"] for r in original}) > 5

    replayed = replay_run.replay(tmp_path / "replay", original, preset="micro", corpus=str(corpus), save_every=10)
    assert replay_run.compare(replayed, original).endswith("all equal to the shipped run's")
    assert [r["step"] for r in replayed] == [r["step"] for r in original]
    snapshots = sorted(p.name for p in (tmp_path / "replay" / "snapshots").iterdir())
    final = original[-1]["step"]
    assert snapshots == [f"step-{s:05d}.safetensors" for s in range(10, final, 10)] + [f"step-{final:05d}.safetensors"]

    # stopped early: the records so far, and the snapshot of the step it stopped at
    early = replay_run.replay(tmp_path / "early", original, preset="micro", corpus=str(corpus), stop=20, save_every=10)
    assert [r["step"] for r in early] == [r["step"] for r in original if r["step"] <= 20]
    assert (tmp_path / "early" / "snapshots" / "step-00020.safetensors").is_file()
    assert train.fit_time_budget is not changing_estimate and train.fit_time_budget.__module__ == "numpy_bert.train"


def test_probes_json_ends_with_the_shipped_model():
    from numpy_bert import BertForPreTraining, BertTokenizer, pipeline

    record = json.loads((SHIPPED / "probes.json").read_text(encoding="utf-8"))
    steps = record["steps"]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == train.read_metrics(SHIPPED / "metrics.jsonl")[-1]["step"]
    unmasker = pipeline("fill-mask", model=BertForPreTraining.from_pretrained(str(SHIPPED)),
                        tokenizer=BertTokenizer.from_pretrained(str(SHIPPED)))
    for probe, tops, answer_p in zip(record["probes"], record["top"], record["answer_p"]):
        assert len(tops) == len(answer_p) == len(steps)
        now = unmasker(probe["text"], top_k=5)
        assert [t for t, _ in tops[-1]] == [r["token_str"] for r in now]
        # float32 forward passes: scores agree to far better than the 6 decimals stored
        np.testing.assert_allclose([p for _, p in tops[-1]], [r["score"] for r in now], atol=2e-6)
        assert answer_p[-1] == pytest.approx(unmasker(probe["text"], targets=[probe["answer"]])[0]["score"], abs=2e-6)
