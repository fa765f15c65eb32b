"""Hidden checks of assignment 4 (pretraining): masking, NSP pairs, truncation, AdamWeightDecay, schedule.

Each ``check_<function>(fn, rng)`` gets the student's function and a Generator seeded at
grading time, draws its own odd sizes and vocabularies from it, and returns
``(fraction of the points, message)``. The masking and NSP checks are properties and
frequencies (a right answer draws its randomness in any order it likes): invariants on
every sequence, and counts of the 80/10/10 branches and of IsNext within 5 standard
deviations of their probabilities. The optimizer and the schedule are compared with
numpy_bert's on fresh random inputs; when the answer is wrong, the check replays the
usual mistakes (bias correction, decay on every parameter, decay through the gradient,
eps inside the square root, ...) and names the one that matches.
"""

import numpy as np

from numpy_bert.course.checks.common import outputs
from numpy_bert.course.checks.scoring import Score, binomial_ok, close, percent
from numpy_bert.data import _truncate_seq_pair_lengths
from numpy_bert.optim import learning_rate as reference_learning_rate

SPECIAL_NAMES = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


# ----------------------------------------------------------------------------------------
# mask_ids


def _masking_vocab(rng):
    """A random vocabulary: 5 special ids, 3 [unused] ids, the rest ordinary."""
    V = int(rng.integers(30, 60)) * 2 + 1                       # odd, 61 .. 119
    chosen = rng.choice(V, size=8, replace=False)
    special = dict(zip(SPECIAL_NAMES, (int(i) for i in chosen[:5])))
    unused = chosen[5:]                                         # may be predicted, never a replacement
    can_predict = np.ones(V, dtype=bool)
    can_predict[chosen[:5]] = False
    replaceable = can_predict.copy()
    replaceable[unused] = False
    return V, special, can_predict, np.flatnonzero(replaceable)


def _masking_sequence(rng, special, can_predict, n):
    """[CLS] A [SEP] B [SEP] of n tokens, ordinary ids and one [UNK] inside A."""
    ordinary = np.flatnonzero(can_predict)
    body = rng.choice(ordinary, size=n - 3)
    cut = int(rng.integers(2, n - 4))
    ids = np.concatenate([[special["[CLS]"]], body[:cut], [special["[SEP]"]], body[cut:], [special["[SEP]"]]])
    ids[int(rng.integers(1, cut))] = special["[UNK]"]
    return ids.astype(np.int64)


def check_mask_ids(fn, rng):
    score = Score()
    V, special, can_predict, random_ids = _masking_vocab(rng)
    mask_id = special["[MASK]"]
    R = len(random_ids)

    # ---- one call: what comes back
    ids = _masking_sequence(rng, special, can_predict, int(rng.integers(20, 40)) * 2 + 1)
    before = ids.copy()
    result = outputs(fn(ids, can_predict, random_ids, mask_id, np.random.default_rng(rng.integers(2**32))),
                     3, "(masked, positions, labels)")
    masked = np.asarray(result[0])
    if masked.shape != ids.shape:
        return 0.0, f"masked has shape {masked.shape}; it must have the shape of ids, {ids.shape}"
    score.check(1, np.array_equal(ids, before), "mask_ids changed its input ids in place: mask a copy "
                "(ids.copy()), the caller keeps the unmasked sequence")

    # ---- many sequences: invariants on each, frequencies over all
    problems = {}  # first message of each kind

    def problem(kind, message):
        problems.setdefault(kind, message)

    counts = {"mask": 0, "random": 0, "kept": 0}
    expected_random = 0.0  # a random draw equal to the original counts as kept
    first_k = 0
    sequences = 150
    for s in range(sequences):
        n = int(rng.integers(15, 90)) * 2 + 1
        ids = _masking_sequence(rng, special, can_predict, n)
        prob, max_pred = (0.15, 20) if s % 2 == 0 else (0.25, 7)   # the arguments must be used
        result = outputs(fn(ids.copy(), can_predict, random_ids, mask_id, np.random.default_rng(rng.integers(2**32)),
                            masked_lm_prob=prob, max_predictions_per_seq=max_pred), 3, "(masked, positions, labels)")
        masked, positions, labels = (np.asarray(a) for a in result)
        candidates = np.flatnonzero(can_predict[ids])
        k = min(max_pred, max(1, int(round(prob * n))), len(candidates))
        if positions.shape != (len(positions),) or positions.dtype.kind not in "iu":
            return 0.0, f"positions must be a 1-D array of integers, got {positions.dtype} {positions.shape}"
        if len(positions) != k:
            hint = ""
            if len(positions) == min(max_pred, max(1, int(round(prob * len(candidates))))):
                hint = ": n counts every token of the sequence, [CLS] and [SEP] included"
            elif len(positions) > max_pred:
                hint = f": at most max_predictions_per_seq={max_pred}"
            elif len(positions) != round(prob * n):
                hint = f": use the masked_lm_prob={prob} and max_predictions_per_seq={max_pred} given"
            problem("count", f"picked {len(positions)} positions in a sequence of {n} tokens, expected "
                             f"min({max_pred}, max(1, round({prob} * {n}))) = {k}{hint}")
            continue
        if np.any(np.diff(positions) <= 0):
            problem("sorted", "positions must be distinct and in increasing order (pick without "
                              "replacement, then sort)" if len(set(positions.tolist())) == len(positions)
                    else "a position was picked twice: pick without replacement")
            continue
        if positions.min(initial=0) < 0 or positions.max(initial=0) >= n:
            problem("range", "a position is outside the sequence")
            continue
        bad = positions[~can_predict[ids[positions]]]
        if bad.size:
            token = [name for name, i in special.items() if i == ids[bad[0]]][0]
            problem("special", f"position {int(bad[0])} ({token}, a special token) was picked: special "
                               "tokens are never masked (use can_predict[ids])")
        if labels.shape != positions.shape or not np.array_equal(labels, ids[positions]):
            if labels.shape == positions.shape and np.array_equal(labels, masked[positions]):
                problem("labels", "labels hold the masked ids; they must be the original ids at the "
                                  "picked positions (what the model has to predict)")
            else:
                problem("labels", "labels must be the original ids at the picked positions")
        others = np.ones(n, dtype=bool)
        others[positions] = False
        if not np.array_equal(masked[others], ids[others]):
            problem("others", "a token that was not picked changed: only picked positions are masked")
        new, old = masked[positions], ids[positions]
        replaced = (new != mask_id) & (new != old)
        if np.any(replaced & ~np.isin(new, random_ids)):
            problem("replacement", "a random replacement was a special or [unused] token (or outside the "
                                   "vocabulary): draw it from random_ids")
        counts["mask"] += int(np.sum(new == mask_id))
        counts["random"] += int(np.sum(replaced))
        counts["kept"] += int(np.sum((new == old) & (new != mask_id)))
        expected_random += float(np.sum(0.1 * (1.0 - np.isin(old, random_ids) / R)))
        first_k += np.array_equal(positions, candidates[:k])
    weights = {"count": 2, "sorted": 1, "range": 1, "special": 3, "labels": 3, "others": 1, "replacement": 1}
    for kind, weight in weights.items():
        score.check(weight, kind not in problems, problems.get(kind, ""))

    total = sum(counts.values())
    if total:
        p_random = expected_random / total
        shares = (f"[MASK] {percent(counts['mask'] / total)}, random {percent(counts['random'] / total)}, "
                  f"kept {percent(counts['kept'] / total)} of {total} picked tokens")
        ok_mask = binomial_ok(counts["mask"], total, 0.8)
        ok_random = binomial_ok(counts["random"], total, p_random)
        ok_kept = binomial_ok(counts["kept"], total, 1.0 - 0.8 - p_random)
        message = f"{shares}; expected 80/10/10"
        if counts["mask"] == total:
            message += ": every picked token became [MASK]; 10% must get a random token and 10% stay as they are"
        elif counts["random"] == 0:
            message += ": the random-token branch is missing"
        elif counts["kept"] == 0:
            message += ": the keep branch is missing (10% of the picked tokens stay unchanged, and are predicted)"
        score.check(3, ok_mask and ok_random and ok_kept, message)
    score.check(1, first_k < sequences // 2,
                f"the picked positions were the first k predictable ones in {first_k} of {sequences} sequences: "
                "pick them uniformly at random (rng.permutation or rng.choice without replacement)")
    return score.result()


# ----------------------------------------------------------------------------------------
# create_nsp_pair


def check_create_nsp_pair(fn, rng):
    score = Score()
    cls_id, sep_id = 2, 3
    D = int(rng.integers(4, 8))
    documents, owner = [], {}  # owner: first id of a sentence -> (document, sentence)
    next_id = 10
    for d in range(D):
        sentences = []
        for s in range(int(rng.integers(3, 7))):
            length = int(rng.integers(2, 10))
            sentences.append(np.arange(next_id, next_id + length, dtype=np.int64))
            owner[next_id] = (d, s)
            next_id += length
        documents.append(sentences)

    problems = {}

    def problem(kind, message):
        problems.setdefault(kind, message)

    calls, is_next, swapped = 400, 0, 0
    from_doc = np.zeros(D)             # NotNext B drawn from each document
    expected_from = np.zeros(D)
    first_sentence, expected_first, not_next = 0, 0.0, 0
    for _ in range(calls):
        d = int(rng.integers(D))
        s = int(rng.integers(len(documents[d]) - 1))
        result = outputs(fn(documents, d, s, np.random.default_rng(rng.integers(2**32)), cls_id, sep_id), 3,
                         "(input_ids, token_type_ids, next_sentence_label)")
        input_ids, types = np.asarray(result[0]), np.asarray(result[1])
        label = result[2]
        if not isinstance(label, (int, np.integer)) or int(label) not in (0, 1):
            return 0.0, f"next_sentence_label must be the int 0 (IsNext) or 1 (NotNext), got {label!r}"
        label = int(label)
        a = documents[d][s]
        la = len(a)
        if (input_ids.ndim != 1 or len(input_ids) < la + 4 or input_ids[0] != cls_id
                or not np.array_equal(input_ids[1:la + 1], a) or input_ids[la + 1] != sep_id
                or input_ids[-1] != sep_id):
            problem("layout", "input_ids must be [CLS] A [SEP] B [SEP] with A = documents[doc_index]"
                              "[sentence_index] (a [CLS] first, a [SEP] after A and after B)")
            continue
        b = input_ids[la + 2:-1]
        where = owner.get(int(b[0])) if len(b) else None
        if where is None or not np.array_equal(b, documents[where[0]][where[1]]):
            problem("b", "B must be one whole sentence of a document")
            continue
        want_types = np.zeros(len(input_ids), dtype=np.int64)
        want_types[la + 2:] = 1
        if types.shape != want_types.shape or not np.array_equal(types, want_types):
            if types.shape == want_types.shape and np.array_equal(types[:-1], want_types[:-1]):
                problem("types", "token_type_ids: the final [SEP] belongs to segment B (type 1)")
            elif types.shape == want_types.shape and types[la + 1] == 1:
                problem("types", "token_type_ids: the [SEP] after A belongs to segment A (type 0)")
            else:
                problem("types", "token_type_ids must be 0 for [CLS] A [SEP] and 1 for B [SEP]")
        follows = where == (d, s + 1)
        if label == 0 and not follows:
            problem("label0", "next_sentence_label is 0 (IsNext) but B is not the sentence after A")
        if label == 1 and follows:
            swapped += 1
        is_next += follows
        if not follows:
            not_next += 1
            if where[0] == d:
                problem("same", "a NotNext B came from A's own document: draw it from the other documents "
                                "(it might even be the true next sentence)")
            from_doc[where[0]] += 1
            expected_from += np.where(np.arange(D) == d, 0.0, 1.0 / (D - 1))
            first_sentence += where[1] == 0
            expected_first += np.mean([1.0 / len(documents[j]) for j in range(D) if j != d])
    if swapped > calls // 4:
        problems.pop("label0", None)  # the same mistake seen from the other side
        problem("label1", f"next_sentence_label was 1 for {swapped} pairs whose B follows A: the convention "
                          "(HuggingFace's) is 0 = IsNext, 1 = NotNext")
    weights = {"layout": 2, "b": 2, "types": 1, "label0": 3, "label1": 3, "same": 3}
    for kind, weight in weights.items():
        score.check(weight, kind not in problems, problems.get(kind, ""))
    score.check(1, binomial_ok(is_next, calls, 0.5),
                f"B followed A in {percent(is_next / calls)} of {calls} pairs; it must be 50% (IsNext with "
                "probability 1/2)")
    if not_next and "same" not in problems:
        sd = np.sqrt(expected_from * (1 - 1.0 / (D - 1)))
        worst = int(np.argmax(np.abs(from_doc - expected_from) / np.maximum(sd, 1e-9)))
        score.check(1, np.all(np.abs(from_doc - expected_from) <= 5 * sd + 1),
                    f"a NotNext B came from document {worst} {int(from_doc[worst])} times, expected about "
                    f"{expected_from[worst]:.0f}: draw the document uniformly among the other documents")
        score.check(1, first_sentence <= expected_first + 5 * np.sqrt(expected_first) + 1,
                    f"a NotNext B was the first sentence of its document {first_sentence} times of {not_next}, "
                    f"expected about {expected_first:.0f}: draw the sentence uniformly too")
    return score.result()


# ----------------------------------------------------------------------------------------
# truncate_seq_pair


def check_truncate_seq_pair(fn, rng):
    score = Score()
    problems = {}

    def problem(kind, message):
        problems.setdefault(kind, message)

    front_cuts, removed_total = 0, 0
    for trial in range(300):
        la, lb = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        if trial % 5 == 0:
            lb = la                                             # ties: B loses first
        max_num_tokens = int(rng.integers(2, la + lb + 6))
        a = np.arange(100, 100 + la)
        b = np.arange(1000, 1000 + lb)
        result = outputs(fn(a.copy(), b.copy(), max_num_tokens, np.random.default_rng(rng.integers(2**32))), 2,
                         "(tokens_a, tokens_b)")
        out_a, out_b = np.asarray(result[0]), np.asarray(result[1])
        want = _truncate_seq_pair_lengths(la, lb, max_num_tokens)
        if (len(out_a), len(out_b)) != want:
            if len(out_a) + len(out_b) > max_num_tokens:
                problem("lengths", f"a pair of {la} + {lb} tokens came back with {len(out_a)} + {len(out_b)} > "
                                   f"max_num_tokens={max_num_tokens}")
            elif la + lb > max_num_tokens and len(out_a) + len(out_b) < max_num_tokens:
                problem("lengths", f"{la} + {lb} tokens with max_num_tokens={max_num_tokens} came back as "
                                   f"{len(out_a)} + {len(out_b)}: remove tokens only until the pair fits")
            else:
                problem("lengths", f"{la} + {lb} tokens with max_num_tokens={max_num_tokens} came back as "
                                   f"{len(out_a)} + {len(out_b)}, expected {want[0]} + {want[1]}: always "
                                   "remove from the longer segment (from B when they are equally long)")
            continue
        for name, out, full in (("tokens_a", out_a, a), ("tokens_b", out_b, b)):
            if len(out) and not (np.all(np.diff(out) == 1) and out[0] >= full[0] and out[-1] <= full[-1]):
                problem("contiguous", f"{name} came back not as a contiguous piece of its input")
            elif len(out):
                front_cuts += int(out[0] - full[0])
        removed_total += la + lb - sum(want)
    for kind in ("lengths", "contiguous"):
        score.check(2, kind not in problems, problems.get(kind, ""))
    if removed_total:
        score.check(1, binomial_ok(front_cuts, removed_total, 0.5),
                    f"{percent(front_cuts / removed_total)} of the {removed_total} removed tokens came from the "
                    "front: remove each one from the front or the back with probability 1/2")
    return score.result()


# ----------------------------------------------------------------------------------------
# use_weight_decay


def _decays(name):
    return not any(pattern in name for pattern in ("LayerNorm", "layer_norm", "bias"))


# the right versions of this assignment's functions that others call, which the grader puts
# in place of the student's while it grades another exercise (adam_weight_decay_step calls
# use_weight_decay: a wrong rule costs use_weight_decay's points only)
RIGHT_HELPERS = {"use_weight_decay": _decays}


def check_use_weight_decay(fn, rng):
    layer = int(rng.integers(0, 12))
    names = [
        "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias",
        f"bert.encoder.layer.{layer}.attention.self.query.weight",
        f"bert.encoder.layer.{layer}.attention.self.key.bias",
        f"bert.encoder.layer.{layer}.attention.output.dense.weight",
        f"bert.encoder.layer.{layer}.attention.output.LayerNorm.weight",
        f"bert.encoder.layer.{layer}.intermediate.dense.bias",
        f"bert.encoder.layer.{layer}.output.LayerNorm.bias",
        "bert.pooler.dense.weight", "cls.predictions.bias", "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.LayerNorm.weight", "cls.seq_relationship.weight", "classifier.weight",
        "classifier.bias", "encoder.layer_norm.weight",
    ]
    wrong = []
    for name in rng.permutation(names):
        got = fn(str(name))
        if not isinstance(got, (bool, np.bool_)):
            return 0.0, f"use_weight_decay must return True or False, got {got!r} for {str(name)!r}"
        if bool(got) != _decays(name):
            wrong.append(str(name))
    if not wrong:
        return 1.0, "correct"
    name = wrong[0]
    why = ("LayerNorm and bias parameters get no weight decay" if not _decays(name)
           else "only the names holding LayerNorm, layer_norm or bias are excluded")
    return (len(names) - len(wrong)) / len(names), (f"use_weight_decay({name!r}) returned {not _decays(name)} "
                                                    f"({len(wrong)} of {len(names)} names wrong): {why}")


# ----------------------------------------------------------------------------------------
# adam_weight_decay_step


def _adam_replay(params, grad_steps, lrs, weight_decay, beta1, beta2, eps, bias_correction=False,
                 decay=_decays, coupled=False, decay_times_lr=True, eps_inside=False):
    """Run a variant of AdamWeightDecay in float64 (the right one with the defaults); return
    (params, m, v) after every step, as new dicts."""
    p = {k: a.astype(np.float64) for k, a in params.items()}
    m = {k: np.zeros_like(a) for k, a in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    for t, (grads, lr) in enumerate(zip(grad_steps, lrs), start=1):
        for k in p:
            g = grads[k] + (weight_decay * p[k] if coupled and decay(k) else 0.0)
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            mh, vh = (m[k] / (1 - beta1 ** t), v[k] / (1 - beta2 ** t)) if bias_correction else (m[k], v[k])
            update = mh / (np.sqrt(vh + eps) if eps_inside else np.sqrt(vh) + eps)
            if decay(k) and not coupled:
                if decay_times_lr:
                    update = update + weight_decay * p[k]
                else:
                    p[k] = p[k] - weight_decay * p[k]
            p[k] = p[k] - lr * update
    return p, m, v


ADAM_MISTAKES = (
    (dict(bias_correction=True), "this is Adam with bias correction (m / (1 - beta1^t), v / (1 - beta2^t)): "
                                 "BERT's AdamWeightDecay has none"),
    (dict(decay=lambda name: True), "every parameter got weight decay: LayerNorm and bias parameters get none "
                                    "(use_weight_decay(name))"),
    (dict(decay=lambda name: False), "no parameter got weight decay: add weight_decay * p to the update of "
                                     "the parameters use_weight_decay allows"),
    (dict(coupled=True), "the weight decay went into the gradient (L2 regularisation, through m and v): it "
                         "must be added to the update, after m / (sqrt(v) + eps) (decoupled weight decay)"),
    (dict(decay_times_lr=False), "the weight decay is not multiplied by the learning rate: "
                                 "p <- p - lr * (m / (sqrt(v) + eps) + weight_decay * p)"),
    (dict(eps_inside=True), "eps is inside the square root: the denominator is sqrt(v) + eps"),
)


def check_adam_weight_decay_step(fn, rng):
    score = Score()
    H, N = int(rng.integers(2, 5)) * 2 + 1, int(rng.integers(1, 4)) * 2 + 1
    shapes = {
        f"bert.encoder.layer.{int(rng.integers(12))}.attention.self.query.weight": (N + 2, H),
        "bert.encoder.layer.0.attention.self.query.bias": (N + 2,),
        "bert.embeddings.LayerNorm.weight": (H,),
        "cls.predictions.bias": (N + 4,),
        "classifier.weight": (N, H),
        "bert.embeddings.word_embeddings.weight": (N + 6, H),   # gradients of 1e-6: eps matters here
    }
    tiny = "bert.embeddings.word_embeddings.weight"
    params0 = {k: rng.standard_normal(s) for k, s in shapes.items()}
    steps = 3
    grad_steps = [{k: rng.standard_normal(s) * (1e-6 if k == tiny else 1.0) for k, s in shapes.items()}
                  for _ in range(steps)]
    lrs = [float(x) for x in rng.uniform(1e-3, 1e-2, size=steps)]
    hyper = dict(weight_decay=0.1, beta1=0.8, beta2=0.95, eps=1e-6)   # not the defaults: the arguments count

    # (the grader puts RIGHT_HELPERS' use_weight_decay in place of the student's meanwhile)
    params = {k: a.copy() for k, a in params0.items()}
    arrays = dict(params)  # the objects a model would hold
    m = {k: np.zeros_like(a) for k, a in params0.items()}
    v = {k: np.zeros_like(a) for k, a in params0.items()}
    for grads, lr in zip(grad_steps, lrs):
        fn(params, {k: g.copy() for k, g in grads.items()}, m, v, lr, **hyper)

    want_p, want_m, want_v = _adam_replay(params0, grad_steps, lrs, **hyper)
    score.check(1, all(params[k] is arrays[k] for k in params),
                "params[name] was replaced by a new array: the model holds these arrays, update them in place "
                "(p -= lr * update)")
    got = {k: np.asarray(params[k], np.float64) for k in shapes}  # the values, wherever they are

    def matches(target):
        return all(close(got[k], target[k], rtol=1e-7, atol=1e-10) for k in shapes)

    message = ""
    if not matches(want_p):
        for change, why in ADAM_MISTAKES:
            if matches(_adam_replay(params0, grad_steps, lrs, **hyper, **change)[0]):
                message = why
                break
        else:
            wrong = [k for k in shapes if not close(got[k], want_p[k], rtol=1e-7, atol=1e-10)]
            right = [k for k in shapes if k not in wrong]
            message = (f"the parameters are wrong after {steps} steps: {', '.join(wrong)}"
                       + (f"; right: {', '.join(right)}" if right else ""))
    score.check(3, not message, message)
    moments_ok = all(close(m[k], want_m[k], rtol=1e-7, atol=1e-14) and close(v[k], want_v[k], rtol=1e-7, atol=1e-20)
                     for k in shapes)
    score.check(1, moments_ok, "m and v are not the running averages after the steps: keep them in the m and "
                               "v dicts (m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2)")
    return score.result()


# ----------------------------------------------------------------------------------------
# learning_rate


def check_learning_rate(fn, rng):
    score = Score()
    peak = float(rng.uniform(1e-5, 1e-3))
    warmup = int(rng.integers(3, 10))
    total = warmup + int(rng.integers(5, 25))
    steps = range(total + 4)
    got = np.array([float(fn(s, peak, warmup, total)) for s in steps])
    want = np.array([reference_learning_rate(s, peak, warmup, total) for s in steps])
    ok = np.allclose(got, want, rtol=1e-9, atol=1e-15 * peak)
    if not ok:
        bad = int(np.flatnonzero(~np.isclose(got, want, rtol=1e-9, atol=1e-15 * peak))[0])
        if got[0] != 0:
            why = f"lr(0) = {got[0]:.3g} but with a warmup the first update has lr 0 (peak_lr * step / warmup_steps)"
        elif np.any(got < 0):
            why = f"lr is negative past total_steps ({got.min():.3g}): it never goes below 0"
        elif np.allclose(got[warmup:total], peak):
            why = "lr stays at the peak after the warmup: it must fall linearly to 0 at total_steps"
        elif np.isclose(got[warmup], peak * (1 - warmup / total)):
            why = ("the decay starts at step 0 (peak * (1 - step / total_steps), google's code): here it starts "
                   "from the peak at step == warmup_steps")
        elif not np.isclose(got[warmup], peak):
            why = f"lr(warmup_steps={warmup}) = {got[warmup]:.3g}: the peak {peak:.3g} comes at step == warmup_steps"
        else:
            why = f"lr({bad}) = {got[bad]:.6g}, expected {want[bad]:.6g}"
        score.check(3, False, why)
    else:
        score.check(3, True, "")
    try:
        no_warmup = [float(fn(s, peak, 0, total)) for s in (0, total // 2, total)]
        want0 = [reference_learning_rate(s, peak, 0, total) for s in (0, total // 2, total)]
        score.check(1, np.allclose(no_warmup, want0, rtol=1e-9, atol=1e-15 * peak),
                    f"with warmup_steps=0, lr at steps 0, {total // 2}, {total} is {no_warmup}, expected {want0}")
    except ZeroDivisionError:
        score.check(1, False, "learning_rate(0, peak, warmup_steps=0, ...) divided by zero: with no warmup "
                              "the first update already has the peak lr")
    return score.result()
