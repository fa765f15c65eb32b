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
