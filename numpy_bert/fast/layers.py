"""The fast versions of the layers in ``numpy_bert.layers``: same names, same signatures,
the same numbers within float rounding (each is checked against its reference in
tests/test_fast.py). Read ``numpy_bert/layers.py`` for the math; this file is about speed:

- matrix products spread over numpy_bert's threads (matmul.py, threads.py);
- element-wise work in place (``out=``), one pass per operation and no temporaries;
- row sums and row dot products by BLAS (gemv, vecdot) instead of ``.sum(-1)``;
- the attention scales q (B, NH, T, HS) instead of the scores (B, NH, T, T) and writes
  its products straight into their merged-heads place;
- the embedding's scatter-add as a sort and one ``np.add.reduceat``.
"""

import math

import numpy as np

from numpy_bert import layers as reference
from numpy_bert.fast.elementwise import BLOCK
from numpy_bert.fast.gelu import gelu_backward, gelu_forward, gelu_tanh_backward, gelu_tanh_forward
from numpy_bert.fast.matmul import batched_matmul, matmul_row_blocks, matmuls_concurrently
from numpy_bert.fast.threads import parallel, spread_products

__all__ = [
    "linear_forward", "linear_backward",
    "gelu_forward", "gelu_backward", "gelu_tanh_forward", "gelu_tanh_backward",
    "activation_forward", "activation_backward",
    "layer_norm_forward", "layer_norm_backward",
    "softmax_forward", "softmax_backward",
    "relu_forward", "relu_backward", "tanh_forward", "tanh_backward", "ACTIVATIONS",
    "embedding_forward", "embedding_backward", "dropout_forward", "dropout_backward",
    "additive_attention_mask",
    "self_attention_forward", "self_attention_backward",
    "cross_entropy_forward", "cross_entropy_backward",
    "mse_loss_forward", "mse_loss_backward",
    "bce_with_logits_forward", "bce_with_logits_backward",
]


def _rowdot(a, b):
    """``(a * b).sum(-1, keepdims=True)`` in one pass over memory, with no temporary."""
    return np.vecdot(a, b)[..., None]


# ----------------------------------------------------------------------------------------
# linear
# ----------------------------------------------------------------------------------------

def linear_forward(x, weight, bias):
    """``out = x @ W.T + b`` (reference: layers.linear_forward), the rows in blocks on
    numpy_bert's threads when BLAS has one thread, each block adding its own bias."""
    x2 = x.reshape(-1, weight.shape[1])                     # (N, in)
    out = matmul_row_blocks(x2, weight.T, bias)             # (N, out)
    return out.reshape(x.shape[:-1] + (weight.shape[0],)), (x, weight, bias is not None)


def linear_backward(dout, cache):
    """Backward of linear (reference: layers.linear_backward): ``dx = dout @ W`` and
    ``dW = dout.T @ x`` are independent, so they run side by side when BLAS has one thread."""
    x, weight, has_bias = cache
    dout2 = dout.reshape(-1, weight.shape[0])               # (N, out)
    x2 = x.reshape(-1, weight.shape[1])                     # (N, in)
    dx, dweight = matmuls_concurrently((dout2, weight), (dout2.T, x2))
    dbias = dout2.sum(axis=0) if has_bias else None         # (out,)
    return dx.reshape(x.shape), dweight, dbias


# ----------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------

def activation_forward(x, hidden_act, keep_caches=False):
    """The activation named by ``hidden_act`` (reference: layers.activation_forward). With
    ``keep_caches`` (a backward follows) exact GELU keeps its derivative instead of x."""
    if hidden_act not in reference.ACTIVATIONS:
        raise ValueError(f"unknown hidden_act {hidden_act!r}; choose one of {sorted(reference.ACTIVATIONS)}")
    layer = reference.ACTIVATIONS[hidden_act]
    if layer == "gelu":
        out, cache = gelu_forward(x, keep_derivative=keep_caches)
    else:
        out, cache = globals()[layer + "_forward"](x)
    return out, (hidden_act, cache)


def activation_backward(dout, cache):
    """Backward of activation_forward (reference: layers.activation_backward)."""
    hidden_act, inner = cache
    return globals()[reference.ACTIVATIONS[hidden_act] + "_backward"](dout, inner)


# no fast version needed: one NumPy call each
relu_forward, relu_backward = reference.relu_forward, reference.relu_backward
tanh_forward, tanh_backward = reference.tanh_forward, reference.tanh_backward
ACTIVATIONS = reference.ACTIVATIONS


# ----------------------------------------------------------------------------------------
# layer norm
# ----------------------------------------------------------------------------------------

def layer_norm_forward(x, weight, bias, eps):
    """Layer norm (reference: layers.layer_norm_forward), in place: the variance as a row
    dot product, ``rstd`` from one sqrt and one reciprocal per row."""
    H = x.shape[-1]
    xhat = x - x.mean(axis=-1, keepdims=True)               # (..., H) x - mean
    var = _rowdot(xhat, xhat)                               # (..., 1) sum of squares
    var /= H                                                # biased variance
    var += eps
    rstd = np.sqrt(var, out=var)
    np.divide(1.0, rstd, out=rstd)                          # (..., 1) 1 / sqrt(var + eps)
    xhat *= rstd                                            # (..., H)
    out = xhat * weight                                     # (..., H)
    out += bias
    return out, (xhat, rstd, weight)


def layer_norm_backward(dout, cache):
    """Backward of layer norm (reference: layers.layer_norm_backward), in place."""
    xhat, rstd, weight = cache
    H = xhat.shape[-1]
    dout2 = dout.reshape(-1, H)                             # (N, H)
    dbias = dout2.sum(axis=0)                               # (H,)
    dweight = np.multiply(dout2, xhat.reshape(-1, H)).sum(axis=0)  # (H,)
    dxhat = dout * weight                                   # (..., H)
    # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    m_dxhat_xhat = _rowdot(dxhat, xhat)                     # (..., 1)
    m_dxhat_xhat /= H
    dx = xhat * m_dxhat_xhat                                # (..., H)
    dx += dxhat.mean(axis=-1, keepdims=True)
    np.subtract(dxhat, dx, out=dx)
    dx *= rstd
    return dx, dweight, dbias


# ----------------------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------------------

def softmax_into(x, out):
    """Write the softmax of ``x`` over its last axis into ``out`` (which may be ``x``);
    returns ``(out, row_max, row_sum)`` with ``row_sum = sum(exp(x - row_max))``
    (cross-entropy's log-sum-exp needs both). np.fmax.reduce is a row max that skips NaN
    checks (2-4x faster than x.max on short rows; a NaN in a row still makes that row
    NaN); the row sums are a matrix-vector product with ones, BLAS's gemv (~7x faster
    than .sum(-1) on short rows: the same sum, another order of the additions)."""
    row_max = np.fmax.reduce(x, axis=-1, keepdims=True)
    np.subtract(x, row_max, out=out)
    np.exp(out, out=out)
    row_sum = np.matmul(out, np.ones(out.shape[-1], out.dtype))[..., None]
    out *= 1.0 / row_sum
    return out, row_max, row_sum


def softmax_forward(x, axis=-1):
    """``out = exp(x) / sum(exp(x), axis)`` (reference: layers.softmax_forward)."""
    if axis not in (-1, x.ndim - 1):
        return reference.softmax_forward(x, axis)
    out, _, _ = softmax_into(x, np.empty_like(x))
    return out, (out, axis)


def softmax_backward(dout, cache):
    """Backward of softmax (reference: layers.softmax_backward)."""
    out, axis = cache
    if axis not in (-1, out.ndim - 1):
        return reference.softmax_backward(dout, cache)
    dx = dout - _rowdot(dout, out)
    dx *= out
    return dx


# ----------------------------------------------------------------------------------------
# embedding, dropout
# ----------------------------------------------------------------------------------------

embedding_forward = reference.embedding_forward


def embedding_backward(dout, cache):
    """The scatter-add of layers.embedding_backward (``np.add.at``) as a sort that groups
    equal ids and one ``np.add.reduceat`` that sums each group."""
    ids, V, padding_idx = cache
    H = dout.shape[-1]
    flat_ids = ids.reshape(-1)                              # (N,)
    dweight = np.zeros((V, H), dout.dtype)                  # (V, H)
    order = np.argsort(flat_ids, kind="stable")
    sorted_ids = flat_ids[order]
    if sorted_ids.size:
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        dweight[sorted_ids[starts]] = np.add.reduceat(dout.reshape(-1, H)[order], starts, axis=0)
    if padding_idx is not None:
        dweight[padding_idx] = 0.0
    return dweight


def dropout_forward(x, p, rng, training):
    """Dropout (reference: layers.dropout_forward), with the same mask from the same
    generator state. The reference draws ``rng.integers(0, 2**32, dtype=np.uint32)``: the
    PCG64 generator's 64-bit outputs, low half first. When that holds no buffered half
    (``has_uint32``) and the count is even, the raw 64-bit draws viewed as uint32 are the
    same numbers and leave the same state, for less work."""
    if (not training or p == 0.0 or p == 1.0 or x.size % 2 or not isinstance(rng, np.random.Generator)
            or not isinstance(rng.bit_generator, np.random.PCG64)):
        return reference.dropout_forward(x, p, rng, training)
    if rng.bit_generator.state["has_uint32"]:
        return reference.dropout_forward(x, p, rng, training)
    bits = rng.bit_generator.random_raw(x.size // 2).view(np.uint32).reshape(x.shape)
    mask = bits >= np.uint32(min(math.ceil(p * 2 ** 32), 2 ** 32 - 1))
    scale = 1.0 / (1.0 - p)
    out = np.multiply(x, mask)
    out *= x.dtype.type(scale)
    return out, (mask, scale)


dropout_backward = reference.dropout_backward
additive_attention_mask = reference.additive_attention_mask


# ----------------------------------------------------------------------------------------
# multi-head self-attention
# ----------------------------------------------------------------------------------------

def _dropped(probs, mask, scale):
    """dropout(probs) from the kept mask (recomputed in the backward instead of stored)."""
    out = np.multiply(probs, mask)
    out *= probs.dtype.type(scale)
    return out


def self_attention_forward(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, mask,
                           num_heads, dropout_p=0.0, rng=None, training=False, head_mask=None):
    """Multi-head self-attention (reference: layers.self_attention_forward).

    q is scaled by 1/sqrt(HS) before the product instead of the (B, NH, T, T) scores
    afterwards (equal in exact arithmetic), the softmax is in place, the products run on
    numpy_bert's threads (matmul.batched_matmul) and the context is written straight into
    its merged-heads place. The cache keeps the scaled q, k, v, the probs and the dropout
    mask; the dropped probs (times ``head_mask`` (NH,), when there is one) are
    recomputed in the backward.
    """
    B, T, H = x.shape
    NH = int(num_heads)
    if H % NH:
        raise ValueError(f"self_attention_forward: hidden size {H} is not divisible by num_heads {num_heads}")
    HS = H // NH
    q, q_cache = linear_forward(x, q_weight, q_bias)        # (B, T, H)
    k, k_cache = linear_forward(x, k_weight, k_bias)        # (B, T, H)
    v, v_cache = linear_forward(x, v_weight, v_bias)        # (B, T, H)
    q = q.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)       # (B, NH, T, HS) view
    k = k.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)       # (B, NH, T, HS) view
    v = v.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)       # (B, NH, T, HS) view
    scale = 1.0 / math.sqrt(HS)
    q *= scale                                              # q / sqrt(HS), in place
    scores = np.empty((B, NH, T, T), x.dtype)
    batched_matmul(q, k.transpose(0, 1, 3, 2), scores)      # (B, NH, T, T)
    if mask is not None:
        scores += mask
    probs, _, _ = softmax_into(scores, scores)              # (B, NH, T, T) in place
    dropped, drop_cache = dropout_forward(probs, dropout_p, rng, training)
    weights = dropped if head_mask is None else dropped * head_mask[:, None, None]  # (B, NH, T, T)
    del dropped
    context = np.empty((B, T, H), x.dtype)
    batched_matmul(weights, v, context.reshape(B, T, NH, HS).transpose(0, 2, 1, 3))  # (B, NH, T, HS)
    cache = {"probs": probs, "q": q, "k": k, "v": v, "scale": scale, "dropout": drop_cache,
             "head_mask": head_mask, "linear": (q_cache, k_cache, v_cache)}
    return context, cache


def self_attention_backward(dcontext, cache, activation_grads=None):
    """Backward of self-attention (reference: layers.self_attention_backward, which says
    what ``activation_grads`` receives)."""
    probs, q, k, v, head_mask = cache["probs"], cache["q"], cache["k"], cache["v"], cache["head_mask"]
    B, NH, T, HS = q.shape
    H = NH * HS

    def heads(a):                                           # (B, T, H) -> (B, NH, T, HS) view
        return a.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)

    dctx = heads(dcontext)                                  # (B, NH, T, HS)
    mask, drop_scale = cache["dropout"]
    dropped = probs if mask is None else _dropped(probs, mask, drop_scale)
    weights = dropped if head_mask is None else dropped * head_mask[:, None, None]
    dv = np.empty((B, T, H), q.dtype)
    batched_matmul(weights.transpose(0, 1, 3, 2), dctx, heads(dv))      # (B, NH, T, HS)
    del weights
    dprobs = np.empty((B, NH, T, T), q.dtype)
    batched_matmul(dctx, v.transpose(0, 1, 3, 2), dprobs)               # (B, NH, T, T) d weights
    if activation_grads is not None:
        activation_grads["head_mask"] = np.einsum("bhij,bhij->h", dprobs, dropped)  # (NH,)
    del dropped
    if head_mask is not None:
        dprobs *= head_mask[:, None, None]
    if mask is not None:
        dprobs *= mask
        dprobs *= q.dtype.type(drop_scale)
    if activation_grads is not None:
        activation_grads["probs"] = dprobs.copy()
    dprobs -= _rowdot(dprobs, probs)                                    # softmax backward
    dscores = np.multiply(dprobs, probs, out=dprobs)                    # (B, NH, T, T)
    if activation_grads is not None:
        activation_grads["scores"] = dscores                            # not written to below
    dq = np.empty((B, T, H), q.dtype)
    batched_matmul(dscores, k, heads(dq))                               # (B, NH, T, HS)
    dk = np.empty((B, T, H), q.dtype)
    batched_matmul(dscores.transpose(0, 1, 3, 2), q, heads(dk))         # (B, NH, T, HS)
    del dscores, dprobs
    dq *= cache["scale"]                                                # q was scaled
    q_cache, k_cache, v_cache = cache["linear"]
    dx, dq_weight, dq_bias = linear_backward(dq, q_cache)
    dx_k, dk_weight, dk_bias = linear_backward(dk, k_cache)
    dx += dx_k
    del dx_k
    dx_v, dv_weight, dv_bias = linear_backward(dv, v_cache)
    dx += dx_v
    return dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias


# ----------------------------------------------------------------------------------------
# cross-entropy
# ----------------------------------------------------------------------------------------

def _row_blocks(n, size):
    """Row slices for a row-wise job: 4 when spread_products() and the job is large (the
    same slices for any thread count >= 2: BLAS's row sums may round a row differently in
    another slice), else one."""
    step = -(-n // 4) if spread_products() and size > 4 * BLOCK else n
    return [slice(i, i + step) for i in range(0, n, step)]


def cross_entropy_forward(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the rows not labelled ``ignore_index`` (reference:
    layers.cross_entropy_forward), the softmax in place, row blocks on numpy_bert's
    threads: ``loss_i = log(sum(exp(z_i - max_i))) - (z_i[y_i] - max_i)``."""
    labels = np.asarray(labels)
    N, C = logits.shape
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= C))
    if labels.shape != (N,) or labels.dtype.kind not in "iu" or bad.any():
        return reference.cross_entropy_forward(logits, labels, ignore_index)  # its clear error
    rows = np.flatnonzero(labels != ignore_index)           # (n,)
    n = rows.size
    y = labels[rows]                                        # (n,)
    if n == 0:
        return logits.dtype.type(0.0), (None, rows, y, logits.dtype, (N, C))
    kept = logits if n == N else logits[rows]               # (n, C)
    probs = np.empty(kept.shape, logits.dtype)              # (n, C) becomes the softmax
    log_sum = np.empty(n, logits.dtype)                     # (n,) log sum exp(z - max)
    target = np.empty(n, logits.dtype)                      # (n,) z[y] - max

    def softmax_rows(r):
        _, row_max, row_sum = softmax_into(kept[r], probs[r])
        log_sum[r] = np.log(row_sum[:, 0])
        target[r] = kept[r][np.arange(probs[r].shape[0]), y[r]] - row_max[:, 0]

    parallel(softmax_rows, _row_blocks(n, probs.size))
    loss = (log_sum - target).sum() / n
    return logits.dtype.type(loss), (probs, rows, y, logits.dtype, (N, C))


def cross_entropy_backward(dloss, cache):
    """Backward of the mean cross-entropy (reference: layers.cross_entropy_backward)."""
    probs, rows, y, dtype, (N, C) = cache
    if probs is None:
        return np.zeros((N, C), dtype)
    n = rows.size
    g = float(dloss) / n
    dkept = np.empty_like(probs)                            # (n, C)
    parallel(lambda r: np.multiply(probs[r], g, out=dkept[r]), _row_blocks(n, probs.size))
    dkept[np.arange(n), y] -= g
    if n == N:
        return dkept
    dlogits = np.zeros((N, C), probs.dtype)
    dlogits[rows] = dkept
    return dlogits


# the heads' (B, N) losses are small: the reference as it is
mse_loss_forward, mse_loss_backward = reference.mse_loss_forward, reference.mse_loss_backward
bce_with_logits_forward = reference.bce_with_logits_forward
bce_with_logits_backward = reference.bce_with_logits_backward
