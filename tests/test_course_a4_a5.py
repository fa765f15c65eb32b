"""The hidden checks of assignments 4 and 5 agree with numpy_bert's own implementations, and their
frequency tests do not fail right answers. (Full marks for the solution version, zero for the
student version and the bug zoo are tested for every assignment in tests/test_course.py.)"""

import importlib.util

import numpy as np
import pytest

from numpy_bert import optim
from numpy_bert.course.checks import a4, a5
from numpy_bert.course.checks.scoring import Score, binomial_ok
from tests.conftest import REPO


def load(relative):
    path = REPO / "course" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRETRAINING = load("a4_pretraining/pretraining_exercises.py")
FINETUNING = load("a5_finetuning/finetuning_exercises.py")


def test_the_adam_replay_is_numpy_bert_s_adam_weight_decay():
    """The check's float64 replay (with its mistakes switched off) is AdamWeightDecay itself."""
    rng = np.random.default_rng(0)
    shapes = {"bert.encoder.layer.0.output.dense.weight": (5, 3), "bert.encoder.layer.0.output.dense.bias": (5,),
              "bert.embeddings.LayerNorm.weight": (3,), "cls.predictions.bias": (7,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grad_steps = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(4)]
    lrs = [0.01, 0.02, 0.005, 0.03]
    want, _, _ = a4._adam_replay(params, grad_steps, lrs, weight_decay=0.1, beta1=0.8, beta2=0.95, eps=1e-6)
    live = {k: p.copy() for k, p in params.items()}
    optimizer = optim.AdamWeightDecay(live, weight_decay=0.1, beta1=0.8, beta2=0.95, eps=1e-6)
    for grads, lr in zip(grad_steps, lrs):
        optimizer.step(grads, lr)
    for k in shapes:
        np.testing.assert_allclose(live[k], want[k], rtol=1e-12, atol=1e-14)
    # and the bias-corrected variant is AdamW's update (eps aside)
    corrected, _, _ = a4._adam_replay(params, grad_steps, lrs, weight_decay=0.1, beta1=0.8, beta2=0.95, eps=1e-8,
                                      bias_correction=True)
    live = {k: p.copy() for k, p in params.items()}
    optimizer = optim.AdamW(live, weight_decay=0.1, beta1=0.8, beta2=0.95)
    for grads, lr in zip(grad_steps, lrs):
        optimizer.step(grads, lr)
    for k in shapes:
        np.testing.assert_allclose(live[k], corrected[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("check, reference", [
    (a4.check_learning_rate, optim.learning_rate),
    (a4.check_use_weight_decay, optim.use_weight_decay),
    (a5.check_clip_grad_norm, optim.clip_grad_norm),
])
def test_numpy_bert_s_own_functions_pass_the_checks(check, reference):
    for seed in range(3):
        assert check(reference, np.random.default_rng(seed)) == (1.0, "correct")


@pytest.mark.parametrize("name", ["mask_ids", "create_nsp_pair", "truncate_seq_pair"])
def test_the_frequency_checks_pass_the_solution_at_several_seeds(name):
    """5-sigma bands: a right answer fails one in 1.7 million gradings per band."""
    check = getattr(a4, "check_" + name)
    for seed in range(3):
        assert check(getattr(PRETRAINING, name), np.random.default_rng([seed, 99])) == (1.0, "correct")


def test_the_loop_check_sees_a_loop_that_evaluates_before_the_last_step():
    """An evaluation one update early scores the model of another moment: caught."""
    def train_classifier(loss_and_grads, optimizer_step, predict, train_data, eval_data, epochs, batch_size,
                         max_grad_norm, schedule, rng):
        n = len(train_data["labels"])
        total = epochs * -(-n // batch_size)
        step, history = 0, []
        for epoch in range(epochs):
            losses = []
            batches = FINETUNING.epoch_batches(n, batch_size, rng)
            for k, indices in enumerate(batches):
                if k == len(batches) - 1:
                    accuracy = FINETUNING.evaluate_accuracy(predict, eval_data, batch_size)
                loss, grads = loss_and_grads(FINETUNING.take(train_data, indices))
                FINETUNING.clip_grad_norm(grads, max_grad_norm)
                optimizer_step(grads, schedule(step, total))
                step += 1
                losses.append(loss)
            history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "eval_accuracy": accuracy})
        return history

    fraction, message = a5.check_train_classifier(train_classifier, np.random.default_rng(5))
    assert fraction < 1.0
    assert "the evaluation must score every eval example once" in message


def test_binomial_ok_is_a_five_sigma_band():
    assert binomial_ok(800, 1000, 0.8)
    assert binomial_ok(800 + 63, 1000, 0.8)          # 5 sd = 5 * sqrt(0.16 / 1000) = 0.063
    assert not binomial_ok(800 + 65, 1000, 0.8)
    assert not binomial_ok(1000, 1000, 0.8)


def test_score_weighs_its_parts():
    score = Score()
    score.check(3, True, "")
    score.check(1, False, "m and v are wrong")
    assert score.result() == (0.75, "m and v are wrong")
    assert Score().result() == (1.0, "correct")


def test_the_instructor_guide_counts_what_the_manifest_holds():
    """docs/course.md's table of assignments: exercises, points and written questions as in the manifest."""
    import json
    import re

    manifest = json.loads((REPO / "course" / "manifest.json").read_text(encoding="utf-8"))
    guide = (REPO / "docs" / "course.md").read_text(encoding="utf-8")
    for assignment in ("a1", "a2", "a3", "a4", "a5"):
        row = next(line for line in guide.splitlines() if re.match(rf"\| {assignment} ", line))
        cells = [c.strip() for c in row.strip("|").split("|")]
        exercises = [e for e in manifest["exercises"] if e["assignment"] == assignment]
        questions = [q for q in manifest["questions"] if q["assignment"] == assignment]
        assert int(cells[2]) == len(exercises), assignment
        assert int(cells[3]) == sum(e["points"] for e in exercises), assignment
        stated = f"{len(questions)} ({sum(q['points'] for q in questions)} points)" if questions else ""
        assert cells[4] == stated, assignment
    # and every bug zoo entry has its row in the generated table
    zoo = sorted(p.name for p in (REPO / "tests" / "course_bug_zoo").glob("a[0-9]_*.py"))
    table = guide.split("written by docs/make_course_zoo.py -->", 1)[1].split("<!-- end of", 1)[0]
    assert [name for name in zoo if f"(`{name}`)" not in table] == []
