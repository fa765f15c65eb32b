"""Tests written for mutants that survived the mutation run (docs/mutation.md), grouped by module.

Each test pins a behaviour that a surviving mutant changed and no other test checked: its name
says the behaviour, the comment above it the mutant(s) it was written for.
"""

import json

import numpy as np
import pytest

from numpy_bert import tokenization
from numpy_bert.tokenization import BasicTokenizer, BertTokenizer, VocabFileNotFoundError

# ======================================================================================
# tokenization
# ======================================================================================

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##ed", "run", "##ning", "a", "abcde",
         "<cls>", "<mask>"]


def write_vocab(path, tokens=VOCAB):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


@pytest.fixture
def tok(tmp_path):
    return BertTokenizer(write_vocab(tmp_path / "vocab.txt"))


# _extra_lower: the range's end, the offset into the target range, "lo-hi" parsing. The table
# is built once at import, so only a direct call sees a changed function.
def test_extra_lower_table_maps_whole_ranges_onto_their_targets():
    table = tokenization._extra_lower()
    assert table["\u1C89"] == "\u1C8A" and table["\uA7CB"] == "\u0264"  # single code points
    # Garay 10D50-10D65 -> 10D70..., Kirat Rai 16EA0-16EB8 -> 16EBB...: both ends, one past the end
    assert table["\U00010D50"] == "\U00010D70" and table["\U00010D65"] == "\U00010D85"
    assert table["\U00016EA0"] == "\U00016EBB" and table["\U00016EB8"] == "\U00016ED3"
    assert "\U00010D66" not in table and "\U00016EB9" not in table
    assert len(table) == 8 + 0x16 + 0x19
    assert BasicTokenizer().tokenize("\U00010D51\U00016EA1") == ["\U00010D71\U00016EBC"]


def tokenizer_json(tmp_path, **model):
    data = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "vocab": {t: i for i, t in enumerate(VOCAB)}, **model},
            "normalizer": {"type": "BertNormalizer", "lowercase": True, "clean_text": True}}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


# _read_tokenizer_json: max_input_chars_per_word taken from the file; the refusal names the type
def test_tokenizer_json_max_input_chars_per_word_is_read(tmp_path):
    tok = BertTokenizer.from_pretrained(tokenizer_json(tmp_path, max_input_chars_per_word=4))
    assert tok.tokenize("a abcde") == ["a", "[UNK]"]  # 5 characters > 4
    assert BertTokenizer.from_pretrained(tokenizer_json(tmp_path)).tokenize("a abcde") == ["a", "abcde"]


def test_tokenizer_json_of_another_model_names_its_type(tmp_path):
    with pytest.raises(ValueError, match="the model is 'BPE', not BERT's WordPiece"):
        BertTokenizer.from_pretrained(tokenizer_json(tmp_path, type="BPE"))


# convert_tokens_to_ids: a list with an unknown token gives the [UNK] id, not None
def test_unknown_tokens_in_a_list_are_the_unk_id(tok):
    assert tok.convert_tokens_to_ids(["want", "nope", "run"]) == [5, 1, 7]


# encode: the message names text_pair
def test_encode_names_a_text_pair_that_is_not_a_str(tok):
    with pytest.raises(TypeError, match="^text_pair must be a str, got int"):
        tok.encode("want", 3)


# from_pretrained: the message says what a model directory needs
def test_directory_without_vocab_says_what_it_needs(tmp_path):
    with pytest.raises(VocabFileNotFoundError,
                       match=r"needs its vocab.txt \(one token per line\) or a tokenizer.json"):
        BertTokenizer.from_pretrained(tmp_path)


SPECIAL = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "<cls>",
           "mask_token": "<mask>"}


# from_pretrained: every special token of tokenizer_config.json is read (mask_token included)
def test_every_special_token_of_tokenizer_config_is_read(tmp_path):
    write_vocab(tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {**SPECIAL, "mask_token": {"content": "<mask>", "lstrip": True}}), encoding="utf-8")
    tok = BertTokenizer.from_pretrained(tmp_path)
    assert {key: getattr(tok, key) for key in SPECIAL} == SPECIAL
    assert tok.mask_token_id == 12 and tok.cls_token_id == 11


# save_pretrained: every key of tokenizer_config.json, the file as transformers writes it
def test_save_pretrained_writes_every_option_and_special_token(tmp_path):
    tok = BertTokenizer(write_vocab(tmp_path / "vocab.txt"), do_lower_case=False, strip_accents=True,
                        tokenize_chinese_chars=False, cls_token="<cls>", mask_token="<mask>",
                        model_max_length=64)
    _, config_path = tok.save_pretrained(tmp_path / "out")
    text = (tmp_path / "out" / "tokenizer_config.json").read_text(encoding="utf-8")
    expected = {"tokenizer_class": "BertTokenizer", "do_lower_case": False, "strip_accents": True,
                "tokenize_chinese_chars": False, **SPECIAL, "clean_up_tokenization_spaces": False,
                "model_max_length": 64}
    assert json.loads(text) == expected
    assert text == json.dumps(expected, indent=2) + "\n"  # indented, one key a line
    again = BertTokenizer.from_pretrained(tmp_path / "out")
    assert (again.strip_accents, again.do_lower_case, again.cls_token) == (True, False, "<cls>")


# Encoding._token: index 0 and -len are the first token; len is past the end
def test_token_indices_at_both_ends(tok):
    enc = tok("want run", add_special_tokens=False)
    assert enc.tokens() == ["want", "run"]
    assert enc.token_to_word(0) == 0 and enc.token_to_word(-2) == 0 and enc.token_to_word(-1) == 1
    assert enc.token_to_word(2) is None and enc.token_to_word(-3) is None
    assert enc.token_to_chars(0) == (0, 4) and enc.token_to_chars(2) is None


# convert_tokens_to_string: each piece's cleanup, 's 've 're n't 'm and punctuation
def test_pieces_lose_the_space_before_contractions_and_punctuation(tok):
    pieces = ["it", "'s", "we", "'ve", "they", "'re", "do", "n't", "i", "'m", "hi", "!", "no", "?",
              "a", ",", "b", "."]
    assert tok.convert_tokens_to_string(pieces) == "it's we've they're don't i'm hi! no? a, b."


# decode(clean_up_tokenization_spaces=True): " 's" joined over the whole string ("'" then "##s")
def test_clean_up_tokenization_spaces_joins_a_split_apostrophe_s(tmp_path):
    tok = BertTokenizer(write_vocab(tmp_path / "vocab.txt", VOCAB + ["it", "'", "##s", "##m", "##ve"]))
    ids = tok.convert_tokens_to_ids(["it", "'", "##s", "i", "'", "##m", "want", "'", "##ve"])
    assert tok.decode(ids) == "it 's [UNK] 'm want 've"
    assert tok.decode(ids, clean_up_tokenization_spaces=True) == "it's [UNK]'m want've"


# _lengths_after_truncation_strategy: the message names the sequence that is too short
def test_only_second_names_the_second_sequence_when_it_is_too_short(tok):
    with pytest.raises(ValueError, match="the second sequence has 1 tokens, too few to remove the 3 needed"):
        tok("want want want want", "run", max_length=5, truncation="only_second")


# _truncation_windows: the stride message says how much room each sequence had
def test_stride_too_large_for_a_pair_says_the_room_of_each_sequence(tok):
    with pytest.raises(ValueError, match=r"stride=3 must be smaller than the 3 tokens of the first sequence "
                                         r"\(max_length=8 less the special tokens and 2 tokens of the second "
                                         r"sequence\)"):
        tok("a a a a a", "want want", max_length=8, truncation="longest_first", stride=3,
            return_overflowing_tokens=True)


# num_special_tokens_to_add and CharSpan's repr had no test at all
def test_number_of_special_tokens_and_charspan_repr(tok):
    assert (tok.num_special_tokens_to_add(), tok.num_special_tokens_to_add(pair=True)) == (2, 3)
    assert repr(tok("want run").token_to_chars(2)) == "CharSpan(start=5, end=8)"


# ======================================================================================
# layers
# ======================================================================================

from numpy_bert import layers  # noqa: E402


# additive_attention_mask: the message says which values are allowed and what they mean
def test_attention_mask_of_other_values_says_what_0_and_1_mean():
    with pytest.raises(ValueError, match=r"must hold only 0 \(padding\) and 1 \(real token\)$"):
        layers.additive_attention_mask(np.array([[1, 2]]))


# dropout_forward: the draw is 32 bits per unit (dtype uint32), as its docstring says; so a
# seed keeps the same units whatever the dtype of x, and across numpy_bert versions
def test_dropout_keeps_the_units_whose_32_bit_draw_is_at_least_p_2_32():
    p, shape = 0.3, (3, 5, 7)
    bits = np.random.default_rng(11).integers(0, 2 ** 32, size=shape, dtype=np.uint32)
    expected = bits >= int(np.ceil(p * 2 ** 32))
    for dtype in (np.float32, np.float64):
        out, (mask, scale) = layers.dropout_forward(np.ones(shape, dtype), p, np.random.default_rng(11), True)
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(out, np.where(expected, dtype(1 / (1 - p)), 0))
