"""Property tests (hypothesis): any Unicode string tokenizes; ids in range; offsets sane."""

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install -e .[test]")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from numpy_bert.tokenization import BasicTokenizer, BertTokenizer  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402

VOCAB = FIXTURES / "tokenizer" / "vocab-own.txt"
TOKENIZERS = {lower: BertTokenizer(VOCAB, do_lower_case=lower) for lower in (True, False)}

# every code point, surrogates included, plus the characters that need care
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=60)
tricky = st.lists(st.sampled_from(list("aZé\u0301 \t\r\n\x0b\x85\u2028\xa0\u200b\u200d\x00\ufffd\u4e2d.,[]#")
                                 + ["[MASK]", "[SEP]", "[mask]", "\U0001F468\u200d\U0001F469", "\u0130", "\u03a3",
                                    "x" * 101, "\ud800"]), max_size=30).map("".join)
texts = st.one_of(any_text, tricky, st.lists(tricky, max_size=8).map("".join))

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=texts, lower=st.booleans())
def test_any_text_tokenizes(text, lower):
    tok = TOKENIZERS[lower]
    enc = tok(text, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert len(offsets) == len(ids) == len(enc["token_type_ids"]) == len(enc["attention_mask"])
    inner = offsets[1:-1]
    for start, end in inner:
        assert 0 <= start < end <= len(text)
    # ordered: each token starts no earlier than the previous one
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(inner, inner[1:]))
    # no token covers whitespace at its edges
    for start, end in inner:
        assert not text[start].isspace() or text[start] in "\x0b\x0c\x1c\x1d\x1e\x1f\x85"
    assert tok.tokenize(text) == tok.convert_ids_to_tokens(ids[1:-1])
    assert isinstance(tok.decode(ids), str)


@SETTINGS
@given(text=texts)
def test_tokenize_is_chunk_independent(text):
    """Tokenizing word by word gives the same pieces as the whole text (the cache is sound)."""
    tok = TOKENIZERS[True]
    pieces = []
    for word, start, end in BasicTokenizer(True, never_split=tok.special_tokens).split(text):
        pieces += [p for p, _, _ in tok.wordpiece_tokenizer.split_word(word)] if word not in tok.special_tokens \
            else [word]
    assert tok.tokenize(text) == pieces


@SETTINGS
@given(a=texts, b=texts, max_length=st.integers(3, 40),
       strategy=st.sampled_from([True, "longest_first", "only_first", "only_second"]))
def test_pair_truncation_fits(a, b, max_length, strategy):
    if b == "":
        b = "x"  # one text's empty text_pair is no pair at all (as in HF); covered in test_tokenization_features
    tok = TOKENIZERS[False]
    try:
        enc = tok(a, b, truncation=strategy, max_length=max_length, padding="max_length")
    except ValueError as exc:  # only_first / only_second on a sequence too short to give enough up
        assert strategy.startswith("only_") and "too few" in str(exc)
        return
    assert len(enc["input_ids"]) == max_length
    assert enc["input_ids"].count(tok.sep_token_id) >= 2
    n = enc["attention_mask"].count(1)
    types = enc["token_type_ids"]
    assert types[:n] == sorted(types[:n]) and types[n - 1] == 1 and set(types[n:]) <= {0}
    assert enc["input_ids"][n - 1] == tok.sep_token_id and set(enc["input_ids"][n:]) <= {tok.pad_token_id}
