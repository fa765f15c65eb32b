# %% [markdown]
# # Assignment 4 · Pretraining: masked words, next sentences, BERT's optimizer
#
# **You write** (in `pretraining_exercises.py`, next to this notebook): the masked-LM recipe
# (`mask_ids`, 80/10/10, special tokens never masked), next-sentence pairs (`create_nsp_pair`,
# IsNext = 0, NotNext = 1 from another document), google's truncation (`truncate_seq_pair`), the choice
# of parameters that get weight decay (`use_weight_decay`), BERT's optimizer (`adam_weight_decay_step`:
# Adam without bias correction, decoupled weight decay) and its schedule (`learning_rate`: linear warmup,
# then linear decay). Then this notebook trains a tiny BERT for a minute with **your** functions.
#
# **Assumes:** assignments 1-3 (or notebooks 01-03), notebook 04 (pretraining, the lecture version).
#
# **Check your work** as you go: each section calls your functions on small inputs. The grader runs
# hidden checks on fresh random inputs; from the course directory:
#
#     numpy-bert course grade . --only a4
#
# Written questions are in the cells marked **Question**; write your answer in place of
# *Your answer here.*

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from numpy_bert import BertConfig, BertForPreTraining, BertTokenizer, corpus, data, optim, train, train_wordpiece
from numpy_bert.fast import set_blas_threads

from pretraining_exercises import (adam_weight_decay_step, create_nsp_pair, learning_rate, mask_ids,
                                   truncate_seq_pair, use_weight_decay)

SEED = 0
_ = set_blas_threads(1)       # tiny matrices: one BLAS thread is faster than several
np.set_printoptions(linewidth=110)

# %% [markdown]
# ## 1. A corpus and a vocabulary
#
# numpy_bert's default corpus: the docstrings of the standard library, numpy and matplotlib, one sentence
# per line, a blank line between documents. We take 1,000 documents and learn a 1,500-token WordPiece
# vocabulary on them (assignment 1's algorithm, numpy_bert's implementation).

# %%
documents = corpus.read_corpus(corpus.build_default_corpus())
rng = np.random.default_rng(SEED)
chosen = rng.permutation(len(documents))[:1100]
train_docs = [documents[i] for i in chosen[100:]]
heldout_docs = [documents[i] for i in chosen[:100]]
vocab = train_wordpiece([s for d in train_docs for s in d], vocab_size=1500, do_lower_case=True)
vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
train_ids = [d for d in data.tokenize_documents(train_docs, tokenizer) if len(d) >= 2]
heldout_ids = [d for d in data.tokenize_documents(heldout_docs, tokenizer) if len(d) >= 2]
print(f"{len(train_ids)} training documents, {len(heldout_ids)} held out; vocabulary {tokenizer.vocab_size} tokens")

# %% [markdown]
# ## 2. Masking: the 80/10/10 recipe
#
# `numpy_bert.data.Masking(tokenizer)` knows which ids are special (`can_predict` is False for them) and
# which ordinary tokens a random replacement may be (`random_ids`). Your `mask_ids` takes those two arrays.

# %%
masking = data.Masking(tokenizer)
can_predict, random_ids = masking.can_predict, masking.random_ids
ids, types, label = create_nsp_pair(train_ids, 0, 0, np.random.default_rng(1), tokenizer.cls_token_id,
                                    tokenizer.sep_token_id)
masked, positions, labels = mask_ids(ids, can_predict, random_ids, tokenizer.mask_token_id,
                                     np.random.default_rng(2))
print("pair:  ", " ".join(tokenizer.convert_ids_to_tokens(ids.tolist())))
print("masked:", " ".join(tokenizer.convert_ids_to_tokens(masked.tolist())))
print("predict at", positions.tolist(), "the tokens", tokenizer.convert_ids_to_tokens(labels.tolist()))

# %% [markdown]
# Over many sequences the three branches should come out near 80%, 10% and 10% of the picked tokens, and a
# special token should never be picked:

# %%
counts = {"[MASK]": 0, "random": 0, "kept": 0}
special_picked = 0
check_rng = np.random.default_rng(3)
for d in range(300):
    ids, _, _ = create_nsp_pair(train_ids, d % len(train_ids), 0, check_rng, tokenizer.cls_token_id,
                                tokenizer.sep_token_id)
    masked, positions, labels = mask_ids(ids, can_predict, random_ids, tokenizer.mask_token_id, check_rng)
    new = masked[positions]
    counts["[MASK]"] += int(np.sum(new == tokenizer.mask_token_id))
    counts["kept"] += int(np.sum(new == labels))
    counts["random"] += int(np.sum((new != labels) & (new != tokenizer.mask_token_id)))
    special_picked += int(np.sum(~can_predict[ids[positions]]))
total = sum(counts.values())
print(", ".join(f"{k} {100 * v / total:.1f}%" for k, v in counts.items()), f"of {total} picks;",
      f"special tokens picked: {special_picked}")

# %% [markdown]
# **Question a4.q_80_10_10** (2 points). Why does BERT replace a picked token by [MASK] only 80% of the time, and
# why keep 10% unchanged and put a random token in the other 10%? What would go wrong with 100% [MASK]?
#
# <!-- BEGIN SOLUTION -->
# [MASK] never occurs when the model is fine-tuned or used, so a model trained only on [MASK] positions
# sees inputs at pretraining that it never sees afterwards, and it only has to produce good predictions
# where [MASK] stands: nothing forces the representations of the ordinary, visible tokens to carry what
# a prediction needs. With 10% random and 10% unchanged tokens, any visible token may be the one to
# predict, and may be wrong, so the model must keep a contextual representation of every token (and
# check it against the context). The 10% kept unchanged bias the representation towards the observed
# word; the 10% random ones (1.5% of all tokens) are too few to hurt the model's grasp of the language.
# The BERT paper's ablation (appendix C.2) found 80/10/10 best, and 100% [MASK] clearly worse for the
# feature-based use (a frozen BERT's vectors fed to another model), where the mismatch is not trained away.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 3. Next-sentence pairs and truncation
#
# `create_nsp_pair` builds `[CLS] A [SEP] B [SEP]`; `truncate_seq_pair` trims a pair to a length budget,
# from the longer segment, at a random end. The training data below use both, with 64 tokens per pair.

# %%
MAX_LEN = 64


def make_instance(documents, d, s, rng):
    """A masked training instance from sentence s of document d: your NSP pair, truncated, masked."""
    ids, types, label = create_nsp_pair(documents, d, s, rng, tokenizer.cls_token_id, tokenizer.sep_token_id)
    a, b = ids[1:np.argmax(types) - 1], ids[np.argmax(types):-1]       # split [CLS] A [SEP] B [SEP]
    a, b = truncate_seq_pair(a, b, MAX_LEN - 3, rng)
    ids = np.concatenate([[tokenizer.cls_token_id], a, [tokenizer.sep_token_id], b, [tokenizer.sep_token_id]])
    types = np.zeros(len(ids), dtype=np.int64)
    types[len(a) + 2:] = 1
    masked, positions, labels = mask_ids(ids, can_predict, random_ids, tokenizer.mask_token_id, rng,
                                         max_predictions_per_seq=10)
    return data.TrainingInstance(masked, types, label, positions, labels)


def epoch_instances(documents, rng):
    """One pass over the documents: a pair for every sentence that has a next one, in a random order."""
    starts = [(d, s) for d, document in enumerate(documents) for s in range(len(document) - 1)]
    return [make_instance(documents, *starts[k], rng) for k in rng.permutation(len(starts))]


instances = epoch_instances(train_ids, np.random.default_rng([SEED, 1]))
labels_nsp = np.array([inst.next_sentence_label for inst in instances])
lengths = np.array([len(inst.input_ids) for inst in instances])
print(f"{len(instances)} training pairs per epoch; IsNext {np.mean(labels_nsp == 0):.3f}, longest {lengths.max()} "
      f"tokens (budget {MAX_LEN})")

# %% [markdown]
# ## 4. The optimizer and its schedule
#
# First your step against numpy_bert's `AdamWeightDecay` on the same parameters and gradients:

# %%
names = ["bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.query.bias",
         "bert.embeddings.LayerNorm.weight"]
toy_rng = np.random.default_rng(4)
ours = {n: toy_rng.standard_normal((5, 3) if n.endswith("query.weight") else (5,)) for n in names}
theirs = {n: p.copy() for n, p in ours.items()}
m = {n: np.zeros_like(p) for n, p in ours.items()}
v = {n: np.zeros_like(p) for n, p in ours.items()}
reference = optim.AdamWeightDecay(theirs, weight_decay=0.1)
for step in range(3):
    grads = {n: toy_rng.standard_normal(p.shape) for n, p in ours.items()}
    adam_weight_decay_step(ours, grads, m, v, lr=0.01, weight_decay=0.1)
    reference.step(grads, lr=0.01)
print("weight decay for", {n.split(".")[-2] + "." + n.split(".")[-1]: use_weight_decay(n) for n in names})
print("largest difference from numpy_bert's AdamWeightDecay after 3 steps:",
      max(float(np.max(np.abs(ours[n] - theirs[n]))) for n in names))

# %% [markdown]
# The schedule of the run below, and what the missing bias correction does: without it, an update is
# $\frac{1 - \beta_1^t}{\sqrt{1 - \beta_2^t}}$ times Adam's (for the same $m/\sqrt{v}$).

# %%
STEPS, WARMUP, PEAK_LR, BATCH = 250, 25, 1e-3, 24
steps = np.arange(STEPS + 1)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
left.plot(steps, [learning_rate(int(s), PEAK_LR, WARMUP, STEPS) for s in steps])
left.set(xlabel="update", ylabel="learning rate", title=f"your schedule: warmup {WARMUP}, decay to 0 at {STEPS}")
t = np.arange(1, 20001)
right.semilogx(t, (1 - 0.9 ** t) / np.sqrt(1 - 0.999 ** t))
right.axhline(1.0, color="gray", ls=":")
right.set(xlabel="update t", ylabel="uncorrected / corrected", title="no bias correction: larger first steps")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Question a4.q_bias_correction** (2 points). BERT's optimizer has no bias correction. How much larger than Adam's
# are its first updates (read the right plot), and why does it matter little for BERT's pretraining
# (10,000 warmup steps out of 1,000,000)?
#
# <!-- BEGIN SOLUTION -->
# m and v start at 0, so early on they are too small: m by the factor $1 - \beta_1^t$, v by
# $1 - \beta_2^t$. The uncorrected update $m / \sqrt{v}$ is therefore $(1 - \beta_1^t) / \sqrt{1 - \beta_2^t}$
# times Adam's: 3.2 at t = 1, 6.6 at most (t = 12), still 3.2 at t = 100 and 1.26 at t = 1,000, and 1 within
# a percent from about t = 3,900 on. All of that happens during the warmup, where the learning rate is
# a small fraction of its peak (at t = 1,000 it is 10% of it): the larger factor multiplies a tiny step.
# By the time the learning rate is large, the factor is 1 and the two optimizers are the same. (It does
# show in short runs like this one: our peak learning rate is lower than Adam would tolerate.)
# <!-- END SOLUTION -->

# %% [markdown]
# **Question a4.q_no_decay** (1 point). Why are LayerNorm parameters and biases excluded from weight decay?
#
# <!-- BEGIN SOLUTION -->
# Weight decay pulls weights towards 0 to keep a layer from growing large, input-amplifying weights. A
# bias adds a constant and a LayerNorm gain scales an already normalised vector: neither multiplies the
# inputs, so shrinking them regularises nothing, while decaying the gains towards 0 would shrink every
# normalised activation and fight what LayerNorm is there to do (its gains start at 1 for a reason). They
# are also very few parameters (under 0.1% of bert-base), so leaving them free costs no capacity control.
# <!-- END SOLUTION -->

# %% [markdown]
# **Question a4.q_warmup** (1 point). Why start with a warmup instead of the peak learning rate?
#
# <!-- BEGIN SOLUTION -->
# At initialisation, Adam's second moment is estimated from a handful of gradients, so $m / \sqrt{v}$ is
# noisy and close to $\pm 1$ per coordinate whatever the gradient's size: every parameter moves by about
# the full learning rate at once, in directions that are mostly noise (and, without bias correction,
# several times more, see above). In a post-LayerNorm Transformer like BERT the gradients of the layers
# near the output are also large at initialisation. A full learning rate there can blow the model up
# (a diverging loss, or attention that saturates and never recovers); the warmup lets v settle and the
# model reach a reasonable region before the steps get large.
# <!-- END SOLUTION -->

# %% [markdown]
# ## 5. A short run, with your functions
#
# A tiny BERT (2 layers, hidden size 64) trained for 250 updates of 24 pairs on pairs
# from your `create_nsp_pair` and `truncate_seq_pair`, masked by your `mask_ids`, stepped by your
# `adam_weight_decay_step` with your `learning_rate` (gradients clipped to a global norm of 1 by
# numpy_bert, as google-research/bert does). It takes about a minute (70 to 140 s in our runs, on a
# 2-core machine that other jobs were sharing). Every 50 updates it measures the
# held-out MLM loss and NSP accuracy.

# %%
config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=128, max_position_embeddings=MAX_LEN)
model = BertForPreTraining(config, seed=SEED)
heldout = epoch_instances(heldout_ids, np.random.default_rng([SEED, 2]))[:256]
heldout_batches = [train.trim_padding(data.collate(heldout[i:i + 64], MAX_LEN)) for i in range(0, len(heldout), 64)]
m = {name: np.zeros_like(p) for name, p in model.params.items()}
v = {name: np.zeros_like(p) for name, p in model.params.items()}
# the baseline to beat: each held-out masked token predicted with its training frequency (add-one smoothed)
counts = np.bincount(np.concatenate([s for d in train_ids for s in d]), minlength=tokenizer.vocab_size) + 1.0
targets = np.concatenate([inst.masked_labels for inst in heldout])
unigram_loss = float(-np.log(counts[targets] / counts.sum()).mean())


def training_batches():
    epoch = 0
    while True:
        epoch_rng = np.random.default_rng([SEED, 3, epoch])
        yield from data.batches(epoch_instances(train_ids, epoch_rng), BATCH, MAX_LEN, drop_last=True)
        epoch += 1


history = {"step": [], "mlm_loss": [], "nsp_loss": [], "lr": []}
evals = {"step": [], "heldout_mlm_loss": [], "heldout_mlm_acc": [], "heldout_nsp_loss": [], "heldout_nsp_acc": []}
batches = training_batches()
start = time.perf_counter()
model.train()
for step in range(STEPS + 1):
    if step % 50 == 0:
        for key, value in {"step": step, **train.evaluate(model, heldout_batches)}.items():
            evals[key].append(value)
    if step == STEPS:
        break
    batch = train.trim_padding(next(batches))
    loss, grads, details = model.loss_and_grads(**batch, return_details=True)
    optim.clip_by_global_norm(grads, 1.0)
    lr = learning_rate(step, PEAK_LR, WARMUP, STEPS)
    adam_weight_decay_step(model.params, grads, m, v, lr, weight_decay=0.01)
    for key, value in (("step", step), ("mlm_loss", details["mlm_loss"]), ("nsp_loss", details["nsp_loss"]),
                       ("lr", lr)):
        history[key].append(value)
model.eval()
seconds = time.perf_counter() - start
print(f"{STEPS} updates in {seconds:.0f} s; held-out MLM loss {evals['heldout_mlm_loss'][0]:.2f} -> "
      f"{evals['heldout_mlm_loss'][-1]:.2f} (ln V = {np.log(tokenizer.vocab_size):.2f}), NSP accuracy "
      f"{evals['heldout_nsp_acc'][-1]:.2f}; unigram baseline {unigram_loss:.2f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
left.plot(history["step"], history["mlm_loss"], alpha=0.4, label="MLM loss (training batch)")
left.plot(history["step"], history["nsp_loss"], alpha=0.4, label="NSP loss (training batch)")
left.plot(evals["step"], evals["heldout_mlm_loss"], "o-", label="MLM loss (held out)")
left.plot(evals["step"], evals["heldout_nsp_loss"], "o-", label="NSP loss (held out)")
left.axhline(np.log(tokenizer.vocab_size), color="gray", ls=":", label="ln V (uniform guess)")
left.axhline(unigram_loss, color="gray", ls="--", label="unigram baseline (MLM)")
left.set(xlabel="update", ylabel="cross-entropy", title="losses")
left.legend(fontsize=8)
right.plot(evals["step"], evals["heldout_mlm_acc"], "o-", label="MLM accuracy (held out)")
right.plot(evals["step"], evals["heldout_nsp_acc"], "o-", label="NSP accuracy (held out)")
right.axhline(0.5, color="gray", ls=":", label="NSP chance")
right.set(xlabel="update", ylabel="accuracy", ylim=(0, 1), title="held-out accuracies")
right.legend(fontsize=8)
fig.suptitle("A tiny BERT pretrained with your masking, pairs, optimizer and schedule")
fig.tight_layout()
plt.show()

# %% [markdown]
# With right functions the held-out MLM loss falls from $\ln V$ to about the unigram baseline within the
# first 50 updates (our run of the solution: 7.33 to 6.06 after 250 updates, the baseline 6.03): the model
# learns which tokens are frequent. Getting below the baseline (using the context)
# takes the longer run of notebook 04 (1,200 updates); NSP stays near chance in so short a run. A loss that
# does not fall, or rises, points at the optimizer or the schedule; one that falls far below the baseline
# at once points at the masking (labels that can be read off the input).
