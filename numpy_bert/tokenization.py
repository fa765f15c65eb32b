"""WordPiece tokenization for BERT, written out in plain Python.

The pipeline, with the stage each class implements (worked examples in the
docstrings below):

    text --BasicTokenizer--> words --WordpieceTokenizer--> word pieces --vocab--> ids

    "UNwant\u00e9d,running"
      -> clean, lower-case, strip accents   "unwanted,running"
      -> split on whitespace + punctuation  ["unwanted", ",", "running"]
      -> WordPiece (longest match first)    ["un", "##want", "##ed", ",", "runn", "##ing"]
      -> ids                                [7, 4, 5, 10, 8, 9]   (tiny test vocab)

``BertTokenizer`` reproduces transformers 5's default ``BertTokenizer`` (the one
backed by the Rust ``tokenizers`` library) id for id and offset for offset; the
places where the older pure-Python ``BertTokenizerLegacy`` differs are listed in
docs/tokenization.md. The Unicode character classes below are the ones the Rust
library uses (they come from crates frozen at older Unicode versions than
Python's ``unicodedata``), which is why they are spelled out as tables rather
than read from ``unicodedata.category``; ``tests/reference/make_tokenizer_fixtures.py
--unicode-tables`` re-derives them by probing every code point.

``write_vocab`` saves a list of tokens as vocab.txt; learning such a list from text
is ``numpy_bert.vocab_trainer.train_wordpiece``.
"""

import json
import numbers
import os
import unicodedata
import warnings
from pathlib import Path

import regex

from numpy_bert.utils import atomic_write

__all__ = [
    "BasicTokenizer",
    "WordpieceTokenizer",
    "BertTokenizer",
    "BatchEncoding",
    "Encoding",
    "load_vocab",
    "write_vocab",
    "SPECIAL_TOKENS",
]

# The special tokens at the ids transformers' BertTokenizer gives them in a fresh vocab.
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# ---------------------------------------------------------------------------
# Unicode tables of the Rust tokenizers library (version 0.23, probed code point
# by code point). Ranges of hexadecimal code points.
# ---------------------------------------------------------------------------

# Deleted by text cleaning: NUL, U+FFFD and the "other" categories Cc, Cf, Co (and
# surrogates), except \t \n \r which count as whitespace. Unassigned code points are
# kept. Note that \x0b, \x0c and \x85 are control characters first: deleted, so
# "a\x0bb" is one word "ab".
_REMOVED = (
    "0000-0008 000B-000C 000E-001F 007F-009F 00AD 0600-0605 061C 06DD 070F 180E 200B-200F 202A-202E "
    "2060-2064 2066-206F D800-F8FF FEFF FFF9-FFFB FFFD 110BD 1BCA0-1BCA3 1D173-1D17A E0001 E0020-E007F "
    "F0000-FFFFD 100000-10FFFD "
)
# Whitespace (split points) that survives cleaning.
_SPACES = (
    "0009-000A 000D 0020 00A0 1680 2000-200A 2028-2029 202F 205F 3000 "
)
# Punctuation: every ASCII non-alphanumeric printable character plus Unicode P*.
_PUNCTUATION = (
    "0021-002F 003A-0040 005B-0060 007B-007E 00A1 00A7 00AB 00B6-00B7 00BB 00BF 037E 0387 055A-055F "
    "0589-058A 05BE 05C0 05C3 05C6 05F3-05F4 0609-060A 060C-060D 061B 061E-061F 066A-066D 06D4 0700-070D "
    "07F7-07F9 0830-083E 085E 0964-0965 0970 0AF0 0DF4 0E4F 0E5A-0E5B 0F04-0F12 0F14 0F3A-0F3D 0F85 "
    "0FD0-0FD4 0FD9-0FDA 104A-104F 10FB 1360-1368 1400 166D-166E 169B-169C 16EB-16ED 1735-1736 17D4-17D6 "
    "17D8-17DA 1800-180A 1944-1945 1A1E-1A1F 1AA0-1AA6 1AA8-1AAD 1B5A-1B60 1BFC-1BFF 1C3B-1C3F 1C7E-1C7F "
    "1CC0-1CC7 1CD3 2010-2027 2030-2043 2045-2051 2053-205E 207D-207E 208D-208E 2308-230B 2329-232A "
    "2768-2775 27C5-27C6 27E6-27EF 2983-2998 29D8-29DB 29FC-29FD 2CF9-2CFC 2CFE-2CFF 2D70 2E00-2E2E "
    "2E30-2E42 3001-3003 3008-3011 3014-301F 3030 303D 30A0 30FB A4FE-A4FF A60D-A60F A673 A67E A6F2-A6F7 "
    "A874-A877 A8CE-A8CF A8F8-A8FA A8FC A92E-A92F A95F A9C1-A9CD A9DE-A9DF AA5C-AA5F AADE-AADF AAF0-AAF1 "
    "ABEB FD3E-FD3F FE10-FE19 FE30-FE52 FE54-FE61 FE63 FE68 FE6A-FE6B FF01-FF03 FF05-FF0A FF0C-FF0F "
    "FF1A-FF1B FF1F-FF20 FF3B-FF3D FF3F FF5B FF5D FF5F-FF65 10100-10102 1039F 103D0 1056F 10857 1091F "
    "1093F 10A50-10A58 10A7F 10AF0-10AF6 10B39-10B3F 10B99-10B9C 11047-1104D 110BB-110BC 110BE-110C1 "
    "11140-11143 11174-11175 111C5-111C9 111CD 111DB 111DD-111DF 11238-1123D 112A9 114C6 115C1-115D7 "
    "11641-11643 1173C-1173E 12470-12474 16A6E-16A6F 16AF5 16B37-16B3B 16B44 1BC9F 1DA87-1DA8B "
)
# Non-spacing marks (category Mn), dropped after NFD when accents are stripped.
_NONSPACING_MARKS = (
    "0300-036F 0483-0487 0591-05BD 05BF 05C1-05C2 05C4-05C5 05C7 0610-061A 064B-065F 0670 06D6-06DC "
    "06DF-06E4 06E7-06E8 06EA-06ED 0711 0730-074A 07A6-07B0 07EB-07F3 0816-0819 081B-0823 0825-0827 "
    "0829-082D 0859-085B 08E3-0902 093A 093C 0941-0948 094D 0951-0957 0962-0963 0981 09BC 09C1-09C4 09CD "
    "09E2-09E3 0A01-0A02 0A3C 0A41-0A42 0A47-0A48 0A4B-0A4D 0A51 0A70-0A71 0A75 0A81-0A82 0ABC 0AC1-0AC5 "
    "0AC7-0AC8 0ACD 0AE2-0AE3 0B01 0B3C 0B3F 0B41-0B44 0B4D 0B56 0B62-0B63 0B82 0BC0 0BCD 0C00 0C3E-0C40 "
    "0C46-0C48 0C4A-0C4D 0C55-0C56 0C62-0C63 0C81 0CBC 0CBF 0CC6 0CCC-0CCD 0CE2-0CE3 0D01 0D41-0D44 0D4D "
    "0D62-0D63 0DCA 0DD2-0DD4 0DD6 0E31 0E34-0E3A 0E47-0E4E 0EB1 0EB4-0EB9 0EBB-0EBC 0EC8-0ECD 0F18-0F19 "
    "0F35 0F37 0F39 0F71-0F7E 0F80-0F84 0F86-0F87 0F8D-0F97 0F99-0FBC 0FC6 102D-1030 1032-1037 1039-103A "
    "103D-103E 1058-1059 105E-1060 1071-1074 1082 1085-1086 108D 109D 135D-135F 1712-1714 1732-1734 "
    "1752-1753 1772-1773 17B4-17B5 17B7-17BD 17C6 17C9-17D3 17DD 180B-180D 18A9 1920-1922 1927-1928 1932 "
    "1939-193B 1A17-1A18 1A1B 1A56 1A58-1A5E 1A60 1A62 1A65-1A6C 1A73-1A7C 1A7F 1AB0-1ABD 1B00-1B03 1B34 "
    "1B36-1B3A 1B3C 1B42 1B6B-1B73 1B80-1B81 1BA2-1BA5 1BA8-1BA9 1BAB-1BAD 1BE6 1BE8-1BE9 1BED 1BEF-1BF1 "
    "1C2C-1C33 1C36-1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 1CED 1CF4 1CF8-1CF9 1DC0-1DF5 1DFC-1DFF 20D0-20DC "
    "20E1 20E5-20F0 2CEF-2CF1 2D7F 2DE0-2DFF 302A-302D 3099-309A A66F A674-A67D A69E-A69F A6F0-A6F1 A802 "
    "A806 A80B A825-A826 A8C4 A8E0-A8F1 A926-A92D A947-A951 A980-A982 A9B3 A9B6-A9B9 A9BC A9E5 AA29-AA2E "
    "AA31-AA32 AA35-AA36 AA43 AA4C AA7C AAB0 AAB2-AAB4 AAB7-AAB8 AABE-AABF AAC1 AAEC-AAED AAF6 ABE5 ABE8 "
    "ABED FB1E FE00-FE0F FE20-FE2F 101FD 102E0 10376-1037A 10A01-10A03 10A05-10A06 10A0C-10A0F "
    "10A38-10A3A 10A3F 10AE5-10AE6 11001 11038-11046 1107F-11081 110B3-110B6 110B9-110BA 11100-11102 "
    "11127-1112B 1112D-11134 11173 11180-11181 111B6-111BE 111CA-111CC 1122F-11231 11234 11236-11237 "
    "112DF 112E3-112EA 11300-11301 1133C 11340 11366-1136C 11370-11374 114B3-114B8 114BA 114BF-114C0 "
    "114C2-114C3 115B2-115B5 115BC-115BD 115BF-115C0 115DC-115DD 11633-1163A 1163D 1163F-11640 116AB "
    "116AD 116B0-116B5 116B7 1171D-1171F 11722-11725 11727-1172B 16AF0-16AF4 16B30-16B36 16F8F-16F92 "
    "1BC9D-1BC9E 1D167-1D169 1D17B-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 1DA00-1DA36 1DA3B-1DA6C "
    "1DA75 1DA84 1DA9B-1DA9F 1DAA1-1DAAF 1E8D0-1E8D6 E0100-E01EF "
)
# "Chinese" characters (CJK Unified Ideographs and extensions, compatibility ideographs):
# each becomes a word of its own.
_CJK = (
    "3400-4DBF 4E00-9FFF F900-FAFF 20000-2A6DF 2A700-2B81F 2B920-2CEAF 2F800-2FA1F "
)
# Lower-case mappings the Rust library (newer Unicode) knows and Python 3.11 does not.
_EXTRA_LOWER = (
    "1C89:1C8A A7CB:0264 A7CC:A7CD A7CE:A7CF A7D2:A7D3 A7D4:A7D5 A7DA:A7DB A7DC:019B "
    "10D50-10D65:10D70 16EA0-16EB8:16EBB "
)
# Canonical decompositions Python knows and the Rust library's NFD does not.
_NO_DECOMPOSITION = "11938 "


def _char_class(table):
    """'0000-0008 00AD' -> the regex class body '\\U00000000-\\U00000008\\U000000AD'."""
    parts = []
    for item in table.split():
        lo, _, hi = item.partition("-")
        parts.append(f"\\U{int(lo, 16):08X}-\\U{int(hi, 16):08X}" if hi else f"\\U{int(lo, 16):08X}")
    return "".join(parts)


def _in_table(table):
    """A predicate char -> bool for one of the tables above."""
    pattern = regex.compile(f"[{_char_class(table)}]")
    return lambda char: pattern.fullmatch(char) is not None


def _extra_lower():
    mapping = {}
    for item in _EXTRA_LOWER.split():
        source, target = item.split(":")
        lo, _, hi = source.partition("-")
        lo, hi, target = int(lo, 16), int(hi or lo, 16), int(target, 16)
        for cp in range(lo, hi + 1):
            mapping[chr(cp)] = chr(target + cp - lo)
    return mapping


is_removed = _in_table(_REMOVED)
is_whitespace = _in_table(_SPACES)
is_punctuation = _in_table(_PUNCTUATION)
is_nonspacing_mark = _in_table(_NONSPACING_MARKS)
is_chinese_char = _in_table(_CJK)
_LOWER = _extra_lower()
_KEEP_WHOLE = {chr(int(cp, 16)) for cp in _NO_DECOMPOSITION.split()}


def is_control(char):
    """True for characters that text cleaning deletes (\\t, \\n, \\r are whitespace instead)."""
    return is_removed(char)


class BasicTokenizer:
    """Text -> words: cleaning, CJK spacing, whitespace split, lower-casing, accents, punctuation.

    Each stage on an example (``do_lower_case=True``):

    1. Cleaning deletes control and format characters and maps every whitespace
       character to a space: ``"a\\u200bb\\tc"`` -> ``"ab c"`` (the zero-width space
       U+200B is a format character, the tab is whitespace).
    2. CJK ideographs become words of their own: ``"BERT是模型"`` -> ``"BERT 是 模 型"``.
       Japanese kana and Korean hangul are not in these ranges and stay joined.
    3. Whitespace split: ``"ab c"`` -> ``["ab", "c"]``.
    4. Lower-casing and accents. ``strip_accents=None`` (the default) follows
       ``do_lower_case``: decompose (NFD) and drop the non-spacing marks, then
       lower-case, so ``"Ünwantéd"`` -> ``"unwanted"``. ``strip_accents=False`` with
       lower-casing keeps accents (``"Héllo"`` -> ``"héllo"``); ``strip_accents=True``
       strips them even when cased (``"Héllo"`` -> ``"Hello"``). Lower-casing is per
       character: ``"ΟΔΟΣ"`` -> ``"οδοσ"`` (no final sigma), ``"İ"`` -> ``"i̇"``
       (two characters, when accents are kept).
    5. Punctuation split: every punctuation character is a word of its own,
       ``"don't,"`` -> ``["don", "'", "t", ","]``. Punctuation means Unicode P*
       plus all ASCII non-alphanumeric printable characters (``$ + < = > ^ ` | ~``).

    ``split(text)`` also reports, for each word, the character span it came from
    in ``text``: ``split("Héllo, wörld")`` -> ``[("hello", 0, 5), (",", 5, 6),
    ("world", 7, 12)]``. A word's span runs from its first to its last surviving
    character, so characters deleted inside a word are inside the span.
    """

    def __init__(self, do_lower_case=True, never_split=None, tokenize_chinese_chars=True, strip_accents=None):
        self.do_lower_case = bool(do_lower_case)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        self.never_split = tuple(never_split or ())
        self._do_strip = self.do_lower_case if strip_accents is None else bool(strip_accents)
        # One compiled pattern cuts text into chunks: a never-split token, or a run of
        # non-whitespace characters. Chunks are cut before a never-split token's first
        # character when that character is punctuation (a word of its own anyway).
        specials = sorted(self.never_split, key=len, reverse=True)
        alternatives = [regex.escape(token) for token in specials]
        spaces = _char_class(_SPACES)
        firsts = "".join(sorted({token[0] for token in specials}))
        if all(is_punctuation(char) for char in firsts):
            stop = regex.escape(firsts) if firsts else ""
            if firsts:
                alternatives.append(f"[{stop}]")
            alternatives.append(f"[^{spaces}{stop}]+")
        else:  # a special token starting with a letter: check before every character
            guard = "|".join(regex.escape(token) for token in specials)
            alternatives.append(f"(?:(?!{guard})[^{spaces}])+")
        self._chunk_re = regex.compile("|".join(alternatives))
        self._never_split = set(self.never_split)
        self._char_cache = {}

    def normalize_char(self, char):
        """One character of the input -> tuple of (character, is_a_word_of_its_own).

        ``"É"`` -> ``(("e", False),)`` when lower-casing, ``"\\u200b"`` -> ``()``,
        ``"是"`` -> ``(("是", True),)``, ``","`` -> ``((",", True),)``,
        ``"İ"`` -> ``(("i", False), ("\\u0307", False))`` when lower-casing with accents kept.
        """
        result = self._char_cache.get(char)
        if result is None:
            result = self._char_cache[char] = self._normalize_char(char)
        return result

    def _normalize_char(self, char):
        if is_removed(char):
            return ()
        if is_whitespace(char):
            return ((" ", False),)
        alone = self.tokenize_chinese_chars and is_chinese_char(char)
        text = char
        if self._do_strip:
            if char not in _KEEP_WHOLE:
                text = unicodedata.normalize("NFD", char)
            text = "".join(c for c in text if not is_nonspacing_mark(c))
        if self.do_lower_case:
            text = "".join(_LOWER.get(c) or c.lower() for c in text)
        # after NFD a character may become punctuation: U+037E GREEK QUESTION MARK -> ';'
        return tuple((c, alone or is_punctuation(c)) for c in text)

    def chunks(self, text):
        """Yield (chunk, start): never-split tokens and runs of non-whitespace characters."""
        for match in self._chunk_re.finditer(text):
            yield match.group(), match.start()

    def split_chunk(self, chunk):
        """A chunk without whitespace -> list of (word, [position in chunk of each character]).

        ``split_chunk("Don't")`` -> ``[("don", [0, 1, 2]), ("'", [3]), ("t", [4])]``.
        """
        if chunk in self._never_split:
            return [(chunk, list(range(len(chunk))))]
        words = []
        word, positions = [], []
        for i, char in enumerate(chunk):
            for c, alone in self.normalize_char(char):
                if c == " ":  # whitespace never reaches a chunk; skip it if it does
                    continue
                if alone:
                    if word:
                        words.append(("".join(word), positions))
                        word, positions = [], []
                    words.append((c, [i]))
                else:
                    word.append(c)
                    positions.append(i)
        if word:
            words.append(("".join(word), positions))
        return words

    def split(self, text):
        """Text -> list of (word, start, end) with character spans into ``text``."""
        _check_text(text)
        out = []
        for chunk, start in self.chunks(text):
            for word, positions in self.split_chunk(chunk):
                out.append((word, start + positions[0], start + positions[-1] + 1))
        return out

    def tokenize(self, text):
        """Text -> list of words: ``tokenize(" \\tHeLLo!how  \\n Are yoU?  ")`` ->
        ``["hello", "!", "how", "are", "you", "?"]``."""
        return [word for word, _, _ in self.split(text)]


class WordpieceTokenizer:
    """Word -> word pieces, greedy longest-match-first against the vocabulary.

    Start at the first character and take the longest prefix that is in the vocab;
    continue from where it ended, looking up the rest with a ``##`` prefix.
    ``"unaffable"`` with pieces {un, ##aff, ##able} -> ``["un", "##aff", "##able"]``;
    ``"unwanted"`` -> ``["un", "##want", "##ed"]``. If some position has no match at
    all, the whole word becomes ``[UNK]`` (``"unwantedx"`` -> ``["[UNK]"]``), and a
    word longer than ``max_input_chars_per_word`` (100) characters is ``[UNK]``
    without trying.
    """

    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # no piece is longer than the longest vocab entry: start the search there
        self._longest = max((len(t) - 2 if t.startswith("##") else len(t) for t in vocab), default=1)

    def split_word(self, word):
        """Word -> list of (piece, start, end) with spans into ``word``; [(unk, 0, len)] if it fails."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return [(self.unk_token, 0, n)]
        vocab, longest = self.vocab, self._longest
        pieces = []
        start = 0
        while start < n:
            end = min(n, start + longest)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    break
                end -= 1
            else:
                return [(self.unk_token, 0, n)]
            pieces.append((piece, start, end))
            start = end
        return pieces

    def tokenize(self, text):
        """Whitespace-separated words -> pieces: ``tokenize("unwanted running")`` ->
        ``["un", "##want", "##ed", "runn", "##ing"]``."""
        return [piece for word in text.split() for piece, _, _ in self.split_word(word)]


def _check_text(text, what="text", empty_hint=None):
    """Raise TypeError unless ``text`` is a str (the tokenizer and the pipelines check with this).

    With ``empty_hint``, blank text is refused too: ValueError "the {what} is empty;
    {empty_hint}". Without it blank text is fine (the tokenizer encodes "" as [CLS] [SEP]).
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}: "
                        "pass one string, or a list of strings")
    if empty_hint is not None and not text.strip():
        raise ValueError(f"the {what} is empty; {empty_hint}")


class VocabFileNotFoundError(FileNotFoundError, ValueError):
    """A vocab file that does not exist (both an OSError and a ValueError)."""


def load_vocab(vocab_file, unk_token="[UNK]"):
    """Read vocab.txt (one token per line, the line number minus one is the id) -> dict.

    Raises ValueError naming the file and line for: bytes that are not UTF-8, an
    empty line, a token with whitespace in it, a token listed twice, or no
    ``unk_token`` at all; a missing file raises ``VocabFileNotFoundError`` (a
    FileNotFoundError that is also a ValueError).
    """
    path = os.fspath(vocab_file)
    if os.path.isdir(path):
        raise IsADirectoryError(f"vocab file {path!r} is a directory, not a file: pass the path of a vocab.txt "
                                "(one token per line), or load a model directory with BertTokenizer.from_pretrained")
    if not os.path.isfile(path):
        raise VocabFileNotFoundError(
            f"vocab file {path!r} not found: pass the path of a vocab.txt (one token per line) "
            "or a model directory that contains one")
    with open(path, "rb") as f:
        data = f.read()
    vocab = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line
    for number, raw in enumerate(lines, start=1):
        try:
            token = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not valid UTF-8 ({exc.reason}); "
                             "a vocab file is UTF-8 text with one token per line") from None
        if token == "":
            raise ValueError(f"{path}, line {number}: empty line; a vocab file has one token per line "
                             "and no blank lines")
        if any(c.isspace() for c in token):
            raise ValueError(f"{path}, line {number}: token {token!r} contains whitespace "
                             "(Windows line endings?); a token can never contain whitespace")
        if token in vocab:
            raise ValueError(f"{path}, line {number}: token {token!r} already appears on line "
                             f"{vocab[token] + 1}; every token must be listed once")
        vocab[token] = number - 1
    if not vocab:
        raise ValueError(f"{path}: the vocab file is empty; it needs one token per line")
    if unk_token not in vocab:
        raise ValueError(f"{path}: no {unk_token} token in the vocab ({len(vocab)} lines); "
                         f"add a line {unk_token} (words that cannot be split into pieces map to it)")
    return vocab


def check_vocab_size(tokenizer, config, model="the model"):
    """Check that every id ``tokenizer`` gives has a row in the model's word embeddings.

    A vocab.txt with more tokens than config.json's ``vocab_size`` raises ValueError:
    ids from vocab_size up have no row in the (vocab_size, H) matrix (transformers
    loads such a pair and fails on the first such id, with an IndexError deep in the
    embedding lookup). One with fewer tokens is what transformers accepts silently (a
    matrix padded to a multiple of 8 or 64 for speed, as some checkpoints have): the last
    rows are never used; here it loads with a UserWarning, since it is also what a
    vocab.txt from another model, or cut short, looks like.
    """
    n, rows = len(tokenizer.vocab), config.vocab_size
    vocab = tokenizer.vocab_file or "the tokenizer's vocab"
    if n > rows:
        raise ValueError(f"{vocab} has {n} tokens but {model} has vocab_size={rows} (config.json): ids {rows} "
                         f"to {n - 1} would have no row in its word embedding matrix; use the vocab.txt "
                         f"that belongs to the model")
    if n < rows:
        warnings.warn(f"{vocab} has {n} tokens but {model} has vocab_size={rows} (config.json): the last "
                      f"{rows - n} rows of its word embedding matrix are never used (transformers allows "
                      f"this, e.g. for a matrix padded for speed); is it the model's own vocab.txt?",
                      UserWarning, stacklevel=2)


def write_vocab(tokens, path):
    """Write a list of tokens as vocab.txt (atomically), token i on line i + 1."""
    seen = set()
    for i, token in enumerate(tokens):
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise ValueError(f"token {i} ({token!r}) cannot go in a vocab file: tokens are non-empty "
                             "strings without whitespace")
        if token in seen:
            raise ValueError(f"token {token!r} is listed twice (again at index {i})")
        seen.add(token)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in tokens))


def _cleanup_token(text):
    # transformers 5 / tokenizers WordPiece decoder, cleanup=True, applied per token
    return (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
            .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re"))


class BertTokenizer:
    """BERT's WordPiece tokenizer with HuggingFace's interface.

        >>> tok = BertTokenizer.from_pretrained(minilm_dir)   # bert-base-uncased's vocab.txt
        >>> tok.tokenize("UNwant\\u00e9d,running")
        ['unwanted', ',', 'running']
        >>> tok("Hello [MASK]!", return_offsets_mapping=True)
        {'input_ids': [101, 7592, 103, 999, 102], 'token_type_ids': [0, 0, 0, 0, 0],
         'attention_mask': [1, 1, 1, 1, 1], 'offset_mapping': [(0, 0), (0, 5), (6, 12), (12, 13), (0, 0)]}

    Special tokens written in the text (``[MASK]``, ``[SEP]``, ...) are kept whole
    and matched exactly, before any lower-casing: ``"[mask]"`` is three words.
    A pair is ``[CLS] A [SEP] B [SEP]`` with token_type_ids 0 for ``[CLS] A [SEP]``
    and 1 for ``B [SEP]``. Offsets are character spans into the original text,
    (0, 0) for added special tokens and padding.

    Words are tokenized once and cached (``cache_size`` distinct chunks), which is
    where most of the speed comes from: running text repeats its words.
    """

    def __init__(self, vocab_file, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                 mask_token="[MASK]", model_max_length=None, max_input_chars_per_word=100, cache_size=200_000):
        if isinstance(vocab_file, dict):
            self.vocab = dict(vocab_file)
            self.vocab_file = None
            if unk_token not in self.vocab:
                raise ValueError(f"the vocab has no {unk_token} token; add one")
            if sorted(self.vocab.values()) != list(range(len(self.vocab))):
                raise ValueError("vocab ids must be 0 .. len(vocab) - 1, each used once")
        else:
            self.vocab_file = os.fspath(vocab_file)
            self.vocab = load_vocab(self.vocab_file, unk_token)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        if model_max_length is not None and model_max_length > 1e12:  # HF's "no limit"
            model_max_length = None
        self.model_max_length = model_max_length
        for name in ("unk", "sep", "pad", "cls", "mask"):
            token = getattr(self, name + "_token")
            if token not in self.vocab:
                where = f" {self.vocab_file}" if self.vocab_file else ""
                raise ValueError(f"special token {token} is not in the vocab{where}; every BERT vocab "
                                 "needs [PAD], [UNK], [CLS], [SEP] and [MASK]")
        self.special_tokens = [unk_token, sep_token, pad_token, cls_token, mask_token]  # HF's order
        self.basic_tokenizer = BasicTokenizer(do_lower_case, never_split=self.special_tokens,
                                              tokenize_chinese_chars=tokenize_chinese_chars,
                                              strip_accents=strip_accents)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token, max_input_chars_per_word)
        self._cache = {}
        self._cache_size = cache_size
        self._cls_sep_pad_ids = (self.cls_token_id, self.sep_token_id, self.pad_token_id)

    # -- the ids of the special tokens --------------------------------------------------
    @property
    def vocab_size(self):
        return len(self.vocab)

    def __len__(self):
        return len(self.vocab)

    @property
    def unk_token_id(self):
        return self.vocab[self.unk_token]

    @property
    def sep_token_id(self):
        return self.vocab[self.sep_token]

    @property
    def pad_token_id(self):
        return self.vocab[self.pad_token]

    @property
    def cls_token_id(self):
        return self.vocab[self.cls_token]

    @property
    def mask_token_id(self):
        return self.vocab[self.mask_token]

    @property
    def all_special_tokens(self):
        return list(self.special_tokens)

    @property
    def all_special_ids(self):
        return [self.vocab[t] for t in self.special_tokens]

    def get_vocab(self):
        return dict(self.vocab)

    def __repr__(self):
        return (f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"strip_accents={self.strip_accents}, tokenize_chinese_chars={self.tokenize_chinese_chars})")

    # -- text -> pieces ---------------------------------------------------------------------
    def _encode_chunk(self, chunk):
        """One whitespace-free chunk -> (ids, spans relative to the chunk, word of each token
        counted from the chunk's first word, number of words in the chunk), cached.

        ``"don't"`` -> ids of ``don ' t``, spans ``(0, 3) (3, 4) (4, 5)``, words ``0 1 2``, 3 words.
        """
        result = self._cache.get(chunk)
        if result is None:
            ids, spans, words = [], [], []
            vocab = self.vocab
            if chunk in self.basic_tokenizer._never_split:
                ids.append(vocab[chunk])
                spans.append((0, len(chunk)))
                words.append(0)
                n_words = 1
            else:
                split = self.basic_tokenizer.split_chunk(chunk)
                for w, (word, positions) in enumerate(split):
                    for piece, start, end in self.wordpiece_tokenizer.split_word(word):
                        ids.append(vocab[piece])
                        spans.append((positions[start], positions[end - 1] + 1))
                        words.append(w)
                n_words = len(split)
            result = (tuple(ids), tuple(spans), tuple(words), n_words)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[chunk] = result
        return result

    def _encode_text(self, text, details=False):
        """Text -> (ids, offsets, word ids), no special tokens added.

        Without ``details`` offsets and word ids are None (the fast path: most calls need only
        ids). A word is what BERT's pre-tokenizer makes of the text: ``"don't go"`` has the 4
        words ``don ' t go``; every piece of a word has that word's index.
        """
        ids = []
        cache = self._cache
        encode_chunk = self._encode_chunk
        if not details:
            for chunk in self.basic_tokenizer._chunk_re.findall(text):
                hit = cache.get(chunk)
                ids.extend((hit or encode_chunk(chunk))[0])
            return ids, None, None
        offsets, words = [], []
        first_word = 0
        for match in self.basic_tokenizer._chunk_re.finditer(text):
            chunk_ids, spans, chunk_words, n_words = encode_chunk(match.group())
            start = match.start()
            ids.extend(chunk_ids)
            offsets += [(start + a, start + b) for a, b in spans]
            if n_words == 1:  # most chunks are one word
                words += [first_word] * len(chunk_ids)
            else:
                words += [first_word + w for w in chunk_words]
            first_word += n_words
        return ids, offsets, words

    def _encode_sequence(self, sequence, is_split_into_words=False, details=False):
        """One input sequence -> (ids, offsets, word ids) as ``_encode_text``.

        With ``is_split_into_words`` the sequence is a list of words, each tokenized on its own:
        word i's pieces have word id i and offsets into that word (as the fast tokenizer reports
        them), so ``["New York", "is"]`` -> ``new york is`` with words ``0 0 1`` and offsets
        ``(0, 3) (4, 8) (0, 2)``.
        """
        if not is_split_into_words:
            return self._encode_text(sequence, details)
        ids, offsets, words = [], [] if details else None, [] if details else None
        for i, word in enumerate(sequence):
            word_ids, word_offsets, _ = self._encode_text(word, details)
            ids += word_ids
            if details:
                offsets += word_offsets
                words += [i] * len(word_ids)
        return ids, offsets, words

    def tokenize(self, text):
        """Text -> word pieces: ``"UNwant\\u00e9d,running"`` -> ``["un", "##want", "##ed", ",", "runn", "##ing"]``."""
        _check_text(text)
        ids, _, _ = self._encode_text(text)
        return [self.ids_to_tokens[i] for i in ids]

    def convert_tokens_to_ids(self, tokens):
        """Token(s) -> id(s); unknown tokens -> the [UNK] id. A str gives an int."""
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        unk = self.unk_token_id
        return [self.vocab.get(token, unk) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Id(s) -> token(s). An int gives a str. Ids outside the vocab raise ValueError."""
        if _is_int(ids):
            return self._id_to_token(ids)
        special = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(i) for i in _as_id_list(ids) if i not in special]

    def _id_to_token(self, i):
        token = self.ids_to_tokens.get(int(i))
        if token is None:
            raise ValueError(f"token id {int(i)} is outside the vocab (0 .. {self.vocab_size - 1})")
        return token

    # -- encoding ----------------------------------------------------------------------------
    def num_special_tokens_to_add(self, pair=False):
        return 3 if pair else 2

    def build_inputs_with_special_tokens(self, ids_a, ids_b=None):
        """[CLS] A [SEP] or [CLS] A [SEP] B [SEP]."""
        out = [self.cls_token_id] + list(ids_a) + [self.sep_token_id]
        if ids_b is not None:
            out += list(ids_b) + [self.sep_token_id]
        return out

    def encode(self, text, text_pair=None, add_special_tokens=True, truncation=None, max_length=None):
        """Text (and optional pair) -> list of ids: ``encode("hi", "there")`` -> ``[101, 7632, 102, 2045, 102]``.

        One text only (a batch goes to ``__call__``); ``text_pair`` is checked there, so an empty
        pair counts as none, as in ``__call__`` and HF."""
        _check_text(text)
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                    max_length=max_length)["input_ids"]

    def __call__(self, text, text_pair=None, padding=False, truncation=None, max_length=None, stride=0,
                 is_split_into_words=False, return_tensors=None, return_overflowing_tokens=False,
                 return_special_tokens_mask=False, return_offsets_mapping=False, add_special_tokens=True):
        """Encode one text (or pair) or a batch, as HuggingFace's fast BertTokenizer does -> BatchEncoding.

        ``text``: a str or a list of str; ``text_pair``: the same kind, or None (for one text an
        empty ``text_pair`` counts as none, as in HF). With ``is_split_into_words=True`` a text
        is a list of words (a batch: a list of lists) and each word is tokenized on its own.

        ``padding``: False (none), True or "longest" (to the longest in the batch),
        "max_length" (to ``max_length``). ``truncation``: False, True or
        "longest_first" (take tokens from the longer sequence; when both are too long
        they end up sharing ``max_length`` equally, the longer, B on a tie, getting the odd one),
        "only_first", "only_second"; None means "longest_first" when ``max_length`` is
        given without padding, as in HF. Special tokens count towards ``max_length``.

        ``return_overflowing_tokens=True`` keeps what truncation cuts off, as more windows of
        at most ``max_length`` tokens, each repeating the last ``stride`` tokens of the one
        before, and adds "overflow_to_sample_mapping" (the input each window came from). The
        output is then always a batch of windows, even for one text. For question answering,
        ``tok(question, context, truncation="only_second", max_length=384, stride=128,
        return_overflowing_tokens=True)`` gives every window of the context with the whole
        question in front. When both sequences of a pair are cut (longest_first) the windows
        are every combination of A's and B's windows, in the fast tokenizer's order.

        ``return_special_tokens_mask`` adds "special_tokens_mask" (1 for added [CLS], [SEP] and
        padding); ``return_offsets_mapping`` adds "offset_mapping": (start, end) character spans
        into the original text (into the word, with ``is_split_into_words``), (0, 0) for added
        tokens. ``return_tensors="np"`` returns int64 arrays of shape (B, T) (B = 1 for one
        text, the number of windows with overflowing tokens); otherwise lists (nested for a batch).
        The BatchEncoding also answers ``word_ids(i)``, ``sequence_ids(i)``, ``token_to_word``,
        ``char_to_token`` and friends for each row.
        """
        batched, examples = _examples(text, text_pair, is_split_into_words)
        padding = _padding_strategy(padding)
        truncation = _truncation_strategy(truncation, max_length, padding)
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be None or 'np' (numpy_bert has no {return_tensors!r} tensors)")
        if max_length is not None and (not _is_int(max_length) or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")
        if not _is_int(stride) or stride < 0:
            raise ValueError(f"stride must be a non-negative int, got {stride!r}")
        if truncation and max_length is None:
            max_length = self.model_max_length
        if padding == "max_length" and max_length is None:
            max_length = self.model_max_length
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length (this tokenizer has no model_max_length)")
        is_pair = examples[0][1] is not None
        n_special = (3 if is_pair else 2) if add_special_tokens else 0
        truncating = bool(truncation) and max_length is not None
        if truncating and max_length < n_special:
            raise ValueError(f"max_length={max_length} is smaller than the {n_special} special tokens "
                             f"{'[CLS] A [SEP] B [SEP]' if is_pair else '[CLS] A [SEP]'} needs; "
                             f"use max_length >= {n_special}")
        if truncating and max_length >= 2 and stride > max_length - 2:  # the fast tokenizer's own check
            raise ValueError(f"stride={stride} is larger than max_length={max_length} minus the 2 special tokens "
                             f"of one text ({max_length - 2}): a window would repeat more tokens than it holds; "
                             "use a smaller stride or a larger max_length")

        specials = self._cls_sep_pad_ids
        rows, sample_of_row, first_rows = [], [], []
        for i, (a, b) in enumerate(examples):
            first = _Sequence(self, a, is_split_into_words, return_offsets_mapping)
            second = None if b is None else _Sequence(self, b, is_split_into_words, return_offsets_mapping)
            n_b = None if second is None else len(second.ids)
            if truncating:
                windows = _truncation_windows(len(first.ids), n_b, max_length - n_special, truncation, stride,
                                              max_length)
            else:
                windows = [((0, len(first.ids)), None if second is None else (0, n_b))]
            if not return_overflowing_tokens:
                windows = windows[:1]  # what truncation keeps
            first_rows.append(len(rows))
            for span_a, span_b in windows:
                rows.append(Encoding(first, span_a, second, span_b, add_special_tokens, specials))
                sample_of_row.append(i)

        # padding="longest" pads to the longest first window of each input (as the fast
        # tokenizer does: the later windows are padded to that length, never cut)
        if padding == "longest":
            target = max(len(rows[r]) for r in first_rows)
        else:
            target = max_length if padding == "max_length" else 0
        if target:
            for row in rows:
                row.pad_to(target)
        data = {"input_ids": [row.ids for row in rows], "token_type_ids": [row.type_ids for row in rows],
                "attention_mask": [row.attention_mask for row in rows]}
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [row.special_tokens_mask for row in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [row.offsets for row in rows]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row
        if return_tensors == "np":
            data = _as_arrays(data)
        elif not batched and not return_overflowing_tokens:
            data = {key: value[0] for key, value in data.items()}
        return BatchEncoding(data, rows, n_sequences=2 if is_pair else 1)

    # -- decoding ----------------------------------------------------------------------------
    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """Ids -> text, as transformers 5's BertTokenizer decodes.

        Pieces are joined with spaces, ``##`` pieces glued to the one before, and a
        piece starting with `` .`` `` ?`` `` !`` `` ,`` loses that space:
        ``[CLS] hello , world . [SEP]`` -> ``"[CLS] hello, world. [SEP]"``, but
        ``don ' t`` stays ``"don ' t"``. ``skip_special_tokens`` drops [CLS], [SEP],
        [PAD], [MASK] and [UNK]. ``clean_up_tokenization_spaces=True`` additionally
        joins `` 's``, `` n't`` and friends over the whole string.
        """
        tokens = self.convert_ids_to_tokens(_as_id_list(ids), skip_special_tokens=skip_special_tokens)
        text = self.convert_tokens_to_string(tokens)
        if clean_up_tokenization_spaces:
            text = (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                    .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
                    .replace(" 've", "'ve").replace(" 're", "'re"))
        return text

    def convert_tokens_to_string(self, tokens):
        """Word pieces -> text, as the WordPiece decoder of transformers 5 joins them.

        ``["hello", "##s", ",", "world"]`` -> ``"hellos, world"``: ``##`` pieces glued to
        the one before (a first piece keeps its ``##``), the others after a space, then
        each piece cleaned up as ``decode`` describes.
        """
        parts = []
        for i, token in enumerate(tokens):
            if i and token.startswith("##"):  # HF keeps the "##" of a first piece
                token = token[2:]
            elif i:
                token = " " + token
            parts.append(_cleanup_token(token))
        return "".join(parts)

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        """``decode`` of each sequence, with the same options."""
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in sequences]

    # -- files ---------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Load from a directory holding vocab.txt (and, if present, tokenizer_config.json).

        tokenizer_config.json supplies do_lower_case, strip_accents,
        tokenize_chinese_chars, the special tokens and model_max_length; keyword
        arguments override it. ``path`` may also be a vocab.txt file itself.
        """
        path = Path(os.fspath(path))
        options = {}
        if path.is_file():
            vocab_file, config_file = path, path.with_name("tokenizer_config.json")
        elif path.is_dir():
            vocab_file, config_file = path / "vocab.txt", path / "tokenizer_config.json"
            if not vocab_file.is_file():
                if not (path / "tokenizer.json").is_file():
                    raise VocabFileNotFoundError(f"no vocab.txt in {path}: a BERT model directory needs its "
                                                 "vocab.txt (one token per line) or a tokenizer.json")
                vocab_file, options = _read_tokenizer_json(path / "tokenizer.json")
        else:
            raise VocabFileNotFoundError(f"{path} is neither a model directory nor a vocab file")
        if config_file.is_file():
            try:
                config = json.loads(config_file.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError(f"{config_file} is not valid JSON ({exc}); fix or delete it") from None
            if not isinstance(config, dict):
                raise ValueError(f"{config_file} must hold a JSON object")
            for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "model_max_length"):
                if key in config:
                    options[key] = config[key]
            for key in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
                value = config.get(key)
                if isinstance(value, dict):  # {"content": "[UNK]", ...} in some files
                    value = value.get("content")
                if isinstance(value, str):
                    options[key] = value
        options.update(kwargs)
        return cls(vocab_file, **options)

    def save_pretrained(self, directory):
        """Write vocab.txt and tokenizer_config.json (loadable by transformers) -> list of paths."""
        directory = Path(os.fspath(directory))
        directory.mkdir(parents=True, exist_ok=True)
        tokens = [self.ids_to_tokens[i] for i in range(self.vocab_size)]
        vocab_path = directory / "vocab.txt"
        write_vocab(tokens, vocab_path)
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "unk_token": self.unk_token, "sep_token": self.sep_token, "pad_token": self.pad_token,
            "cls_token": self.cls_token, "mask_token": self.mask_token,
            "clean_up_tokenization_spaces": False,
        }
        if self.model_max_length is not None:
            config["model_max_length"] = self.model_max_length
        config_path = directory / "tokenizer_config.json"
        with atomic_write(config_path, "w", encoding="utf-8") as f:
            f.write(json.dumps(config, indent=2) + "\n")
        return [str(vocab_path), str(config_path)]


class _Sequence:
    """One input sequence (a text, or a list of words) encoded without special tokens.

    ``ids`` are computed at once; each token's character span (``offsets``) and word index
    (``words``) only when first asked for, by encoding the sequence again the slow way: most
    calls need only ids, and an encoding's ``word_ids()`` is there when it is wanted.
    """

    __slots__ = ("_tokenizer", "source", "is_split_into_words", "ids", "_offsets", "_words")

    def __init__(self, tokenizer, source, is_split_into_words, details):
        self._tokenizer, self.source, self.is_split_into_words = tokenizer, source, is_split_into_words
        self.ids, self._offsets, self._words = tokenizer._encode_sequence(source, is_split_into_words, details)

    def _details(self):
        if self._offsets is None:
            _, self._offsets, self._words = self._tokenizer._encode_sequence(
                self.source, self.is_split_into_words, details=True)

    @property
    def offsets(self):
        self._details()
        return self._offsets

    @property
    def words(self):
        self._details()
        return self._words


class Encoding:
    """One row of a BatchEncoding, like ``tokenizers.Encoding``: a window ``[start, stop)`` of
    sequence A's tokens and (for a pair) one of B's, laid out as

        [CLS] A[start:stop] [SEP] B[start:stop] [SEP] [PAD] ...   (without special tokens: A B [PAD] ...)

    Every per-token list (``ids``, ``type_ids``, ``attention_mask``, ``special_tokens_mask``,
    ``offsets``, ``word_ids``, ``sequence_ids``) is built by the one method ``_layout`` from
    the values of A's and B's tokens and the values at the added tokens.
    """

    __slots__ = ("_first", "_first_span", "_second", "_second_span", "_special", "_cls_id", "_sep_id",
                 "_pad_id", "n_a", "n_b", "n_pad")

    def __init__(self, first, first_span, second=None, second_span=None, add_special_tokens=True,
                 special_ids=(None, None, None)):
        self._first, self._first_span = first, first_span
        self._second, self._second_span = second, second_span
        self._special = bool(add_special_tokens)
        self._cls_id, self._sep_id, self._pad_id = special_ids
        self.n_a = first_span[1] - first_span[0]
        self.n_b = 0 if second is None else second_span[1] - second_span[0]
        self.n_pad = 0

    @property
    def n_sequences(self):
        return 1 if self._second is None else 2

    def __len__(self):
        added = (2 + (self._second is not None)) if self._special else 0
        return added + self.n_a + self.n_b + self.n_pad

    def __repr__(self):
        return f"Encoding(num_tokens={len(self)}, n_sequences={self.n_sequences})"

    def pad_to(self, length):
        """Pad (on the right) to ``length`` tokens; a longer row stays as it is."""
        self.n_pad = 0  # so that len(self) is the length without padding
        self.n_pad = max(0, length - len(self))

    def _layout(self, at_cls, a_values, at_sep_a, b_values, at_sep_b, at_pad):
        """The row's per-token list: the values at [CLS], at A's tokens, at A's [SEP], at B's
        tokens, at B's [SEP] and at padding. ``a_values`` / ``b_values`` are lists (one value per
        token) or one value for all of that sequence's tokens."""
        special = self._special
        out = [at_cls] if special else []
        out += a_values if type(a_values) is list else [a_values] * self.n_a
        if special:
            out.append(at_sep_a)
        if self._second is not None:
            out += b_values if type(b_values) is list else [b_values] * self.n_b
            if special:
                out.append(at_sep_b)
        if self.n_pad:
            out += [at_pad] * self.n_pad
        return out

    def _slices(self, attribute):
        """``attribute`` ("ids", "offsets", "words") of the row's A tokens and B tokens."""
        (a0, a1), second = self._first_span, self._second
        b = None if second is None else getattr(second, attribute)[self._second_span[0]:self._second_span[1]]
        return getattr(self._first, attribute)[a0:a1], b

    @property
    def ids(self):
        a, b = self._slices("ids")
        return self._layout(self._cls_id, a, self._sep_id, b, self._sep_id, self._pad_id)

    @property
    def type_ids(self):
        return self._layout(0, 0, 0, 1, 1, 0)

    @property
    def attention_mask(self):
        return self._layout(1, 1, 1, 1, 1, 0)

    @property
    def special_tokens_mask(self):
        return self._layout(1, 0, 1, 0, 1, 1)

    @property
    def offsets(self):
        a, b = self._slices("offsets")
        return self._layout((0, 0), a, (0, 0), b, (0, 0), (0, 0))

    @property
    def word_ids(self):
        a, b = self._slices("words")
        return self._layout(None, a, None, b, None, None)

    @property
    def sequence_ids(self):
        return self._layout(None, 0, None, 1, None, None)

    @property
    def tokens(self):
        return self._first._tokenizer.convert_ids_to_tokens(self.ids)

    # -- mapping between tokens, words and characters (as tokenizers.Encoding does) --------
    def _token(self, index):
        """A token index (negative counts from the end) -> index, or None if out of range."""
        n = len(self)
        if index < 0:
            index += n
        return index if 0 <= index < n else None

    def token_to_sequence(self, token_index):
        """0 or 1 for a token of A or B; None for added tokens, padding or an index out of range."""
        index = self._token(token_index)
        return None if index is None else self.sequence_ids[index]

    def token_to_word(self, token_index):
        """The index of the word (in its own sequence) the token is part of, or None."""
        index = self._token(token_index)
        return None if index is None else self.word_ids[index]

    def token_to_chars(self, token_index):
        """The token's (start, end) character span in its sequence, or None for added tokens."""
        index = self._token(token_index)
        if index is None or self.sequence_ids[index] is None:
            return None
        return self.offsets[index]

    def _sequence_range(self, sequence_index):
        """[lo, hi) of the tokens of sequence 0 or 1; all tokens for a sequence the row does not
        have (as tokenizers does: char_to_token(i, sequence_index=1) on one text searches it all)."""
        if sequence_index == 0 or (sequence_index == 1 and self._second is not None):
            lo = int(self._special)
            if sequence_index == 1:
                lo += self.n_a + int(self._special)
            return lo, lo + (self.n_a if sequence_index == 0 else self.n_b)
        return 0, len(self)

    def char_to_token(self, char_index, sequence_index=0):
        """The first token of the sequence whose character span holds ``char_index``, or None."""
        if not _is_int(char_index) or char_index < 0:
            raise ValueError(f"char_index must be a non-negative int, got {char_index!r}")
        lo, hi = self._sequence_range(sequence_index)
        offsets = self.offsets
        for i in range(lo, hi):
            if offsets[i][0] <= char_index < offsets[i][1]:
                return i
        return None

    def char_to_word(self, char_index, sequence_index=0):
        """The word of the token holding ``char_index``, or None."""
        token = self.char_to_token(char_index, sequence_index)
        return None if token is None else self.word_ids[token]

    def word_to_tokens(self, word_index, sequence_index=0):
        """(start, end) token indices of the word's pieces in this row, or None if none is in it."""
        lo, hi = self._sequence_range(sequence_index)
        words = self.word_ids
        span = None
        for i in range(lo, hi):
            if words[i] is not None and words[i] > word_index:
                break  # word ids only grow within a sequence
            if words[i] == word_index:
                span = (i if span is None else span[0], i + 1)
        return span

    def word_to_chars(self, word_index, sequence_index=0):
        """(start, end) character span of the word's pieces in this row, or None."""
        span = self.word_to_tokens(word_index, sequence_index)
        if span is None:
            return None
        offsets = self.offsets
        return offsets[span[0]][0], offsets[span[1] - 1][1]


class TokenSpan(tuple):
    """(start, end) token indices, as transformers' TokenSpan."""

    __slots__ = ()

    def __new__(cls, start, end):
        return super().__new__(cls, (start, end))

    start = property(lambda self: self[0])
    end = property(lambda self: self[1])

    def __repr__(self):
        return f"TokenSpan(start={self[0]}, end={self[1]})"


class CharSpan(TokenSpan):
    """(start, end) character indices, as transformers' CharSpan."""

    __slots__ = ()

    def __repr__(self):
        return f"CharSpan(start={self[0]}, end={self[1]})"


class BatchEncoding(dict):
    """What the tokenizer returns: a dict of "input_ids", "token_type_ids", "attention_mask"
    (and what else was asked for), plus one ``Encoding`` per row, as transformers' BatchEncoding.

        >>> enc = tok(["Hello world!", "Hi"], padding=True)
        >>> enc["input_ids"]                # a dict, as before
        >>> enc.word_ids(0)                 # [None, 0, 1, 2, None]: the word of each token of row 0
        >>> enc.sequence_ids(0)             # [None, 0, 0, 0, None]: 0 for A, 1 for B, None for added tokens
        >>> enc.char_to_token(0, 6)         # 2: the token of row 0 that holds character 6

    For one text (no batch, no overflowing tokens) the mapping methods take the index
    alone: ``enc.token_to_word(1)``; for a batch ``enc.token_to_word(row, token)``.
    ``enc[i]`` with an int is row i's Encoding; ``enc.input_ids`` is ``enc["input_ids"]``.
    """

    __slots__ = ("_encodings", "_n_sequences")

    def __init__(self, data=None, encodings=None, n_sequences=None):
        dict.__init__(self, data or {})
        self._encodings = encodings
        self._n_sequences = n_sequences

    def __getitem__(self, key):
        if isinstance(key, str):
            return dict.__getitem__(self, key)
        if _is_int(key) and self._encodings is not None:
            return self._encodings[key]
        if isinstance(key, slice):
            return {name: value[key] for name, value in self.items()}
        raise KeyError(f"{key!r}: index a BatchEncoding with a key such as 'input_ids', a row number "
                       "(that row's Encoding) or a slice")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            raise AttributeError(f"BatchEncoding has no attribute or key {name!r}") from None

    @property
    def encodings(self):
        return self._encodings

    @property
    def is_fast(self):
        return self._encodings is not None

    @property
    def n_sequences(self):
        return self._n_sequences

    def _row(self, batch_index):
        if not self._encodings:
            raise ValueError("this BatchEncoding has no per-row encodings (it was not made by the tokenizer)")
        if not _is_int(batch_index):
            raise TypeError(f"batch_index must be an int, got {type(batch_index).__name__}")
        n = len(self._encodings)
        if not -n <= batch_index < n:
            raise IndexError(f"batch_index {batch_index} is out of range: this encoding has {n} row(s)")
        return self._encodings[batch_index]

    def _split(self, batch_or_index, index):
        """HF's calling convention: (index) for row 0, or (batch_index, index)."""
        return (self._row(0), batch_or_index) if index is None else (self._row(batch_or_index), index)

    def tokens(self, batch_index=0):
        return self._row(batch_index).tokens

    def word_ids(self, batch_index=0):
        """The word index of each token of a row; None for added tokens and padding."""
        return self._row(batch_index).word_ids

    def sequence_ids(self, batch_index=0):
        """0 (A) or 1 (B) for each token of a row; None for added tokens and padding."""
        return self._row(batch_index).sequence_ids

    def token_to_sequence(self, batch_or_token_index, token_index=None):
        row, index = self._split(batch_or_token_index, token_index)
        return row.token_to_sequence(index)

    def token_to_word(self, batch_or_token_index, token_index=None):
        row, index = self._split(batch_or_token_index, token_index)
        return row.token_to_word(index)

    def token_to_chars(self, batch_or_token_index, token_index=None):
        row, index = self._split(batch_or_token_index, token_index)
        span = row.token_to_chars(index)
        return None if span is None else CharSpan(*span)

    def char_to_token(self, batch_or_char_index, char_index=None, sequence_index=0):
        row, index = self._split(batch_or_char_index, char_index)
        return row.char_to_token(index, sequence_index)

    def char_to_word(self, batch_or_char_index, char_index=None, sequence_index=0):
        row, index = self._split(batch_or_char_index, char_index)
        return row.char_to_word(index, sequence_index)

    def word_to_tokens(self, batch_or_word_index, word_index=None, sequence_index=0):
        row, index = self._split(batch_or_word_index, word_index)
        span = row.word_to_tokens(index, sequence_index)
        return None if span is None else TokenSpan(*span)

    def word_to_chars(self, batch_or_word_index, word_index=None, sequence_index=0):
        row, index = self._split(batch_or_word_index, word_index)
        span = row.word_to_chars(index, sequence_index)
        return None if span is None else CharSpan(*span)


def _read_tokenizer_json(path):
    """The vocab and normalizer options of a tokenizer.json (what transformers 5's save_pretrained writes)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        model, normalizer = data["model"], data.get("normalizer") or {}
        vocab = model["vocab"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a tokenizer.json with a WordPiece vocab ({exc})") from None
    if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix", "##") != "##" \
            or not isinstance(vocab, dict):
        raise ValueError(f"{path}: the model is {model.get('type')!r}, not BERT's WordPiece with '##' pieces")
    if normalizer.get("type") != "BertNormalizer" or not normalizer.get("clean_text", True):
        raise ValueError(f"{path}: the normalizer is {normalizer.get('type')!r}; numpy_bert implements "
                         "BertNormalizer (with clean_text) only")
    options = {"do_lower_case": normalizer.get("lowercase", True), "strip_accents": normalizer.get("strip_accents"),
               "tokenize_chinese_chars": normalizer.get("handle_chinese_chars", True),
               "unk_token": model.get("unk_token", "[UNK]"),
               "max_input_chars_per_word": model.get("max_input_chars_per_word", 100)}
    return vocab, options


def _is_int(value):
    if type(value) is int:  # the common case, without the slow abstract-class check
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_id_list(ids):
    if _is_int(ids):
        return [int(ids)]
    if hasattr(ids, "tolist"):  # numpy array
        ids = ids.tolist()
        if isinstance(ids, int):
            return [ids]
    out = []
    for i in ids:
        if not _is_int(i):
            raise TypeError(f"token ids must be ints, got {type(i).__name__} ({i!r})")
        out.append(int(i))
    return out


def _padding_strategy(padding):
    if padding is False or padding is None or padding == "do_not_pad":
        return None
    if padding is True or padding == "longest":
        return "longest"
    if padding == "max_length":
        return "max_length"
    raise ValueError(f"padding must be False, True, 'longest' or 'max_length', got {padding!r}")


def _truncation_strategy(truncation, max_length, padding):
    if truncation is None:
        # HF: max_length without padding switches truncation on
        return "longest_first" if max_length is not None and padding is None else None
    if truncation is False or truncation == "do_not_truncate":
        return None
    if truncation is True or truncation == "longest_first":
        return "longest_first"
    if truncation in ("only_first", "only_second"):
        return truncation
    raise ValueError("truncation must be False, True, 'longest_first', 'only_first' or 'only_second', "
                     f"got {truncation!r}")


def _lengths_after_truncation_strategy(n_a, n_b, budget, strategy):
    """How many tokens of A (and B) to keep so that they fit in ``budget``, by HuggingFace's
    truncation strategies as the Rust tokenizers library applies them -> (keep_a, keep_b).

    "longest_first": the shorter sequence stays whole if it fits in half the budget, else both
    get half (the longer one, B on a tie, the odd token): (10, 8) in 7 -> (4, 3);
    "only_first" / "only_second": only that one is cut.
    ``n_b`` is None for a single text (and so is ``keep_b``). Not google's
    ``truncate_seq_pair`` rule of the pretraining data (``data._truncate_seq_pair_lengths``).
    """
    total = n_a + (n_b or 0)
    if total <= budget:
        return n_a, n_b
    if budget == 0:
        return 0, (0 if n_b is not None else None)
    if n_b is None:
        if strategy == "only_second":
            raise ValueError("truncation='only_second' needs a text_pair; use 'longest_first' for one text")
        return budget, None
    if strategy == "longest_first":
        # n1 the shorter: keep it whole if it fits in half, else both get half (the second the odd one)
        n1, n2 = (n_b, n_a) if n_a > n_b else (n_a, n_b)
        n2 = n1 if n1 > budget else max(n1, budget - n1)
        if n1 + n2 > budget:
            n1 = budget // 2
            n2 = n1 + budget % 2
        return (n2, n1) if n_a > n_b else (n1, n2)
    to_remove = total - budget
    which, length = ("first", n_a) if strategy == "only_first" else ("second", n_b)
    if length <= to_remove:
        raise ValueError(f"truncation={strategy!r}: the {which} sequence has {length} tokens, too few to remove "
                         f"the {to_remove} needed to fit max_length; use truncation='longest_first' or a "
                         "larger max_length")
    return (n_a - to_remove, n_b) if strategy == "only_first" else (n_a, n_b - to_remove)


def _window_ranges(n, size, stride, what):
    """The windows [start, stop) that cut ``n`` tokens to ``size``, as the fast tokenizer's
    ``Encoding.truncate`` cuts them: the first is what truncation keeps, each next one starts
    ``size - stride`` tokens later (so it repeats the previous window's last ``stride`` tokens),
    and the last one ends at ``n``. 10 tokens in windows of 4 with stride 1 ->
    ``[(0, 4), (3, 7), (6, 10)]``. ``size == 0`` keeps nothing and overflows all:
    ``[(0, 0), (0, n)]``. ``what`` names the sequence and its room in the error message.
    """
    if size >= n:
        return [(0, n)]
    if size == 0:
        return [(0, 0), (0, n)]
    if stride >= size:
        raise ValueError(f"stride={stride} must be smaller than the {size} tokens of {what} that fit in each "
                         "window (a window repeats the last `stride` tokens of the one before); use a smaller "
                         "stride or a larger max_length")
    windows = []
    for start in range(0, n, size - stride):
        windows.append((start, min(start + size, n)))
        if start + size >= n:
            break
    return windows


def _truncation_windows(n_a, n_b, budget, strategy, stride, max_length):
    """Token windows of A (and B) for one input -> list of (span_a, span_b), span_b None for one
    sequence. The first pair is what truncation keeps (``_lengths_after_truncation_strategy``);
    the rest are the overflowing windows in the fast tokenizer's order: with a pair where only
    one sequence is cut, that sequence's windows with the other whole; when both are cut
    (longest_first), (A0, B0), then each later A window with every B window, then A0 with the
    later B windows.
    """
    keep_a, keep_b = _lengths_after_truncation_strategy(n_a, n_b, budget, strategy)
    if n_b is None:
        return [(span, None) for span in _window_ranges(
            n_a, keep_a, stride, f"the text (max_length={max_length} less the special tokens)")]
    room = f"max_length={max_length} less the special tokens and {{}} tokens of the {{}} sequence"
    windows_a = _window_ranges(n_a, keep_a, stride, "the first sequence (" + room.format(keep_b, "second") + ")")
    windows_b = _window_ranges(n_b, keep_b, stride, "the second sequence (" + room.format(keep_a, "first") + ")")
    pairs = [(windows_a[0], windows_b[0])]
    for span_a in windows_a[1:]:
        pairs += [(span_a, span_b) for span_b in windows_b]
    pairs += [(windows_a[0], span_b) for span_b in windows_b[1:]]
    return pairs


def _examples(text, text_pair, is_split_into_words):
    """Check the inputs of ``BertTokenizer.__call__`` -> (batched, [(sequence A, sequence B or None), ...]).

    A sequence is a str, or with ``is_split_into_words`` a list of words. As in HF, one
    text's empty ``text_pair`` ("" or []) counts as no pair, and with ``is_split_into_words``
    a list of lists is a batch and a list of str is one text.
    """
    if is_split_into_words:
        def check(sequence, what):
            if not isinstance(sequence, (list, tuple)):
                raise TypeError(f"{what} must be a list of words with is_split_into_words=True, got "
                                f"{type(sequence).__name__}: pass ['Hello', 'world'] (or a batch of such lists)")
            for j, word in enumerate(sequence):
                _check_text(word, f"{what}[{j}]")
            return list(sequence)

        if not isinstance(text, (list, tuple)):
            check(text, "text")
        batched = len(text) > 0 and isinstance(text[0], (list, tuple))
    else:
        def check(sequence, what):
            _check_text(sequence, what)
            return sequence

        batched = isinstance(text, (list, tuple))
    if not batched:
        first = check(text, "text")
        if text_pair is None or (isinstance(text_pair, (str, list, tuple)) and len(text_pair) == 0):
            return False, [(first, None)]
        return False, [(first, check(text_pair, "text_pair"))]
    texts = [check(t, f"text[{i}]") for i, t in enumerate(text)]
    if not texts:
        raise ValueError("the batch of texts is empty: pass at least one string")
    if text_pair is None:
        return True, [(t, None) for t in texts]
    if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(texts):
        raise ValueError("with a batch of texts, text_pair must be a list of the same length "
                         f"({len(texts)}), got {type(text_pair).__name__}"
                         + (f" of length {len(text_pair)}" if isinstance(text_pair, (list, tuple)) else ""))
    return True, [(t, check(p, f"text_pair[{i}]")) for i, (t, p) in enumerate(zip(texts, text_pair))]


def _as_arrays(data):
    """The tokenizer's lists -> int64 arrays: (B, T) per key, offset_mapping (B, T, 2),
    overflow_to_sample_mapping (B,)."""
    import numpy as np

    lengths = {len(row) for row in data["input_ids"]}
    if len(lengths) > 1:
        raise ValueError("the texts encode to different lengths "
                         f"({min(lengths)} .. {max(lengths)} tokens): pass padding=True to get arrays")
    n_rows = len(data["input_ids"])
    arrays = {}
    for key, value in data.items():
        if key == "overflow_to_sample_mapping":
            arrays[key] = np.array(value, dtype=np.int64)  # (B,)
        elif key == "offset_mapping":
            arrays[key] = np.array(value, dtype=np.int64).reshape(n_rows, -1, 2)  # (B, T, 2)
        else:
            arrays[key] = np.array(value, dtype=np.int64).reshape(n_rows, -1)  # (B, T)
    return arrays
