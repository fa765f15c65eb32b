# %% [markdown]
# # 06 · Exercises: write the backward pass yourself
#
# **Assumes:** notebook 03 (how a backward is derived and how a gradient check works), NumPy
# broadcasting (`keepdims=True`), and the forward formulas of GELU, LayerNorm, softmax and attention
# (notebook 02).
#
# **Teaches:** by doing: you derive and implement four backward functions of BERT, and
# `numpy_bert.gradcheck` tells you, with finite differences against a random upstream gradient, whether
# each one is right.
#
# **How to work.** Each exercise has a cell with a function to complete (it starts as a stub that raises
# `NotImplementedError`) and, below it, a check cell. Run the check after each attempt: it prints
# `correct` or `not yet correct` and the relative error of each gradient (about 1e-9 or smaller means
# right; of order 1 means a wrong formula; something in between often means a wrong sign in a small
# term). The checks use odd sizes so that a transposed matrix shows up.
#
# **About the solutions.** Notebook 03 derives all four of these gradients (sections 2 to 5) and writes
# out the code for three of them (GELU, LayerNorm, softmax; for attention it gives the formulas): it *is*
# the answer key. The exercise teaches only if you do it first: close notebook 03, derive each gradient
# on paper from the forward formula given here, implement it, run the check, and open notebook 03
# afterwards to compare your derivation with its.

# %%
import numpy as np

from numpy_bert import gradcheck, layers

rng = np.random.default_rng(2024)


def check(name, forward, student_backward, args, arg_names):
    """Compare ``student_backward(dout, *args) -> gradient(s)`` with finite differences of ``forward``.

    Prints one verdict; never raises, so that the notebook runs top to bottom even before the
    exercises are done.
    """
    def backward(dout, cache):
        grads = student_backward(dout, *cache)
        return tuple(grads) if isinstance(grads, (tuple, list)) else grads

    def forward_keeping_inputs(*a):
        out, _ = forward(*a)
        return out, a                      # the "cache" handed to your function: the inputs

    try:
        results = gradcheck.check_layer(forward_keeping_inputs, backward, args, names=arg_names,
                                        layer=name, tol=1e-7, seed=7)
    except NotImplementedError:
        print(f"{name}: not yet correct (not implemented yet)")
        return
    except Exception as error:             # a shape mistake, a typo...: report it, don't stop
        print(f"{name}: not yet correct ({type(error).__name__}: {error})")
        return
    ok = all(r.passed for r in results)
    print(f"{name}: {'correct' if ok else 'not yet correct'}")
    for r in results:
        print(f"    d{r.name:8s} relative error {r.rel_error:.1e}  {'ok' if r.passed else 'WRONG'}")

# %% [markdown]
# ## Exercise 1 · GELU
#
# Forward (exact GELU, BERT's `hidden_act="gelu"`):
#
# $$y = x\,\Phi(x), \qquad \Phi(x) = \tfrac12\Big(1 + \operatorname{erf}\big(x/\sqrt2\big)\Big)$$
#
# Write `gelu_backward(dout, x)` returning `dx` (same shape as `x`). Hints: what is the derivative of
# the normal CDF $\Phi$? NumPy has no `erf`, use `numpy_bert.special.erf`.

# %% tags=["exercise"]
def gelu_backward(dout, x):
    """dx for y = x * Phi(x)."""
    raise NotImplementedError("exercise 1: your code here")

# %% tags=["check"]
x = rng.standard_normal((3, 7)) * 2
check("gelu_backward", layers.gelu_forward, gelu_backward, [x], ["x"])

# %% [markdown]
# ## Exercise 2 · LayerNorm
#
# Forward over the last axis (H features):
#
# $$\mu = \operatorname{mean}(x),\quad \sigma^2 = \operatorname{mean}\big((x-\mu)^2\big),\quad
# \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\varepsilon}},\quad y = \gamma \odot \hat x + \beta$$
#
# Write `layer_norm_backward(dout, x, weight, bias)` returning `(dx, dweight, dbias)`; `eps` is the
# global `EPS` below. Hints: $\mu$ and $\sigma^2$ depend on *every* $x_j$ of the row, so
# $\partial\hat x_i/\partial x_j$ has three terms. `dweight` and `dbias` sum over every row (all axes
# but the last). Test your result on one row first.

# %%
EPS = 1e-5


def layer_norm(x, weight, bias):
    return layers.layer_norm_forward(x, weight, bias, EPS)

# %% tags=["exercise"]
def layer_norm_backward(dout, x, weight, bias):
    """(dx, dweight, dbias) for y = weight * (x - mean) / sqrt(var + EPS) + bias over the last axis."""
    raise NotImplementedError("exercise 2: your code here")

# %% tags=["check"]
x = rng.standard_normal((2, 3, 9)) * 2 + 0.5
weight, bias = rng.standard_normal(9), rng.standard_normal(9)
check("layer_norm_backward", layer_norm, layer_norm_backward, [x, weight, bias], ["x", "weight", "bias"])

# %% [markdown]
# ## Exercise 3 · Softmax
#
# Forward over the last axis: $p_i = e^{z_i} / \sum_j e^{z_j}$.
#
# Write `softmax_backward(dout, z)` returning `dz`. Hints: first write the Jacobian
# $\partial p_i/\partial z_j$ for one row; then notice that you never need to build it, one dot product
# per row is enough. Why would checking with `dout = ones` tell you nothing here?

# %% tags=["exercise"]
def softmax_backward(dout, z):
    """dz for p = softmax(z) over the last axis."""
    raise NotImplementedError("exercise 3: your code here")

# %% tags=["check"]
z = rng.standard_normal((4, 5, 6))
check("softmax_backward", layers.softmax_forward, softmax_backward, [z], ["z"])

# %% [markdown]
# ## Exercise 4 · Attention (one head)
#
# Forward for one head, with queries, keys and values of shape (T, HS):
#
# $$S = \frac{QK^\top}{\sqrt{HS}}, \qquad P = \operatorname{softmax}_{\text{rows}}(S), \qquad C = P V$$
#
# Write `attention_backward(dcontext, q, k, v)` returning `(dq, dk, dv)`. Hints: go through the forward
# lines in reverse order; each is a matrix product (which gradient goes with which transpose? check the
# shapes) or a softmax (exercise 3). Recompute $P$ from $q$ and $k$ first.

# %%
def attention(q, k, v):
    """One head: softmax(q k^T / sqrt(HS)) v. q, k, v: (T, HS) -> context (T, HS)."""
    scores = q @ k.T / np.sqrt(q.shape[-1])          # (T, T)
    probs, _ = layers.softmax_forward(scores)        # (T, T)
    return probs @ v, None                           # (T, HS)

# %% tags=["exercise"]
def attention_backward(dcontext, q, k, v):
    """(dq, dk, dv) for context = softmax(q k^T / sqrt(HS)) v."""
    raise NotImplementedError("exercise 4: your code here")

# %% tags=["check"]
T, HS = 7, 5
q, k, v = rng.standard_normal((T, HS)), rng.standard_normal((T, HS)), rng.standard_normal((T, HS))
check("attention_backward", attention, attention_backward, [q, k, v], ["q", "k", "v"])

# %% [markdown]
# ## Going further
#
# - Add the additive mask of notebook 02 to the attention (a (T,) vector of 0 and `-1e9`): what happens
#   to the gradient of a masked key's value? Check your prediction.
# - Compare your functions with numpy_bert's (`layers.gelu_backward`, `layers.layer_norm_backward`,
#   `layers.softmax_backward`, `layers.self_attention_backward`): theirs work in place and on all heads
#   at once; are the formulas the same as yours?
# - Run `numpy-bert gradcheck` in a terminal: the same checks, for every layer of numpy_bert.
