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
import os
import unicodedata
from pathlib import Path

import regex

from numpy_bert.utils import atomic_write

__all__ = [
    "BasicTokenizer",
    "WordpieceTokenizer",
    "BertTokenizer",
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
        """One whitespace-free chunk -> (ids, spans relative to the chunk), cached."""
        result = self._cache.get(chunk)
        if result is None:
            ids, spans = [], []
            vocab = self.vocab
            if chunk in self.basic_tokenizer._never_split:
                ids.append(vocab[chunk])
                spans.append((0, len(chunk)))
            else:
                for word, positions in self.basic_tokenizer.split_chunk(chunk):
                    for piece, start, end in self.wordpiece_tokenizer.split_word(word):
                        ids.append(vocab[piece])
                        spans.append((positions[start], positions[end - 1] + 1))
            result = (tuple(ids), tuple(spans))
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[chunk] = result
        return result

    def _encode_text(self, text, with_offsets=False):
        """Text -> (ids, offsets or None), no special tokens added."""
        ids = []
        cache = self._cache
        encode_chunk = self._encode_chunk
        if not with_offsets:
            for chunk in self.basic_tokenizer._chunk_re.findall(text):
                hit = cache.get(chunk)
                ids.extend((hit or encode_chunk(chunk))[0])
            return ids, None
        offsets = []
        for match in self.basic_tokenizer._chunk_re.finditer(text):
            chunk_ids, spans = encode_chunk(match.group())
            start = match.start()
            ids.extend(chunk_ids)
            offsets.extend((start + a, start + b) for a, b in spans)
        return ids, offsets

    def tokenize(self, text):
        """Text -> word pieces: ``"UNwant\\u00e9d,running"`` -> ``["un", "##want", "##ed", ",", "runn", "##ing"]``."""
        _check_text(text)
        ids, _ = self._encode_text(text)
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
        """Text (and optional pair) -> list of ids: ``encode("hi", "there")`` -> ``[101, 7632, 102, 2045, 102]``."""
        _check_text(text)
        if text_pair is not None:
            _check_text(text_pair, "text_pair")
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                    max_length=max_length)["input_ids"]

    def __call__(self, text, text_pair=None, padding=False, truncation=None, max_length=None,
                 return_tensors=None, return_offsets_mapping=False, add_special_tokens=True):
        """Encode one text (or pair) or a batch, as HuggingFace does.

        ``text``: a str or a list of str; ``text_pair``: the same kind, or None.
        ``padding``: False (none), True or "longest" (to the longest in the batch),
        "max_length" (to ``max_length``). ``truncation``: False, True or
        "longest_first" (take tokens from the longer sequence; when both are too long
        they end up sharing ``max_length`` equally, the longer, B on a tie, getting the odd one),
        "only_first", "only_second"; None means "longest_first" when ``max_length`` is
        given without padding, as in HF. Special tokens count towards ``max_length``.
        ``return_tensors="np"`` returns int64 arrays of shape (B, T) (B = 1 for one text);
        otherwise lists (nested for a batch). ``return_offsets_mapping`` adds
        "offset_mapping": (start, end) character spans into the original text.
        """
        batched = isinstance(text, (list, tuple))
        if batched:
            texts = list(text)
            if not texts:
                raise ValueError("the batch of texts is empty: pass at least one string")
            for i, t in enumerate(texts):
                _check_text(t, f"text[{i}]")
            if text_pair is None:
                pairs = None
            else:
                if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(texts):
                    raise ValueError("with a batch of texts, text_pair must be a list of the same length "
                                     f"({len(texts)}), got {type(text_pair).__name__}")
                pairs = list(text_pair)
                for i, t in enumerate(pairs):
                    _check_text(t, f"text_pair[{i}]")
        else:
            _check_text(text)
            texts = [text]
            if text_pair is not None:
                _check_text(text_pair, "text_pair")
            pairs = None if text_pair is None else [text_pair]
        padding = _padding_strategy(padding)
        truncation = _truncation_strategy(truncation, max_length, padding)
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be None or 'np' (numpy_bert has no {return_tensors!r} tensors)")
        if max_length is not None and (not _is_int(max_length) or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")
        if truncation and max_length is None:
            max_length = self.model_max_length
        if padding == "max_length" and max_length is None:
            max_length = self.model_max_length
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length (this tokenizer has no model_max_length)")
        n_special = (3 if pairs is not None else 2) if add_special_tokens else 0
        if truncation and max_length is not None and max_length < n_special:
            raise ValueError(f"max_length={max_length} is smaller than the {n_special} special tokens "
                             f"{'[CLS] A [SEP] B [SEP]' if pairs is not None else '[CLS] A [SEP]'} needs; "
                             f"use max_length >= {n_special}")

        rows = []
        for i, t in enumerate(texts):
            ids_a, off_a = self._encode_text(t, return_offsets_mapping)
            ids_b = off_b = None
            if pairs is not None:
                ids_b, off_b = self._encode_text(pairs[i], return_offsets_mapping)
            if truncation and max_length is not None:
                budget = max_length - n_special
                keep_a, keep_b = _lengths_after_truncation_strategy(
                    len(ids_a), None if ids_b is None else len(ids_b), budget, truncation)
                ids_a = ids_a[:keep_a]
                off_a = off_a[:keep_a] if off_a is not None else None
                if ids_b is not None:
                    ids_b = ids_b[:keep_b]
                    off_b = off_b[:keep_b] if off_b is not None else None
            if add_special_tokens:
                ids = self.build_inputs_with_special_tokens(ids_a, ids_b)
                types = [0] * (len(ids_a) + 2) + ([1] * (len(ids_b) + 1) if ids_b is not None else [])
                offsets = None
                if return_offsets_mapping:
                    offsets = [(0, 0)] + off_a + [(0, 0)] + (off_b + [(0, 0)] if ids_b is not None else [])
            else:
                ids = ids_a + (ids_b or [])
                types = [0] * len(ids_a) + [1] * len(ids_b or [])
                offsets = (off_a + (off_b or [])) if return_offsets_mapping else None
            rows.append((ids, types, offsets))

        if padding == "longest":
            target = max(len(r[0]) for r in rows)
        elif padding == "max_length":
            target = max_length
        else:
            target = 0
        out = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        if return_offsets_mapping:
            out["offset_mapping"] = []
        for ids, types, offsets in rows:
            n_pad = max(0, target - len(ids))
            out["input_ids"].append(ids + [self.pad_token_id] * n_pad)
            out["token_type_ids"].append(types + [0] * n_pad)
            out["attention_mask"].append([1] * len(ids) + [0] * n_pad)
            if return_offsets_mapping:
                out["offset_mapping"].append(offsets + [(0, 0)] * n_pad)
        if return_tensors == "np":
            import numpy as np

            lengths = {len(row) for row in out["input_ids"]}
            if len(lengths) > 1:
                raise ValueError("the texts encode to different lengths "
                                 f"({min(lengths)} .. {max(lengths)} tokens): pass padding=True to get arrays")
            arrays = {key: np.array(value, dtype=np.int64).reshape(len(rows), -1)  # (B, T)
                      for key, value in out.items() if key != "offset_mapping"}
            if return_offsets_mapping:
                arrays["offset_mapping"] = np.array(out["offset_mapping"], dtype=np.int64).reshape(len(rows), -1, 2)
            return arrays  # offset_mapping (B, T, 2)
        if not batched:
            out = {key: value[0] for key, value in out.items()}
        return out

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

    def batch_decode(self, sequences, skip_special_tokens=False):
        return [self.decode(ids, skip_special_tokens) for ids in sequences]

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
    import numbers

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
