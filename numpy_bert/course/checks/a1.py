"""Hidden checks of assignment 1 (tokenization).

Each check runs the student's function on fixed probes (each probe tests one rule and
carries the message for breaking it) and on random texts drawn at grading time from an
alphabet of letters, accented letters, digits, ASCII and Unicode punctuation, symbols,
whitespace, control and format characters, CJK ideographs, kana and hangul. The reference
is numpy_bert's tokenizer (``numpy_bert.tokenization``); on this alphabet its Unicode
tables agree with the ``unicodedata`` definitions the assignment states (those tables
differ only on rarer code points, and on U+2028/2029 and final sigma, left out here).
"""

import unicodedata

import numpy as np

from numpy_bert import tokenization
from numpy_bert.course.checks.common import score

__all__ = ["check_is_punctuation", "check_clean_text", "check_tokenize_chinese_chars",
           "check_whitespace_tokenize", "check_strip_accents", "check_split_on_punctuation",
           "check_basic_tokenize", "check_wordpiece_tokenize", "check_tokenize_with_offsets"]

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ACCENTED = "\u00e9\u00c9\u00e8\u00fc\u00dc\u00f1\u00d1\u00e7\u00c7\u00e5\u00c5\u00f8\u00d8\u00ed\u00f3\u00fa\u00c1\u0301"
WHITESPACE = " \t\n\r\u00a0\u3000\u2003"
REMOVED = "\x00\ufffd\u200b\u200d\u00ad\x07\x0b\x1b"
ASCII_PUNCTUATION = ".,!?;:'\"()[]{}-_/\\@#$%^&*+=<>|~`"
UNICODE_PUNCTUATION = "\u00bf\u00a1\u00ab\u00bb\u2014\u2026\u2018\u2019\u201c\u201d\u00b7\u00a7\u00b6"
SYMBOLS = "\u20ac\u00a3\u00a9\u00b0\u00b1\u00d7"
CJK = "\u662f\u6a21\u578b\u4e2d\u6587\u5b57\u6211\u4eec\uf900"
KANA_HANGUL = "\u306e\u30ab\ud55c\uae00"
# (characters, weight): mostly letters, so that texts have words
_ALPHABET = [(LETTERS, 12), (ACCENTED, 2), (WHITESPACE, 3), (REMOVED, 1), (ASCII_PUNCTUATION, 2),
             (UNICODE_PUNCTUATION, 1), (SYMBOLS, 1), (CJK, 1), (KANA_HANGUL, 1)]


def random_text(rng, length):
    groups = [g for g, _ in _ALPHABET]
    weights = np.array([w for _, w in _ALPHABET], float)
    picks = rng.choice(len(groups), size=length, p=weights / weights.sum())
    return "".join(groups[i][rng.integers(len(groups[i]))] for i in picks)


def _show(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _call_text(fn, args):
    """'fn('a', 'b')' with long arguments cut short."""
    return f"{fn.__name__}({', '.join(_show(a, 40) for a in args)})"


def _character(char):
    return f"{char!r} (U+{ord(char):04X}, category {unicodedata.category(char)})"


def probe_items(fn, probes, call=None):
    """Items from fixed probes ``(name, args, expected, message)``: None if fn(*args) == expected,
    else the probe's message followed by what fn returned."""
    items = []
    for name, args, expected, message in probes:
        try:
            got = (call or fn)(*args)
        except Exception as exc:  # noqa: BLE001 - the student's code
            items.append((name, f"{message} ({_call_text(fn, args)} raised {type(exc).__name__}: {exc})"))
            continue
        if isinstance(expected, list) and isinstance(got, tuple):
            got = list(got)
        items.append((name, None if got == expected else
                      f"{message} ({_call_text(fn, args)} gave {_show(got)}, expected {_show(expected)})"))
    return items


def random_item(fn, name, texts, reference, normalise=None, shown=None):
    """One item: fn agrees with ``reference`` on every text (the first disagreement is shown,
    as ``shown.format(text)`` when given, e.g. "wordpiece_tokenize({}, vocab)")."""
    for text in texts:
        expected = reference(text)
        got = fn(text)
        if normalise is not None:
            got, expected = normalise(got), normalise(expected)
        if isinstance(expected, list) and isinstance(got, tuple):
            got = list(got)
        if got != expected:
            call = shown.format(_show(text)) if shown else f"{fn.__name__}({_show(text)})"
            return (name, f"wrong on a random text: {call} gave {_show(got)}, expected {_show(expected)}")
    return (name, None)


def check_is_punctuation(fn, rng):
    groups = {"ASCII symbols (BERT counts them as punctuation)": "$+<=>^`|~",
              "ASCII punctuation": ".,!?;:'\"()[]{}-_/\\@#%&*",
              "Unicode punctuation (category P*)": UNICODE_PUNCTUATION,
              "letters, digits, spaces and symbols": LETTERS + ACCENTED + " " + SYMBOLS + CJK}
    items = []
    for name, chars in groups.items():
        wrong = [c for c in chars if bool(fn(c)) != tokenization.is_punctuation(c)]
        items.append((name, None if not wrong else
                      f"wrong for {', '.join(repr(c) for c in wrong[:6])} ({name})"))
    return score(items)


def _clean_reference(text):
    return "".join(" " if tokenization.is_whitespace(c) else c for c in text if not tokenization.is_removed(c))


def check_clean_text(fn, rng):
    probes = [("whitespace", ("a\tb\nc\rd\u00a0e",), "a b c d e",
               "every whitespace character (\\t \\n \\r and category Zs) becomes a space"),
              ("control", ("a\x00b\ufffdc\x07d\x1be",), "abcde", "NUL, U+FFFD and control characters (Cc) are deleted"),
              ("format", ("a\u200bb\u00adc",), "abc", "format characters (Cf, e.g. U+200B) are deleted"),
              ("kept", ("Caf\u00e9, \u662f!",), "Caf\u00e9, \u662f!", "other characters stay as they are")]
    items = probe_items(fn, probes)
    texts = [random_text(rng, 30) for _ in range(20)]
    name, problem = random_item(fn, "random", texts, _clean_reference)
    if problem:
        # the first character that fn treats differently, when one does on its own
        for char in dict.fromkeys("".join(texts)):
            got = fn(char)
            if got != _clean_reference(char):
                kind = ("whitespace" if tokenization.is_whitespace(char) else
                        "deleted (NUL, U+FFFD, control or format)" if tokenization.is_removed(char) else "kept")
                problem = (f"wrong for the character {_character(char)}, which BERT's cleaning treats as {kind}: "
                           f"clean_text({char!r}) gave {got!r}, expected {_clean_reference(char)!r}")
                break
    items.append((name, problem))
    return score(items)


def _cjk_reference(text):
    return "".join(f" {c} " if tokenization.is_chinese_char(c) else c for c in text)


def check_tokenize_chinese_chars(fn, rng):
    probes = [("ideographs", ("BERT\u662f\u6a21\u578b",), ["BERT", "\u662f", "\u6a21", "\u578b"],
               "every CJK ideograph must end up a word of its own"),
              ("kana and hangul", ("\u306e\u30ab\ud55c\uae00",), ["\u306e\u30ab\ud55c\uae00"],
               "kana and hangul are not CJK ideographs: they stay joined"),
              ("compatibility ideographs", ("a\uf900b",), ["a", "\uf900", "b"],
               "U+F900..FAFF (compatibility ideographs) are in CJK_RANGES too")]
    items = probe_items(fn, probes, call=lambda text: fn(text).split())
    items.append(random_item(fn, "random", [random_text(rng, 30) for _ in range(20)], _cjk_reference,
                             normalise=str.split))
    return score(items)


def check_whitespace_tokenize(fn, rng):
    probes = [("runs", ("  a  b\n\nc ",), ["a", "b", "c"], "runs of whitespace separate words, and no empty "
                                                          "strings remain"),
              ("empty", ("   ",), [], "a text of spaces has no words")]
    items = probe_items(fn, probes)
    texts = [_clean_reference(random_text(rng, 30)) for _ in range(10)]
    items.append(random_item(fn, "random", texts, str.split))
    return score(items)


def check_strip_accents(fn, rng):
    probes = [("accents", ("\u00dcnwant\u00e9d",), "Unwanted", "accents must go: decompose with "
                                                             "unicodedata.normalize('NFD', ...) and drop category Mn"),
              ("combining mark", ("e\u0301",), "e", "a combining accent (category Mn) is dropped"),
              ("no decomposition", ("\u00f8\u00e5",), "\u00f8a", "only non-spacing marks go: \u00f8 has no "
                                                                 "decomposition and stays"),
              ("case", ("\u00c9T\u00c9",), "ETE", "strip_accents keeps the case")]
    items = probe_items(fn, probes)
    words = [random_text(rng, 12) for _ in range(10)]
    items.append(random_item(fn, "random", words, _strip_accents))
    return score(items)


def _punctuation_reference(word):
    out, current = [], ""
    for c in word:
        if tokenization.is_punctuation(c):
            if current:
                out.append(current)
            out.append(c)
            current = ""
        else:
            current += c
    return out + ([current] if current else [])


def check_split_on_punctuation(fn, rng):
    probes = [("apostrophe", ("don't,",), ["don", "'", "t", ","], "each punctuation character is a word of its own"),
              ("runs", ("...",), [".", ".", "."], "a run of punctuation gives one word per character"),
              ("unicode", ("\u00bfqu\u00e9?",), ["\u00bf", "qu\u00e9", "?"],
               "Unicode punctuation (category P*, e.g. \u00bf) splits too"),
              ("symbols", ("a$b",), ["a", "$", "b"], "ASCII symbols such as $ count as punctuation")]
    items = probe_items(fn, probes)
    words = ["".join(random_text(rng, 14).split()) or "x" for _ in range(15)]
    items.append(random_item(fn, "random", words, _punctuation_reference))
    return score(items)


def check_basic_tokenize(fn, rng):
    lower = tokenization.BasicTokenizer(do_lower_case=True)
    cased = tokenization.BasicTokenizer(do_lower_case=False)
    probes = [("lower-case", (" \tHeLLo!how  \n Are yoU?  ", True), ["hello", "!", "how", "are", "you", "?"],
               "with do_lower_case, words are lower-cased and split on punctuation"),
              ("strip accents", ("H\u00e9llo", True), ["hello"], "with do_lower_case, accents are stripped too"),
              ("cased", ("H\u00e9llo W\u00f6rld", False), ["H\u00e9llo", "W\u00f6rld"],
               "with do_lower_case=False, case and accents stay")]
    items = probe_items(fn, probes)
    texts = [random_text(rng, 40) for _ in range(15)]
    items.append(random_item(lambda t: fn(t, True), "random (do_lower_case=True)", texts, lower.tokenize,
                             shown=fn.__name__ + "({}, True)"))
    items.append(random_item(lambda t: fn(t, False), "random (do_lower_case=False)", texts, cased.tokenize,
                             shown=fn.__name__ + "({}, False)"))
    return score(items)


def random_vocab(rng):
    """A vocab of random pieces over a 4-letter alphabet, with the word pieces a greedy
    longest-match tokenizer and a shortest-match one split differently."""
    letters = "abcd"
    pieces = {"".join(rng.choice(list(letters), size=rng.integers(1, 4))) for _ in range(12)}
    pieces |= {"##" + "".join(rng.choice(list(letters), size=rng.integers(1, 3))) for _ in range(10)}
    pieces |= {"a", "ab", "abc", "##c", "##cd", "##d"}
    return sorted(pieces)


def check_wordpiece_tokenize(fn, rng):
    vocab = set(random_vocab(rng)) | {"un", "##aff", "##able", "[UNK]"}

    def ref(word):
        return _wordpiece(word, vocab)

    probes = [("unaffable", ("unaffable", vocab), ["un", "##aff", "##able"],
               "the example of the docstring"),
              ("longest first", ("abcd", vocab), ref("abcd"),
               "take the longest matching prefix first (abc before ab before a)"),
              ("no match", ("abx", vocab), ["[UNK]"],
               "a word with a position that matches nothing is [UNK] as a whole"),
              ("prefix", ("aab", {"a", "ab", "##ab", "##b"}), ["a", "##ab"],
               "pieces after the first start with '##' in the vocab"),
              ("too long", ("a" * 101, vocab | {"a", "##a"}), ["[UNK]"],
               "a word longer than max_input_chars_per_word (100) is [UNK]")]
    items = probe_items(fn, probes)
    words = ["".join(rng.choice(list("abcd"), size=rng.integers(1, 9))) for _ in range(30)]
    items.append(random_item(lambda w: fn(w, set(vocab)), "random", words, ref, shown=fn.__name__ + "({}, vocab)"))
    return score(items)


def offsets_reference(text, vocab, do_lower_case=True):
    """numpy_bert's (piece, start, end) for ``text``: BertTokenizer's offsets, without special tokens."""
    basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    wordpiece = tokenization.WordpieceTokenizer(vocab)
    out = []
    for chunk, start in basic.chunks(text):
        for word, positions in basic.split_chunk(chunk):
            for piece, a, b in wordpiece.split_word(word):
                out.append((piece, start + positions[a], start + positions[b - 1] + 1))
    return out


def check_tokenize_with_offsets(fn, rng):
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    texts = [random_text(rng, 40) for _ in range(12)]
    # a vocab in which most words split into two or three pieces, some into none ([UNK])
    vocab = {"[UNK]", "hello", ",", "wo", "##rld"}
    for text in texts:
        for word in basic.tokenize(text):
            if rng.random() < 0.15:
                continue
            cut = int(rng.integers(1, len(word) + 1))
            vocab |= {word[:cut], "##" + word[cut:]} if cut < len(word) else {word}
    probes = [("example", ("H\u00e9llo, w\u00f6rld", vocab), [("hello", 0, 5), (",", 5, 6), ("wo", 7, 9),
                                                               ("##rld", 9, 12)],
               "offsets point into the original text, one character per accented character"),
              ("deleted", ("hel\u200blo", vocab), [("hello", 0, 6)],
               "a character deleted inside a word is inside the word's span")]
    items = probe_items(fn, probes, call=lambda text, v: [tuple(t) for t in fn(text, set(v))])
    items.append(random_item(lambda t: [tuple(x) for x in fn(t, set(vocab))], "random", texts,
                             lambda t: offsets_reference(t, vocab), shown=fn.__name__ + "({}, vocab)"))
    return score(items)


def _wordpiece(word, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
    tokenizer = tokenization.WordpieceTokenizer(vocab, unk_token, max_input_chars_per_word)
    return [piece for piece, _, _ in tokenizer.split_word(word)]


def _strip_accents(text):
    return "".join(c for c in unicodedata.normalize("NFD", text) if not tokenization.is_nonspacing_mark(c))


# the right versions of this assignment's functions, which the grader puts in place of the
# student's while it grades another exercise (basic_tokenize calls clean_text)
RIGHT_HELPERS = {
    "is_punctuation": tokenization.is_punctuation,
    "clean_text": _clean_reference,
    "tokenize_chinese_chars": _cjk_reference,
    "whitespace_tokenize": str.split,
    "strip_accents": _strip_accents,
    "split_on_punctuation": _punctuation_reference,
    "basic_tokenize": lambda text, do_lower_case=True: tokenization.BasicTokenizer(do_lower_case).tokenize(text),
    "wordpiece_tokenize": _wordpiece,
}
