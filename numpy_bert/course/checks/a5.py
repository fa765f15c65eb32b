"""Hidden checks of assignment 5 (fine-tuning): the classification head, clipping, batches,
evaluation and the training loop.

The head is compared with numpy_bert's layers on fresh float64 inputs at random odd sizes,
and its backward is gradient-checked with centred differences against a random upstream
gradient; a wrong gradient is named tensor by tensor, with its factor when it is off by a
constant one. The loop is run on synthetic data (softmax regression on Gaussian blobs, a
model of its own) with every callable instrumented: which examples each batch held, the
steps and totals the schedule was asked for, the learning rates and gradient norms the
optimizer received, when the evaluation ran and what it should have found. While the loop
runs, the module's own helpers (epoch_batches, clip_grad_norm, evaluate_accuracy) are
replaced by right ones, so that a mistake there costs points only in its own exercise.
"""

import math

import numpy as np

from numpy_bert import layers, optim
from numpy_bert.course.checks.common import CheckFailure, as_array, backward_items, odd, outputs, score, trusted
from numpy_bert.course.checks.scoring import Score, close, module_globals

HEAD_ARGS = ("sequence_output", "pooler_weight", "pooler_bias", "classifier_weight", "classifier_bias")


def _head_inputs(rng):
    B, T, H, K = odd(rng, 3, 9), odd(rng, 5, 11), odd(rng, 5, 13), odd(rng, 3, 5)
    return [rng.standard_normal((B, T, H)), rng.standard_normal((H, H)) / math.sqrt(H),
            rng.standard_normal(H) * 0.1, rng.standard_normal((K, H)) / math.sqrt(H),
            rng.standard_normal(K) * 0.1]


def _reference_head(x, pooler_weight, pooler_bias, classifier_weight, classifier_bias):
    """numpy_bert's layers: the pooler (linear + tanh on [CLS]) and the classifier."""
    z, c1 = layers.linear_forward(x[:, 0], pooler_weight, pooler_bias)
    pooled, c2 = layers.tanh_forward(z)
    logits, c3 = layers.linear_forward(pooled, classifier_weight, classifier_bias)
    return logits, (x.shape, c1, c2, c3)


def _reference_head_backward(dlogits, cache):
    shape, c1, c2, c3 = cache
    dpooled, dcw, dcb = layers.linear_backward(dlogits, c3)
    dz = layers.tanh_backward(dpooled, c2)
    dcls, dpw, dpb = layers.linear_backward(dz, c1)
    dx = np.zeros(shape)
    dx[:, 0] = dcls
    return dx, dpw, dpb, dcw, dcb


def check_classification_head_forward(fn, rng):
    args = _head_inputs(rng)
    x, pw, pb, cw, cb = args
    result = outputs(fn(*[a.copy() for a in args]), 2, "(logits, cache)")
    logits = np.asarray(result[0])
    want, _ = _reference_head(*args)
    if logits.shape != want.shape:
        return 0.0, f"logits have shape {logits.shape}, expected (B, K) = {want.shape}"
    if close(logits, want, rtol=1e-9, atol=1e-12):
        return 1.0, "correct"
    mistakes = (
        (np.tanh(x.mean(axis=1) @ pw.T + pb) @ cw.T + cb,
         "the pooled vector is the mean over the tokens; BERT's pooler reads [CLS] alone (position 0)"),
        (np.tanh(x[:, -1] @ pw.T + pb) @ cw.T + cb, "the head read the last token; [CLS] is position 0"),
        ((x[:, 0] @ pw.T + pb) @ cw.T + cb, "the tanh of the pooler is missing"),
        (np.tanh(x[:, 0] @ pw + pb) @ cw.T + cb,
         "pooler_weight is used untransposed: weights are (out, in) as in HF, so z = x @ W.T + b"),
        (np.tanh(x[:, 0] @ pw.T) @ cw.T, "the biases are missing"),
    )
    for alternative, why in mistakes:
        if close(logits, alternative, rtol=1e-9, atol=1e-12):
            return 0.0, why
    return 0.0, (f"the logits differ from numpy_bert's pooler + classifier by up to "
                 f"{float(np.max(np.abs(logits - want))):.3g}")


def check_classification_head_backward(fn, rng):
    forward = module_globals(fn).get("classification_head_forward")
    if forward is None:
        raise CheckFailure("classification_head_backward is checked on the cache of the module's "
                           "classification_head_forward, which is missing")
    args = _head_inputs(rng)
    try:
        logits, cache = forward(*[a.copy() for a in args])
    except NotImplementedError:
        try:  # a stub backward says so itself ("not written yet" with its own hint)
            fn(rng.standard_normal((args[0].shape[0], args[3].shape[0])), None)
        except NotImplementedError:
            raise
        except Exception:  # noqa: BLE001 - a written backward fails on the missing cache
            pass
        raise CheckFailure("classification_head_forward is not written yet: the backward is checked on its "
                           "cache") from None
    want_logits, ref_cache = _reference_head(*args)
    forward_note = "" if close(logits, want_logits, rtol=1e-9, atol=1e-12) else \
        " (the forward is wrong too: fix classification_head_forward first)"
    dlogits = rng.standard_normal(want_logits.shape)
    got = outputs(fn(dlogits.copy(), cache), 5, "(dsequence_output, dpooler_weight, dpooler_bias, "
                  "dclassifier_weight, dclassifier_bias)")
    expected = _reference_head_backward(dlogits, ref_cache)
    no_tanh = _without_tanh(dlogits, ref_cache)
    names = tuple("d" + name for name in HEAD_ARGS)
    skips_tanh = "skips the tanh: multiply dpooled by 1 - pooled^2 first"
    mistakes = {name: [(no_tanh[i], f"{name} {skips_tanh}")] for i, name in enumerate(names) if i < 3}
    items = backward_items(names, got, expected, mistakes=mistakes,
                           forward=lambda **inputs: _reference_head(**inputs)[0],
                           inputs=dict(zip(("x", "pooler_weight", "pooler_bias", "classifier_weight",
                                            "classifier_bias"), args)),
                           wrt=dict(zip(names, ("x", "pooler_weight", "pooler_bias", "classifier_weight",
                                                "classifier_bias"))),
                           dout=dlogits, rng=rng)
    dx = as_array(got[0])
    if dx is not None and dx.shape == expected[0].shape and np.any(dx[:, 1:]):
        items[0] = (names[0], "dsequence_output is non-zero at positions other than 0: only [CLS] feeds the "
                              "pooler, every other token gets 0 from the head")
    fraction, message = score(items)
    if fraction == 1.0:
        return 1.0, "correct"
    return fraction, message + forward_note


def _without_tanh(dlogits, cache):
    """The gradients with tanh' taken as 1 (a common slip)."""
    shape, c1, c2, c3 = cache
    dpooled, dcw, dcb = layers.linear_backward(dlogits, c3)
    dcls, dpw, dpb = layers.linear_backward(dpooled, c1)
    dx = np.zeros(shape)
    dx[:, 0] = dcls
    return dx, dpw, dpb, dcw, dcb


# ----------------------------------------------------------------------------------------
# clip_grad_norm


def _global_norm(grads):
    return math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads.values()))


def check_clip_grad_norm(fn, rng):
    score = Score()
    shapes = [(odd(rng, 3, 9), odd(rng, 3, 9)), (odd(rng, 3, 9),), (odd(rng, 3, 5), odd(rng, 3, 5), 3)]
    max_norm = float(rng.uniform(0.5, 2.0))
    # large: clipping acts
    grads = {f"g{i}": rng.standard_normal(s) * 3.0 for i, s in enumerate(shapes)}
    original = {k: g.copy() for k, g in grads.items()}
    arrays = dict(grads)
    norm = _global_norm(original)
    returned = fn(grads, max_norm)
    factor = min(1.0, max_norm / (norm + 1e-6))
    want = {k: g * factor for k, g in original.items()}
    try:
        returned = float(returned)
    except (TypeError, ValueError):
        return 0.0, f"clip_grad_norm must return the norm before clipping as a float, got {returned!r}"
    if math.isclose(returned, max_norm, rel_tol=1e-6):
        score.check(1, False, "clip_grad_norm returned the norm after clipping; return the norm before")
    else:
        score.check(1, math.isclose(returned, norm, rel_tol=1e-9),
                    f"clip_grad_norm returned {returned:.6g}, but the global norm of the gradients is {norm:.6g} "
                    "(the square root of the sum of squares over every tensor together)")
    got = {k: np.asarray(grads[k], np.float64) for k in grads}
    score.check(1, all(grads[k] is arrays[k] for k in grads) or all(close(arrays[k], want[k]) for k in grads),
                "the gradients were not clipped in place: scale each array (g *= factor), the caller keeps the dict")
    if not all(close(got[k], want[k], rtol=1e-9, atol=1e-14) for k in grads):
        per_tensor = {k: g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for k, g in original.items()}
        no_eps = {k: g * min(1.0, max_norm / norm) for k, g in original.items()}
        if all(close(got[k], per_tensor[k], rtol=1e-6) for k in grads):
            message = "each tensor was clipped on its own: the norm is that of all the gradients together"
        elif all(close(got[k], no_eps[k], rtol=1e-12) for k in grads):
            message = "the factor is max_norm / norm; PyTorch's (HF Trainer's) is max_norm / (norm + 1e-6)"
        elif all(close(got[k], original[k]) for k in grads):
            message = f"gradients of global norm {norm:.3g} > max_norm {max_norm:.3g} were left unclipped"
        else:
            message = (f"after clipping the global norm is {_global_norm(got):.6g}, expected "
                       f"{_global_norm(want):.6g} (every tensor times min(1, max_norm / (norm + 1e-6)))")
        score.check(2, False, message)
    else:
        score.check(2, True, "")
    # small: nothing changes
    small = {f"g{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    scale = 0.5 * max_norm / _global_norm(small)
    small = {k: g * scale for k, g in small.items()}
    before = {k: g.copy() for k, g in small.items()}
    fn(small, max_norm)
    score.check(1, all(np.array_equal(small[k], before[k]) for k in small),
                f"gradients of norm {0.5 * max_norm:.3g} <= max_norm {max_norm:.3g} were changed: clip only "
                "when the norm exceeds max_norm")
    return score.result()


# ----------------------------------------------------------------------------------------
# epoch_batches


def check_epoch_batches(fn, rng):
    score = Score()
    batch_size = int(rng.integers(4, 14))
    n = batch_size * int(rng.integers(4, 9)) + int(rng.integers(1, batch_size))  # a smaller last batch
    seed = int(rng.integers(2**32))
    gen = np.random.default_rng(seed)
    first = [np.asarray(b) for b in fn(n, batch_size, gen)]
    second = [np.asarray(b) for b in fn(n, batch_size, gen)]
    again = [np.asarray(b) for b in fn(n, batch_size, np.random.default_rng(seed))]
    flat = np.concatenate(first) if first else np.zeros(0, int)
    sizes = [len(b) for b in first]
    want_sizes = [batch_size] * (n // batch_size) + [n % batch_size]
    if len(flat) < n and sizes == want_sizes[:-1]:
        score.check(2, False, f"the last, smaller batch ({n % batch_size} of {n} examples) was dropped: keep it")
    elif sorted(flat.tolist()) != list(range(n)):
        counts = np.bincount(flat.astype(int), minlength=n) if len(flat) and flat.min() >= 0 else None
        missing = [] if counts is None else np.flatnonzero(counts[:n] == 0)
        score.check(2, False, "the batches must hold every index 0 .. n-1 exactly once"
                    + (f" (index {int(missing[0])} is missing)" if len(missing) else ""))
    else:
        score.check(1, sizes == want_sizes, f"batch sizes {sizes}; expected {want_sizes} (batch_size each, the "
                                            "last one what is left)")
        score.check(1, True, "")
    score.check(1, not np.array_equal(flat, np.arange(len(flat))),
                "the indices come in order: shuffle them with rng.permutation(n)")
    score.check(1, len(first) == len(again) and all(np.array_equal(a, b) for a, b in zip(first, again)),
                "two generators with the same seed gave different batches: draw the order from rng, not from "
                "np.random")
    score.check(1, not (len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))),
                "two epochs with the same rng gave the same order: draw a new permutation each call (no reseeding)")
    return score.result()


# ----------------------------------------------------------------------------------------
# evaluate_accuracy


def _blob_data(rng, n, centres, spread=1.0):
    """n points around the centres (classes, dim), each labelled by its centre."""
    classes = len(centres)
    labels = rng.integers(classes, size=n)
    x = centres[labels] + spread * rng.standard_normal((n, centres.shape[1]))
    return {"x": x, "index": np.arange(n), "labels": labels.astype(np.int64)}


def check_evaluate_accuracy(fn, rng):
    n = odd(rng, 41, 99)
    batch_size = int(rng.integers(4, 14))
    if n % batch_size == 0:
        n += 2
    data = _blob_data(rng, n, rng.standard_normal((3, 5)) * 2.0, spread=2.0)
    weight = rng.standard_normal((3, 5))
    seen, sizes = [], []

    def predict(batch):
        seen.extend(np.asarray(batch["index"]).tolist())
        sizes.append(len(batch["index"]))
        return batch["x"] @ weight.T

    want = float(np.mean(np.argmax(data["x"] @ weight.T, axis=1) == data["labels"]))
    got = fn(trusted(predict), {k: v.copy() for k, v in data.items()}, batch_size)
    score = Score()
    if len(seen) < n:
        score.check(3, False, f"only {len(seen)} of {n} examples were scored: the last, smaller batch counts too")
    elif sorted(seen) != list(range(n)):
        score.check(3, False, "every example must be scored exactly once")
    else:
        try:
            value = float(got)
        except (TypeError, ValueError):
            return 0.0, f"evaluate_accuracy must return the accuracy as a float, got {got!r}"
        if math.isclose(value, want * n, rel_tol=1e-12):
            message = f"returned {value:g}, the number right; return the fraction right ({want:.4f})"
        else:
            message = f"accuracy {value:.4f}, expected {want:.4f} (argmax of the logits == label, over all {n})"
        score.check(3, math.isclose(value, want, rel_tol=1e-12, abs_tol=1e-12), message)
    score.check(1, max(sizes, default=0) <= batch_size,
                f"predict got batches of up to {max(sizes, default=0)} examples; batch_size is {batch_size}")
    return score.result()


# ----------------------------------------------------------------------------------------
# train_classifier


def _epoch_batches(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _evaluate_accuracy(predict, data, batch_size):
    n, right = len(data["labels"]), 0
    for i in range(0, n, batch_size):
        batch = {k: v[i:i + batch_size] for k, v in data.items()}
        right += int(np.sum(np.argmax(predict(batch), axis=-1) == batch["labels"]))
    return right / n


# the right versions of the helpers train_classifier calls, which the grader puts in place of
# the student's while it grades another exercise (not classification_head_forward: the
# backward is checked on the cache of the student's own forward, whose layout is theirs)
RIGHT_HELPERS = {"epoch_batches": _epoch_batches, "clip_grad_norm": optim.clip_grad_norm,
                 "evaluate_accuracy": _evaluate_accuracy}


class _Run:
    """A softmax-regression model whose every call is recorded."""

    def __init__(self, dim, classes):
        self.weight = np.zeros((classes, dim))
        self.bias = np.zeros(classes)
        self.events = []          # ("grads", indices, loss, grads copy) | ("step", lr, grads) | ("predict", ...)
        self.schedule_calls = []  # (step, total_steps, the lr returned)

    def logits(self, x):
        return x @ self.weight.T + self.bias

    def loss_and_grads(self, batch):
        x, y = batch["x"], batch["labels"]
        logits = self.logits(x)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        loss = float(np.mean(-np.log(probs[np.arange(len(y)), y])))
        dlogits = probs.copy()
        dlogits[np.arange(len(y)), y] -= 1.0
        dlogits /= len(y)
        grads = {"weight": dlogits.T @ x, "bias": dlogits.sum(axis=0)}
        self.events.append(("grads", np.asarray(batch["index"]).copy(), loss,
                            {k: g.copy() for k, g in grads.items()}))
        return loss, grads

    def optimizer_step(self, grads, lr):
        self.events.append(("step", float(lr), {k: np.asarray(g, np.float64).copy() for k, g in grads.items()}))
        self.weight -= lr * grads["weight"]
        self.bias -= lr * grads["bias"]

    def predict(self, batch):
        self.events.append(("predict", np.asarray(batch["index"]).copy(), self.weight.copy(), self.bias.copy()))
        return self.logits(batch["x"])

    def schedule(self, step, total_steps):
        lr = self.lr(step, total_steps)
        self.schedule_calls.append((int(step), int(total_steps), lr))
        return lr

    @staticmethod
    def lr(step, total_steps, peak=0.5, warmup=2):
        return peak * (step / warmup if step < warmup else max(0.0, (total_steps - step) / (total_steps - warmup)))


def check_train_classifier(fn, rng):
    score = Score()
    dim, classes, epochs = 5, 3, 3
    batch_size = int(rng.integers(4, 10))
    n = batch_size * int(rng.integers(4, 8)) + int(rng.integers(1, batch_size))
    centres = rng.standard_normal((classes, dim)) * 2.0
    train = _blob_data(rng, n, centres)
    held = _blob_data(rng, odd(rng, 21, 41), centres)
    max_grad_norm = 0.05                                         # small: every step is clipped
    run = _Run(dim, classes)
    # the grader puts RIGHT_HELPERS in place of the student's epoch_batches, clip_grad_norm and
    # evaluate_accuracy meanwhile: the loop is graded on its own steps
    history = fn(trusted(run.loss_and_grads), trusted(run.optimizer_step), trusted(run.predict),
                 {k: v.copy() for k, v in train.items()}, {k: v.copy() for k, v in held.items()}, epochs,
                 batch_size, max_grad_norm, trusted(run.schedule), np.random.default_rng(rng.integers(2**32)))

    steps_per_epoch = -(-n // batch_size)
    total = epochs * steps_per_epoch
    grads_events = [e for e in run.events if e[0] == "grads"]
    step_events = [e for e in run.events if e[0] == "step"]
    if not score.check(2, len(grads_events) == total and len(step_events) == total,
                       f"loss_and_grads was called {len(grads_events)} times and optimizer_step {len(step_events)} "
                       f"times; {epochs} epochs of ceil({n} / {batch_size}) = {steps_per_epoch} batches make "
                       f"{total} of each"):
        return score.result()
    # batches: every epoch sees every example once, in a new order
    epochs_seen = [np.concatenate([e[1] for e in grads_events[k * steps_per_epoch:(k + 1) * steps_per_epoch]])
                   for k in range(epochs)]
    score.check(2, all(sorted(s.tolist()) == list(range(n)) for s in epochs_seen),
                "an epoch did not see every training example exactly once: use epoch_batches(N, batch_size, rng) "
                "each epoch")
    score.check(1, not all(np.array_equal(epochs_seen[0], s) for s in epochs_seen[1:]),
                "every epoch used the same order of examples: shuffle again each epoch (the same rng, no reseeding)")
    # the schedule: one global step counter over the whole run
    calls = [(step, total_steps) for step, total_steps, _ in run.schedule_calls]
    want_calls = [(s, total) for s in range(total)]
    if calls != want_calls:
        totals = sorted({t for _, t in calls})
        if calls and [s for s, _ in calls] == [s % steps_per_epoch for s in range(total)]:
            message = ("the step counter restarts every epoch (schedule got step 0 again at update "
                       f"{steps_per_epoch}): count the updates of the whole run")
        elif totals and totals != [total]:
            message = (f"schedule got total_steps={totals[0]}, but the run makes {total} updates "
                       "(epochs * ceil(N_train / batch_size))")
        else:
            message = f"schedule must be called once per update with (0, {total}), (1, {total}), ..., ({total - 1}, {total})"
        score.check(2, False, message)
    else:
        score.check(2, True, "")
    lrs = [e[1] for e in step_events]
    returned = [lr for _, _, lr in run.schedule_calls]
    score.check(1, len(lrs) == len(returned) and np.allclose(lrs, returned, rtol=1e-12, atol=0),
                "optimizer_step did not get the schedule's learning rate: call it with schedule(step, total_steps)")
    # clipping: the optimizer gets the clipped gradients, in the same direction
    clip_problem = ""
    for (_, _, _, raw), (_, _, received) in zip(grads_events, step_events):
        norm = _global_norm(raw)
        factor = min(1.0, max_grad_norm / (norm + 1e-6))
        if not all(close(received[k], raw[k] * factor, rtol=1e-7, atol=1e-14) for k in raw):
            got_norm = _global_norm(received)
            clip_problem = (f"the optimizer got gradients of norm {got_norm:.3g} > max_grad_norm {max_grad_norm}: "
                            "clip them (clip_grad_norm) between loss_and_grads and optimizer_step"
                            if got_norm > max_grad_norm * (1 + 1e-6) else
                            "the optimizer got gradients that are not the clipped gradients of the batch")
            break
    score.check(2, not clip_problem, clip_problem)
    # evaluation after every epoch, on the model as it is then
    if not isinstance(history, list) or len(history) != epochs or not all(isinstance(r, dict) for r in history):
        score.check(3, False, f"train_classifier must return a list of {epochs} dicts, one per epoch")
        return score.result()
    score.check(1, [r.get("epoch") for r in history] == list(range(1, epochs + 1)),
                f"the records' epochs are {[r.get('epoch') for r in history]}; expected 1 .. {epochs}")
    losses = [e[2] for e in grads_events]
    want_loss = [float(np.mean(losses[k * steps_per_epoch:(k + 1) * steps_per_epoch])) for k in range(epochs)]
    got_loss = [r.get("train_loss") for r in history]
    score.check(1, all(isinstance(g, (float, int, np.floating)) and math.isclose(g, w, rel_tol=1e-9)
                       for g, w in zip(got_loss, want_loss)),
                f"train_loss per epoch is {got_loss}, the mean of each epoch's batch losses is "
                f"{[round(w, 6) for w in want_loss]}")
    # the evaluations: after the epoch's last step, over every eval example, with the model of that moment
    eval_problem = ""
    events = run.events
    for k in range(epochs):
        last_step = [i for i, e in enumerate(events) if e[0] == "step"][(k + 1) * steps_per_epoch - 1]
        predicted = []
        for e in events[last_step + 1:]:
            if e[0] != "predict":
                break
            predicted.append(e)
        seen = sorted(np.concatenate([e[1] for e in predicted]).tolist()) if predicted else []
        if seen != list(range(len(held["labels"]))):
            eval_problem = (f"after epoch {k + 1} the evaluation must score every eval example once "
                            "(evaluate_accuracy(predict, eval_data, batch_size)), right after the epoch's last step")
            break
        weight, bias = predicted[0][2], predicted[0][3]
        want_acc = float(np.mean(np.argmax(held["x"] @ weight.T + bias, axis=1) == held["labels"]))
        got_acc = history[k].get("eval_accuracy")
        if not isinstance(got_acc, (float, int, np.floating)) or not math.isclose(got_acc, want_acc, rel_tol=1e-12):
            eval_problem = (f"history[{k}]['eval_accuracy'] is {got_acc}, but the model at the end of epoch {k + 1} "
                            f"scores {want_acc:.4f} on eval_data")
            break
    score.check(2, not eval_problem, eval_problem)
    final = history[-1].get("eval_accuracy")
    return score.result()
