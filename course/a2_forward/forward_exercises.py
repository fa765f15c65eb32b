"""Assignment 2: BERT's forward pass, one piece at a time.

Each function computes one part of BERT in plain numpy, with HuggingFace's conventions:
linear layers are ``x @ W.T + b`` with W stored (out, in); layer norm uses the biased
variance with eps inside the square root; GELU is the exact x Phi(x); the attention mask is
additive (0 to keep a key, the dtype's most negative number to drop it). Use only numpy,
math and your own functions in this file; calling numpy_bert's implementation earns no
points. The float64 inputs of the checks must give float64 outputs.

Dimension key: B batch, T tokens, H hidden, NH heads, HS head size (H / NH), I intermediate,
V vocab.
"""

import math

import numpy as np

from numpy_bert.special import erf   # numpy has no erf; this one is given (the GELU needs it)


def layer_norm_forward(x, weight, bias, eps):
    """Layer norm over the last axis: x (..., H), weight and bias (H,) -> out (..., H).

    mean and var over the last axis (var is the biased variance: divide by H),
    xhat = (x - mean) / sqrt(var + eps), out = xhat * weight + bias.
    """
    ### BEGIN SOLUTION
    # HINT: keepdims=True keeps the per-row statistics broadcastable against x
    mean = x.mean(axis=-1, keepdims=True)                   # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)    # (..., 1)
    return (x - mean) / np.sqrt(var + eps) * weight + bias  # (..., H)
    ### END SOLUTION


def gelu_forward(x):
    """The exact GELU (``hidden_act="gelu"``): out = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2."""
    ### BEGIN SOLUTION
    # HINT: Phi is the standard normal CDF, written with erf (imported above)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    ### END SOLUTION


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``; must not overflow for large x (e.g. scores of 1000)."""
    ### BEGIN SOLUTION
    # HINT: softmax(x) = softmax(x - c) for any c constant along the axis; choose c = the max
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION


def embeddings_forward(input_ids, token_type_ids, word_embeddings, position_embeddings,
                       token_type_embeddings, ln_weight, ln_bias, eps):
    """BERT's embeddings (eval mode): input_ids and token_type_ids (B, T) integers; tables
    word (V, H), position (P, H) with P >= T, token type (2, H).

    e = word_embeddings[input_ids] + position_embeddings[t] (t = 0 .. T-1, the token's
    position) + token_type_embeddings[token_type_ids], then layer norm: out (B, T, H).
    """
    ### BEGIN SOLUTION
    # HINT: three row lookups (fancy indexing), a sum that broadcasts over the batch, then your layer norm
    T = input_ids.shape[1]
    e = word_embeddings[input_ids] + position_embeddings[:T] + token_type_embeddings[token_type_ids]  # (B, T, H)
    return layer_norm_forward(e, ln_weight, ln_bias, eps)
    ### END SOLUTION


def additive_attention_mask(attention_mask, dtype=np.float32):
    """(B, T) of 1 (a real token) and 0 (padding) -> the additive mask (B, 1, 1, T) of ``dtype``:
    0.0 where attention_mask is 1 and np.finfo(dtype).min where it is 0 (HF's convention)."""
    ### BEGIN SOLUTION
    # HINT: (1 - mask) * finfo(dtype).min, then two new axes so it broadcasts over heads and queries
    mask = np.asarray(attention_mask).astype(dtype)
    return ((1.0 - mask) * np.finfo(dtype).min)[:, None, None, :]   # (B, 1, 1, T)
    ### END SOLUTION


def split_heads(x, num_heads):
    """(B, T, H) -> (B, NH, T, HS): head n takes the features n*HS .. (n+1)*HS - 1 of each token."""
    ### BEGIN SOLUTION
    # HINT: reshape to (B, T, NH, HS) first, then move the head axis
    B, T, H = x.shape
    return x.reshape(B, T, num_heads, H // num_heads).transpose(0, 2, 1, 3)  # (B, NH, T, HS)
    ### END SOLUTION


def merge_heads(x):
    """(B, NH, T, HS) -> (B, T, H): the inverse of split_heads."""
    ### BEGIN SOLUTION
    # HINT: undo split_heads' two steps in reverse order
    B, NH, T, HS = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)  # (B, T, H)
    ### END SOLUTION


def scaled_dot_product_attention(q, k, v, mask):
    """q, k, v (B, NH, T, HS); mask additive (B, 1, 1, T) or None.

    scores = q k^T / sqrt(HS) + mask (B, NH, T, T); probs = softmax over the keys (the last
    axis); context = probs v (B, NH, T, HS). Returns (context, probs).
    """
    ### BEGIN SOLUTION
    # HINT: k.swapaxes(-1, -2) is k^T per head; the mask is added before the softmax
    HS = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(HS)         # (B, NH, T, T)
    if mask is not None:
        scores = scores + mask
    probs = softmax(scores, axis=-1)                        # (B, NH, T, T)
    return probs @ v, probs                                 # (B, NH, T, HS)
    ### END SOLUTION


def self_attention_forward(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, mask, num_heads):
    """BERT's self-attention up to the context: x (B, T, H), weights (H, H), biases (H,).

    q = x Wq^T + bq (and k, v alike), split into heads, scaled dot-product attention with
    the mask, heads merged: returns context (B, T, H).
    """
    ### BEGIN SOLUTION
    # HINT: three projections, split_heads, scaled_dot_product_attention, merge_heads
    q = split_heads(x @ q_weight.T + q_bias, num_heads)     # (B, NH, T, HS)
    k = split_heads(x @ k_weight.T + k_bias, num_heads)     # (B, NH, T, HS)
    v = split_heads(x @ v_weight.T + v_bias, num_heads)     # (B, NH, T, HS)
    context, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(context)                             # (B, T, H)
    ### END SOLUTION


def encoder_layer_forward(x, params, mask, num_heads, eps):
    """One post-LN encoder layer (eval mode), parameters keyed by HF's names within the layer
    ("attention.self.query.weight", ..., "output.LayerNorm.bias")::

        h = attention.output.dense(self_attention(x));      a = LayerNorm_1(h + x)
        i = gelu(intermediate.dense(a));  o = output.dense(i);   y = LayerNorm_2(o + a)

    x (B, T, H) -> y (B, T, H); LayerNorm_1 is "attention.output.LayerNorm", LayerNorm_2
    "output.LayerNorm"; dense layers are x W^T + b.
    """
    ### BEGIN SOLUTION
    # HINT: the residual is added before each LayerNorm (post-LN), not after
    def p(name):
        return params[name]

    context = self_attention_forward(
        x, p("attention.self.query.weight"), p("attention.self.query.bias"),
        p("attention.self.key.weight"), p("attention.self.key.bias"),
        p("attention.self.value.weight"), p("attention.self.value.bias"), mask, num_heads)  # (B, T, H)
    h = context @ p("attention.output.dense.weight").T + p("attention.output.dense.bias")   # (B, T, H)
    a = layer_norm_forward(h + x, p("attention.output.LayerNorm.weight"),
                           p("attention.output.LayerNorm.bias"), eps)                      # (B, T, H)
    i = gelu_forward(a @ p("intermediate.dense.weight").T + p("intermediate.dense.bias"))   # (B, T, I)
    o = i @ p("output.dense.weight").T + p("output.dense.bias")                             # (B, T, H)
    return layer_norm_forward(o + a, p("output.LayerNorm.weight"), p("output.LayerNorm.bias"), eps)
    ### END SOLUTION


def mlm_head_forward(h, params, word_embeddings, eps):
    """The masked-LM head: h (..., H) -> logits (..., V).

    t = LayerNorm(gelu(h Wt^T + bt)) with "transform.dense.weight"/"bias" and
    "transform.LayerNorm.weight"/"bias" from params; the decoder is tied to the word
    embeddings (V, H): logits = t E^T + params["bias"].
    """
    ### BEGIN SOLUTION
    # HINT: the decoder's weight is the (V, H) word embedding matrix itself: multiply by its transpose
    t = gelu_forward(h @ params["transform.dense.weight"].T + params["transform.dense.bias"])  # (..., H)
    t = layer_norm_forward(t, params["transform.LayerNorm.weight"], params["transform.LayerNorm.bias"], eps)
    return t @ word_embeddings.T + params["bias"]                                            # (..., V)
    ### END SOLUTION
