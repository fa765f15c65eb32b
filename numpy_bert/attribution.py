"""Which tokens a prediction rests on: gradient x input and integrated gradients, per token.

The score explained is a probability, as the pipelines report it:

- fill-mask: ``score = softmax(MLM logits at a [MASK])[target]``, the target being the
  predicted token (or one you name);
- a sequence classifier (BertForSequenceClassification, single-label):
  ``score = softmax(logits)[target]``, the predicted class (or one you name).

The input is the word embedding of each token, ``x = word[input_ids]`` (T, H), passed as
``inputs_embeds`` (positions and token types are added by the model as usual). A
baseline ``x'`` replaces every ordinary token's vector by that of [PAD] (``"pad"``, the
default) or by zeros (``"zeros"``); the special tokens ([CLS], [SEP], [MASK]) keep
their own, so the question asked is "what do the words contribute?". With ``g(z) =
dscore/dz`` (loss_and_grads(return_input_grads=True) gives it):

    gradient x input        a_t = sum_h (x - x')[t, h] * g(x)[t, h]
    integrated gradients    a_t = sum_h (x - x')[t, h] * integral_0^1 g(x' + alpha (x - x'))[t, h] d alpha

Integrated gradients (Sundararajan et al. 2017) satisfy completeness: the attributions
add up to ``score(x) - score(x')``, up to the error of the integration rule. The rule
here is Gauss-Legendre with ``steps`` nodes on [0, 1] (the default of captum, too): it is
exact for polynomials of degree 2 * steps - 1 and, the integrand being smooth (softmax,
erf, LayerNorm's rsqrt), its error falls off much faster than the midpoint or
trapezoid rules' O(1 / steps^2). DEFAULT_STEPS = 32 keeps the completeness error well
under 1% on the shipped model and on all-MiniLM-L6-v2 (tests/test_attribution.py checks
it at 1%; each result reports its own ``completeness_error``).

    >>> from numpy_bert.attribution import fill_mask_attributions     # doctest: +SKIP
    >>> r = fill_mask_attributions(model, tokenizer, "The cat sat on the [MASK].")
    >>> r["target"], r["score"], r["attributions"]          # per token, float64 (T,)

Dimension key: S path points (a batch), T tokens, H hidden, V vocabulary, N labels.
"""

import numpy as np

from numpy_bert import model as models
from numpy_bert.layers import softmax_forward

METHODS = ("integrated_gradients", "gradient_x_input")
BASELINES = ("pad", "zeros")
DEFAULT_STEPS = 32
BATCH_SIZE = 16          # path points per forward/backward


def gauss_legendre(steps):
    """Nodes alpha_k in (0, 1) and weights w_k (summing to 1) of the ``steps``-point
    Gauss-Legendre rule: integral_0^1 f(alpha) d alpha ~ sum_k w_k f(alpha_k)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer (nodes of the integration rule), got {steps!r}")
    nodes, weights = np.polynomial.legendre.leggauss(int(steps))   # on [-1, 1]
    return (nodes + 1.0) / 2.0, weights / 2.0


class _Score:
    """score(z) and dscore/dz for a batch of inputs_embeds z (S, T, H) of one sequence.

    loss_and_grads gives the mean over the S rows of -log p_s (the cross-entropy of the
    target), so each row's gradient is -(1/S) dlog p_s/dz_s, and dp/dz = p dlog p/dz.
    """

    def __init__(self, model, token_type_ids, target, position=None):
        self.model, self.token_type_ids = model, token_type_ids         # (1, T)
        self.target, self.position = int(target), position

    def __call__(self, z):
        S, T = z.shape[:2]
        types = np.repeat(self.token_type_ids, S, axis=0)                # (S, T)
        if self.position is None:                                       # a classifier
            labels = np.full(S, self.target)
            _, grads, details = self.model.loss_and_grads(inputs_embeds=z, token_type_ids=types,
                                                          labels=labels, return_details=True,
                                                          return_input_grads=True)
            logits = details["logits"]                                  # (S, N)
        else:                                                           # the MLM head at a [MASK]
            labels = np.full((S, T), models.IGNORE_INDEX)
            labels[:, self.position] = self.target
            _, grads, details = self.model.loss_and_grads(inputs_embeds=z, token_type_ids=types,
                                                          labels=labels, return_details=True,
                                                          return_input_grads=True)
            logits = details.get("mlm_logits")                          # (S, V) BertForPreTraining
            if logits is None:
                logits = details["logits"][:, self.position]           # (S, V) BertForMaskedLM
        probs, _ = softmax_forward(np.asarray(logits, np.float64))
        p = probs[:, self.target]                                       # (S,)
        dlogp = -S * np.asarray(grads["inputs_embeds"], np.float64)     # (S, T, H)
        return p, p[:, None, None] * dlogp


def _scores_and_grads(score, points, batch_size=BATCH_SIZE):
    """score over many points (S, T, H), batch_size at a time -> (S,), (S, T, H)."""
    ps, gs = [], []
    for start in range(0, len(points), batch_size):
        p, g = score(points[start:start + batch_size])
        ps.append(p)
        gs.append(g)
    return np.concatenate(ps), np.concatenate(gs)


def attribute(score, x, baseline, method="integrated_gradients", steps=DEFAULT_STEPS):
    """Per-token attributions of ``score`` at ``x`` (T, H) against ``baseline`` (T, H).

    ``score(z)`` takes a batch (S, T, H) and returns (scores (S,), gradients (S, T, H)).
    Returns {"attributions" (T,), "score", "baseline_score", "method", "steps",
    "completeness_error"}: completeness_error = |sum(a) - (score - baseline_score)| /
    |score - baseline_score| (for gradient x input, how far it is from being complete).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    x = np.asarray(x, np.float64)
    baseline = np.asarray(baseline, np.float64)
    if baseline.shape != x.shape:
        raise ValueError(f"the baseline has shape {baseline.shape} but the input has {x.shape}")
    delta = x - baseline                                                # (T, H)
    if method == "gradient_x_input":
        ends, grads = _scores_and_grads(score, np.stack([x, baseline]))
        mean_grad = grads[0]                                            # g(x)
        steps = None
    else:
        alphas, weights = gauss_legendre(steps)
        path = baseline[None] + alphas[:, None, None] * delta[None]     # (steps, T, H)
        ends, _ = score(np.stack([x, baseline]))
        _, grads = _scores_and_grads(score, path)                       # (steps, T, H)
        mean_grad = np.tensordot(weights, grads, axes=1)                # (T, H) the integral
        steps = int(steps)
    attributions = (delta * mean_grad).sum(axis=-1)                     # (T,)
    change = float(ends[0] - ends[1])
    gap = abs(float(attributions.sum()) - change)
    return {"attributions": attributions, "score": float(ends[0]), "baseline_score": float(ends[1]),
            "method": method, "steps": steps,
            "completeness_error": gap / abs(change) if change else float("inf") if gap else 0.0}


def _baseline(model, tokenizer, ids, x, baseline):
    """The baseline (T, H): x with every ordinary token's vector replaced (module docstring)."""
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)} or an array (T, H), got {baseline!r}")
        word = model.params[model._prefix + "embeddings.word_embeddings.weight"]
        fill = word[tokenizer.pad_token_id] if baseline == "pad" else np.zeros(x.shape[1])
        keep = np.isin(ids, tokenizer.all_special_ids)[:, None]          # (T, 1) [CLS] [SEP] [MASK]
        return np.where(keep, x, fill)                                  # (T, H)
    return np.asarray(baseline, np.float64)


def _encode(model, tokenizer, text, text_pair=None):
    encoding = tokenizer(text, text_pair=text_pair)
    ids = np.asarray(encoding["input_ids"], np.int64)                   # (T,)
    types = np.asarray(encoding.get("token_type_ids", np.zeros_like(ids)), np.int64)
    if ids.size > model.config.max_position_embeddings:
        raise ValueError(f"the text is {ids.size} tokens long; this model takes at most "
                         f"{model.config.max_position_embeddings}: shorten it")
    word = model.params[model._prefix + "embeddings.word_embeddings.weight"]
    return ids, types[None], np.asarray(word[ids], np.float64)          # (T,), (1, T), (T, H)


def _in_eval(model, run):
    """run() with dropout off (the attributions of a deterministic function), restored after."""
    training = model.training
    model.eval()
    try:
        return run()
    finally:
        model.training = training


def fill_mask_attributions(model, tokenizer, text, target=None, mask_index=0, method="integrated_gradients",
                           steps=DEFAULT_STEPS, baseline="pad"):
    """Attributions of the probability of ``target`` at the ``mask_index``-th [MASK] of text.

    model: a BertForMaskedLM or BertForPreTraining; target: a vocabulary token (str) or id,
    default the predicted (most probable) token. Returns {"tokens", "token_ids",
    "attributions" (T,) float64, "target", "target_id", "position" (of the [MASK]),
    "score", "baseline_score", "method", "steps", "completeness_error", "baseline",
    "task": "fill-mask"}.
    """
    if not isinstance(model, (models.BertForMaskedLM, models.BertForPreTraining)):
        raise TypeError(f"fill-mask attributions need a BertForMaskedLM or BertForPreTraining, "
                        f"got {type(model).__name__}")
    ids, types, x = _encode(model, tokenizer, text)
    masks = np.flatnonzero(ids == tokenizer.mask_token_id)
    if masks.size == 0:
        raise ValueError(f"no {tokenizer.mask_token} in the text {text!r}: write {tokenizer.mask_token} "
                         f"where the word to explain should be predicted")
    if not 0 <= mask_index < masks.size:
        raise ValueError(f"mask_index {mask_index} is out of range: the text has {masks.size} "
                         f"{tokenizer.mask_token} token(s)")
    position = int(masks[mask_index])

    def run():
        target_id = _fill_mask_target(model, tokenizer, ids, types, position, target)
        score = _Score(model, types, target_id, position)
        result = attribute(score, x, _baseline(model, tokenizer, ids, x, baseline), method, steps)
        return {**_describe(tokenizer, ids), **result, "target": tokenizer.convert_ids_to_tokens([target_id])[0],
                "target_id": target_id, "position": position, "baseline": _name(baseline), "task": "fill-mask"}
    return _in_eval(model, run)


def _fill_mask_target(model, tokenizer, ids, types, position, target):
    if target is None:
        out = model(ids[None], types)
        logits = out.get("prediction_logits", out.get("logits"))         # (1, T, V)
        return int(np.argmax(logits[0, position]))
    if isinstance(target, str):
        if target not in tokenizer.vocab:
            raise ValueError(f"target {target!r} is not in the vocabulary; give a WordPiece token "
                             f"(numpy-bert tokenize shows them) or a token id")
        return int(tokenizer.vocab[target])
    if not 0 <= int(target) < model.config.vocab_size:
        raise ValueError(f"target id {target} is outside the vocabulary [0, {model.config.vocab_size})")
    return int(target)


def classification_attributions(model, tokenizer, text, text_pair=None, target=None,
                                method="integrated_gradients", steps=DEFAULT_STEPS, baseline="pad"):
    """Attributions of the probability of class ``target`` of a single-label classifier.

    model: a BertForSequenceClassification; target: a label name (config.id2label) or a
    class id, default the predicted class. Returns the keys of fill_mask_attributions,
    with "position" None and "task": "text-classification".
    """
    if not isinstance(model, models.BertForSequenceClassification):
        raise TypeError(f"classification attributions need a BertForSequenceClassification, "
                        f"got {type(model).__name__}")
    config = model.config
    if config.num_labels < 2 or config.problem_type not in (None, "single_label_classification"):
        raise ValueError(f"attributions explain a class probability: the classifier must be single-label "
                         f"with at least 2 labels (this one: problem_type={config.problem_type!r}, "
                         f"num_labels={config.num_labels})")
    ids, types, x = _encode(model, tokenizer, text, text_pair)
    labels = {str(name): int(i) for i, name in config.id2label.items()} if config.id2label else {}

    def run():
        if target is None:
            target_id = int(np.argmax(model(ids[None], types)["logits"][0]))
        elif isinstance(target, str):
            if target not in labels:
                raise ValueError(f"unknown label {target!r}; the model's labels are {sorted(labels)}")
            target_id = labels[target]
        elif not 0 <= int(target) < config.num_labels:
            raise ValueError(f"target class {target} is outside [0, {config.num_labels})")
        else:
            target_id = int(target)
        score = _Score(model, types, target_id)
        result = attribute(score, x, _baseline(model, tokenizer, ids, x, baseline), method, steps)
        name = config.id2label.get(target_id, target_id) if config.id2label else target_id
        return {**_describe(tokenizer, ids), **result, "target": name, "target_id": target_id,
                "position": None, "baseline": _name(baseline), "task": "text-classification"}
    return _in_eval(model, run)


def _describe(tokenizer, ids):
    return {"tokens": tokenizer.convert_ids_to_tokens(ids.tolist()), "token_ids": ids.tolist()}


def _name(baseline):
    return baseline if isinstance(baseline, str) else "given"
