"""Hidden checks of assignment 3 (backward passes).

Each check draws odd sizes and float64 inputs at grading time, runs numpy_bert's reference
forward for the cache, hands the student's backward a copy of that cache and a random
upstream gradient, and compares every returned gradient with the reference backward (which
says *how* it differs) and, where it matches, with centred differences of the forward.
Known mistakes (a diagonal softmax Jacobian, treating layer norm's mean and rstd as
constants, a missing 1/sqrt(HS), dE[ids] += ... with repeated ids, dividing by every row
instead of the kept ones) get a message of their own.
"""

import copy
import math
from types import SimpleNamespace

import numpy as np

from numpy_bert import layers, model
from numpy_bert.course.checks.common import (CheckFailure, as_array, backward_items, compare, gradient_error, odd,
                                             outputs, score)

__all__ = ["check_linear_backward", "check_softmax_backward", "check_layer_norm_backward",
           "check_gelu_backward", "check_scaled_dot_product_attention_backward",
           "check_self_attention_backward", "check_encoder_layer_backward",
           "check_tied_word_embeddings_backward", "check_cross_entropy_loss_and_grad"]


def check_linear_backward(fn, rng):
    B, T, IN, OUT = odd(rng, 1, 3), odd(rng), odd(rng), odd(rng)
    x = rng.standard_normal((B, T, IN))
    weight, bias = rng.standard_normal((OUT, IN)), rng.standard_normal(OUT)
    out, cache = layers.linear_forward(x, weight, bias)
    dout = rng.standard_normal(out.shape)
    expected = layers.linear_backward(dout, cache)
    got = outputs(fn(dout.copy(), copy.deepcopy(cache)), 3, "(dx, dweight, dbias)")
    dout_rows = dout.reshape(-1, OUT)
    mistakes = {"dweight": [(x.reshape(-1, IN).T @ dout_rows,
                             "dweight is transposed: weight is (out, in), so dweight = dout^T x")],
                "dbias": [(dout_rows.mean(axis=0), "dbias is the mean of dout's rows; it is their sum")]}
    items = backward_items(("dx", "dweight", "dbias"), got, expected, mistakes=mistakes,
                           forward=lambda x, weight, bias: layers.linear_forward(x, weight, bias)[0],
                           inputs={"x": x, "weight": weight, "bias": bias}, dout=dout, rng=rng)
    return score(items)


def check_softmax_backward(fn, rng):
    items = []
    # the attention's softmax over its last axis, and one over a middle axis
    for shape, axis in (((2, odd(rng), odd(rng), odd(rng)), -1), ((odd(rng), odd(rng), odd(rng)), 1)):
        x = rng.standard_normal(shape) * 2
        out, cache = layers.softmax_forward(x, axis=axis)
        dout = rng.standard_normal(shape)
        expected = layers.softmax_backward(dout, cache)
        got = fn(dout.copy(), copy.deepcopy(cache))
        name = f"dx (axis={axis})"
        diagonal = out * (1.0 - out) * dout
        mistakes = [(diagonal, f"{name} uses only the Jacobian's diagonal out * (1 - out): every out_j "
                               f"depends on every x_i of its row, so dx = out * (dout - sum(dout * out))")]
        if axis != -1:
            wrong_axis = out * (dout - (dout * out).sum(axis=-1, keepdims=True))
            mistakes.append((wrong_axis, f"{name} sums over the last axis; use the cache's axis"))
        items += backward_items((name,), (got,), (expected,), mistakes={name: mistakes},
                                forward=lambda x: layers.softmax_forward(x, axis=axis)[0],
                                inputs={"x": x}, dout=dout, rng=rng, wrt={name: "x"})
    return score(items)


def check_layer_norm_backward(fn, rng):
    B, T, H = odd(rng, 1, 3), odd(rng), odd(rng, 5, 11)
    x = rng.standard_normal((B, T, H)) * 3 + 1
    weight, bias = rng.standard_normal(H), rng.standard_normal(H)
    eps = 1e-5
    out, cache = layers.layer_norm_forward(x, weight, bias, eps)
    dout = rng.standard_normal(out.shape)
    expected = layers.layer_norm_backward(dout, cache)
    got = outputs(fn(dout.copy(), copy.deepcopy(cache)), 3, "(dx, dweight, dbias)")
    xhat, rstd, _ = cache
    dxhat = dout * weight
    mistakes = {"dx": [(rstd * dxhat, "dx treats mean and rstd as constants (dx = rstd * dxhat): they depend on x "
                                      "too, which adds - mean(dxhat) - xhat * mean(dxhat * xhat)"),
                       (rstd * (dout - dout.mean(-1, keepdims=True) - xhat * (dout * xhat).mean(-1, keepdims=True)),
                        "dx forgets the weight: dxhat = dout * weight")],
                "dweight": [(dout * xhat, "dweight must be summed over every row (all axes but the last)")],
                "dbias": [(dout, "dbias must be summed over every row (all axes but the last)")]}
    items = backward_items(("dx", "dweight", "dbias"), got, expected, mistakes=mistakes,
                           forward=lambda x, weight, bias: layers.layer_norm_forward(x, weight, bias, eps)[0],
                           inputs={"x": x, "weight": weight, "bias": bias}, dout=dout, rng=rng)
    return score(items)


def check_gelu_backward(fn, rng):
    x = rng.standard_normal((odd(rng, 1, 3), odd(rng), odd(rng))) * 2
    out, cache = layers.gelu_forward(x)
    dout = rng.standard_normal(x.shape)
    expected = layers.gelu_backward(dout, cache)
    got = fn(dout.copy(), copy.deepcopy(cache))
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    mistakes = [(dout * cdf, "dx misses the product rule's second term: d/dx [x Phi(x)] = Phi(x) + x phi(x)"),
                (dout * x * density, "dx misses the product rule's first term: d/dx [x Phi(x)] = Phi(x) + x phi(x)"),
                (layers.gelu_tanh_backward(dout, x), "dx is the tanh approximation's derivative; the exact GELU "
                                                     "is x Phi(x) with erf")]
    items = backward_items(("dx",), (got,), (expected,), mistakes={"dx": mistakes},
                           forward=lambda x: layers.gelu_forward(x)[0], inputs={"x": x}, dout=dout, rng=rng)
    return score(items)


def _attention_inputs(rng, HS):
    """q, k, v (B, NH, T, HS) and an additive mask with the last keys of one sequence padded."""
    B, NH, T = 2, odd(rng, 1, 3), odd(rng, 5, 7)
    q, k, v = (rng.standard_normal((B, NH, T, HS)) for _ in range(3))
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, T - 2:] = 0
    return q, k, v, layers.additive_attention_mask(attention_mask, np.float64)


def _attention(q, k, v, mask):
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1]) + mask   # (B, NH, T, T)
    probs, _ = layers.softmax_forward(scores)
    return probs @ v, probs


def _attention_backward(dcontext, cache):
    """The right scaled_dot_product_attention_backward: (dq, dk, dv)."""
    q, k, v, probs = cache
    HS = q.shape[-1]
    dscores = layers.softmax_backward(dcontext @ v.swapaxes(-1, -2), (probs, -1))   # (B, NH, T, T)
    return (dscores @ k / math.sqrt(HS), dscores.swapaxes(-1, -2) @ q / math.sqrt(HS),
            probs.swapaxes(-1, -2) @ dcontext)


def check_scaled_dot_product_attention_backward(fn, rng):
    HS = int(rng.choice([9, 25]))                            # sqrt(HS) a whole number: 3 or 5
    q, k, v, mask = _attention_inputs(rng, HS)
    context, probs = _attention(q, k, v, mask)
    dcontext = rng.standard_normal(context.shape)
    dscores = layers.softmax_backward(dcontext @ v.swapaxes(-1, -2), (probs, -1))
    expected = _attention_backward(dcontext, (q, k, v, probs))
    got = outputs(fn(dcontext.copy(), copy.deepcopy((q, k, v, probs))), 3, "(dq, dk, dv)")
    scale_hint = {math.sqrt(HS): "is the 1/sqrt(HS) in the backward?",
                  1 / math.sqrt(HS): "divide by sqrt(HS) once, not twice"}
    mistakes = {"dk": [(dscores @ q / math.sqrt(HS), "dk uses dscores where its transpose belongs: "
                                                     "scores = q k^T, so dk = dscores^T q / sqrt(HS)")],
                "dv": [(probs @ dcontext, "dv uses probs where its transpose belongs: dv = probs^T dcontext")]}
    items = backward_items(("dq", "dk", "dv"), got, expected, mistakes=mistakes,
                           factor_hints={"dq": scale_hint, "dk": scale_hint},
                           forward=lambda q, k, v: _attention(q, k, v, mask)[0],
                           inputs={"q": q, "k": k, "v": v}, dout=dcontext, rng=rng)
    return score(items)


_ATTENTION_GRADS = ("dx", "dq_weight", "dq_bias", "dk_weight", "dk_bias", "dv_weight", "dv_bias")


def check_self_attention_backward(fn, rng):
    B, NH, T = 2, odd(rng, 1, 3), odd(rng, 5, 7)
    HS = odd(rng, 3, 5)
    H = NH * HS
    x = rng.standard_normal((B, T, H))
    weights = {}
    for name in ("q", "k", "v"):
        weights[name + "_weight"] = rng.standard_normal((H, H)) * 0.5
        weights[name + "_bias"] = rng.standard_normal(H)
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, T - 2:] = 0
    mask = layers.additive_attention_mask(attention_mask, np.float64)

    def forward(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias):
        return layers.self_attention_forward(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, mask, NH)[0]

    context, cache = layers.self_attention_forward(x, *weights.values(), mask, NH)
    dcontext = rng.standard_normal(context.shape)
    expected = layers.self_attention_backward(dcontext, cache)
    got = outputs(fn(dcontext.copy(), copy.deepcopy(cache)), 7, "(dx, dq_weight, dq_bias, dk_weight, dk_bias, "
                                                         "dv_weight, dv_bias)")
    # the key bias's gradient is 0 in exact arithmetic: measure it against the others' scale
    scale = max(float(np.abs(g).max()) for name, g in zip(_ATTENTION_GRADS, expected) if name != "dk_bias")
    key_bias_hint = ("the key bias's gradient is 0: q . b_k shifts every score of a query by the same "
                     "amount, and softmax ignores such shifts")
    items = backward_items(_ATTENTION_GRADS, got, expected, scales={"dk_bias": scale},
                           hints={"dk_bias": {"wrong": key_bias_hint}},
                           forward=forward, inputs=dict(x=x, **weights), dout=dcontext, rng=rng)
    return score(items, weights={"dx": 6.0})   # dx weighs as much as the six parameter gradients


_LAYER_PARAMS = {  # name -> shape, with H hidden and I intermediate
    "attention.self.query.weight": "HH", "attention.self.query.bias": "H",
    "attention.self.key.weight": "HH", "attention.self.key.bias": "H",
    "attention.self.value.weight": "HH", "attention.self.value.bias": "H",
    "attention.output.dense.weight": "HH", "attention.output.dense.bias": "H",
    "attention.output.LayerNorm.weight": "H", "attention.output.LayerNorm.bias": "H",
    "intermediate.dense.weight": "IH", "intermediate.dense.bias": "I",
    "output.dense.weight": "HI", "output.dense.bias": "H",
    "output.LayerNorm.weight": "H", "output.LayerNorm.bias": "H",
}
# the order the backward meets them, from dy back to dx
_BACKWARD_ORDER = ["output.LayerNorm", "output.dense", "intermediate.dense", "attention.output.LayerNorm",
                   "attention.output.dense", "attention.self.value", "attention.self.key", "attention.self.query"]


def encoder_layer_case(rng):
    """A random encoder layer at odd sizes: (params, config, x, mask) for model.encoder_layer_forward."""
    NH, HS = odd(rng, 1, 3), odd(rng, 3, 5)
    H, I, B, T = NH * HS, odd(rng, 7, 11), 2, odd(rng, 5, 7)
    sizes = {"H": H, "I": I}
    params = {}
    for name, shape in _LAYER_PARAMS.items():
        dims = tuple(sizes[c] for c in shape)
        params[name] = rng.standard_normal(dims) * (0.5 if len(dims) == 2 else 1.0)
        if name.endswith("LayerNorm.weight"):
            params[name] = 1.0 + 0.3 * rng.standard_normal(dims)
    config = SimpleNamespace(num_attention_heads=NH, hidden_act="gelu", layer_norm_eps=1e-5,
                             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, T - 2:] = 0
    x = rng.standard_normal((B, T, H))
    return params, config, x, layers.additive_attention_mask(attention_mask, np.float64)


def check_encoder_layer_backward(fn, rng):
    params, config, x, mask = encoder_layer_case(rng)

    def forward(x, **p):
        return model.encoder_layer_forward(layers, p, "", config, x, mask, None, False)[0]

    y, cache = model.encoder_layer_forward(layers, params, "", config, x, mask, None, False)
    dy = rng.standard_normal(y.shape)
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dx = model.encoder_layer_backward(layers, dy, copy.deepcopy(cache), grads, "")
    result = outputs(fn(dy.copy(), copy.deepcopy(cache)), 2, "(dx, grads)")
    got_dx, got_grads = result
    if not isinstance(got_grads, dict):
        raise CheckFailure(f"grads is a {type(got_grads).__name__}; return a dict keyed by parameter name "
                           f"({', '.join(list(_LAYER_PARAMS)[:2])}, ...)")
    # dx without the residual x -> a: what forgetting "dx += dh" gives
    dh = _residual_gradient(dy, cache)
    items = [("dx", compare("dx", got_dx, dx, mistakes=[(dx - dh, "dx misses the residual: x also reaches a "
                                                                   "through h + x, so add dh to dx")]))]
    key_scale = max(float(np.abs(g).max()) for g in grads.values())
    for module in _BACKWARD_ORDER:
        for part in ("weight", "bias"):
            name = f"{module}.{part}"
            if name not in got_grads:
                items.append((name, f"grads has no {name!r}"))
                continue
            scale = key_scale if name == "attention.self.key.bias" else None
            items.append((name, compare(name, got_grads[name], grads[name], scale=scale)))
    fraction, message = score(items, weights={"dx": 16.0})   # dx weighs as much as the 16 parameter gradients
    wrong = [name for name, problem in items if problem and name != "dx"]
    if wrong and fraction > 0:
        message += (f". Going backward from dy, the first wrong gradient is {wrong[0]}: look at the step that "
                    f"computes it and the residual just after it")
    if fraction == 1.0:
        # every tensor matches the reference; confirm dx with centred differences too
        error = gradient_error(forward, dict(x=x, **params), "x", got_dx, dy, rng, max_entries=6)
        if error > 1e-6:
            return 0.5, f"dx fails the gradient check (relative error {error:.1e})"
    return fraction, message


def _residual_gradient(dy, cache):
    """dh, the gradient at a's LayerNorm input h + x (what the residual passes to x)."""
    ds, _, _ = layers.layer_norm_backward(dy, cache["output_layer_norm"])
    di, _, _ = layers.linear_backward(ds, cache["output"])
    di = layers.activation_backward(di, cache["activation"])
    da, _, _ = layers.linear_backward(di, cache["intermediate"])
    dh, _, _ = layers.layer_norm_backward(da + ds, cache["attention_layer_norm"])
    return dh


def check_tied_word_embeddings_backward(fn, rng):
    V, H, B, T, M = odd(rng, 5, 7), odd(rng), 2, odd(rng, 7, 9), odd(rng, 3, 5)
    input_ids = rng.integers(0, V, size=(B, T))
    input_ids[0, :2] = input_ids[1, -1]                      # a token that occurs at least three times
    dembeddings = rng.standard_normal((B, T, H))
    t = rng.standard_normal((M, H))
    dlogits = rng.standard_normal((M, V))
    decoder = dlogits.T @ t                                  # (V, H)
    lookup = layers.embedding_backward(dembeddings, (input_ids, V, None))  # (V, H)
    expected = (decoder + lookup, dlogits.sum(axis=0))
    got = outputs(fn(dlogits.copy(), t.copy(), dembeddings.copy(), input_ids.copy(), V), 2,
                  "(dword_embeddings, dbias)")
    once = decoder.copy()
    once[input_ids.reshape(-1)] += dembeddings.reshape(-1, H)   # repeated ids: the last one wins
    mistakes = {"dword_embeddings": [
        (decoder, "dword_embeddings holds only the decoder's gradient: the matrix is tied, so the lookup's "
                  "gradient must be added to it (+=)"),
        (lookup, "dword_embeddings holds only the lookup's gradient: the matrix is tied, so the decoder's "
                 "dlogits^T t must be added to it (+=)"),
        (once, "dword_embeddings gets one contribution per token id even where the id occurs several times "
               "(E[ids] += ... does not add up repeats): use np.add.at")]}
    items = backward_items(("dword_embeddings", "dbias"), got, expected, mistakes=mistakes)
    return score(items)


def check_cross_entropy_loss_and_grad(fn, rng):
    N, C = odd(rng, 9, 13), odd(rng, 5, 9)
    logits = rng.standard_normal((N, C)) * 3
    labels = rng.integers(0, C, size=N)
    ignored = rng.choice(N, size=N // 3, replace=False)
    labels[ignored] = -100
    n = N - len(ignored)
    loss, cache = layers.cross_entropy_forward(logits, labels)
    dlogits = layers.cross_entropy_backward(1.0, cache)
    got = outputs(fn(logits.copy(), labels.copy()), 2, "(loss, dlogits)")
    kept = labels != -100
    hint = {N / n: f"divide by the number of kept labels ({n}), not by every row ({N})",
            n / N: f"divide by the number of kept labels ({n}), not by every row ({N})"}
    items = [("loss", compare("loss", np.float64(got[0]) if np.ndim(got[0]) == 0 else got[0], np.float64(loss),
                              factor_hints=hint))]
    grad = as_array(got[1])
    if grad is None or grad.shape != (N, C):
        items.append(("dlogits", compare("dlogits", got[1], dlogits)))
    else:
        items.append(("dlogits", compare("dlogits of the kept rows", grad[kept], dlogits[kept], factor_hints=hint)))
        items.append(("ignored rows", None if not grad[~kept].any() else
                      "dlogits is not 0 on the ignored rows (label -100): they must get no gradient"))
    # properties: huge logits must not overflow; a batch without labels gives 0 and zeros
    items.append(("large logits", _large_logits_problem(fn, logits * 1000.0, labels)))
    items.append(("all labels ignored", _all_ignored_problem(fn, logits, N, C)))
    return score(items)


def _large_logits_problem(fn, logits, labels):
    try:
        big_loss, _ = outputs(fn(logits.copy(), labels.copy()), 2, "(loss, dlogits)")
        with np.errstate(all="ignore"):
            big_loss = np.float64(big_loss)
    except Exception as exc:  # noqa: BLE001 - the student's code
        return f"raised {type(exc).__name__} for large logits: {exc}"
    if not np.isfinite(big_loss):
        return "the loss is not finite for large logits (overflow): subtract each row's max before exp"
    return compare("the loss for logits * 1000", big_loss, np.float64(layers.cross_entropy_forward(logits, labels)[0]))


def _all_ignored_problem(fn, logits, N, C):
    message = "with every label ignored the loss must be 0 and dlogits all zeros (not NaN)"
    try:
        with np.errstate(all="ignore"):
            loss, grad = outputs(fn(logits.copy(), np.full(N, -100)), 2, "(loss, dlogits)")
            ok = np.ndim(loss) == 0 and float(loss) == 0.0 and np.shape(grad) == (N, C) and not np.any(grad)
    except Exception as exc:  # noqa: BLE001 - the student's code
        return f"{message}; it raised {type(exc).__name__}: {exc}"
    return None if ok else message


# the right versions of this assignment's functions, which the grader puts in place of the
# student's while it grades another exercise (the encoder layer calls layer_norm_backward)
RIGHT_HELPERS = {
    "linear_backward": layers.linear_backward,
    "softmax_backward": layers.softmax_backward,
    "layer_norm_backward": layers.layer_norm_backward,
    "gelu_backward": layers.gelu_backward,
    "scaled_dot_product_attention_backward": _attention_backward,
    "self_attention_backward": layers.self_attention_backward,
}
