# %% [markdown]
# # Assignment 3: the backward pass
#
# Training needs the gradient of the loss with respect to every parameter. You write the backward
# pass of each of BERT's layers by hand, as CS231n's `layers.py` and llm.c do:
#
# ```
# out, cache = layer_norm_forward(x, weight, bias, eps)   # numpy_bert.layers: keeps what the backward needs
# dx, dweight, dbias = layer_norm_backward(dout, cache)   # yours: the gradients, in the forward's argument order
# ```
#
# `dout` is the gradient of the loss with respect to `out`. The forwards are numpy_bert's
# (`numpy_bert.layers`); each exercise's docstring says what its cache holds.
#
# **How to work.** Write each function in `backward_exercises.py`, then run the cell under it. The
# sanity check is a *gradient check*: it compares your gradients with centred finite differences of
# the forward, `(f(x + h) - f(x - h)) / 2h`, for a random upstream gradient (never `out.sum()`,
# whose all-ones gradient hides bugs), in float64, at odd sizes. A right backward gives a relative
# error around 1e-9 or less; a wrong one, around 1. Calling numpy_bert's backward earns no points.
#
# Points: 24 for the functions, 6 for the written questions.

# %%
import importlib
from types import SimpleNamespace

import numpy as np

import backward_exercises as ex
from numpy_bert import gradcheck, layers, model

importlib.reload(ex)  # run this cell again after editing the file
rng = np.random.default_rng(0)
B, T, H, NH, I, V = 2, 5, 12, 3, 7, 11


def sanity_check(forward, backward, args, names, **kwargs):
    """Gradient-check ``backward`` against finite differences of ``forward``; print the report."""
    results = gradcheck.check_layer(forward, backward, args, names=names, **kwargs)
    print(gradcheck.format_report(results))


# %% [markdown]
# ## 1. Linear, softmax, layer norm, GELU
#
# `out = x W^T + b`: `dx = dout W`, `dW = dout^T x` (summed over every row), `db = sum(dout)`.
# The softmax's Jacobian is not diagonal: every output of a row depends on every input of it.
# Layer norm's mean and rstd depend on x too, which adds two terms to `dx`. GELU is a product,
# `x Phi(x)`.

# %%
sanity_check(layers.linear_forward, ex.linear_backward,
             [rng.standard_normal((B, T, H)), rng.standard_normal((I, H)), rng.standard_normal(I)], ["x", "weight", "bias"])
sanity_check(layers.softmax_forward, ex.softmax_backward, [rng.standard_normal((B, NH, T, T))], ["x"])
sanity_check(lambda x, w, b: layers.layer_norm_forward(x, w, b, 1e-5), ex.layer_norm_backward,
             [rng.standard_normal((B, T, H)) * 3 + 1, rng.standard_normal(H), rng.standard_normal(H)], ["x", "weight", "bias"])
sanity_check(layers.gelu_forward, ex.gelu_backward, [rng.standard_normal((B, T, I)) * 2], ["x"])

# %% [markdown]
# ## 2. Attention
#
# First the attention product of one head (`scores = q k^T / sqrt(HS) + mask`, `probs =
# softmax(scores)`, `context = probs v`), then the whole self-attention with its three projections.
# The key bias gets a gradient of (almost exactly) zero: see the question below.

# %%
attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
mask = layers.additive_attention_mask(attention_mask, np.float64)


def attention_product(q, k, v):
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1]) + mask
    probs, _ = layers.softmax_forward(scores)
    return probs @ v, (q, k, v, probs)


q, k, v = (rng.standard_normal((B, NH, T, H // NH)) for _ in range(3))
sanity_check(attention_product, ex.scaled_dot_product_attention_backward, [q, k, v], ["q", "k", "v"])
weights = [rng.standard_normal(s) * 0.5 for s in [(H, H), (H,)] * 3]
sanity_check(lambda x, *w: layers.self_attention_forward(x, *w, mask, NH), ex.self_attention_backward,
             [rng.standard_normal((B, T, H))] + weights,
             ["x", "q_weight", "q_bias", "k_weight", "k_bias", "v_weight", "v_bias"], zero_grad=(4,))

# %% [markdown]
# ## 3. A whole encoder layer
#
# Unwind `encoder_layer_forward` in exact reverse order. The two residual sums pass their gradient
# to both of their terms: forgetting one still gives gradients of the right shapes, and wrong ones.
# The check compares every gradient with numpy_bert's `encoder_layer_backward` and `dx` with finite
# differences.

# %%
names = {"attention.self.query.weight": (H, H), "attention.self.query.bias": (H,), "attention.self.key.weight": (H, H),
         "attention.self.key.bias": (H,), "attention.self.value.weight": (H, H), "attention.self.value.bias": (H,),
         "attention.output.dense.weight": (H, H), "attention.output.dense.bias": (H,),
         "attention.output.LayerNorm.weight": (H,), "attention.output.LayerNorm.bias": (H,),
         "intermediate.dense.weight": (I, H), "intermediate.dense.bias": (I,), "output.dense.weight": (H, I),
         "output.dense.bias": (H,), "output.LayerNorm.weight": (H,), "output.LayerNorm.bias": (H,)}
params = {name: rng.standard_normal(shape) * 0.5 for name, shape in names.items()}
config = SimpleNamespace(num_attention_heads=NH, hidden_act="gelu", layer_norm_eps=1e-5,
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
x = rng.standard_normal((B, T, H))
y, cache = model.encoder_layer_forward(layers, params, "", config, x, mask, None, False)
dy = rng.standard_normal(y.shape)
reference = {name: np.zeros_like(value) for name, value in params.items()}
dx_reference = model.encoder_layer_backward(layers, dy, cache, reference, "")
dx, grads = ex.encoder_layer_backward(dy, cache)
scale = max(float(np.abs(g).max()) for g in reference.values())  # the key bias's gradient is ~0: use the layer's scale
for name in ["dx"] + list(names):
    got, want = (dx, dx_reference) if name == "dx" else (grads.get(name), reference[name])
    error = (float(np.abs(got - want).max()) / scale if got is not None and np.shape(got) == want.shape
             else float("inf"))
    print(f"{'ok' if error < 1e-8 else 'WRONG':<7} {name}: error {error:.1e} (relative to the largest gradient)")
numeric = gradcheck.numerical_gradient(lambda: model.encoder_layer_forward(layers, params, "", config, x, mask, None, False)[0],
                                       x, np.arange(6), dy)
print("dx against finite differences:", gradcheck.relative_error(dx.reshape(-1)[:6], numeric))

# %% [markdown]
# ## 4. The tied word embeddings and the loss
#
# The word embedding matrix is used twice: by the embedding lookup and, transposed, by the MLM
# decoder. Its gradient is the sum of both, and a token id that occurs twice in the batch adds two
# rows. The loss is the mean cross-entropy over the positions that have a label (the masked tokens,
# label != -100).

# %%
ids = np.array([[1, 4, 4, 2, 4], [0, 3, 1, 1, 5]])
dlogits, t, dembeddings = rng.standard_normal((3, V)), rng.standard_normal((3, H)), rng.standard_normal((B, T, H))
dword_embeddings, dbias = ex.tied_word_embeddings_backward(dlogits, t, dembeddings, ids, V)
expected = dlogits.T @ t + layers.embedding_backward(dembeddings, (ids, V, None))
print("dword_embeddings relative error:", gradcheck.relative_error(dword_embeddings, expected))

logits, labels = rng.standard_normal((7, V)), np.array([3, -100, 0, 10, -100, -100, 5])
loss, dlogits = ex.cross_entropy_loss_and_grad(logits, labels)
reference_loss, ce_cache = layers.cross_entropy_forward(logits, labels)
print(f"loss {loss:.6f} (numpy_bert: {reference_loss:.6f})")
print("dlogits relative error:", gradcheck.relative_error(dlogits, layers.cross_entropy_backward(1.0, ce_cache)))

# %% [markdown]
# ## Written questions
#
# **Question a3.q_key_bias** (2 points). What is the gradient of the attention's key bias, and why?
#
# <!-- BEGIN SOLUTION -->
# Zero, up to rounding. The key bias adds q_i . b_k to every score of query i, the same amount for
# every key j; the softmax over the keys is unchanged by adding a constant to a row, so the output
# does not depend on b_k at all and its gradient is exactly zero in exact arithmetic. (The query bias
# is different: q_i . k_j changes with j.) A gradient check must therefore measure dk_bias against the
# scale of the other gradients, not its own.
# <!-- END SOLUTION -->
#
# **Question a3.q_random_dout** (2 points). Why does a gradient check use a random upstream gradient
# rather than the gradient of `out.sum()`? Give a backward bug that `out.sum()` cannot see.
#
# <!-- BEGIN SOLUTION -->
# With dout all ones some terms vanish identically and the bugs in them hide. For the softmax, each
# row sums to 1 whatever x is, so the gradient of out.sum() is exactly 0: a softmax backward that
# returns zeros, or that forgets the sum term, passes. Likewise a transposed dout or a mixed-up axis
# cannot be seen when every entry of dout is equal. A random dout weights every output differently.
# <!-- END SOLUTION -->
#
# **Question a3.q_tied** (2 points). Why must the tied word embedding gradient be accumulated
# (`+=`, `np.add.at`) and never assigned? What does `dE[ids] += de` get wrong?
#
# <!-- BEGIN SOLUTION -->
# The same matrix is used by the lookup and by the decoder, and by every position of the batch: the
# loss depends on it through all of these uses, so its gradient is the sum of every use's contribution.
# Assigning keeps only the last one. dE[ids] += de is a buffered fancy-index assignment: for an id that
# occurs several times, only one of its rows is added (the last write wins); np.add.at adds them all.
# <!-- END SOLUTION -->
