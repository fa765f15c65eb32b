# %% [markdown]
# # 04 · Pretraining: masked words and next sentences
#
# **Assumes:** notebooks 01–03 (tokens, the forward pass, `loss_and_grads`), and what an optimiser
# step is.
#
# **Teaches:** how BERT's pretraining data are made (sentence pairs for next-sentence prediction,
# 15% of the tokens chosen for prediction, of which 80% become `[MASK]`, 10% a random token and 10%
# stay), measured on thousands of examples; BERT's optimiser (Adam with decoupled weight decay, warmup
# then linear decay, gradient clipping); a short training run of a tiny BERT on a laptop, with its
# loss and accuracy curves and its predictions before and after; and, from the training log and
# snapshots of the model shipped with numpy_bert, predictions moving from word frequencies to context.
#
# Everything here uses numpy_bert's public pieces: `corpus`, `train_wordpiece`, `data`, `optim`,
# `BertForPreTraining.loss_and_grads`. `numpy-bert pretrain` runs the same recipe at full length.

# %%
import json
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
# numpy_bert's default corpus (`corpus.build_default_corpus()`) is English prose that ships with every
# Python installation: the docstrings of the standard library, numpy and matplotlib, and Python's
# reference topics. Because it is read from what is installed, another Python, numpy or matplotlib
# version gives another corpus (its cache file name hashes the installation it was read from). So that
# your numbers are the ones printed here, this notebook reads a committed sample of it instead:
# 1,600 of its 6,397 documents (Python 3.11.7, numpy 2.4.6, matplotlib 3.11.2), drawn at random by
# `notebooks/make_pretraining_corpus.py`. We hold out 10% of the documents for evaluation, and learn a
# 2,000-token WordPiece vocabulary on the training documents.

# %%
documents = corpus.read_corpus(Path("fixtures") / "pretraining_corpus.txt")
heldout_docs = documents[:160]
train_docs = documents[160:]
vocab = train_wordpiece([s for d in train_docs for s in d], vocab_size=2000, do_lower_case=True)
vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
train_ids = data.tokenize_documents(train_docs, tokenizer)       # every sentence tokenized once
heldout_ids = data.tokenize_documents(heldout_docs, tokenizer)

# %% tags=["check"]
print(f"corpus sample: {len(documents)} documents; {len(train_docs)} for training, {len(heldout_docs)} held out")
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
# with probability 0.1, and in all three cases the model must predict the original token. Why not
# always `[MASK]`? The BERT paper (Devlin et al., 2019, §3.1 and appendix A.1) gives two reasons.
# `[MASK]` never appears during fine-tuning, so masking every chosen token would make pretraining
# inputs unlike fine-tuning inputs. And since the encoder cannot tell which tokens it will be asked
# to predict, or which were replaced by random words, it has to keep a contextual representation of
# every input token, not only of the `[MASK]` positions. The paper tried other mixes: the differences
# it measured were small, larger when BERT's features are used without fine-tuning.
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


# one colour per quantity in every panel: training batches faint, held-out figures with markers
COLOURS = {"mlm_loss": "tab:blue", "mlm_acc": "tab:green", "nsp_loss": "tab:orange", "nsp_acc": "tab:red",
           "unigram": "black", "uniform": "gray"}


def plot_curves(history, evals, unigram_loss, vocab_size, title):
    """Three panels: MLM loss with its two baselines, MLM accuracy, NSP on its own axes."""
    fig, (ax_mlm, ax_acc, ax_nsp) = plt.subplots(1, 3, figsize=(15, 3.9))
    ax_mlm.plot(history["step"], history["mlm_loss"], color=COLOURS["mlm_loss"], alpha=0.3, label="training batches")
    ax_mlm.plot(evals["step"], evals["heldout_mlm_loss"], "o-", ms=3, color=COLOURS["mlm_loss"], label="held out")
    ax_mlm.axhline(np.log(vocab_size), color=COLOURS["uniform"], ls=":", label=f"uniform guess: ln V = {np.log(vocab_size):.2f}")
    ax_mlm.axhline(unigram_loss, color=COLOURS["unigram"], ls="--", label=f"unigram baseline: {unigram_loss:.2f}")
    ax_mlm.set_ylim(0, np.log(vocab_size) + 2)
    ax_mlm.set_title("MLM loss (per masked token)")
    ax_mlm.set_ylabel("cross-entropy (nats)")
    ax_acc.plot(evals["step"], evals["heldout_mlm_acc"], "o-", ms=3, color=COLOURS["mlm_acc"], label="held out")
    ax_acc.set_ylim(0, max(0.5, 1.2 * max(evals["heldout_mlm_acc"])))
    ax_acc.set_title("MLM accuracy (top guess is the original token)")
    ax_acc.set_ylabel("accuracy")
    ax_nsp.plot(history["step"], history["nsp_loss"], color=COLOURS["nsp_loss"], alpha=0.3, label="loss, training batches")
    ax_nsp.plot(evals["step"], evals["heldout_nsp_loss"], "o-", ms=3, color=COLOURS["nsp_loss"], label="loss, held out")
    ax_nsp.axhline(np.log(2), color=COLOURS["uniform"], ls=":", label="chance: loss ln 2, accuracy 0.5")
    ax_nsp.plot(evals["step"], evals["heldout_nsp_acc"], "s-", ms=3, color=COLOURS["nsp_acc"], label="accuracy, held out")
    ax_nsp.axhline(0.5, color=COLOURS["uniform"], ls=":")
    ax_nsp.set_ylim(0, max(1.35, 1.05 * max(history["nsp_loss"], default=0)))  # room for the legend
    ax_nsp.set_title("NSP: loss and accuracy")
    ax_nsp.set_ylabel("cross-entropy (nats) / accuracy")
    for ax in (ax_mlm, ax_acc, ax_nsp):
        ax.set_xlabel("training step")
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()


def plot(history, evals):
    plot_curves(history, evals, unigram_loss, tokenizer.vocab_size,
                f"A tiny BERT ({sum(p.size for p in model.params.values()):,} parameters) learning from Python's docstrings")

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
# ## 8. Longer: the shipped model, along its training run
#
# `weights/numpy-bert-tiny/` holds the same recipe at a larger size (hidden size 128, 1.5 million
# parameters, an 8,000-token vocabulary, sequences of up to 128 tokens) trained on the whole default
# corpus for 30 minutes on 2 CPU cores: `numpy-bert pretrain --preset tiny --time-budget 30`, 13,415
# steps of 64 pairs. Its training log, `metrics.jsonl`, is committed with it. Here are its curves,
# drawn as ours above, with the unigram baseline of its own vocabulary and held-out set.

# %%
shipped_dir = Path("..") / "weights" / "numpy-bert-tiny"
log = train.read_metrics(shipped_dir / "metrics.jsonl")
snapshots = json.loads((shipped_dir / "probes.json").read_text(encoding="utf-8"))
shipped_tokenizer = BertTokenizer.from_pretrained(str(shipped_dir))
shipped_history = {key: [r[key] for r in log if "mlm_loss" in r] for key in ("step", "mlm_loss", "nsp_loss")}
shipped_evals = {key: [r[key] for r in log if "heldout_mlm_loss" in r] for key in evals}
plot_curves(shipped_history, shipped_evals, snapshots["heldout_unigram_mlm_loss"], shipped_tokenizer.vocab_size,
            "numpy-bert-tiny (1.5 million parameters), 30 minutes on the whole corpus")

# %% tags=["check"]
first, last = log[0], log[-1]
print(f"steps: {last['step']}; held-out MLM loss {first['heldout_mlm_loss']:.3f} -> {last['heldout_mlm_loss']:.3f} "
      f"({last['heldout_mlm_loss'] / first['heldout_mlm_loss']:.3f} of the start), MLM accuracy "
      f"{last['heldout_mlm_acc']:.3f}, NSP accuracy {last['heldout_nsp_acc']:.3f}")
print(f"unigram baseline {snapshots['heldout_unigram_mlm_loss']:.2f}: the final model is "
      f"{snapshots['heldout_unigram_mlm_loss'] - last['heldout_mlm_loss']:.2f} nats per masked token below it")

# %% [markdown]
# Does it use the context? A fill-mask probe answers only when it is built so that the context
# decides: below, pairs of sentences in which one word (an adjective, a verb) changes what belongs in
# the gap. A model that knew only word frequencies would answer both sentences of a pair alike.

# %%
shipped = BertForPreTraining.from_pretrained(str(shipped_dir))
shipped_unmasker = pipeline("fill-mask", model=shipped, tokenizer=shipped_tokenizer)
for probe in snapshots["probes"]:
    best = shipped_unmasker(probe["text"], top_k=3)
    print(f"{probe['text']:45s} " + ", ".join(f"{r['token_str']!r} {100 * r['score']:.0f}%" for r in best)
          + f"   (right: {probe['answer']!r})")

# %% tags=["check"]
for probe in snapshots["probes"]:
    top = shipped_unmasker(probe["text"], top_k=1)[0]["token_str"]
    print(f"{probe['text']:45s} top guess {top!r:12s} right: {top == probe['answer']}")

# %% [markdown]
# Six of the seven are right, and each pair's two answers differ: "natural" calls for *logarithm*,
# "inner" for *product*; one acquires a *lock* but sends data to a *socket*; one raises an
# *exception* but returns *true*. The seventh shows a limit: "opened for writing and ..." gets
# *writing* again, the commoner half of "reading and writing", not the word that the first half rules out.
#
# How did it get there? `weights/numpy-bert-tiny/replay_run.py` replays the shipped run step for step
# (its learning-rate schedule is read back from `metrics.jsonl`; the replayed log equals the shipped
# one, every figure but the wall clock's) and saves a snapshot every 100 steps. `probes.json` holds
# what the initial weights, each snapshot and the final model predict for these probes (the snapshots'
# weights themselves, 6 MB each, are not committed). Our replay ran to step 1,200 (on a busy machine,
# it took 47 minutes); between it and the end, 12,000 steps later, there are no snapshots.
# The file's last column is the model loaded above:

# %% tags=["check"]
live = [shipped_unmasker(p["text"], targets=[p["answer"]])[0]["score"] for p in snapshots["probes"]]
saved = [p_steps[-1] for p_steps in snapshots["answer_p"]]
print(f"probes.json's final step {snapshots['steps'][-1]} is the shipped model:", np.allclose(live, saved, atol=1e-4))

# %%
steps = snapshots["steps"]
shown = [k for k, step in enumerate(steps) if step in (0, 100, 300, 600, 900, 1000, 1200) or k == len(steps) - 1]
print(f"{'top guess at step':42s}" + "".join(f"{steps[k]:>10d}" for k in shown))
for probe, tops in zip(snapshots["probes"], snapshots["top"]):
    print(f"{probe['text']:42s}" + "".join(f"{tops[k][0][0][:9]:>10s}" for k in shown))

# %%
fig, ax = plt.subplots(figsize=(9, 4))
for k, (probe, p_steps) in enumerate(zip(snapshots["probes"], snapshots["answer_p"])):
    ax.plot([max(step, 1) for step in steps], p_steps, "o-", ms=3, color=plt.cm.tab10(k),
            label=f"{probe['answer']!r} in \"{probe['text']}\"")
ax.axhline(1 / shipped_tokenizer.vocab_size, color=COLOURS["uniform"], ls=":", label="uniform guess 1/V")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("training step (log scale; the initial weights drawn at 1)")
ax.set_ylabel("probability of the right answer")
ax.set_title("numpy-bert-tiny along its training run: the right answer's probability")
ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
fig.tight_layout()
plt.show()

# %% [markdown]
# Along the run: the initial weights guess arbitrary word pieces; from step 100 to 400 every probe
# gets "the" or "." (the unigram stage: the commonest tokens); by step 1,200 the guesses are words
# that fit the syntax ("of", "is", "path"), "true" has come and gone, and the right answers'
# probabilities stand 4 to 700 times above the uniform 1/V. The answers that need the context come
# in the remaining 12,000 steps, as the held-out loss falls from 5.61 to 3.71, far below the unigram
# baseline.
#
# **What we saw:** pretraining needs no labels: the data recipe makes its own questions (which word was
# here? does B follow A?) from raw text. A minute of training gets a tiny model from noise to word
# frequencies and a little beyond; half an hour gets a larger one to answers that depend on the
# context, and next-sentence prediction well above chance. bert-base trained for days on billions of
# words.
