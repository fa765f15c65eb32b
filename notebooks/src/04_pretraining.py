# %% [markdown]
# # 04 · Pretraining: masked words and next sentences
#
# **Assumes:** notebooks 01–03 (tokens, the forward pass, `loss_and_grads`), and what an optimiser
# step is.
#
# **Teaches:** how BERT's pretraining data are made (sentence pairs for next-sentence prediction,
# 15% of the tokens chosen for prediction, of which 80% become `[MASK]`, 10% a random token and 10%
# stay), measured on thousands of examples; BERT's optimiser (Adam with decoupled weight decay, warmup
# then linear decay, gradient clipping); and a short training run of a tiny BERT on a laptop, with its
# loss and accuracy curves and its predictions before and after.
#
# Everything here uses numpy_bert's public pieces: `corpus`, `train_wordpiece`, `data`, `optim`,
# `BertForPreTraining.loss_and_grads`. `numpy-bert pretrain` runs the same recipe at full length.

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import clear_output

from numpy_bert import BertConfig, BertForPreTraining, BertTokenizer, corpus, data, optim, train, train_wordpiece
from numpy_bert.fast import set_blas_threads

SEED = 0
# A tiny model multiplies tiny matrices; there one BLAS thread is faster than several, which mostly
# wait for each other (numpy-bert pretrain does the same, see its --threads option).
_ = set_blas_threads(1)

# %% [markdown]
# ## 1. A corpus and a vocabulary
#
# The corpus format is google-research/bert's: one sentence per line, a blank line between documents.
# numpy_bert's default corpus is English prose that ships with every Python installation: the docstrings
# of the standard library, numpy and matplotlib, and Python's reference topics. We take a random part of
# it (for speed), hold out 10% of the documents for evaluation, and learn a 2,000-token WordPiece
# vocabulary on the training documents.

# %%
documents = corpus.read_corpus(corpus.build_default_corpus())
rng = np.random.default_rng(SEED)
chosen = rng.permutation(len(documents))[:1600]
heldout_docs = [documents[i] for i in chosen[:160]]
train_docs = [documents[i] for i in chosen[160:]]
vocab = train_wordpiece([s for d in train_docs for s in d], vocab_size=2000, do_lower_case=True)
vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
train_ids = data.tokenize_documents(train_docs, tokenizer)       # every sentence tokenized once
heldout_ids = data.tokenize_documents(heldout_docs, tokenizer)

# %%
print(f"default corpus: {len(documents)} documents; we use {len(train_docs)} for training, {len(heldout_docs)} held out")
print(f"training sentences: {sum(map(len, train_docs))}, vocabulary: {tokenizer.vocab_size} tokens")
print("a document starts:", train_docs[0][:2])

# %% [markdown]
# ## 2. Sentence pairs for next-sentence prediction
#
# Each document's sentences are packed into chunks of about `max_seq_length - 3` tokens, and each chunk
# is cut in two at a random sentence boundary: A is the first part. Half of the time B is the rest of
# the chunk (label 0, *IsNext*); otherwise B comes from a random other document (label 1, *NotNext*).
# The pair becomes `[CLS] A [SEP] B [SEP]`, token types 0 for A and 1 for B.

# %%
MAX_LEN = 48
pairs = data.create_sentence_pairs(train_ids, MAX_LEN, np.random.default_rng([SEED, 1]), tokenizer=tokenizer)
for pair in pairs[:2]:
    tokens = tokenizer.convert_ids_to_tokens(pair.input_ids)
    boundary = int(np.argmax(pair.token_type_ids))
    print(["IsNext", "NotNext"][pair.next_sentence_label])
    print("   A:", " ".join(tokens[1:boundary - 1]))
    print("   B:", " ".join(tokens[boundary:-1]))

# %%
labels = np.array([p.next_sentence_label for p in pairs])
lengths = np.array([len(p.input_ids) for p in pairs])
print(f"{len(pairs)} pairs from one pass over the training documents")
print(f"IsNext: {np.mean(labels == 0):.3f}   NotNext: {np.mean(labels == 1):.3f}")
print(f"tokens per pair: mean {lengths.mean():.1f}, max {lengths.max()} (limit {MAX_LEN})")

# %% tags=["check"]
print("IsNext within 0.03 of one half:", abs(np.mean(labels == 0) - 0.5) <= 0.03)
print(f"every pair within the limit of {MAX_LEN} tokens:", lengths.max() <= MAX_LEN)

# %% [markdown]
# ## 3. Masking: the 80/10/10 rule
#
# In each pair, 15% of the tokens (never `[CLS]`, `[SEP]` or padding) are chosen for prediction. A chosen
# token becomes `[MASK]` with probability 0.8, a random token with probability 0.1, and stays as it is
# with probability 0.1, and in all three cases the model must predict the original token. The random and
# kept cases matter: if the model only ever had to predict at `[MASK]`, it would learn nothing useful
# about the other tokens, and `[MASK]` never appears when the model is used later.
#
# Below, eight masked pairs: each row is a sequence, each cell a token, coloured by what happened to it.

# %%
masking = data.Masking(tokenizer, masked_lm_prob=0.15, max_predictions_per_seq=8)
instances = masking.mask_instances(pairs, np.random.default_rng([SEED, 2]))
batch = data.collate(instances[:8], MAX_LEN)
categories = ["segment A", "segment B", "[CLS] / [SEP]", "padding", "predicted: [MASK]",
              "predicted: random token", "predicted: kept"]
colours = ["#dbe9f6", "#fde3c8", "#bdbdbd", "#ffffff", "#d62728", "#9467bd", "#2ca02c"]
original = np.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
kind = np.where(batch["token_type_ids"] == 0, 0, 1)
kind[np.isin(batch["input_ids"], [tokenizer.cls_token_id, tokenizer.sep_token_id])] = 2
kind[batch["attention_mask"] == 0] = 3
predicted = batch["labels"] != -100
kind[predicted & (batch["input_ids"] == tokenizer.mask_token_id)] = 4
kind[predicted & (batch["input_ids"] != tokenizer.mask_token_id) & (batch["input_ids"] != original)] = 5
kind[predicted & (batch["input_ids"] == original)] = 6
width = int(batch["attention_mask"].sum(1).max())
fig, ax = plt.subplots(figsize=(13, 3.6))
ax.imshow(kind[:, :width], cmap=plt.matplotlib.colors.ListedColormap(colours), vmin=-0.5, vmax=6.5, aspect="auto")
ax.set_xlabel("position in the sequence")
ax.set_ylabel("training example")
ax.set_yticks(range(8), [["IsNext", "NotNext"][label] for label in batch["next_sentence_label"]])
ax.set_title("Eight pretraining examples: segments, special tokens and the tokens chosen for prediction")
handles = [plt.matplotlib.patches.Patch(facecolor=c, edgecolor="gray", label=n) for c, n in zip(colours, categories)]
ax.legend(handles=handles, bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The same first example as text: what the model sees, and what it must predict at each chosen position.

# %%
row = 0
seen = tokenizer.convert_ids_to_tokens(batch["input_ids"][row][batch["attention_mask"][row] == 1])
print("input: ", " ".join(seen))
for position in np.flatnonzero(predicted[row]):
    got, want = seen[position], tokenizer.convert_ids_to_tokens([int(original[row, position])])[0]
    how = "masked" if got == "[MASK]" else ("kept" if got == want else f"random '{got}'")
    print(f"   position {position:2d}: predict {want!r:14s} ({how})")

# %% [markdown]
# Measured over every instance of the corpus (thousands of predictions), the recipe's proportions come
# out as designed:

# %%
n_tokens = 0
counts = {"[MASK]": 0, "random": 0, "kept": 0}
for inst in instances:
    ids = inst.original_ids()
    n_tokens += len(ids)
    now = inst.input_ids[inst.masked_positions]
    counts["[MASK]"] += int(np.sum(now == tokenizer.mask_token_id))
    counts["kept"] += int(np.sum(now == inst.masked_labels))
    counts["random"] += int(np.sum((now != tokenizer.mask_token_id) & (now != inst.masked_labels)))
n_predicted = sum(counts.values())
print(f"{n_predicted} predictions in {len(instances)} pairs: {n_predicted / n_tokens:.3f} of all tokens "
      f"(target 0.15 of n, rounded per pair, at most 8 per pair)")
for name, target in [("[MASK]", 0.8), ("random", 0.1), ("kept", 0.1)]:
    print(f"   {name:7s} {counts[name] / n_predicted:.3f}   (target {target})")

# %% tags=["check"]
print("predicted fraction of all tokens within 0.01 of 0.15:", abs(n_predicted / n_tokens - 0.15) <= 0.01)
for name, target in [("[MASK]", 0.8), ("random", 0.1), ("kept", 0.1)]:
    print(f"{name} within 0.01 of {target}:", abs(counts[name] / n_predicted - target) <= 0.01)

# %%
fig, ax = plt.subplots(figsize=(5, 3.2))
names = list(counts)
ax.bar(names, [counts[n] / n_predicted for n in names], color=["#d62728", "#9467bd", "#2ca02c"], label="measured")
ax.scatter(names, [0.8, 0.1, 0.1], color="black", marker="_", s=900, zorder=3, label="BERT's recipe")
ax.set_xlabel("what happened to a token chosen for prediction")
ax.set_ylabel("fraction of predictions")
ax.set_title(f"The 80/10/10 rule, measured on {n_predicted} predictions")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. BERT's optimiser
#
# BERT trains with Adam **without bias correction** and with **decoupled weight decay** (added to the
# update, not to the loss; none for LayerNorm parameters and biases), the learning rate rising linearly
# during a warmup and then falling linearly to 0, and gradients clipped to a global norm of 1.
# One training step is:
#
# ```python
# loss, grads = model.loss_and_grads(**batch)          # MLM + NSP loss, dropout on
# optim.clip_by_global_norm(grads, 1.0)
# optimizer.step(grads, lr=optim.learning_rate(step, peak_lr, warmup_steps, total_steps))
# ```

# %%
STEPS, WARMUP, PEAK_LR, BATCH = 1200, 60, 1e-3, 32
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot([optim.learning_rate(s, PEAK_LR, WARMUP, STEPS) for s in range(STEPS)])
ax.set_xlabel("training step")
ax.set_ylabel("learning rate")
ax.set_title("Warmup, then linear decay")
plt.show()

# %% [markdown]
# ## 5. A tiny BERT, before training
#
# Two layers, hidden size 64, two heads, intermediate size 128: about 0.2 million parameters (bert-base
# has 110 million). We keep fixed held-out batches to measure progress, and a **baseline** to beat: a
# model that ignores the context and always predicts each token with its frequency in the training
# data (the *unigram* model). Its cross-entropy on the held-out masked tokens is what "knowing word
# frequencies, nothing else" is worth.

# %%
config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=128, max_position_embeddings=MAX_LEN)
model = BertForPreTraining(config, seed=SEED)
print(f"{sum(p.size for p in model.params.values()):,} parameters")

heldout_pairs = data.create_sentence_pairs(heldout_ids, MAX_LEN, np.random.default_rng([SEED, 3]), tokenizer=tokenizer)
heldout = masking.mask_instances(heldout_pairs[:256], np.random.default_rng([SEED, 4]))
heldout_batches = [train.trim_padding(data.collate(heldout[i:i + 64], MAX_LEN)) for i in range(0, len(heldout), 64)]

counts = np.bincount(np.concatenate([s for d in train_ids for s in d]), minlength=tokenizer.vocab_size) + 1.0
unigram = counts / counts.sum()                                      # (V,) token frequencies, add-one smoothed
targets = np.concatenate([inst.masked_labels for inst in heldout])   # (M,) the held-out masked tokens
unigram_loss = -np.log(unigram[targets]).mean()
print(f"held-out masked tokens: {len(targets)}; unigram baseline loss {unigram_loss:.2f}, "
      f"uniform guess ln(V) = {np.log(tokenizer.vocab_size):.2f}")

# %% [markdown]
# Before training, the model's guesses for masked words are noise: every token gets about 1/V.

# %%
from numpy_bert import pipeline

probes = ["Return the [MASK] of the list.", "This function is [MASK] by the module.",
          "The default value is [MASK].", "Raise an [MASK] if the file does not exist."]


def show_predictions(model):
    unmasker = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    for probe in probes:
        best = unmasker(probe, top_k=3)
        print(f"{probe:45s} " + ", ".join(f"{r['token_str']!r} {100 * r['score']:.1f}%" for r in best))


show_predictions(model)

# %% [markdown]
# ## 6. Training, with live curves
#
# Every epoch the training documents are cut into new pairs and masked anew (*dynamic masking*). Every
# 100 steps we measure the held-out MLM loss and accuracy (is the top prediction the original token?) and
# the NSP accuracy, and redraw the curves (they update live when you run the notebook yourself). The run
# takes a minute or two on a laptop. The peak learning rate matters: BERT's optimiser has no bias
# correction, so its first steps are larger than Adam's; in our trials a peak of 1.5e-3 left this model
# stuck at the unigram baseline, 1e-3 did not.


# %%
def training_batches():
    epoch = 0
    while True:
        epoch_pairs = data.create_sentence_pairs(train_ids, MAX_LEN, np.random.default_rng([SEED, 5, epoch]),
                                                 tokenizer=tokenizer)
        epoch_instances = masking.mask_instances(epoch_pairs, np.random.default_rng([SEED, 6, epoch]))
        yield from data.batches(epoch_instances, BATCH, MAX_LEN, rng=np.random.default_rng([SEED, 7, epoch]),
                                drop_last=True)
        epoch += 1


def plot(history, evals):
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    ax = axes[0]
    ax.plot(history["step"], history["mlm_loss"], alpha=0.4, label="MLM loss (training batch)")
    ax.plot(history["step"], history["nsp_loss"], alpha=0.4, label="NSP loss (training batch)")
    ax.plot(evals["step"], evals["heldout_mlm_loss"], "o-", label="MLM loss (held out)")
    ax.plot(evals["step"], evals["heldout_nsp_loss"], "o-", label="NSP loss (held out)")
    ax.axhline(unigram_loss, color="gray", ls="--", label="unigram baseline (MLM)")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title("Losses")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(evals["step"], evals["heldout_mlm_acc"], "o-", label="MLM accuracy (held out)")
    ax.plot(evals["step"], evals["heldout_nsp_acc"], "o-", label="NSP accuracy (held out)")
    ax.axhline(0.5, color="gray", ls=":", label="NSP chance level")
    ax.set_ylim(0, 1)
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy")
    ax.set_title("Held-out accuracies")
    ax.legend(fontsize=8)
    fig.suptitle(f"A tiny BERT ({sum(p.size for p in model.params.values()):,} parameters) learning from Python's docstrings")
    fig.tight_layout()
    plt.show()

# %%
optimizer = optim.AdamWeightDecay(model.params, weight_decay=0.01)
model.train()                                          # dropout on
history = {"step": [], "mlm_loss": [], "nsp_loss": []}
evals = {"step": [], "heldout_mlm_loss": [], "heldout_mlm_acc": [], "heldout_nsp_loss": [], "heldout_nsp_acc": []}
start = time.perf_counter()
batches = training_batches()
for step in range(STEPS + 1):
    if step % 100 == 0:
        for key, value in {"step": step, **train.evaluate(model, heldout_batches)}.items():
            evals[key].append(value)
        clear_output(wait=True)
        plot(history, evals)
        print(f"step {step}/{STEPS}: held-out MLM loss {evals['heldout_mlm_loss'][-1]:.2f}, "
              f"MLM accuracy {evals['heldout_mlm_acc'][-1]:.2f}, NSP accuracy {evals['heldout_nsp_acc'][-1]:.2f} "
              f"({time.perf_counter() - start:.0f} s)")
    if step == STEPS:
        break
    batch = train.trim_padding(next(batches))
    loss, grads, details = model.loss_and_grads(**batch, return_details=True)
    optim.clip_by_global_norm(grads, 1.0)
    optimizer.step(grads, lr=optim.learning_rate(step, PEAK_LR, WARMUP, STEPS))
    history["step"].append(step)
    history["mlm_loss"].append(details["mlm_loss"])
    history["nsp_loss"].append(details["nsp_loss"])
_ = model.eval()

# %% tags=["check"]
first, last = evals["heldout_mlm_loss"][0], evals["heldout_mlm_loss"][-1]
print(f"held-out MLM loss fell by more than 1 nat: {first - last > 1.0}")
print(f"and ended below the unigram baseline: {last < unigram_loss}")
print(f"held-out MLM accuracy rose above 5%: {evals['heldout_mlm_acc'][-1] > 0.05}")

# %% [markdown]
# ## 7. After training
#
# The loss fell fast from the uniform guess ($\ln V$) to about the unigram baseline: the first thing the
# model learns is which tokens are frequent. Getting *below* the baseline means it has started to use
# the context, but only a little: its fill-mask guesses are still mostly the most frequent tokens.

# %%
show_predictions(model)

# %% [markdown]
# On held-out text, each masked token next to the model's top guess (`want->got`, `ok` when right):
# mostly "the", with the odd token that only the context can give.

# %%
batch = heldout_batches[0]
out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
guess = out["prediction_logits"].argmax(-1)                            # (B, T) top token everywhere
for row in range(3):
    positions = np.flatnonzero(batch["labels"][row] != -100)
    pairs_ = [(tokenizer.convert_ids_to_tokens([int(batch["labels"][row, p])])[0],
               tokenizer.convert_ids_to_tokens([int(guess[row, p])])[0]) for p in positions]
    print("   ".join(f"{want}->{got}{' ok' if want == got else ''}" for want, got in pairs_))

# %% [markdown]
# **What we saw:** pretraining needs no labels: the data recipe makes its own questions (which word was
# here? does B follow A?) from raw text. A minute of training gets a tiny model from noise to word
# frequencies and a little beyond; next-sentence prediction needs much longer to rise clearly above
# chance. `numpy-bert pretrain --preset tiny` trains a larger model for 10 minutes on the whole corpus
# (the model shipped in `weights/numpy-bert-tiny/` had 30), and bert-base trained for days on billions
# of words.
