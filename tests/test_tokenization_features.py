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
