# %% [markdown]
# # Assignment 2: the forward pass
#
# You write BERT's forward pass one piece at a time, in plain NumPy: layer norm, GELU, softmax,
# the embeddings, the attention mask, the multi-head reshape, scaled dot-product attention,
# self-attention, a whole encoder layer and the masked-LM head. Every piece follows HuggingFace's
# conventions, so that your encoder layer computes exactly what `BertLayer` computes.
#
# **How to work.** Write each function in `forward_exercises.py`, then run the cell under it. The
# sanity checks compare your function with numpy_bert's reference (`numpy_bert.layers`,
# `numpy_bert.model`) on random float64 inputs and print the largest difference; a right function
# differs by rounding only (below 1e-10). Use numpy and math (and `erf`, imported for you); calling
# numpy_bert's implementation earns no points. The grader's hidden checks use other sizes and inputs.
#
# Dimension key: B batch, T tokens, H hidden, NH heads, HS head size (H / NH), I intermediate, V vocab.
#
# Points: 20 for the functions, 6 for the written questions.

# %%
import importlib
import math
from types import SimpleNamespace

import numpy as np

import forward_exercises as ex
from numpy_bert import layers, model

importlib.reload(ex)  # run this cell again after editing the file
rng = np.random.default_rng(0)


def sanity_check(name, got, expected):
    """Print the largest difference from the reference, and whether it is small enough."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        print(f"WRONG   {name}: shape {got.shape}, expected {expected.shape}")
        return
    difference = float(np.max(np.abs(got - expected), initial=0.0))
    print(f"{'ok' if difference < 1e-10 else 'WRONG':<7} {name}: max |difference| = {difference:.1e}")


B, T, H, NH, I, V = 2, 5, 12, 3, 7, 11   # odd sizes: a transpose or a wrong axis does not fit

# %% [markdown]
# ## 1. Layer norm, GELU, softmax
#
# Layer norm normalises each token's H features: `xhat = (x - mean) / sqrt(var + eps)` with the
# *biased* variance (divide by H), then `out = xhat * weight + bias`. GELU is `x Phi(x)`, Phi the
# standard normal CDF. The softmax must survive scores of 1000: `exp(1000)` overflows, and
# `softmax(x) = softmax(x - max(x))`.

# %%
x, w, b = rng.standard_normal((B, T, H)), rng.standard_normal(H), rng.standard_normal(H)
sanity_check("layer_norm_forward", ex.layer_norm_forward(x, w, b, 1e-5), layers.layer_norm_forward(x, w, b, 1e-5)[0])
sanity_check("gelu_forward", ex.gelu_forward(3 * x), layers.gelu_forward(3 * x)[0])
sanity_check("softmax", ex.softmax(x, axis=1), layers.softmax_forward(x, axis=1)[0])
sanity_check("softmax of scores near 1000", ex.softmax(1000 * x), layers.softmax_forward(1000 * x)[0])

# %% [markdown]
# ## 2. Embeddings and the attention mask
#
# A token's input vector is the sum of three rows: its word's, its position's (0 .. T-1) and its
# segment's (token type 0 or 1), then layer norm. The attention mask turns the tokenizer's 0/1
# `attention_mask` into numbers *added* to the scores: 0 for a real token, the dtype's most negative
# number for padding, shaped (B, 1, 1, T) to broadcast over heads and queries.

# %%
ids, types = rng.integers(0, V, (B, T)), rng.integers(0, 2, (B, T))
tables = {"word_embeddings.weight": rng.standard_normal((V, H)), "position_embeddings.weight": rng.standard_normal((9, H)),
          "token_type_embeddings.weight": rng.standard_normal((2, H)), "LayerNorm.weight": w, "LayerNorm.bias": b}
config = SimpleNamespace(pad_token_id=None, layer_norm_eps=1e-5, hidden_dropout_prob=0.0)
expected = model.embeddings_forward(layers, {"embeddings." + k: v for k, v in tables.items()}, "", config, ids, types, None, False)[0]
sanity_check("embeddings_forward", ex.embeddings_forward(ids, types, tables["word_embeddings.weight"],
             tables["position_embeddings.weight"], tables["token_type_embeddings.weight"], w, b, 1e-5), expected)
attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
print(ex.additive_attention_mask(attention_mask, np.float32)[:, 0, 0])
sanity_check("additive_attention_mask", ex.additive_attention_mask(attention_mask, np.float64),
             layers.additive_attention_mask(attention_mask, np.float64))

# %% [markdown]
# ## 3. Heads and attention
#
# The H features of a token are NH heads of HS features each: head n owns features n*HS to
# (n+1)*HS - 1. `split_heads` gives (B, NH, T, HS) so that one matrix product serves every head.
# Scaled dot-product attention: `scores = q k^T / sqrt(HS) + mask`, `probs = softmax(scores)` over
# the keys, `context = probs v`.

# %%
mask = layers.additive_attention_mask(attention_mask, np.float64)
heads = ex.split_heads(x, NH)
sanity_check("split_heads", heads, x.reshape(B, T, NH, H // NH).transpose(0, 2, 1, 3))
sanity_check("merge_heads(split_heads(x))", ex.merge_heads(heads), x)
weights = [rng.standard_normal(s) * 0.5 for s in [(H, H), (H,)] * 3]
q, k, v = (heads + rng.standard_normal(heads.shape) for _ in range(3))
context, probs = ex.scaled_dot_product_attention(q, k, v, mask)
print("attention of sequence 2 on its padded keys (must be 0):", probs[1, :, :, 3:].max())
expected = layers.self_attention_forward(x, *weights, mask, NH)[0]
sanity_check("self_attention_forward", ex.self_attention_forward(x, *weights, mask, NH), expected)

# %% [markdown]
# ## 4. The encoder layer and the MLM head
#
# BERT is *post-LN*: each sub-layer's output is added to its input, and the sum is normalised.
# The MLM head transforms each hidden state (dense, GELU, layer norm) and scores it against every
# word embedding: the decoder's weight *is* the word embedding matrix (tied).

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
expected = model.encoder_layer_forward(layers, params, "", config, x, mask, None, False)[0]
sanity_check("encoder_layer_forward", ex.encoder_layer_forward(x, params, mask, NH, 1e-5), expected)

head = {"transform.dense.weight": rng.standard_normal((H, H)), "transform.dense.bias": b,
        "transform.LayerNorm.weight": w, "transform.LayerNorm.bias": b, "bias": rng.standard_normal(V)}
word_embeddings = tables["word_embeddings.weight"]
full = {"cls.predictions." + k: v for k, v in head.items()}
full["bert.embeddings.word_embeddings.weight"] = word_embeddings
expected = model.mlm_head_forward(layers, full, config, x)[0]
sanity_check("mlm_head_forward", ex.mlm_head_forward(x, head, word_embeddings, 1e-5), expected)

# %% [markdown]
# ## Written questions
#
# **Question a2.q_sqrt** (2 points). Why are the scores divided by sqrt(HS)? What happens to the
# softmax, and to its gradient, without it?
#
# <!-- BEGIN SOLUTION -->
# If the entries of q and k are independent with mean 0 and variance 1, their dot product over HS
# features has variance HS. At HS = 64 the scores spread over roughly plus or minus 8, the softmax saturates
# (almost all of a query's probability on one key) and its gradient, out * (dout - sum(dout * out)),
# is close to zero everywhere: learning stalls. Dividing by sqrt(HS) brings the variance back to 1
# whatever the head size.
# <!-- END SOLUTION -->
#
# **Question a2.q_mask** (2 points). Why does the mask use `np.finfo(dtype).min` and not `-inf`, and
# why is it added to the scores before the softmax rather than multiplied into the probabilities after?
#
# <!-- BEGIN SOLUTION -->
# A row whose keys are all masked would be softmax of all -inf: inf - inf = NaN, and the NaN spreads
# through the rest of the model; with the most negative finite number the row stays finite (uniform).
# Added before the softmax, the mask makes the masked keys' exp underflow to exactly 0 and the other
# probabilities still sum to 1; multiplying probabilities by 0/1 afterwards would leave rows that no
# longer sum to 1.
# <!-- END SOLUTION -->
#
# **Question a2.q_post_ln** (2 points). BERT is post-LN: `a = LayerNorm(h + x)`. What changes in a
# pre-LN layer (`a = x + attention(LayerNorm(x))`), and why do deep pre-LN models train more easily?
#
# <!-- BEGIN SOLUTION -->
# In pre-LN the residual stream x is never normalised: each layer adds its output to it, and the
# gradient reaches early layers through the identity path unchanged. In post-LN every gradient passes
# through a layer norm per layer, which rescales it, so deep post-LN models need a learning-rate
# warm-up to train stably (as BERT uses). The two compute different functions: a checkpoint trained
# post-LN gives wrong outputs in a pre-LN layer.
# <!-- END SOLUTION -->
