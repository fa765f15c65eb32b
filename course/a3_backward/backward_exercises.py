"""Assignment 3: backward passes, by hand.

Each function is the backward of a numpy_bert forward: it receives ``dout``, the gradient of
the loss with respect to the forward's output, and the forward's ``cache`` (exactly what
``numpy_bert.layers.<name>_forward`` returns), and returns the gradient with respect to each
array argument of the forward, in the forward's order. Use only numpy (and your own
functions in this file); calling numpy_bert's backward earns no points.

Dimension key: B batch, T tokens, H hidden, NH heads, HS head size, I intermediate, V vocab,
N rows of a flattened batch, C classes.
"""

import math

import numpy as np

from numpy_bert.special import erf   # numpy has no erf; this one is given (the GELU's Phi needs it)


def linear_backward(dout, cache):
    """Backward of ``out = x @ W.T + b`` (x (..., in), W (out, in), b (out,) or None).

    cache = (x, weight, has_bias). With x and dout flattened to rows (N, in) and (N, out):
    dx = dout W, dW = dout^T x, db = the sum of dout's rows (None without a bias).
    Returns (dx, dweight, dbias).
    """
    ### BEGIN SOLUTION
    # HINT: flatten x and dout to rows with reshape(-1, ...), then three products/sums
    x, weight, has_bias = cache
    dout_rows = dout.reshape(-1, weight.shape[0])           # (N, out)
    x_rows = x.reshape(-1, weight.shape[1])                 # (N, in)
    dx = (dout_rows @ weight).reshape(x.shape)              # (..., in)
    dweight = dout_rows.T @ x_rows                          # (out, in)
    dbias = dout_rows.sum(axis=0) if has_bias else None     # (out,)
    return dx, dweight, dbias
    ### END SOLUTION


def softmax_backward(dout, cache):
    """Backward of ``out = softmax(x, axis)``; cache = (out, axis).

    The Jacobian is d out_i / d x_j = out_i (delta_ij - out_j), so
    dx = out * (dout - (the sum over the axis of dout * out)). Returns dx.
    """
    ### BEGIN SOLUTION
    # HINT: the Jacobian is not diagonal: every out_j depends on every x_i of its row
    out, axis = cache
    weighted = (dout * out).sum(axis=axis, keepdims=True)   # (..., 1, ...) one number per row
    return out * (dout - weighted)
    ### END SOLUTION


def layer_norm_backward(dout, cache):
    """Backward of layer norm over the last axis (H); cache = (xhat, rstd, weight).

    Forward: xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), out = xhat * weight + bias.
    With dxhat = dout * weight and means over the last axis:
    dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
    dweight = the sum over all rows of dout * xhat; dbias = the sum over all rows of dout.
    Returns (dx, dweight, dbias).
    """
    ### BEGIN SOLUTION
    # HINT: mean and rstd depend on x too; dweight and dbias sum over every row (all axes but the last)
    xhat, rstd, weight = cache
    H = xhat.shape[-1]
    dbias = dout.reshape(-1, H).sum(axis=0)                 # (H,)
    dweight = (dout * xhat).reshape(-1, H).sum(axis=0)      # (H,)
    dxhat = dout * weight                                   # (..., H)
    mean_dxhat = dxhat.mean(axis=-1, keepdims=True)         # (..., 1)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=-1, keepdims=True)  # (..., 1)
    dx = rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)  # (..., H)
    return dx, dweight, dbias
    ### END SOLUTION


def gelu_backward(dout, cache):
    """Backward of the exact GELU, out = x Phi(x) with Phi the standard normal CDF; cache = x.

    dx = dout * (Phi(x) + x phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) the normal density,
    Phi(x) = (1 + erf(x / sqrt 2)) / 2 (``erf`` is imported at the top of this file).
    Returns dx.
    """
    ### BEGIN SOLUTION
    # HINT: the product rule on x * Phi(x); Phi' is the normal density phi
    x = cache
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))             # Phi(x)
    density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)  # phi(x)
    return dout * (cdf + x * density)
    ### END SOLUTION


def scaled_dot_product_attention_backward(dcontext, cache):
    """Backward of one attention product per head; cache = (q, k, v, probs).

    Forward (q, k, v (B, NH, T, HS); probs (B, NH, T, T), the mask already inside):
    scores = q k^T / sqrt(HS) + mask; probs = softmax(scores) over the keys; context = probs v.
    Backward: dprobs = dcontext v^T, dv = probs^T dcontext, dscores = the softmax backward of
    dprobs, dq = dscores k / sqrt(HS), dk = dscores^T q / sqrt(HS).
    Returns (dq, dk, dv), each (B, NH, T, HS).
    """
    ### BEGIN SOLUTION
    # HINT: undo context = probs @ v, then the softmax (your softmax_backward), then the scaled product
    q, k, v, probs = cache
    HS = q.shape[-1]
    dprobs = dcontext @ v.swapaxes(-1, -2)                  # (B, NH, T, T)
    dv = probs.swapaxes(-1, -2) @ dcontext                  # (B, NH, T, HS)
    dscores = softmax_backward(dprobs, (probs, -1))         # (B, NH, T, T)
    dq = dscores @ k / math.sqrt(HS)                        # (B, NH, T, HS)
    dk = dscores.swapaxes(-1, -2) @ q / math.sqrt(HS)       # (B, NH, T, HS)
    return dq, dk, dv
    ### END SOLUTION


def self_attention_backward(dcontext, cache):
    """Backward of ``numpy_bert.layers.self_attention_forward`` (no dropout), dcontext (B, T, H).

    cache is the forward's dict: "q", "k", "v" (B, NH, T, HS) after the head split, "probs"
    (B, NH, T, T), and "linear": the three linear caches (x, weight, has_bias) of the query,
    key and value projections. Merge the heads of dq, dk, dv back to (B, T, H), run each
    projection's backward, and add the three contributions to dx (x feeds all three).
    Returns (dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias).
    """
    ### BEGIN SOLUTION
    # HINT: your scaled_dot_product_attention_backward, a merge of the heads, then linear_backward three times
    q, k, v, probs = cache["q"], cache["k"], cache["v"], cache["probs"]
    B, NH, T, HS = q.shape
    dcontext = dcontext.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)  # (B, NH, T, HS)
    dq, dk, dv = scaled_dot_product_attention_backward(dcontext, (q, k, v, probs))

    def merge_heads(a):                                     # (B, NH, T, HS) -> (B, T, H)
        return a.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)

    q_cache, k_cache, v_cache = cache["linear"]
    dx_q, dq_weight, dq_bias = linear_backward(merge_heads(dq), q_cache)
    dx_k, dk_weight, dk_bias = linear_backward(merge_heads(dk), k_cache)
    dx_v, dv_weight, dv_bias = linear_backward(merge_heads(dv), v_cache)
    dx = dx_q + dx_k + dx_v                                 # (B, T, H)
    return dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias
    ### END SOLUTION


def encoder_layer_backward(dy, cache):
    """Backward of one post-LN encoder layer (``numpy_bert.model.encoder_layer_forward``, eval mode)::

        h = attention.output.dense(self_attention(x));    a = LayerNorm_1(h + x)
        i = gelu(intermediate.dense(a));  o = output.dense(i);   y = LayerNorm_2(o + a)

    cache is the forward's dict of sub-caches: "self_attention", "attention_output",
    "attention_layer_norm", "intermediate", "activation" (= ("gelu", x of the GELU)),
    "output", "output_layer_norm" (the dropout caches are inactive: skip them). Undo the
    steps in exact reverse order; each residual sum passes its gradient to both terms.
    Returns (dx, grads): grads maps each parameter name ("attention.self.query.weight", ...,
    "output.LayerNorm.bias": the 16 names of the layer) to its gradient.
    """
    ### BEGIN SOLUTION
    # HINT: your layer_norm_backward, linear_backward, gelu_backward and self_attention_backward, in reverse order
    grads = {}

    def add(module, dweight, dbias):
        grads[module + ".weight"] = dweight
        grads[module + ".bias"] = dbias

    # y = LayerNorm_2(o + a)
    ds, dw, db = layer_norm_backward(dy, cache["output_layer_norm"])
    add("output.LayerNorm", dw, db)
    # o = output.dense(i)
    di, dw, db = linear_backward(ds, cache["output"])
    add("output.dense", dw, db)
    # i = gelu(intermediate.dense(a))
    di = gelu_backward(di, cache["activation"][1])
    da, dw, db = linear_backward(di, cache["intermediate"])
    add("intermediate.dense", dw, db)
    da = da + ds                                            # the residual o + a
    # a = LayerNorm_1(h + x)
    dh, dw, db = layer_norm_backward(da, cache["attention_layer_norm"])
    add("attention.output.LayerNorm", dw, db)
    # h = attention.output.dense(context)
    dcontext, dw, db = linear_backward(dh, cache["attention_output"])
    add("attention.output.dense", dw, db)
    dx, dqw, dqb, dkw, dkb, dvw, dvb = self_attention_backward(dcontext, cache["self_attention"])
    add("attention.self.query", dqw, dqb)
    add("attention.self.key", dkw, dkb)
    add("attention.self.value", dvw, dvb)
    dx = dx + dh                                            # the residual h + x
    return dx, grads
    ### END SOLUTION


def tied_word_embeddings_backward(dlogits, t, dembeddings, input_ids, vocab_size):
    """The gradient of the word embedding matrix E (V, H), which BERT uses twice:

    - the lookup ``e = E[input_ids]`` (input_ids (B, T), e (B, T, H)), whose output got the
      gradient ``dembeddings`` (B, T, H);
    - the MLM decoder ``logits = t @ E.T + bias`` (t (M, H), logits (M, V)), whose output got
      the gradient ``dlogits`` (M, V).

    dE is the sum of both contributions: the decoder's dlogits^T t, plus, for each position,
    that position's row of dembeddings added into row input_ids[position] (a token that occurs
    twice gets both rows). Returns (dword_embeddings (V, H), dbias (V,)).
    """
    ### BEGIN SOLUTION
    # HINT: two contributions, accumulated; E[ids] += ... drops repeated ids (try np.add.at)
    H = t.shape[-1]
    dword_embeddings = dlogits.T @ t                        # (V, H) the decoder's share
    np.add.at(dword_embeddings, input_ids.reshape(-1), dembeddings.reshape(-1, H))  # the lookup's share
    dbias = dlogits.sum(axis=0)                             # (V,)
    return dword_embeddings, dbias
    ### END SOLUTION


def cross_entropy_loss_and_grad(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the rows whose label is not ignore_index, and its gradient.

    logits (N, C), labels (N,) integers in [0, C) or ignore_index. With n the number of kept
    rows: loss = (1/n) * sum over kept rows of (logsumexp(logits[i]) - logits[i, labels[i]]),
    dlogits[i] = (softmax(logits[i]) - onehot(labels[i])) / n for kept rows and 0 for ignored
    ones. When every label is ignored the loss is 0 and dlogits is all zeros. Subtract each
    row's max before exp (large logits must not overflow).
    Returns (loss as a float, dlogits (N, C)).
    """
    ### BEGIN SOLUTION
    # HINT: average over the kept rows only (label not ignore_index); shift each row by its max before exp
    N, C = logits.shape
    dlogits = np.zeros_like(logits)                         # (N, C)
    keep = labels != ignore_index                           # (N,)
    n = int(keep.sum())
    if n == 0:
        return 0.0, dlogits
    z = logits[keep]                                        # (n, C)
    y = labels[keep]                                        # (n,)
    shifted = z - z.max(axis=1, keepdims=True)              # (n, C)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (n, C)
    loss = -log_probs[np.arange(n), y].mean()
    dz = np.exp(log_probs)                                  # (n, C) softmax
    dz[np.arange(n), y] -= 1.0
    dlogits[keep] = dz / n
    return float(loss), dlogits
    ### END SOLUTION
