"""The tokenizer's BatchEncoding (word_ids, sequence_ids, the mapping methods), the special
tokens mask, is_split_into_words, and overflowing windows with a stride, on tiny inline vocabs.

The equality with transformers' fast BertTokenizer on the corpus and on long SQuAD-shaped
contexts is in test_tokenization_corpus.py (committed fixtures) and
tests/reference/test_tokenizer_live.py (live).
"""

import json
import random
import re

import numpy as np
import pytest

from numpy_bert.tokenization import BatchEncoding, BertTokenizer, Encoding, _window_ranges

# letters a..l are words; "un ##want ##ed" and "new york" as in google's tests
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##want", "##ed", "runn", "##ing", ",", "?", "'",
         "new", "york", "is", "who", "don", "t"] + list("abcdefghijkl")


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    return BertTokenizer(path)


def ids(tok, text):
    return tok.convert_tokens_to_ids(text.split())


# -- BatchEncoding -------------------------------------------------------------------------

def test_batch_encoding_is_a_dict(tok):
    enc = tok("unwanted running")
    assert isinstance(enc, BatchEncoding) and isinstance(enc, dict)
    assert list(enc) == ["input_ids", "token_type_ids", "attention_mask"]
    assert enc["input_ids"] == enc.input_ids == [2] + ids(tok, "un ##want ##ed runn ##ing") + [3]
    assert json.loads(json.dumps(enc)) == dict(enc)
    assert isinstance(enc[0], Encoding) and enc[0].ids == enc["input_ids"]
    assert enc.n_sequences == 1 and tok("a", "b").n_sequences == 2 and enc.is_fast
    with pytest.raises(AttributeError):
        enc.no_such_key
    batch = tok(["a b", "c"], padding=True)
    assert batch[0:1] == {key: value[0:1] for key, value in batch.items()}


def test_word_ids_and_sequence_ids(tok):
    enc = tok("unwanted, don't", "new york")
    assert enc.tokens() == ["[CLS]", "un", "##want", "##ed", ",", "don", "'", "t", "[SEP]", "new", "york", "[SEP]"]
    assert enc.word_ids() == [None, 0, 0, 0, 1, 2, 3, 4, None, 0, 1, None]
    assert enc.sequence_ids() == [None, 0, 0, 0, 0, 0, 0, 0, None, 1, 1, None]
    # a never-split token in the text is one word, and a word like any other (not "special")
    enc = tok("a [MASK]b", return_special_tokens_mask=True)
    assert enc.word_ids() == [None, 0, 1, 2, None]
    assert enc["special_tokens_mask"] == [1, 0, 0, 0, 1]


def test_word_ids_need_no_offsets(tok):
    texts = ["unwanted,running x", "a [MASK] b", "who is new york?"]
    plain = tok(texts, padding=True)
    with_offsets = tok(texts, padding=True, return_offsets_mapping=True)
    for i in range(len(texts)):
        assert plain.word_ids(i) == with_offsets.word_ids(i)
        assert plain.sequence_ids(i) == with_offsets.sequence_ids(i)
        assert plain.char_to_token(i, 3) == with_offsets.char_to_token(i, 3)


def test_padding_and_special_tokens_mask(tok):
    enc = tok(["a b c", "d"], ["e", "f g"], padding=True, return_special_tokens_mask=True)
    assert enc["input_ids"][1] == [2] + ids(tok, "d") + [3] + ids(tok, "f g") + [3, 0]
    assert enc["special_tokens_mask"] == [[1, 0, 0, 0, 1, 0, 1], [1, 0, 1, 0, 0, 1, 1]]
    assert enc["token_type_ids"][1] == [0, 0, 0, 1, 1, 1, 0]
    assert enc.word_ids(1) == [None, 0, None, 0, 1, None, None]
    assert enc.sequence_ids(1) == [None, 0, None, 1, 1, None, None]
    enc = tok("a b", "c", add_special_tokens=False, return_special_tokens_mask=True, padding="max_length",
              max_length=5)
    assert enc["special_tokens_mask"] == [0, 0, 0, 1, 1]  # padding counts as special
    assert enc.sequence_ids() == [0, 0, 1, None, None]


def test_numpy_tensors(tok):
    enc = tok(["a b c", "d"], padding=True, return_tensors="np", return_special_tokens_mask=True,
              return_offsets_mapping=True)
    assert enc["special_tokens_mask"].shape == (2, 5) and enc["special_tokens_mask"].dtype == np.int64
    assert enc["offset_mapping"].shape == (2, 5, 2)
    assert enc.word_ids(1) == [None, 0, None, None, None]


def test_mapping_methods(tok):
    text, pair = "who is unwanted", "new york"
    enc = tok(text, pair, return_offsets_mapping=True)
    # [CLS] who is un ##want ##ed [SEP] new york [SEP]
    assert enc.token_to_word(4) == 2 and enc.token_to_word(0) is None and enc.token_to_word(99) is None
    assert enc.token_to_word(-2) == 1  # counted from the end: "york"
    assert enc.token_to_sequence(7) == 1 and enc.token_to_sequence(6) is None
    assert enc.token_to_chars(4) == (9, 13) and enc.token_to_chars(4).start == 9
    assert enc.token_to_chars(6) is None
    for char, token in [(0, 1), (3, None), (4, 2), (6, None), (7, 3), (8, 3), (9, 4), (12, 4), (14, 5), (15, None)]:
        assert enc.char_to_token(char) == token, char
    assert enc.char_to_token(0, sequence_index=1) == 7 and enc.char_to_token(4, sequence_index=1) == 8
    assert enc.char_to_word(10) == 2 and enc.char_to_word(3) is None
    assert enc.word_to_tokens(2) == (3, 6) and enc.word_to_tokens(1, sequence_index=1) == (8, 9)
    assert enc.word_to_tokens(3) is None
    assert enc.word_to_chars(2) == (7, 15)
    # one text: a sequence_index it does not have searches every token, as tokenizers does
    assert tok("who is").char_to_token(0, sequence_index=1) == 1
    with pytest.raises(ValueError, match="non-negative"):
        enc.char_to_token(-1)
    batch = tok(["a b", "c"], ["d", "e f"], padding=True)
    assert batch.token_to_word(1, 4) == 1 and batch.char_to_token(1, 2, sequence_index=1) == 4
    with pytest.raises(IndexError, match="2 row"):
        batch.word_ids(2)


# -- is_split_into_words --------------------------------------------------------------------

def test_split_into_words(tok):
    enc = tok(["unwanted", "new york", "", "a,"], is_split_into_words=True, return_offsets_mapping=True)
    assert enc.tokens() == ["[CLS]", "un", "##want", "##ed", "new", "york", "a", ",", "[SEP]"]
    assert enc.word_ids() == [None, 0, 0, 0, 1, 1, 3, 3, None]  # word 2 is empty: no tokens
    # offsets into each word, as the fast tokenizer reports them
    assert enc["offset_mapping"] == [(0, 0), (0, 2), (2, 6), (6, 8), (0, 3), (4, 8), (0, 1), (1, 2), (0, 0)]
    assert enc.word_to_tokens(1) == (4, 6)
    batch = tok([["who", "is"], ["a"]], [["b", "c"], ["d"]], is_split_into_words=True, padding=True)
    assert batch.word_ids(0) == [None, 0, 1, None, 0, 1, None]
    assert batch.word_ids(1) == [None, 0, None, 0, None, None, None]
    assert batch.sequence_ids(1) == [None, 0, None, 1, None, None, None]
    # a list of words is one text; a tuple too; an empty list is an empty text
    assert tok(("a", "b"), is_split_into_words=True)["input_ids"] == [2] + ids(tok, "a b") + [3]
    assert tok([], is_split_into_words=True)["input_ids"] == [2, 3]


def test_split_into_words_agrees_with_text(tok):
    words = "who is unwanted , new york ?".split()
    split = tok(words, is_split_into_words=True)
    text = tok(" ".join(words))
    assert split["input_ids"] == text["input_ids"] and split.word_ids() == text.word_ids()


def test_split_into_words_bad_input(tok):
    with pytest.raises(TypeError, match="list of words"):
        tok("who is", is_split_into_words=True)
    with pytest.raises(TypeError, match=r"text\[1\] must be a str"):
        tok(["a", 3], is_split_into_words=True)
    with pytest.raises(TypeError, match="list of words"):
        tok([["a"]], ["b"], is_split_into_words=True)


def test_empty_pair_of_one_text_is_no_pair(tok):
    # as in HF: tok(text, "") encodes text alone; in a batch an empty pair is kept
    assert tok("a", "")["input_ids"] == tok("a")["input_ids"]
    assert tok(["a"], [""])["input_ids"] == [[2, ids(tok, "a")[0], 3, 3]]
    assert tok(["a"], [], is_split_into_words=True)["input_ids"] == tok("a")["input_ids"]


# -- overflowing windows --------------------------------------------------------------------

def test_window_ranges():
    assert _window_ranges(10, 4, 1, "x") == [(0, 4), (3, 7), (6, 10)]
    assert _window_ranges(10, 4, 0, "x") == [(0, 4), (4, 8), (8, 10)]
    assert _window_ranges(9, 4, 2, "x") == [(0, 4), (2, 6), (4, 8), (6, 9)]
    assert _window_ranges(3, 4, 3, "x") == [(0, 3)]  # fits: no window check
    assert _window_ranges(3, 0, 0, "x") == [(0, 0), (0, 3)]  # room for nothing: all of it overflows
    assert _window_ranges(0, 0, 0, "x") == [(0, 0)]
    with pytest.raises(ValueError, match="stride=4 must be smaller than the 4 tokens of x"):
        _window_ranges(10, 4, 4, "x")


def test_window_ranges_properties():
    rng = random.Random(0)
    for _ in range(2000):
        n, size = rng.randint(0, 60), rng.randint(1, 20)
        stride = rng.randint(0, size - 1)
        windows = _window_ranges(n, size, stride, "x")
        assert windows[0][0] == 0 and windows[-1][1] == n
        assert all(0 < stop - start <= size for start, stop in windows) or n == 0
        for (s0, e0), (s1, e1) in zip(windows, windows[1:]):
            assert e0 - s1 == stride and s1 == s0 + size - stride  # each repeats `stride` of the last
        assert len(windows) == 1 or all(stop - start == size for start, stop in windows[:-1])


def test_one_text_in_windows(tok):
    enc = tok("a b c d e f g h i j", truncation=True, max_length=6, stride=1, return_overflowing_tokens=True,
              return_offsets_mapping=True, return_special_tokens_mask=True)
    letters = [[tok.convert_ids_to_tokens(i) for i in row[1:-1]] for row in enc["input_ids"]]
    assert letters == [list("abcd"), list("defg"), list("ghij")]
    assert enc["overflow_to_sample_mapping"] == [0, 0, 0]
    assert enc.word_ids(1) == [None, 3, 4, 5, 6, None]
    assert enc["offset_mapping"][2] == [(0, 0), (12, 13), (14, 15), (16, 17), (18, 19), (0, 0)]
    assert enc["special_tokens_mask"][2] == [1, 0, 0, 0, 0, 1]
    # a text that fits is one window, still in a batch
    one = tok("a b", truncation=True, max_length=6, stride=1, return_overflowing_tokens=True)
    assert one["input_ids"] == [[2] + ids(tok, "a b") + [3]] and one["overflow_to_sample_mapping"] == [0]
    # without return_overflowing_tokens the stride changes nothing
    assert tok("a b c d e f g h i j", max_length=6, stride=1)["input_ids"] == enc["input_ids"][0]


def test_question_answering_windows(tok):
    question, context = "who is", "a b c d e f g h i j k l"
    enc = tok([question, "a"], [context, "b"], truncation="only_second", max_length=10, stride=2,
              return_overflowing_tokens=True, padding="max_length", return_offsets_mapping=True,
              return_tensors="np")
    # [CLS] who is [SEP] + 5 context tokens + [SEP]: windows of 5 that repeat 2
    assert enc["input_ids"].shape == (5, 10) and enc["offset_mapping"].shape == (5, 10, 2)
    assert enc["overflow_to_sample_mapping"].tolist() == [0, 0, 0, 0, 1]
    starts = []
    for row in range(4):
        assert enc["input_ids"][row, :4].tolist() == [2] + ids(tok, "who is") + [3]
        context_words = [w for w, s in zip(enc.word_ids(row), enc.sequence_ids(row)) if s == 1]
        starts.append(context_words[0])
        assert context_words == list(range(context_words[0], context_words[0] + len(context_words)))
    assert starts == [0, 3, 6, 9]
    assert enc.word_ids(3) == [None, 0, 1, None, 9, 10, 11, None, None, None]  # padded
    assert enc["attention_mask"][3].tolist() == [1] * 8 + [0] * 2
    assert enc["input_ids"][4].tolist() == [2] + ids(tok, "a") + [3] + ids(tok, "b") + [3] + [0] * 5
    # the answer's characters map to tokens in the windows that hold them
    k = context.index("k")
    assert [enc.char_to_token(row, k, sequence_index=1) for row in range(4)] == [None, None, 8, 5]


def test_only_first_and_longest_first_windows(tok):
    enc = tok("a b c d e f g", "k l", truncation="only_first", max_length=8, stride=1,
              return_overflowing_tokens=True)
    assert [tok.decode(row) for row in enc["input_ids"]] == [
        "[CLS] a b c [SEP] k l [SEP]", "[CLS] c d e [SEP] k l [SEP]", "[CLS] e f g [SEP] k l [SEP]"]
    # both cut: every combination, in the fast tokenizer's order (A0 B0), (A1 B*), ..., (A0 B1..)
    enc = tok("a b c d", "e f g h i", truncation="longest_first", max_length=7, stride=0,
              return_overflowing_tokens=True)
    assert [tok.decode(row)[6:-6] for row in enc["input_ids"]] == [
        "a b [SEP] e f", "c d [SEP] e f", "c d [SEP] g h", "c d [SEP] i", "a b [SEP] g h", "a b [SEP] i"]
    # room for no text at all: everything overflows, as the fast tokenizer does
    enc = tok("a b", truncation=True, max_length=2, return_overflowing_tokens=True)
    assert enc["input_ids"] == [[2, 3], [2] + ids(tok, "a b") + [3]]


def test_padding_longest_follows_the_first_windows(tok):
    enc = tok(["a b c d e f", "g"], truncation=True, max_length=5, stride=1, return_overflowing_tokens=True,
              padding=True)
    # a b c | c d e | e f, then g: all padded to the first window's 5 tokens
    assert enc["overflow_to_sample_mapping"] == [0, 0, 0, 1]
    assert [sum(mask) for mask in enc["attention_mask"]] == [5, 5, 4, 3]
    assert {len(row) for row in enc["input_ids"]} == {5}
    # the later windows of an input are never cut to the padding length: with room for no
    # text, the first window is [CLS] [SEP] and the overflowing one is longer
    enc = tok(["a b c"], truncation=True, max_length=2, return_overflowing_tokens=True, padding=True)
    assert [len(row) for row in enc["input_ids"]] == [2, 5]


def test_window_errors(tok):
    context = "a b c d e f g h i j"
    # the fast tokenizer's check: stride > max_length - 2, whatever the text
    with pytest.raises(ValueError, match="stride=5 is larger than max_length=6 minus the 2 special tokens"):
        tok("a", truncation=True, max_length=6, stride=5)
    # a window that holds no more than the stride
    with pytest.raises(ValueError, match="stride=4 must be smaller than the 3 tokens of the second sequence"):
        tok("who is", context, truncation="only_second", max_length=8, stride=4, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="needs a text_pair"):
        tok(context, truncation="only_second", max_length=8, stride=1, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="too few"):
        tok(context, "who", truncation="only_second", max_length=8, stride=1, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="stride must be a non-negative int"):
        tok(context, truncation=True, max_length=8, stride=-1)
    with pytest.raises(ValueError, match="padding=True"):
        tok(context, truncation=True, max_length=8, stride=1, return_overflowing_tokens=True, return_tensors="np")


def test_windows_properties(tok):
    """Random texts, pairs and settings: every window fits, the cut sequence's windows are its
    consecutive slices repeating `stride` tokens, the other sequence is whole, the mapping counts."""
    rng = random.Random(1)
    letters = list("abcdefghijkl")
    checked = 0
    for _ in range(300):
        n_texts = rng.randint(1, 3)
        texts = [" ".join(rng.choices(letters, k=rng.randint(0, 30))) for _ in range(n_texts)]
        pairs = [" ".join(rng.choices(letters, k=rng.randint(1, 6))) for _ in range(n_texts)]
        max_length, strategy = rng.randint(8, 20), rng.choice(["only_first", "longest_first"])
        stride = rng.randint(0, 2)
        try:
            enc = tok(texts, pairs, truncation=strategy, max_length=max_length, stride=stride,
                      return_overflowing_tokens=True, return_offsets_mapping=True)
        except ValueError as exc:  # a sequence left a window no larger than the stride
            room = re.match(r"stride=\d+ must be smaller than the (\d+) tokens", str(exc))
            assert (room and int(room.group(1)) <= stride) or "too few" in str(exc), exc
            continue
        checked += 1
        mapping = enc["overflow_to_sample_mapping"]
        assert mapping == sorted(mapping) and set(mapping) == set(range(n_texts))
        for i in range(n_texts):
            rows = [r for r, m in enumerate(mapping) if m == i]
            full_a = tok(texts[i], add_special_tokens=False, return_offsets_mapping=True)
            full_b = tok(pairs[i], add_special_tokens=False)["input_ids"]
            windows = []
            for r in rows:
                row_ids, seq = enc["input_ids"][r], enc.sequence_ids(r)
                assert len(row_ids) <= max_length
                a = [t for t, s in zip(row_ids, seq) if s == 0]
                b = [t for t, s in zip(row_ids, seq) if s == 1]
                words = [w for w, s in zip(enc.word_ids(r), seq) if s == 0]
                offsets = [o for o, s in zip(enc["offset_mapping"][r], seq) if s == 0]
                start = words[0] if words else 0  # one letter = one word = one token here
                assert a == full_a["input_ids"][start:start + len(a)]
                assert offsets == full_a["offset_mapping"][start:start + len(a)]
                windows.append((start, start + len(a), tuple(b)))
            if strategy == "only_first" or len(full_b) <= (max_length - 3) // 2:
                assert {w[2] for w in windows} == {tuple(full_b)}  # B whole in every window
                spans = [w[:2] for w in windows]
                assert spans[0][0] == 0 and spans[-1][1] == len(full_a["input_ids"])
                for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
                    assert e0 - s1 == stride
    assert checked > 150, checked


# -- found by the full mutation run of tokenization, second part ---------------------------

from numpy_bert.tokenization import (BasicTokenizer, VocabFileNotFoundError, WordpieceTokenizer,  # noqa: E402
                                     _lengths_after_truncation_strategy, load_vocab)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _dict_vocab(tokens):
    return {t: i for i, t in enumerate(SPECIALS + list(tokens))}


def _vocab_file(tmp_path, tokens, name="vocab.txt"):
    path = tmp_path / name
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


def test_bert_tokenizer_max_input_chars_per_word_default_is_100():
    """BertTokenizer's default max_input_chars_per_word is 100, as in HF: 101 characters are [UNK]."""
    tok = BertTokenizer(_dict_vocab(["a", "##a"]))
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]


def test_bert_tokenizer_from_a_dict_has_no_vocab_file():
    """A tokenizer built from a dict has vocab_file None."""
    assert BertTokenizer(_dict_vocab([])).vocab_file is None


def test_bert_tokenizer_dict_vocab_errors():
    """A dict vocab without the unk token, or with ids that are not 0..n-1, raises with its message."""
    with pytest.raises(ValueError) as info:
        BertTokenizer({"[PAD]": 0, "a": 1})
    assert str(info.value) == "the vocab has no [UNK] token; add one"
    vocab = _dict_vocab([])
    vocab["[MASK]"] = 7
    with pytest.raises(ValueError) as info:
        BertTokenizer(vocab)
    assert str(info.value) == "vocab ids must be 0 .. len(vocab) - 1, each used once"


def test_bert_tokenizer_custom_unk_token_in_a_vocab_file(tmp_path):
    """unk_token is passed to load_vocab: a vocab file with <unk> and no [UNK] loads with unk_token='<unk>'."""
    path = _vocab_file(tmp_path, ["[PAD]", "<unk>", "[CLS]", "[SEP]", "[MASK]", "a"])
    tok = BertTokenizer(path, unk_token="<unk>")
    assert tok.unk_token_id == 1
    assert tok.tokenize("a b") == ["a", "<unk>"]


def test_bert_tokenizer_flag_attributes():
    """do_lower_case and tokenize_chinese_chars default to True and are kept as attributes."""
    tok = BertTokenizer(_dict_vocab([]))
    assert tok.do_lower_case is True and tok.tokenize_chinese_chars is True
    tok = BertTokenizer(_dict_vocab([]), do_lower_case=False, tokenize_chinese_chars=False)
    assert tok.do_lower_case is False and tok.tokenize_chinese_chars is False


def test_bert_tokenizer_model_max_length_no_limit():
    """model_max_length above 1e12 (HF's int(1e30) "no limit") becomes None; up to 1e12 it is kept."""
    assert BertTokenizer(_dict_vocab([]), model_max_length=int(1e30)).model_max_length is None
    assert BertTokenizer(_dict_vocab([]), model_max_length=10 ** 12 + 1).model_max_length is None
    assert BertTokenizer(_dict_vocab([]), model_max_length=10 ** 12).model_max_length == 10 ** 12
    assert BertTokenizer(_dict_vocab([]), model_max_length=512).model_max_length == 512


def test_bert_tokenizer_missing_special_token_message(tmp_path):
    """A special token missing from the vocab raises naming the token (and the file, when there is one)."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"]
    path = _vocab_file(tmp_path, tokens)
    with pytest.raises(ValueError) as info:
        BertTokenizer(path)
    assert str(info.value) == (f"special token [MASK] is not in the vocab {path}; every BERT vocab "
                               "needs [PAD], [UNK], [CLS], [SEP] and [MASK]")
    with pytest.raises(ValueError) as info:
        BertTokenizer({t: i for i, t in enumerate(tokens)})
    assert str(info.value) == ("special token [MASK] is not in the vocab; every BERT vocab "
                               "needs [PAD], [UNK], [CLS], [SEP] and [MASK]")


def test_bert_tokenizer_tokenize_chinese_chars_false():
    """tokenize_chinese_chars=False keeps CJK ideographs joined in one word (here [UNK])."""
    vocab = _dict_vocab(["是", "模"])
    assert BertTokenizer(vocab).tokenize("是模") == ["是", "模"]
    assert BertTokenizer(vocab, tokenize_chinese_chars=False).tokenize("是模") == ["[UNK]"]


def test_basic_tokenizer_strip_accents_attribute():
    """BasicTokenizer keeps strip_accents as given (None by default)."""
    assert BasicTokenizer().strip_accents is None
    assert BasicTokenizer(strip_accents=False).strip_accents is False
    assert BasicTokenizer(strip_accents=True).strip_accents is True


def test_basic_tokenizer_never_split_longest_first():
    """Of two never-split tokens where one starts the other, the longer one is matched."""
    basic = BasicTokenizer(never_split=["[A]", "[A]B"])
    assert basic.tokenize("x [A]B y [A]") == ["x", "[A]B", "y", "[A]"]
    basic = BasicTokenizer(never_split=["[A]B", "[A]"])
    assert basic.tokenize("x [A]B y [A]") == ["x", "[A]B", "y", "[A]"]


def test_basic_tokenizer_one_character_never_split():
    """A one-character never-split token works."""
    assert BasicTokenizer(never_split=["$"]).tokenize("a $ b$") == ["a", "$", "b", "$"]


def test_basic_tokenizer_no_never_split_keeps_every_letter():
    """Without never-split tokens every character of a word is kept (no letter is a chunk boundary)."""
    assert BasicTokenizer().tokenize("BOX XX xylophone") == ["box", "xx", "xylophone"]
    assert BasicTokenizer(do_lower_case=False).split("XyX None") == [("XyX", 0, 3), ("None", 4, 8)]


def test_basic_tokenizer_never_split_starting_with_a_letter():
    """Never-split tokens that start with a letter are kept whole, also inside a run of characters."""
    basic = BasicTokenizer(never_split=["MASK", "SEP"])
    assert basic.tokenize("x MASK y None aMASKb SEPc") == ["x", "MASK", "y", "none", "a", "MASK", "b", "SEP", "c"]


def test_wordpiece_max_input_chars_per_word_default_is_100():
    """WordpieceTokenizer's default max_input_chars_per_word is 100: a 101-character word is [UNK]."""
    wp = WordpieceTokenizer({"a": 0, "##a": 1})
    assert wp.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert wp.tokenize("a" * 101) == ["[UNK]"]


def test_wordpiece_empty_vocab():
    """With an empty vocab every word is [UNK]."""
    assert WordpieceTokenizer({}).tokenize("ab c") == ["[UNK]", "[UNK]"]


def test_wordpiece_longest_piece_is_a_continuation():
    """A continuation piece longer than every word-start piece is still found ("##" not counted)."""
    wp = WordpieceTokenizer({"a": 0, "##bcd": 1})
    assert wp.tokenize("abcd") == ["a", "##bcd"]


def test_load_vocab_missing_file_message(tmp_path):
    """A missing vocab file raises VocabFileNotFoundError with the whole message."""
    path = str(tmp_path / "nope.txt")
    with pytest.raises(VocabFileNotFoundError) as info:
        load_vocab(path)
    assert str(info.value) == (f"vocab file {path!r} not found: pass the path of a vocab.txt (one token per line) "
                               "or a model directory that contains one")


def test_load_vocab_without_final_newline(tmp_path):
    """The last line of a vocab file counts also without a newline after it."""
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"a\n[UNK]")
    assert load_vocab(path) == {"a": 0, "[UNK]": 1}


def test_load_vocab_line_error_messages(tmp_path):
    """Invalid UTF-8, an empty line and a token with whitespace raise naming file and line, whole messages."""
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[UNK]\n\xff\n")
    with pytest.raises(ValueError) as info:
        load_vocab(path)
    assert str(info.value) == (f"{path}, line 2: not valid UTF-8 (invalid start byte); "
                               "a vocab file is UTF-8 text with one token per line")
    path.write_bytes(b"[UNK]\n\na\n")
    with pytest.raises(ValueError) as info:
        load_vocab(path)
    assert str(info.value) == (f"{path}, line 2: empty line; a vocab file has one token per line "
                               "and no blank lines")
    path.write_bytes(b"[UNK]\r\na\r\n")
    with pytest.raises(ValueError) as info:
        load_vocab(path)
    assert str(info.value) == (f"{path}, line 1: token '[UNK]\\r' contains whitespace "
                               "(Windows line endings?); a token can never contain whitespace")


def test_no_truncation_by_default_even_with_model_max_length():
    """truncation=None without max_length does not truncate, even when model_max_length is set (HF)."""
    tok = BertTokenizer(_dict_vocab(list("abcdef")), model_max_length=5)
    assert len(tok("a b c d e f")["input_ids"]) == 8
    assert len(tok("a b c", "d e f")["input_ids"]) == 9


def test_max_length_with_padding_max_length_does_not_truncate():
    """padding='max_length' with max_length and truncation=None pads but does not truncate (HF)."""
    tok = BertTokenizer(_dict_vocab(list("abcdef")))
    assert len(tok("a b c d e f", padding="max_length", max_length=5)["input_ids"]) == 8
    assert tok("a b", padding="max_length", max_length=5)["input_ids"] == [2, 5, 6, 3, 0]


def test_max_length_alone_truncates_longest_first(tok):
    """max_length without padding and truncation=None truncates longest_first, pairs shared equally."""
    enc = tok("a b c d", "e f g h", max_length=7)
    assert enc["input_ids"] == [2] + ids(tok, "a b") + [3] + ids(tok, "e f") + [3]
    assert tok("a b c d", max_length=4)["input_ids"] == [2] + ids(tok, "a b") + [3]


def test_do_not_truncate_strategy(tok):
    """truncation='do_not_truncate' keeps everything, also with max_length."""
    enc = tok("a b c d", "e f", truncation="do_not_truncate", max_length=4)
    assert enc["input_ids"] == [2] + ids(tok, "a b c d") + [3] + ids(tok, "e f") + [3]


def test_bad_truncation_message(tok):
    """An unknown truncation value raises with the whole message."""
    with pytest.raises(ValueError) as info:
        tok("a", truncation="sideways")
    assert str(info.value) == ("truncation must be False, True, 'longest_first', 'only_first' or 'only_second', "
                               "got 'sideways'")


def test_lengths_after_truncation_strategy_edges():
    """Budget 0 for one text keeps (0, None); what fits exactly is kept, whatever the strategy."""
    assert _lengths_after_truncation_strategy(5, None, 0, "longest_first") == (0, None)
    assert _lengths_after_truncation_strategy(5, 3, 0, "longest_first") == (0, 0)
    assert _lengths_after_truncation_strategy(4, 0, 4, "only_second") == (4, 0)
    assert _lengths_after_truncation_strategy(0, 3, 3, "only_first") == (0, 3)
    assert _lengths_after_truncation_strategy(10, 8, 7, "longest_first") == (4, 3)


def test_only_second_single_text_that_fits(tok):
    """truncation='only_second' on one text that fits is no error; one that does not fit is."""
    assert tok("a b", truncation="only_second", max_length=4)["input_ids"] == [2] + ids(tok, "a b") + [3]
    with pytest.raises(ValueError) as info:
        tok("a b c", truncation="only_second", max_length=4)
    assert str(info.value) == "truncation='only_second' needs a text_pair; use 'longest_first' for one text"


def test_only_first_too_short_message(tok):
    """only_first when the first sequence is too short to cut raises with the whole message."""
    with pytest.raises(ValueError) as info:
        tok("a b", "c d", truncation="only_first", max_length=5)
    assert str(info.value) == ("truncation='only_first': the first sequence has 2 tokens, too few to remove "
                               "the 2 needed to fit max_length; use truncation='longest_first' or a "
                               "larger max_length")


def test_do_not_pad_strategy(tok):
    """padding='do_not_pad' is no padding (HF's PaddingStrategy.DO_NOT_PAD)."""
    enc = tok(["a", "a b c"], padding="do_not_pad")
    assert [len(row) for row in enc["input_ids"]] == [3, 5]


def test_max_length_must_be_non_negative(tok):
    """A negative max_length raises with the whole message; max_length=0 without special tokens keeps nothing."""
    with pytest.raises(ValueError) as info:
        tok("a", max_length=-1)
    assert str(info.value) == "max_length must be a non-negative int, got -1"
    assert tok("a b", max_length=0, add_special_tokens=False)["input_ids"] == []
    assert tok("a b", max_length=1, add_special_tokens=False)["input_ids"] == ids(tok, "a")


def test_max_length_defaults_to_model_max_length():
    """truncation=True and padding='max_length' without max_length use model_max_length (HF)."""
    tok = BertTokenizer(_dict_vocab(list("abcdef")), model_max_length=4)
    assert tok("a b c d", truncation=True)["input_ids"] == [2, 5, 6, 3]
    assert tok("a", padding="max_length")["input_ids"] == [2, 5, 3, 0]


def test_padding_max_length_needs_a_max_length():
    """padding='max_length' with no max_length and no model_max_length raises with the whole message."""
    tok = BertTokenizer(_dict_vocab(list("ab")))
    with pytest.raises(ValueError) as info:
        tok("a", padding="max_length")
    assert str(info.value) == "padding='max_length' needs max_length (this tokenizer has no model_max_length)"


def test_max_length_below_the_special_tokens_message(tok):
    """max_length smaller than the special tokens raises, naming the layout, whole messages."""
    with pytest.raises(ValueError) as info:
        tok("a", "b", truncation=True, max_length=2)
    assert str(info.value) == ("max_length=2 is smaller than the 3 special tokens [CLS] A [SEP] B [SEP] needs; "
                               "use max_length >= 3")
    with pytest.raises(ValueError) as info:
        tok("a", truncation=True, max_length=1)
    assert str(info.value) == "max_length=1 is smaller than the 2 special tokens [CLS] A [SEP] needs; use max_length >= 2"


def test_stride_larger_than_room_message(tok):
    """A stride above max_length - 2 raises with the whole message, also for max_length=2."""
    with pytest.raises(ValueError) as info:
        tok("a b c d e f g h", truncation=True, max_length=6, stride=5, return_overflowing_tokens=True)
    assert str(info.value) == ("stride=5 is larger than max_length=6 minus the 2 special tokens of one text (4): "
                               "a window would repeat more tokens than it holds; use a smaller stride or a "
                               "larger max_length")
    with pytest.raises(ValueError, match=r"stride=1 is larger than max_length=2 minus the 2 special tokens of one "
                                         r"text \(0\)"):
        tok("a b c", truncation=True, max_length=2, stride=1, return_overflowing_tokens=True)


_WINDOW_TAIL = (" that fit in each window (a window repeats the last `stride` tokens of the one before); "
                "use a smaller stride or a larger max_length")


def test_window_stride_messages(tok):
    """A stride as large as a window raises naming the sequence and its room, whole messages."""
    with pytest.raises(ValueError) as info:
        _window_ranges(10, 4, 4, "x")
    assert str(info.value) == "stride=4 must be smaller than the 4 tokens of x" + _WINDOW_TAIL
    with pytest.raises(ValueError) as info:
        tok("a b c d e f", truncation=True, max_length=5, stride=3, return_overflowing_tokens=True)
    assert str(info.value) == ("stride=3 must be smaller than the 3 tokens of the text (max_length=5 less the "
                               "special tokens)" + _WINDOW_TAIL)
    with pytest.raises(ValueError) as info:
        tok("a b", "c d e f g h", truncation="only_second", max_length=8, stride=3, return_overflowing_tokens=True)
    assert str(info.value) == ("stride=3 must be smaller than the 3 tokens of the second sequence (max_length=8 "
                               "less the special tokens and 2 tokens of the first sequence)" + _WINDOW_TAIL)


def test_batch_encoding_bad_key_message(tok):
    """Indexing a BatchEncoding with something else than a key, row or slice raises KeyError, whole message."""
    with pytest.raises(KeyError) as info:
        tok("a")[1.5]
    assert info.value.args[0] == ("1.5: index a BatchEncoding with a key such as 'input_ids', a row number "
                                  "(that row's Encoding) or a slice")


def test_encoding_len_counts_padding(tok):
    """len() of a padded row's Encoding counts the padding."""
    enc = tok(["a", "a b c"], padding=True)
    assert len(enc[0]) == len(enc[1]) == 5
