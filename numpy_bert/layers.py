"""BERT's layers as pairs of plain NumPy functions: a forward and its hand-derived backward.

This file is the reference: each layer is its formula written as NumPy, to be read. The
fast versions, with the same names and signatures, live in ``numpy_bert.fast`` (threads,
in-place kernels, a fitted float32 erfc); each is tested to compute the same numbers as
the function here. The model uses the fast ones by default and these with
``layers="reference"``; ``numpy_bert.gradcheck`` and the notebooks use these.

Every layer is written the same way (CS231n / llm.c style)::

    out, cache = linear_forward(x, weight, bias)         # forward: keep what the backward needs
    dx, dweight, dbias = linear_backward(dout, cache)    # backward: grads in the forward's argument order

``dout`` is the gradient of the loss with respect to ``out``; the backward returns the
gradient with respect to each array argument of the forward, in order (arguments that
cannot have a gradient, such as token ids, labels or the attention mask, are skipped).
Each docstring states the forward formula and the backward derived from it; comments in
each backward quote the forward line that a step undoes.

Dimension key (shape comments such as ``# (B, NH, T, HS)``)::

    B  batch size            T  tokens per sequence        H  hidden size
    NH attention heads       HS head size (H / NH)         I  intermediate size
    V  vocabulary (rows)     N  rows of a flattened batch  C  classes

Conventions (those of HuggingFace transformers' BERT): linear layers compute
``x @ W.T + b`` with ``W`` stored (out, in); layer norm uses the biased variance with eps
inside the square root; GELU is exact (erf) for ``hidden_act="gelu"``; the attention mask
is additive: 0 for a key to keep, ``finfo(dtype).min`` to drop it. Float32 in, float32 out.
"""

import math

import numpy as np

from numpy_bert.special import erf

__all__ = [
    "linear_forward", "linear_backward",
    "gelu_forward", "gelu_backward",
    "gelu_tanh_forward", "gelu_tanh_backward",
    "relu_forward", "relu_backward",
    "ACTIVATIONS", "activation_forward", "activation_backward",
    "tanh_forward", "tanh_backward",
    "layer_norm_forward", "layer_norm_backward",
    "softmax_forward", "softmax_backward",
    "embedding_forward", "embedding_backward",
    "dropout_forward", "dropout_backward",
    "additive_attention_mask",
    "self_attention_forward", "self_attention_backward",
    "cross_entropy_forward", "cross_entropy_backward",
    "mse_loss_forward", "mse_loss_backward",
    "bce_with_logits_forward", "bce_with_logits_backward",
]


# ----------------------------------------------------------------------------------------
# linear
# ----------------------------------------------------------------------------------------

def linear_forward(x, weight, bias):
    """Affine layer in HuggingFace's layout: ``out = x @ W.T + b``.

    x (..., in), weight (out, in), bias (out,) or None -> out (..., out).

    Backward, with ``x`` and ``dout`` flattened to rows (N, in) and (N, out)::

        dx = dout @ W;   dW = dout.T @ x;   db = dout summed over the rows

    Cache: (x, weight, whether there is a bias).
    """
    if weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear_forward: x has shape {x.shape} but weight is {weight.shape} (out, in); "
                         f"x's last dimension must be {weight.shape[-1]}")
    out = x @ weight.T                                      # (..., out)
    if bias is not None:
        out = out + bias
    return out, (x, weight, bias is not None)


def linear_backward(dout, cache):
    """Backward of ``out = x @ W.T + b``: returns ``(dx, dweight, dbias)`` (dbias None
    when the forward had no bias)."""
    x, weight, has_bias = cache
    dout2 = dout.reshape(-1, weight.shape[0])               # (N, out)
    x2 = x.reshape(-1, weight.shape[1])                     # (N, in)
    # out = x @ W.T
    dx = (dout2 @ weight).reshape(x.shape)                  # (..., in)
    dweight = dout2.T @ x2                                  # (out, in)
    # out = out + b (broadcast over the rows)
    dbias = dout2.sum(axis=0) if has_bias else None         # (out,)
    return dx, dweight, dbias


# ----------------------------------------------------------------------------------------
# activations: GELU (exact and tanh form), ReLU, tanh
# ----------------------------------------------------------------------------------------

def gelu_forward(x):
    """Exact GELU (``hidden_act="gelu"``): ``out = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``,
    with Phi the standard normal CDF.

    Backward: ``dx = dout * (Phi(x) + x phi(x))``, with the normal density
    ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``.
    Cache: x (Phi is recomputed in the backward).
    """
    out = 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    return out, x


def gelu_backward(dout, cache):
    """Backward of exact GELU: ``dx = dout * (Phi(x) + x phi(x))``."""
    x = cache
    # out = x * Phi(x): d/dx = Phi(x) + x * Phi'(x), and Phi' is the normal density phi
    Phi = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    phi = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return dout * (Phi + x * phi)


_GELU_TANH_C = 0.044715


def gelu_tanh_forward(x):
    """GELU, tanh approximation (``"gelu_new"``, ``"gelu_pytorch_tanh"``)::

        out = 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)

    Backward, with ``t = tanh(u)`` and ``du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)``::

        dx = dout * (0.5 (1 + t) + 0.5 x (1 - t^2) du/dx)

    Cache: x (t is recomputed).
    """
    u = math.sqrt(2.0 / math.pi) * (x + _GELU_TANH_C * x ** 3)
    return 0.5 * x * (1.0 + np.tanh(u)), x


def gelu_tanh_backward(dout, cache):
    """Backward of tanh-GELU (formula in gelu_tanh_forward)."""
    x = cache
    t = np.tanh(math.sqrt(2.0 / math.pi) * (x + _GELU_TANH_C * x ** 3))
    du_dx = math.sqrt(2.0 / math.pi) * (1.0 + 3.0 * _GELU_TANH_C * x ** 2)
    # out = 0.5 x (1 + t): product rule, with dt/du = 1 - t^2
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du_dx)


def relu_forward(x):
    """``out = max(x, 0)``. Backward: ``dx = dout * (x > 0)``. Cache: the mask ``x > 0``."""
    mask = x > 0
    return x * mask, mask


def relu_backward(dout, cache):
    """Backward of ReLU: ``dx = dout * (x > 0)``."""
    return dout * cache


def tanh_forward(x):
    """``out = tanh(x)`` (BERT's pooler). Backward: ``dx = dout * (1 - out^2)``. Cache: out."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Backward of tanh: ``dx = dout * (1 - out^2)``."""
    out = cache
    return dout * (1.0 - out * out)


# config.json's hidden_act -> the layer that computes it (the one table of activations:
# BertConfig checks names against it, numpy_bert.fast maps it to its own functions)
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def activation_forward(x, hidden_act, keep_caches=False):
    """The activation named by ``config.hidden_act`` (a key of ACTIVATIONS).

    Returns ``(out, cache)``. ``keep_caches`` says that a backward will follow; the
    reference keeps its cache either way (``numpy_bert.fast`` then keeps GELU's
    derivative instead of x).
    """
    if hidden_act not in ACTIVATIONS:
        raise ValueError(f"unknown hidden_act {hidden_act!r}; choose one of {sorted(ACTIVATIONS)}")
    forward = globals()[ACTIVATIONS[hidden_act] + "_forward"]
    out, cache = forward(x)
    return out, (hidden_act, cache)


def activation_backward(dout, cache):
    """Backward of activation_forward: the backward of the activation named in the cache."""
    hidden_act, inner = cache
    return globals()[ACTIVATIONS[hidden_act] + "_backward"](dout, inner)


# ----------------------------------------------------------------------------------------
# layer norm
# ----------------------------------------------------------------------------------------

def layer_norm_forward(x, weight, bias, eps):
    """Layer normalisation over the last axis (H), as torch.nn.LayerNorm::

        mean = x.mean(-1);  var = ((x - mean)^2).mean(-1)        # biased variance
        rstd = 1 / sqrt(var + eps)                               # eps inside the root
        xhat = (x - mean) * rstd;  out = xhat * weight + bias

    Backward (``dxhat = dout * weight``, means over the last axis)::

        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dweight = sum(dout * xhat) over all rows;   dbias = sum(dout) over all rows

    Cache: xhat (..., H), rstd (..., 1) and weight.
    """
    mean = x.mean(axis=-1, keepdims=True)                   # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)    # (..., 1)
    rstd = 1.0 / np.sqrt(var + eps)                         # (..., 1)
    xhat = (x - mean) * rstd                                # (..., H)
    out = xhat * weight + bias                              # (..., H)
    return out, (xhat, rstd, weight)


def layer_norm_backward(dout, cache):
    """Backward of layer norm: ``(dx, dweight, dbias)``, formulas in layer_norm_forward."""
    xhat, rstd, weight = cache
    H = xhat.shape[-1]
    # out = xhat * weight + bias
    dbias = dout.reshape(-1, H).sum(axis=0)                 # (H,)
    dweight = (dout * xhat).reshape(-1, H).sum(axis=0)      # (H,)
    dxhat = dout * weight                                   # (..., H)
    # xhat = (x - mean) * rstd, where mean and rstd depend on x too
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))  # (..., H)
    return dx, dweight, dbias


# ----------------------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------------------

def softmax_forward(x, axis=-1):
    """``out = exp(x) / sum(exp(x), axis)``, computed as ``exp(x - max(x))`` over the same
    sum (equal, and no overflow).

    Backward: ``dx = out * (dout - sum(dout * out, axis))``. Cache: (out, axis).
    """
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)
    return out, (out, axis)


def softmax_backward(dout, cache):
    """Backward of softmax: ``dx = out * (dout - sum(dout * out, axis))``."""
    out, axis = cache
    # d out_i / d x_j = out_i (delta_ij - out_j)
    return out * (dout - (dout * out).sum(axis=axis, keepdims=True))


# ----------------------------------------------------------------------------------------
# embedding lookup
# ----------------------------------------------------------------------------------------

def embedding_forward(ids, weight, padding_idx=None):
    """Row lookup: ``out[...] = weight[ids[...]]``; ids (...) integers, weight (V, H) -> (..., H).

    Backward: a scatter-add, ``dweight[v] = sum of dout[i] over the positions i with
    ids[i] == v``; row ``padding_idx`` (if given) gets no gradient, as in
    ``torch.nn.Embedding(padding_idx=...)``.
    Cache: (ids, V, padding_idx).
    """
    ids = np.asarray(ids)
    V = weight.shape[0]
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding_forward: ids must be integers (token ids), got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"embedding_forward: ids contain {bad}, outside [0, {V}) for a table of {V} "
                         f"rows; check the tokenizer's vocab matches the model")
    if padding_idx is not None and not -V <= padding_idx < V:
        raise ValueError(f"embedding_forward: padding_idx {padding_idx} is outside the table of {V} rows")
    if padding_idx is not None:
        padding_idx %= V                                    # a negative index counts from the end
    return weight[ids], (ids, V, padding_idx)               # (..., H)


def embedding_backward(dout, cache):
    """Backward of the lookup: returns ``dweight`` (V, H), a scatter-add of dout's rows."""
    ids, V, padding_idx = cache
    H = dout.shape[-1]
    dweight = np.zeros((V, H), dout.dtype)                  # (V, H)
    # out = weight[ids]: every position adds its gradient into its row (repeats add up)
    np.add.at(dweight, ids.reshape(-1), dout.reshape(-1, H))
    if padding_idx is not None:
        dweight[padding_idx] = 0.0                          # the padding row is never trained
    return dweight


# ----------------------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------------------

def dropout_forward(x, p, rng, training):
    """Inverted dropout: ``out = x * mask / (1 - p)``, each unit kept with probability 1 - p.

    ``mask = (u >= p)`` with u uniform on [0, 1) in steps of 2^-32 (32 random bits per
    unit, from ``rng``, a ``numpy.random.Generator``: the same seed drops the same units,
    in float32 and float64 alike). Not training, or p = 0: the identity (``out`` is ``x``).

    Backward: ``dx = dout * mask / (1 - p)``, with the forward's mask.
    Cache: (mask, 1 / (1 - p)), or (None, 1.0) when inactive.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout_forward: dropout probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout_forward: training with p > 0 needs a numpy.random.Generator as rng "
                        f"(e.g. np.random.default_rng(0)), got {type(rng).__name__}")
    # u = bits / 2^32; u >= p  <=>  bits >= ceil(p 2^32)
    bits = rng.integers(0, 2 ** 32, size=x.shape, dtype=np.uint32)
    mask = bits >= min(math.ceil(p * 2 ** 32), 2 ** 32 - 1) if p < 1.0 else np.zeros(x.shape, bool)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return x * mask * x.dtype.type(scale), (mask, scale)


def dropout_backward(dout, cache):
    """Backward of dropout: ``dx = dout * mask / (1 - p)`` (``dout`` itself when inactive)."""
    mask, scale = cache
    if mask is None:
        return dout
    return dout * mask * dout.dtype.type(scale)


# ----------------------------------------------------------------------------------------
# multi-head self-attention
# ----------------------------------------------------------------------------------------

def additive_attention_mask(attention_mask, dtype=np.float32):
    """HuggingFace's additive mask from a (B, T) 0/1 mask: (B, 1, 1, T), 0.0 where
    ``attention_mask`` is 1 (attend) and ``finfo(dtype).min`` where it is 0 (padding)::

        (1 - attention_mask)[:, None, None, :] * finfo(dtype).min

    Added to the attention scores, it gives padded keys probability exactly 0 (their exp
    underflows) while staying finite, so a row whose keys are all masked stays uniform
    instead of NaN.
    """
    m = np.asarray(attention_mask)
    if m.ndim != 2:
        raise ValueError(f"additive_attention_mask: attention_mask must be (B, T), got shape {m.shape}")
    if m.size and not np.isin(m, (0, 1)).all():
        raise ValueError("additive_attention_mask: attention_mask must hold only 0 (padding) and "
                         "1 (real token)")
    dtype = np.dtype(dtype)
    out = (1 - m.astype(dtype)) * np.finfo(dtype).min       # (B, T)
    return out[:, None, None, :]                            # (B, 1, 1, T)


def self_attention_forward(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, mask,
                           num_heads, dropout_p=0.0, rng=None, training=False, head_mask=None):
    """BERT's multi-head self-attention (BertSelfAttention, eager), up to the context::

        q, k, v = x Wq.T + bq, x Wk.T + bk, x Wv.T + bv          # (B, T, H) each
        split heads: (B, T, H) -> (B, NH, T, HS)
        scores  = q k^T / sqrt(HS) + mask                        # (B, NH, T, T)
        probs   = softmax(scores) over the keys (last axis)
        weights = dropout(probs) * head_mask[h]                  # (B, NH, T, T), head h
        context = weights v                                      # (B, NH, T, HS)
        merge heads: (B, NH, T, HS) -> (B, T, H)

    ``mask`` is additive, (B, 1, 1, T) from ``additive_attention_mask``, or None.
    ``head_mask`` (NH,) scales each head's probabilities after dropout, as HF's
    ``head_mask`` does (0 switches a head off), or None (all ones). The output
    projection (BertSelfOutput) is a separate linear layer. Returns ``(context (B, T, H),
    cache)``; ``cache["probs"]`` holds the attention probabilities (B, NH, T, T) before
    dropout and head mask (HF's ``output_attentions`` without a head mask).

    Backward, with ``P`` the probs, ``D = dropout(P)`` and ``m`` the head mask::

        dW = dcontext v^T;   dv = (D m)^T dcontext
        dm[h] = sum over b, i, j of (dW * D)[b, h, i, j]
        dD = dW m;   dP = dropout_backward(dD)          # the same dropout mask
        dscores = softmax_backward(dP)                  # the mask, a constant, gets none
        dq = dscores k / sqrt(HS);   dk = dscores^T q / sqrt(HS)
        then each linear's backward; dx = dx_q + dx_k + dx_v
    """
    B, T, H = x.shape
    if H % num_heads:
        raise ValueError(f"self_attention_forward: hidden size {H} is not divisible by num_heads {num_heads}")
    NH, HS = num_heads, H // num_heads

    def split_heads(a):                                     # (B, T, H) -> (B, NH, T, HS)
        return a.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)

    q, q_cache = linear_forward(x, q_weight, q_bias)        # (B, T, H)
    k, k_cache = linear_forward(x, k_weight, k_bias)        # (B, T, H)
    v, v_cache = linear_forward(x, v_weight, v_bias)        # (B, T, H)
    q, k, v = split_heads(q), split_heads(k), split_heads(v)  # (B, NH, T, HS) each
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(HS)         # (B, NH, T, T)
    if mask is not None:
        scores = scores + mask                              # (B, NH, T, T) padded keys -> finfo.min
    probs, softmax_cache = softmax_forward(scores)          # (B, NH, T, T) over the keys
    dropped, dropout_cache = dropout_forward(probs, dropout_p, rng, training)  # (B, NH, T, T)
    weights = dropped if head_mask is None else dropped * head_mask[:, None, None]  # (B, NH, T, T)
    context = weights @ v                                   # (B, NH, T, HS)
    context = context.transpose(0, 2, 1, 3).reshape(B, T, H)  # (B, T, H) heads merged
    # the cache keeps dropout(probs); weights = dropped * head_mask is recomputed
    cache = {"probs": probs, "q": q, "k": k, "v": v, "dropped": dropped, "head_mask": head_mask,
             "softmax": softmax_cache, "dropout": dropout_cache,
             "linear": (q_cache, k_cache, v_cache)}
    return context, cache


def self_attention_backward(dcontext, cache, activation_grads=None):
    """Backward of self_attention_forward (formulas in its docstring). Returns
    ``(dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias)``.

    ``activation_grads``, a dict, receives the gradients at the activations inside:
    "scores" and "probs" (B, NH, T, T), and "head_mask" (NH,), the gradient with respect
    to the head mask (at all ones when the forward had none: each head's importance,
    as Michel et al. 2019 measure it)."""
    q, k, v, dropped, head_mask = cache["q"], cache["k"], cache["v"], cache["dropped"], cache["head_mask"]
    B, NH, T, HS = q.shape

    def merge_heads(a):                                     # (B, NH, T, HS) -> (B, T, NH * HS)
        return a.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)

    # context = context.transpose(0, 2, 1, 3).reshape(B, T, H)
    dcontext = dcontext.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)  # (B, NH, T, HS)
    # context = weights @ v
    weights = dropped if head_mask is None else dropped * head_mask[:, None, None]  # (B, NH, T, T)
    dweights = dcontext @ v.swapaxes(-1, -2)                # (B, NH, T, T)
    dv = weights.swapaxes(-1, -2) @ dcontext                # (B, NH, T, HS)
    # weights = dropped * head_mask[h]
    ddropped = dweights if head_mask is None else dweights * head_mask[:, None, None]  # (B, NH, T, T)
    # dropped = dropout(probs)
    dprobs = dropout_backward(ddropped, cache["dropout"])   # (B, NH, T, T)
    # probs = softmax(scores); scores = scores + mask: the mask gets no gradient
    dscores = softmax_backward(dprobs, cache["softmax"])    # (B, NH, T, T)
    if activation_grads is not None:
        activation_grads["scores"] = dscores
        activation_grads["probs"] = dprobs
        activation_grads["head_mask"] = (dweights * dropped).sum(axis=(0, 2, 3))  # (NH,)
    # scores = q @ k^T / sqrt(HS)
    dq = dscores @ k / math.sqrt(HS)                        # (B, NH, T, HS)
    dk = dscores.swapaxes(-1, -2) @ q / math.sqrt(HS)       # (B, NH, T, HS)
    # q, k, v = split_heads(linear(x)) for each
    q_cache, k_cache, v_cache = cache["linear"]
    dx_q, dq_weight, dq_bias = linear_backward(merge_heads(dq), q_cache)
    dx_k, dk_weight, dk_bias = linear_backward(merge_heads(dk), k_cache)
    dx_v, dv_weight, dv_bias = linear_backward(merge_heads(dv), v_cache)
    dx = dx_q + dx_k + dx_v                                 # (B, T, H) x feeds all three
    return dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias


# ----------------------------------------------------------------------------------------
# cross-entropy
# ----------------------------------------------------------------------------------------

def cross_entropy_forward(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the rows whose label is not ``ignore_index``
    (torch.nn.functional.cross_entropy with its defaults)::

        loss = mean over kept rows i of ( logsumexp(logits[i]) - logits[i, labels[i]] )

    logits (N, C), labels (N,) integers in [0, C) or ``ignore_index``. When every label
    is ``ignore_index`` (or N = 0) the loss is defined as 0 with a zero gradient (torch
    returns NaN there): a batch without masked tokens contributes nothing.

    Backward: ``dlogits[i] = dloss * (softmax(logits[i]) - onehot(labels[i])) / n`` for
    the n kept rows, 0 for ignored rows.
    Cache: the softmax of the kept rows, their row indices and labels, the dtype and (N, C).
    Returns the loss as a NumPy scalar of the logits' dtype.
    """
    labels = np.asarray(labels)
    N, C = logits.shape
    if labels.shape != (N,) or labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy_forward: labels must be integers of shape ({N},) to match "
                         f"logits {logits.shape}, got {labels.dtype} {labels.shape}")
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= C))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"cross_entropy_forward: label {labels[i]} at position {i} is outside [0, {C}) "
                         f"(and is not ignore_index={ignore_index}); use {ignore_index} for positions "
                         f"without a target")
    rows = np.flatnonzero(labels != ignore_index)           # (n,)
    y = labels[rows]                                        # (n,)
    z = logits[rows]                                        # (n, C)
    if rows.size == 0:
        return logits.dtype.type(0.0), (None, rows, y, logits.dtype, (N, C))
    shifted = z - z.max(axis=1, keepdims=True)              # (n, C) no overflow in exp
    logsumexp = np.log(np.exp(shifted).sum(axis=1))         # (n,)
    loss = np.mean(logsumexp - shifted[np.arange(rows.size), y])
    probs, _ = softmax_forward(z)                           # (n, C)
    return logits.dtype.type(loss), (probs, rows, y, logits.dtype, (N, C))


def cross_entropy_backward(dloss, cache):
    """Backward of the mean cross-entropy: ``dlogits`` (N, C) (formula in the forward)."""
    probs, rows, y, dtype, shape = cache
    dlogits = np.zeros(shape, dtype)                        # (N, C) ignored rows get no gradient
    if probs is None:                                       # every label ignored: the loss is 0
        return dlogits
    n = rows.size
    # loss = mean(logsumexp(z) - z[label]): d/dz = (softmax(z) - onehot(label)) / n
    dz = probs.copy()                                       # (n, C)
    dz[np.arange(n), y] -= 1.0
    dlogits[rows] = dz * (dloss / n)
    return dlogits


# ----------------------------------------------------------------------------------------
# regression and multi-label losses (the sequence-classification head's other problem types)
# ----------------------------------------------------------------------------------------

def mse_loss_forward(predictions, targets):
    """Mean squared error over every entry (torch.nn.MSELoss with its defaults)::

        loss = mean((predictions - targets) ** 2)

    Backward: ``dpredictions = dloss * 2 (predictions - targets) / n`` with n the number
    of entries. Cache: the difference. Returns the loss as a NumPy scalar of the
    predictions' dtype.
    """
    targets = np.asarray(targets)
    if targets.shape != predictions.shape:
        raise ValueError(f"mse_loss_forward: targets have shape {targets.shape} but predictions "
                         f"{predictions.shape}; they must match")
    diff = predictions - targets.astype(predictions.dtype)  # (...)
    return predictions.dtype.type(np.mean(diff * diff)), diff


def mse_loss_backward(dloss, cache):
    """Backward of the mean squared error: ``dpredictions`` (formula in the forward)."""
    diff = cache
    # loss = mean(diff ** 2): d/dpredictions = 2 diff / n
    return diff * diff.dtype.type(2.0 * dloss / diff.size)


def bce_with_logits_forward(logits, targets):
    """Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], over every
    entry (torch.nn.BCEWithLogitsLoss with its defaults), in the form that cannot overflow::

        loss = mean( max(z, 0) - z * y + log(1 + exp(-|z|)) )      z = logits, y = targets

    which is ``-(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))`` for every z.

    Backward: ``dlogits = dloss * (sigmoid(z) - y) / n``, n the number of entries.
    Cache: sigmoid(z) and y. Returns the loss as a NumPy scalar of the logits' dtype.
    """
    targets = np.asarray(targets)
    if targets.shape != logits.shape:
        raise ValueError(f"bce_with_logits_forward: targets have shape {targets.shape} but logits "
                         f"{logits.shape}; they must match (one 0/1 target per label)")
    y = targets.astype(logits.dtype)                        # (...)
    z = logits
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    # sigmoid without overflow: exp of a non-positive number only
    e = np.exp(-np.abs(z))                                  # (...) in (0, 1]
    sigmoid = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype)
    return logits.dtype.type(loss), (sigmoid, y)


def bce_with_logits_backward(dloss, cache):
    """Backward of the mean binary cross-entropy with logits: ``dlogits`` (see the forward)."""
    sigmoid, y = cache
    # loss = mean(softplus(z) - z y): d/dz = (sigmoid(z) - y) / n
    return (sigmoid - y) * sigmoid.dtype.type(dloss / sigmoid.size)
