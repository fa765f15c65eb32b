# %% [markdown]
# # Assignment 1: the tokenizer
#
# BERT never sees text: it sees ids of *word pieces*. In this assignment you write the whole
# way from a string to word pieces with their character offsets, as google-research/bert's
# `tokenization.py` and HuggingFace's `BertTokenizer` do:
#
# ```
# text --clean--> --CJK spacing--> --whitespace split--> --lower-case, strip accents--> --punctuation split--> words
# words --WordPiece (greedy longest-match-first)--> pieces, each with its span of the original text
# ```
#
# **How to work.** Write each function in `tokenization_exercises.py` (next to this notebook),
# replacing its `raise NotImplementedError(...)`. Run the cell under each exercise: it calls your
# function on examples and runs a *sanity check*. The sanity checks are a first test only; the
# grader (`numpy-bert course grade DIR`) runs hidden checks on random inputs. Use only the standard
# library (`unicodedata`): a function that calls numpy_bert's tokenizer earns no points.
#
# Points: 16 for the functions (see `manifest.json`), 6 for the written questions.

# %%
import importlib

import tokenization_exercises as ex
from numpy_bert.tokenization import BasicTokenizer, WordpieceTokenizer

importlib.reload(ex)  # run this cell again after editing the file


def sanity_check(name, got, expected):
    """Print ok, or what differs."""
    if got == expected:
        print(f"ok      {name}")
    else:
        print(f"WRONG   {name}: got {got!r}, expected {expected!r}")


# %% [markdown]
# ## 1. Character classes and cleaning
#
# BERT's *punctuation* is broader than Unicode's: every ASCII character that is not a letter,
# a digit or a space counts (`$`, `+`, `^`, `` ` ``), plus every character whose Unicode
# category starts with `P` (`¿`, `«`, `—`). Cleaning deletes NUL, U+FFFD and the control and
# format characters (categories Cc, Cf: the zero-width space U+200B is one), and turns every
# whitespace character (`\t`, `\n`, `\r`, category Zs such as the no-break space) into a space.
# Careful: `\t` is in category Cc, yet it is whitespace, not control.

# %%
for char in "$,¿a5 €":
    print(repr(char), ex.is_punctuation(char))
sanity_check("is_punctuation", [ex.is_punctuation(c) for c in "$,¿a5 €"],
             [True, True, True, False, False, False, False])
sanity_check("clean_text", ex.clean_text("a\u200bb\tc\x00d\u00a0e"), "ab cd e")

# %% [markdown]
# ## 2. CJK ideographs, whitespace, accents, punctuation
#
# Chinese text has no spaces between words, and a WordPiece vocabulary cannot hold every
# combination of ideographs; BERT makes every CJK ideograph a word of its own by putting
# spaces around it. Accents are stripped by decomposing each character (Unicode NFD: `é`
# becomes `e` followed by a combining acute accent, category Mn) and dropping the marks.

# %%
sanity_check("tokenize_chinese_chars", ex.tokenize_chinese_chars("BERT是模型").split(), ["BERT", "是", "模", "型"])
sanity_check("whitespace_tokenize", ex.whitespace_tokenize("  a  b\n"), ["a", "b"])
sanity_check("strip_accents", ex.strip_accents("Ünwantéd"), "Unwanted")
sanity_check("split_on_punctuation", ex.split_on_punctuation("don't,"), ["don", "'", "t", ","])

# %% [markdown]
# ## 3. The basic tokenizer
#
# Chain the steps. With `do_lower_case=True` (uncased models) each word is lower-cased and
# stripped of its accents before the punctuation split; cased models keep both. The cell
# compares your tokenizer with numpy_bert's on a few texts.

# %%
texts = [" \tHeLLo!how  \n Are yoU?  ", "Héllo, wörld! 3+4=7 ¿qué?", "BERT是模型\u200b, ok…"]
for text in texts:
    for lower in (True, False):
        sanity_check(f"basic_tokenize({text!r}, {lower})", ex.basic_tokenize(text, lower),
                     BasicTokenizer(do_lower_case=lower).tokenize(text))

# %% [markdown]
# ## 4. WordPiece
#
# Greedy longest-match-first: from the start of the word take the longest prefix that is in the
# vocabulary, then continue from where it ended with pieces spelled `##...`. If some position has
# no match at all, the *whole word* becomes `[UNK]`.

# %%
vocab = {"un", "##aff", "##able", "##want", "##ed", "runn", "##ing", "a", "ab", "abc", "##c", "##d", "[UNK]"}
for word in ["unaffable", "unwanted", "running", "abcd", "unwantedx"]:
    sanity_check(f"wordpiece_tokenize({word!r})", ex.wordpiece_tokenize(word, vocab),
                 [piece for piece, _, _ in WordpieceTokenizer(vocab).split_word(word)])

# %% [markdown]
# ## 5. Offsets
#
# `return_offsets_mapping` gives, for every piece, the span of the *original* text it came from,
# so that a prediction on a piece (an entity tag, an answer span) can be shown on the text the user
# typed. A piece's span runs from its first character's position to just after its last one; a
# deleted character inside a word is inside the word's span.

# %%
vocab = {"hello", ",", "wo", "##rld", "[UNK]"}
got = ex.tokenize_with_offsets("Héllo, wörld", vocab)
print(got)
sanity_check("tokenize_with_offsets", got, [("hello", 0, 5), (",", 5, 6), ("wo", 7, 9), ("##rld", 9, 12)])

# %% [markdown]
# ## Written questions
#
# **Question a1.q_cjk** (2 points). Why does BERT split CJK ideographs into single characters, but
# leaves Japanese kana and Korean hangul to WordPiece?
#
# <!-- BEGIN SOLUTION -->
# Chinese is written without spaces, so a whitespace split would give whole sentences as "words", and
# no vocabulary of 30,000 pieces could cover the combinations of tens of thousands of ideographs;
# each ideograph, on the other hand, carries meaning by itself, and the common ones fit in the
# vocabulary, so one character per word loses little. Kana and hangul are syllabic scripts with a few
# dozen (kana) or a few thousand (hangul) symbols that combine like letters into words, which is what
# WordPiece handles well.
# <!-- END SOLUTION -->
#
# **Question a1.q_longest** (2 points). Give a vocabulary and a word for which greedy
# longest-match-first and greedy shortest-match-first give different pieces. Why is
# longest-first the better choice for a model?
#
# <!-- BEGIN SOLUTION -->
# With {a, ab, ##b, ##c, ##bc}, "abc" gives [ab, ##c] longest-first but [a, ##b, ##c] shortest-first.
# Longest-first uses the fewest, longest pieces the
# vocabulary has, so a frequent word stays one token with its own embedding and sequences stay short;
# shortest-first would cut words into letters whose embeddings carry little meaning.
# <!-- END SOLUTION -->
#
# **Question a1.q_offsets** (2 points). Why do the offsets point into the original text rather
# than into the cleaned, lower-cased text the pieces were made from?
#
# <!-- BEGIN SOLUTION -->
# The user only has the original text: a token-classification or question-answering prediction must be
# mapped back onto it (to underline an entity, to cut the answer out of the context). The normalised
# text has other positions wherever characters were deleted (control, format characters) and other
# characters wherever case or accents changed, so spans into it would cut the wrong characters.
# <!-- END SOLUTION -->
