"""Assignment 1: BERT's tokenizer, from text to word pieces with their offsets.

The pipeline (google-research/bert's tokenization.py; transformers' BertTokenizer)::

    text --clean--> --CJK spacing--> --whitespace split--> words
         --lower-case + strip accents--> --punctuation split--> words --WordPiece--> pieces

    "UNwant\u00e9d,running" -> ["unwanted", ",", "running"] -> ["un", "##want", "##ed", ",", "runn", "##ing"]

Use only the standard library (unicodedata for character categories and NFD) and your own
functions in this file; calling numpy_bert's tokenizer earns no points. Character classes,
as BERT defines them:

- whitespace: " ", "\\t", "\\n", "\\r" and the category Zs (e.g. the no-break space U+00A0);
- control: the categories Cc and Cf, except "\\t", "\\n", "\\r" (which are whitespace);
- punctuation: every ASCII character that is not a letter, a digit or a space (so "$", "+",
  "^" count) and every character whose category starts with "P";
- CJK ideographs ("Chinese characters"): the code points in CJK_RANGES below.
"""

import unicodedata

# CJK Unified Ideographs and their extensions, and the compatibility ideographs (inclusive ranges)
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_punctuation(char):
    """True if the one-character string ``char`` is punctuation in BERT's sense (see above):
    ``is_punctuation("$")`` and ``is_punctuation("\u00bf")`` are True, ``is_punctuation("a")`` is False."""
    ### BEGIN SOLUTION
    # HINT: two tests: the ASCII ranges around the letters and digits, then unicodedata.category(char)[0]
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")
    ### END SOLUTION


def clean_text(text):
    """Delete NUL (U+0000), U+FFFD and control characters; turn every whitespace character
    into a plain space. ``clean_text("a\\u200bb\\tc\\x00")`` -> ``"ab c"``."""
    ### BEGIN SOLUTION
    # HINT: one pass over the characters; test for whitespace before control ("\t" is Cc but whitespace)
    out = []
    for char in text:
        if char in " \t\n\r" or unicodedata.category(char) == "Zs":
            out.append(" ")
        elif ord(char) == 0 or ord(char) == 0xFFFD or unicodedata.category(char) in ("Cc", "Cf"):
            continue
        else:
            out.append(char)
    return "".join(out)
    ### END SOLUTION


def tokenize_chinese_chars(text):
    """Put a space before and after every CJK ideograph, so that each becomes a word of its
    own: ``"BERT\u662f\u6a21\u578b"`` -> ``"BERT \u662f  \u6a21  \u578b "``. Japanese kana and Korean hangul
    are not ideographs and stay as they are."""
    ### BEGIN SOLUTION
    # HINT: test ord(char) against each (low, high) of CJK_RANGES
    out = []
    for char in text:
        if any(low <= ord(char) <= high for low, high in CJK_RANGES):
            out += [" ", char, " "]
        else:
            out.append(char)
    return "".join(out)
    ### END SOLUTION


def whitespace_tokenize(text):
    """Split on runs of whitespace, dropping empty strings: ``" a  b\\n"`` -> ``["a", "b"]``."""
    ### BEGIN SOLUTION
    # HINT: str.split without an argument does exactly this
    return text.split()
    ### END SOLUTION


def strip_accents(text):
    """Decompose (Unicode NFD) and drop the non-spacing marks (category Mn):
    ``"\u00dcnwant\u00e9d"`` -> ``"Unwanted"``."""
    ### BEGIN SOLUTION
    # HINT: unicodedata.normalize("NFD", text) splits "é" into "e" + a combining accent
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    ### END SOLUTION


def split_on_punctuation(word):
    """Split a word so that every punctuation character is a word of its own:
    ``"don't,"`` -> ``["don", "'", "t", ","]``; ``"..."`` -> ``[".", ".", "."]``."""
    ### BEGIN SOLUTION
    # HINT: collect characters into the current word; a punctuation character closes it and stands alone
    words, current = [], []
    for char in word:
        if is_punctuation(char):
            if current:
                words.append("".join(current))
                current = []
            words.append(char)
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words
    ### END SOLUTION


def basic_tokenize(text, do_lower_case=True):
    """Text -> words: clean, CJK spacing, whitespace split, then for each word (if
    ``do_lower_case``) lower-case and strip accents, then split on punctuation.
    ``basic_tokenize(" \\tHeLLo!how  \\n Are yoU?  ")`` -> ``["hello", "!", "how", "are", "you", "?"]``;
    with ``do_lower_case=False`` case and accents stay."""
    ### BEGIN SOLUTION
    # HINT: chain your functions; lower-case before stripping accents
    words = []
    for word in whitespace_tokenize(tokenize_chinese_chars(clean_text(text))):
        if do_lower_case:
            word = strip_accents(word.lower())
        words += split_on_punctuation(word)
    return words
    ### END SOLUTION


def wordpiece_tokenize(word, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
    """Greedy longest-match-first WordPiece of one word against ``vocab`` (a set or dict of
    pieces; pieces that continue a word start with "##").

    From the start of the word take the longest prefix in the vocab, then from where it
    ended the longest "##"-prefixed continuation, and so on. If some position has no match,
    the whole word is ``[unk_token]``; a word longer than max_input_chars_per_word is
    ``[unk_token]`` too. With {"un", "##aff", "##able"}: "unaffable" -> ["un", "##aff", "##able"].
    """
    ### BEGIN SOLUTION
    # HINT: two loops: start moves forward; end moves backward from len(word) until word[start:end] matches
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        piece = None
        while end > start:
            candidate = word[start:end] if start == 0 else "##" + word[start:end]
            if candidate in vocab:
                piece = candidate
                break
            end -= 1
        if piece is None:
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces
    ### END SOLUTION


def tokenize_with_offsets(text, vocab, do_lower_case=True, unk_token="[UNK]"):
    """Text -> list of (piece, start, end): every word piece with the span of ``text`` it
    came from (``text[start:end]``), as ``return_offsets_mapping`` gives them.

    A piece's span runs from the original position of its first character to just after its
    last one: ``"H\u00e9llo, w\u00f6rld"`` with pieces {hello, ",", wo, ##rld} ->
    ``[("hello", 0, 5), (",", 5, 6), ("wo", 7, 9), ("##rld", 9, 12)]``. An ``[UNK]`` word
    spans the whole word. Keep, for every character of a word, the position in ``text`` of
    the character it came from (lower-casing and accent stripping keep one character per
    character here; a deleted character has no position).
    """
    ### BEGIN SOLUTION
    # HINT: run the basic steps character by character, carrying each character's position; then WordPiece each word
    # 1. the words, each a list of (character, position in text)
    words, current = [], []
    for position, char in enumerate(text):
        if char in " \t\n\r" or unicodedata.category(char) == "Zs":
            if current:
                words.append(current)
            current = []
            continue
        if ord(char) == 0 or ord(char) == 0xFFFD or unicodedata.category(char) in ("Cc", "Cf"):
            continue
        chars = strip_accents(char.lower()) if do_lower_case else char
        for c in chars:
            alone = is_punctuation(c) or any(low <= ord(c) <= high for low, high in CJK_RANGES)
            if alone:
                if current:
                    words.append(current)
                words.append([(c, position)])
                current = []
            else:
                current.append((c, position))
    if current:
        words.append(current)
    # 2. word pieces, with spans from the positions of their first and last characters
    out = []
    for word in words:
        text_of_word = "".join(c for c, _ in word)
        pieces = wordpiece_tokenize(text_of_word, vocab, unk_token)
        if pieces == [unk_token]:
            out.append((unk_token, word[0][1], word[-1][1] + 1))
            continue
        start = 0
        for piece in pieces:
            length = len(piece) - 2 if piece.startswith("##") else len(piece)
            out.append((piece, word[start][1], word[start + length - 1][1] + 1))
            start += length
    return out
    ### END SOLUTION
