"""Tokenizer unit tests: google-research/bert's test vectors, each stage, bad input.

The comparisons with transformers on a 23,000-line corpus are in
test_tokenization_corpus.py; property tests in test_tokenization_properties.py.
"""

import json
import unicodedata
import warnings

import numpy as np
import pytest

from numpy_bert.config import BertConfig
from numpy_bert.tokenization import (_SPACES, BasicTokenizer, BatchEncoding, BertTokenizer, VocabFileNotFoundError,
                                     WordpieceTokenizer, _check_text, _extra_lower, _in_table, check_vocab_size,
                                     is_control, is_punctuation, is_whitespace, load_vocab)
from numpy_bert.tokenization import write_vocab as save_vocab

# google-research/bert tokenization_test.py's vocab; [PAD] and [MASK] appended (numpy_bert's
# BertTokenizer needs all five special tokens), which leaves the ids of the test unchanged.
GOOGLE_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",",
                "[PAD]", "[MASK]"]


def write_lines(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


@pytest.fixture
def google_tok(tmp_path):
    return BertTokenizer(write_lines(tmp_path / "vocab.txt", GOOGLE_VOCAB))


# -- google-research/bert tokenization_test.py ----------------------------------------------

def test_full_tokenizer(google_tok):
    tokens = google_tok.tokenize("UNwant\u00E9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert google_tok.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]


def test_chinese():
    assert BasicTokenizer().tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]


def test_basic_tokenizer_lower():
    tok = BasicTokenizer(do_lower_case=True)
    assert tok.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert tok.tokenize("H\u00E9llo") == ["hello"]


def test_basic_tokenizer_no_lower():
    tok = BasicTokenizer(do_lower_case=False)
    assert tok.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]


def test_wordpiece_tokenizer():
    vocab = {t: i for i, t in enumerate(GOOGLE_VOCAB[:10])}
    tok = WordpieceTokenizer(vocab)
    assert tok.tokenize("") == []
    assert tok.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tok.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_convert_tokens_to_ids(google_tok):
    assert google_tok.convert_tokens_to_ids(["un", "##want", "##ed", "runn", "##ing"]) == [7, 4, 5, 8, 9]
    assert google_tok.convert_tokens_to_ids("never-seen") == 0  # [UNK]
    assert google_tok.convert_ids_to_tokens([7, 4, 5]) == ["un", "##want", "##ed"]
    assert google_tok.convert_ids_to_tokens(8) == "runn"


def test_is_whitespace():
    for char in [" ", "\t", "\r", "\n", "\u00A0"]:
        assert is_whitespace(char), repr(char)
    for char in ["A", "-"]:
        assert not is_whitespace(char), repr(char)


def test_is_control():
    assert is_control("\u0005")
    for char in ["A", " ", "\t", "\r", "\U0001F4A9"]:
        assert not is_control(char), repr(char)


def test_is_punctuation():
    for char in ["-", "$", "`", "."]:
        assert is_punctuation(char), repr(char)
    for char in ["A", " "]:
        assert not is_punctuation(char), repr(char)


# -- each stage, with the Rust tokenizer's behaviour where the legacy one differs ----------

def test_cleaning_and_whitespace():
    tok = BasicTokenizer(do_lower_case=False)
    # \x0b, \x0c and \x85 are control characters first (deleted, joining the words around
    # them); U+2028 and NBSP are whitespace; U+200B (a format character) is deleted
    assert tok.tokenize("a\x0bb c\x85d e\u2028f g\xa0h i\u200bj k\x00l m\ufffdn") == \
        ["ab", "cd", "e", "f", "g", "h", "ij", "kl", "mn"]
    assert tok.split("ab\u200bcd x") == [("abcd", 0, 5), ("x", 6, 7)]


def test_strip_accents_semantics():
    text = "H\u00e9llo W\u00f6rld"
    assert BasicTokenizer(do_lower_case=True).tokenize(text) == ["hello", "world"]
    assert BasicTokenizer(do_lower_case=True, strip_accents=False).tokenize(text) == ["h\u00e9llo", "w\u00f6rld"]
    assert BasicTokenizer(do_lower_case=False).tokenize(text) == ["H\u00e9llo", "W\u00f6rld"]
    assert BasicTokenizer(do_lower_case=False, strip_accents=True).tokenize(text) == ["Hello", "World"]
    # NFD then marks dropped: an already decomposed e + U+0301 gives the same word
    assert BasicTokenizer().tokenize("e\u0301t\u00e9") == ["ete"]


def test_lowercase_is_per_character():
    # no final sigma (the Rust library lower-cases character by character); İ -> i + U+0307
    assert BasicTokenizer().tokenize("\u039f\u0394\u039f\u03a3") == ["\u03bf\u03b4\u03bf\u03c3"]
    assert BasicTokenizer(strip_accents=False).tokenize("\u0130") == ["i\u0307"]
    assert BasicTokenizer().tokenize("\u0130") == ["i"]


def test_punctuation_split_includes_ascii_symbols():
    assert BasicTokenizer().tokenize("a$b+c^d`e|f~g") == ["a", "$", "b", "+", "c", "^", "d", "`", "e", "|", "f",
                                                         "~", "g"]
    # U+037E GREEK QUESTION MARK becomes ';' under NFD, and is punctuation either way
    assert BasicTokenizer().tokenize("a\u037eb") == ["a", ";", "b"]


def test_cjk_characters_are_words():
    assert BasicTokenizer().tokenize("BERT\u662f\u6a21\u578b") == ["bert", "\u662f", "\u6a21", "\u578b"]
    assert BasicTokenizer(tokenize_chinese_chars=False).tokenize("BERT\u662f\u6a21\u578b") == \
        ["bert\u662f\u6a21\u578b"]
    # kana are not in the CJK ranges: they stay joined (and lose their dakuten when accents are stripped)
    assert BasicTokenizer(do_lower_case=False).tokenize("\u3072\u3089\u304c\u306a") == ["\u3072\u3089\u304c\u306a"]
    assert BasicTokenizer().tokenize("\u3072\u3089\u304c\u306a") == ["\u3072\u3089\u304b\u306a"]


def test_wordpiece_long_word_is_unk():
    vocab = {"[UNK]": 0, "x": 1, "##x": 2}
    tok = WordpieceTokenizer(vocab, max_input_chars_per_word=100)
    assert tok.tokenize("x" * 100) == ["x"] + ["##x"] * 99
    assert tok.tokenize("x" * 101) == ["[UNK]"]
    assert tok.split_word("x" * 101) == [("[UNK]", 0, 101)]


def test_special_tokens_kept_whole(google_tok):
    assert google_tok.tokenize("want[MASK]un [SEP]") == ["want", "[MASK]", "un", "[SEP]"]
    # matched before lower-casing: [mask] is three words, not [MASK]
    assert google_tok.tokenize("[mask]") == ["[UNK]", "[UNK]", "[UNK]"]
    enc = google_tok("a [MASK]b", return_offsets_mapping=True)
    assert google_tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "[UNK]", "[MASK]", "[UNK]", "[SEP]"]
    assert enc["offset_mapping"] == [(0, 0), (0, 1), (2, 8), (8, 9), (0, 0)]


def test_pairs_and_tensors(google_tok):
    enc = google_tok("want", "running")
    assert enc["input_ids"] == [1, 3, 2, 8, 9, 2]
    assert enc["token_type_ids"] == [0, 0, 0, 1, 1, 1]
    assert enc["attention_mask"] == [1] * 6
    batch = google_tok(["want", "un running"], padding=True, return_tensors="np", return_offsets_mapping=True)
    assert batch["input_ids"].dtype == np.int64 and batch["input_ids"].shape == (2, 5)
    np.testing.assert_array_equal(batch["input_ids"], [[1, 3, 2, 11, 11], [1, 7, 8, 9, 2]])
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert batch["offset_mapping"].shape == (2, 5, 2)
    np.testing.assert_array_equal(batch["offset_mapping"][1], [[0, 0], [0, 2], [3, 7], [7, 10], [0, 0]])
    single = google_tok("want", return_tensors="np")
    assert single["input_ids"].shape == (1, 3)
    assert google_tok.encode("want", "un") == [1, 3, 2, 7, 2]
    assert google_tok.encode("want", add_special_tokens=False) == [3]


def test_decode(google_tok):
    ids = google_tok.encode("un wanted, running")
    assert google_tok.decode(ids) == "[CLS] un wanted, running [SEP]"
    assert google_tok.decode(ids, skip_special_tokens=True) == "un wanted, running"
    assert google_tok.decode(np.array(ids)) == "[CLS] un wanted, running [SEP]"
    with pytest.raises(ValueError, match="outside the vocab"):
        google_tok.decode([1, 999])


def test_save_and_load(tmp_path, google_tok):
    tok = BertTokenizer(write_lines(tmp_path / "v.txt", GOOGLE_VOCAB), do_lower_case=False, model_max_length=64)
    tok.save_pretrained(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] is False and config["model_max_length"] == 64
    again = BertTokenizer.from_pretrained(tmp_path / "model")
    assert again.do_lower_case is False and again.model_max_length == 64
    assert again.vocab == tok.vocab
    assert again.tokenize("UNwanted") == ["[UNK]"]  # cased: "UNwanted" has no pieces
    assert BertTokenizer.from_pretrained(tmp_path / "model", do_lower_case=True).tokenize("UNwanted") == \
        ["un", "##want", "##ed"]
    # a directory with only vocab.txt: the defaults (lower-case)
    (tmp_path / "bare").mkdir()
    write_lines(tmp_path / "bare" / "vocab.txt", GOOGLE_VOCAB)
    assert BertTokenizer.from_pretrained(tmp_path / "bare").tokenize("UNwanted") == ["un", "##want", "##ed"]


def test_special_ids(google_tok):
    assert (google_tok.cls_token_id, google_tok.sep_token_id, google_tok.pad_token_id,
            google_tok.mask_token_id, google_tok.unk_token_id) == (1, 2, 11, 12, 0)
    assert sorted(google_tok.all_special_ids) == [0, 1, 2, 11, 12]
    assert google_tok.vocab_size == len(GOOGLE_VOCAB)
    assert google_tok.cls_token == "[CLS]" and google_tok.mask_token == "[MASK]"


# -- truncation ---------------------------------------------------------------------------

def test_longest_first_shares_the_budget(google_tok):
    a, b = " ".join(["want"] * 10), " ".join(["un"] * 10)
    for max_length, (n_a, n_b) in {15: (6, 6), 16: (6, 7), 23: (10, 10), 8: (2, 3)}.items():
        ids = google_tok(a, b, truncation=True, max_length=max_length)["input_ids"]
        assert ids.count(3) == n_a and ids.count(7) == n_b, max_length
    # the longer one gives up tokens first; it keeps the odd one when it is the first
    ids = google_tok(" ".join(["want"] * 12), " ".join(["un"] * 3), truncation=True, max_length=10)["input_ids"]
    assert (ids.count(3), ids.count(7)) == (4, 3)
    ids = google_tok(" ".join(["want"] * 12), " ".join(["un"] * 10), truncation=True, max_length=16)["input_ids"]
    assert (ids.count(3), ids.count(7)) == (7, 6)


def test_only_first_only_second(google_tok):
    a, b = " ".join(["want"] * 6), " ".join(["un"] * 6)
    ids = google_tok(a, b, truncation="only_first", max_length=10)["input_ids"]
    assert (ids.count(3), ids.count(7)) == (1, 6)
    ids = google_tok(a, b, truncation="only_second", max_length=10)["input_ids"]
    assert (ids.count(3), ids.count(7)) == (6, 1)
    with pytest.raises(ValueError, match="too few"):
        google_tok(a, b, truncation="only_first", max_length=9)


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["nested", ["list"]]])
def test_non_str_text_is_type_error(google_tok, bad):
    with pytest.raises(TypeError, match="must be a str"):
        google_tok(bad)
    if not isinstance(bad, list):
        with pytest.raises(TypeError, match="must be a str"):
            google_tok.tokenize(bad)


def test_missing_vocab(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        BertTokenizer(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError):
        BertTokenizer.from_pretrained(tmp_path)  # no vocab.txt in it


@pytest.mark.parametrize("content, message", [
    (b"[UNK]\nfoo\n\nbar\n", r"line 3: empty line"),
    (b"[UNK]\nfoo\nfoo\n", r"line 3: token 'foo' already appears on line 2"),
    (b"foo\nbar\n", r"no \[UNK\] token"),
    (b"[UNK]\nf\xffo\n", r"line 2: not valid UTF-8"),
    (b"[UNK]\r\nfoo\r\n", r"line 1: token .* contains whitespace"),
    (b"", r"empty"),
])
def test_malformed_vocab(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        load_vocab(path)
    assert str(path) in str(info.value)


def test_vocab_without_mask(tmp_path):
    with pytest.raises(ValueError, match=r"\[MASK\] is not in the vocab"):
        BertTokenizer(write_lines(tmp_path / "v.txt", GOOGLE_VOCAB[:-1]))


def test_max_length_below_special_tokens(google_tok):
    with pytest.raises(ValueError, match="smaller than the 2 special tokens"):
        google_tok("want", truncation=True, max_length=1)
    with pytest.raises(ValueError, match="smaller than the 3 special tokens"):
        google_tok("want", "un", truncation=True, max_length=2)
    assert google_tok("want", truncation=True, max_length=2)["input_ids"] == [1, 2]


def test_other_bad_arguments(google_tok):
    with pytest.raises(ValueError, match="padding"):
        google_tok("want", padding="sideways")
    with pytest.raises(ValueError, match="truncation"):
        google_tok("want", truncation="middle")
    with pytest.raises(ValueError, match="return_tensors"):
        google_tok("want", return_tensors="pt")
    with pytest.raises(ValueError, match="padding=True"):
        google_tok(["want", "un running"], return_tensors="np")
    with pytest.raises(ValueError, match="same length"):
        google_tok(["want", "un"], ["x"])


# -- command line -------------------------------------------------------------------------

def test_cli_tokenize(tmp_path, capsys):
    from numpy_bert.cli import main

    vocab = write_lines(tmp_path / "vocab.txt", GOOGLE_VOCAB)
    assert main(["tokenize", "UNwant\u00e9d,running", "--pair", "want", "--vocab", str(vocab), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == ["[CLS]", "un", "##want", "##ed", ",", "runn", "##ing", "[SEP]", "want", "[SEP]"]
    assert out["input_ids"] == [1, 7, 4, 5, 10, 8, 9, 2, 3, 2]
    assert out["token_type_ids"] == [0] * 8 + [1, 1]
    assert out["offset_mapping"][1:4] == [[0, 2], [2, 6], [6, 8]]  # "ed" of "UNwant\u00e9d"
    assert main(["tokenize", "UNwanted", "--vocab", str(vocab)]) == 0
    table = capsys.readouterr().out
    assert "##want" in table and "(2, 6)" in table and "'want'" in table
    assert main(["tokenize", "x", "--vocab", str(tmp_path / "missing.txt")]) == 1
    assert "not found" in capsys.readouterr().err


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

MUT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##ed", "run", "##ning", "a", "abcde",
         "<cls>", "<mask>"]


def write_vocab(path, tokens=MUT_VOCAB):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


@pytest.fixture
def tok(tmp_path):
    return BertTokenizer(write_vocab(tmp_path / "vocab.txt"))


# _extra_lower: the range's end, the offset into the target range, "lo-hi" parsing. The table
# is built once at import, so only a direct call sees a changed function.
def test_extra_lower_table_maps_whole_ranges_onto_their_targets():
    table = _extra_lower()
    assert table["\u1C89"] == "\u1C8A" and table["\uA7CB"] == "\u0264"  # single code points
    # Garay 10D50-10D65 -> 10D70..., Kirat Rai 16EA0-16EB8 -> 16EBB...: both ends, one past the end
    assert table["\U00010D50"] == "\U00010D70" and table["\U00010D65"] == "\U00010D85"
    assert table["\U00016EA0"] == "\U00016EBB" and table["\U00016EB8"] == "\U00016ED3"
    assert "\U00010D66" not in table and "\U00016EB9" not in table
    assert len(table) == 8 + 0x16 + 0x19
    assert BasicTokenizer().tokenize("\U00010D51\U00016EA1") == ["\U00010D71\U00016EBC"]


def tokenizer_json(tmp_path, **model):
    data = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "vocab": {t: i for i, t in enumerate(MUT_VOCAB)}, **model},
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
    with pytest.raises(TypeError, match="^text_pair must be a str, got int: pass one string, or a list of strings$"):
        tok.encode("want", 3)


def test_encode_takes_an_empty_pair_as_no_pair_like_call(tok):
    """encode(text, "") and encode(text, []) are encode(text), as __call__ (and HF) take an empty pair as none."""
    assert tok.encode("want run", []) == tok.encode("want run", "") == tok.encode("want run") == tok.convert_tokens_to_ids(
        ["[CLS]", "want", "run", "[SEP]"])
    assert tok("want run", [])["input_ids"] == tok.encode("want run", [])


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
    tok = BertTokenizer(write_vocab(tmp_path / "vocab.txt", MUT_VOCAB + ["it", "'", "##s", "##m", "##ve"]))
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


# -- found by the full mutation run of tokenization: behaviours a surviving mutant of
# -- numpy_bert/tokenization.py changed and none of the tokenization test files checked

def test_in_table_of_the_spaces_is_the_whitespace_that_survives_cleaning():
    """_in_table(_SPACES) is True exactly for \\t \\n \\r and the Unicode separators Zs, Zl, Zp (BMP up to U+30FF)."""
    is_space = _in_table(_SPACES)  # the module's table is built at import: call _in_table itself
    for cp in range(0x3100):
        char = chr(cp)
        expected = char in "\t\n\r" or unicodedata.category(char) in ("Zs", "Zl", "Zp")
        assert is_space(char) is expected, hex(cp)


def test_check_vocab_size_refuses_more_tokens_than_embedding_rows(tok):
    """check_vocab_size: a vocab larger than config.vocab_size is a ValueError naming the file, both sizes and the ids."""
    with pytest.raises(ValueError) as info:
        check_vocab_size(tok, BertConfig(vocab_size=10))
    assert str(info.value) == (f"{tok.vocab_file} has 13 tokens but the model has vocab_size=10 (config.json): ids 10 "
                               "to 12 would have no row in its word embedding matrix; use the vocab.txt that belongs "
                               "to the model")
    with pytest.raises(ValueError, match="^the tokenizer's vocab has 13 tokens but the model m has vocab_size=12 "):
        check_vocab_size(BertTokenizer(dict(tok.vocab)), BertConfig(vocab_size=12), "the model m")


def test_check_vocab_size_accepts_an_exact_fit_and_warns_at_the_caller_about_unused_rows(tok):
    """check_vocab_size: vocab_size equal to the vocab is silent; a larger one is a UserWarning pointing at the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_vocab_size(tok, BertConfig(vocab_size=13))
    with pytest.warns(UserWarning) as record:
        check_vocab_size(tok, BertConfig(vocab_size=16))
    assert len(record) == 1
    assert str(record[0].message) == (
        f"{tok.vocab_file} has 13 tokens but the model has vocab_size=16 (config.json): the last 3 rows of its word "
        "embedding matrix are never used (transformers allows this, e.g. for a matrix padded for speed); is it the "
        "model's own vocab.txt?")


@pytest.mark.skipif(hasattr(check_vocab_size, "__wrapped__"),
                    reason="a wrapper around check_vocab_size (mutmut's trampolines) adds stack frames")
def test_check_vocab_size_warning_points_at_the_callers_line(tok):
    """The unused-rows warning is attributed to the line that called check_vocab_size (stacklevel=2)."""
    with pytest.warns(UserWarning) as record:
        check_vocab_size(tok, BertConfig(vocab_size=16))
    assert [w.filename for w in record] == [__file__]


def test_build_inputs_with_special_tokens(tok):
    """build_inputs_with_special_tokens: [CLS] A [SEP], and [CLS] A [SEP] B [SEP] for a pair, as HF's BertTokenizer."""
    assert tok.build_inputs_with_special_tokens([5, 7]) == [2, 5, 7, 3]
    assert tok.build_inputs_with_special_tokens((5,), [7, 9]) == [2, 5, 3, 7, 9, 3]


def test_get_vocab_is_a_copy_of_token_to_id(tok):
    """get_vocab() is the token -> id dict, a copy that can be changed without changing the tokenizer."""
    vocab = tok.get_vocab()
    assert vocab == {token: i for i, token in enumerate(MUT_VOCAB)}
    vocab["new"] = 13
    assert "new" not in tok.vocab


def test_token_span_repr_and_fields(tok):
    """word_to_tokens gives a TokenSpan: a (start, end) tuple with .start, .end and transformers' repr."""
    span = tok("want run").word_to_tokens(1)
    assert span == (2, 3) and (span.start, span.end) == (2, 3)
    assert repr(span) == "TokenSpan(start=2, end=3)"


def test_a_known_token_as_a_str_is_its_id(tok):
    """convert_tokens_to_ids of one known token (a str) is its id."""
    assert tok.convert_tokens_to_ids("want") == 5 and tok.convert_tokens_to_ids("##ning") == 8


def test_an_id_outside_the_vocab_names_the_valid_range(tok):
    """An id past the vocab is a ValueError saying the ids run from 0 to vocab_size - 1."""
    with pytest.raises(ValueError, match=r"^token id 13 is outside the vocab \(0 \.\. 12\)$"):
        tok.convert_ids_to_tokens(13)


def test_decode_takes_one_id_as_an_int_a_numpy_integer_or_a_0d_array(tok):
    """decode of a single id (int, numpy integer, 0-d array) is that token, as HF's decode."""
    assert tok.decode(5) == "want"
    assert tok.decode(np.int64(7)) == "run"
    assert tok.decode(np.array(9)) == "a"
    assert tok.decode(np.array([5, 6])) == "wanted"


def test_decode_of_an_id_that_is_not_an_int_names_it(tok):
    """decode refuses a non-int id with a TypeError naming its type and value."""
    with pytest.raises(TypeError, match=r"^token ids must be ints, got str \('5'\)$"):
        tok.decode([5, "5"])


def test_arrays_of_an_empty_encoding_are_int64(tok):
    """return_tensors="np" gives int64 arrays even for a row without tokens: (1, 0) ids, (1, 0, 2) offsets."""
    enc = tok("", add_special_tokens=False, return_tensors="np", return_offsets_mapping=True)
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert enc[key].dtype == np.int64 and enc[key].shape == (1, 0), key
    assert enc["offset_mapping"].dtype == np.int64 and enc["offset_mapping"].shape == (1, 0, 2)


def test_arrays_of_unequal_rows_say_to_pad(tok):
    """return_tensors="np" without padding, rows of different lengths: the message gives the lengths and the fix."""
    with pytest.raises(ValueError, match=r"^the texts encode to different lengths \(3 \.\. 4 tokens\): "
                                         r"pass padding=True to get arrays$"):
        tok(["want", "want run"], return_tensors="np")


def test_pieces_are_cleaned_one_by_one_as_the_wordpiece_decoder_does(tok):
    """convert_tokens_to_string applies the Rust decoder's clean-up to each piece: " do not" -> " don't", " ' " -> "'"."""
    # pieces with spaces inside come from a tokenizer.json vocab (vocab.txt cannot hold them)
    assert tok.convert_tokens_to_string(["i", "do not", "know", "' em"]) == "i don't know'em"


def test_split_spans_of_words_after_the_first_of_a_chunk():
    """BasicTokenizer.split: every word of a chunk gets its own span into the text (the docstring's example)."""
    assert BasicTokenizer().split("H\u00e9llo, w\u00f6rld") == [("hello", 0, 5), (",", 5, 6), ("world", 7, 12)]


def test_encode_passes_truncation_and_max_length_on(tok):
    """encode truncates with truncation=True and max_length, keeps every token with truncation=False, as HF's."""
    assert tok.encode("want run a", truncation=True, max_length=4) == [2, 5, 7, 3]
    assert tok.encode("want run a", truncation=False, max_length=4) == [2, 5, 7, 9, 3]


def test_batch_encoding_rows_by_negative_index_and_bad_indices(tok):
    """A row index counts from the end when negative (-len is row 0); past that, or not an int, is refused."""
    enc = tok(["want", "run a"])
    assert enc.tokens(-2) == enc.tokens(0) == ["[CLS]", "want", "[SEP]"]
    assert enc.tokens(-1) == ["[CLS]", "run", "a", "[SEP]"]
    with pytest.raises(IndexError, match=r"^batch_index -3 is out of range: this encoding has 2 row\(s\)$"):
        enc.tokens(-3)
    with pytest.raises(TypeError, match="^batch_index must be an int, got str$"):
        enc.tokens("0")


def test_batch_encoding_made_by_hand_has_no_rows():
    """A BatchEncoding built from a dict has no per-row encodings; asking for one says so."""
    enc = BatchEncoding({"input_ids": [[2, 3]]})
    with pytest.raises(ValueError, match=r"^this BatchEncoding has no per-row encodings "
                                         r"\(it was not made by the tokenizer\)$"):
        enc.word_ids(0)


def test_batch_encoding_attributes_are_its_keys_but_not_private_names():
    """enc.input_ids is enc["input_ids"]; a missing key is an AttributeError naming it; _names are never keys."""
    enc = BatchEncoding({"input_ids": [1], "_hidden": 2})
    assert enc.input_ids == [1]
    with pytest.raises(AttributeError, match=r"^BatchEncoding has no attribute or key 'labels'$"):
        enc.labels  # noqa: B018
    with pytest.raises(AttributeError, match="^_hidden$"):
        enc._hidden  # noqa: B018


def test_encoding_looks_in_sequence_a_unless_asked_for_b(tok):
    """Encoding's char/word mappings search sequence 0 (A) by default and B with sequence_index=1, as tokenizers'."""
    row = tok("want run", "a abcde")[0]  # [CLS] want run [SEP] a abcde [SEP]
    assert row.tokens == ["[CLS]", "want", "run", "[SEP]", "a", "abcde", "[SEP]"]
    assert (row.char_to_token(6), row.char_to_token(6, 1)) == (2, 5)
    assert (row.char_to_word(3), row.char_to_word(3, 1)) == (0, 1)
    assert (row.word_to_tokens(1), row.word_to_tokens(1, 1)) == ((2, 3), (5, 6))
    assert (row.word_to_chars(1), row.word_to_chars(1, 1)) == ((5, 8), (2, 7))
    assert (row.token_to_sequence(1), row.token_to_sequence(4), row.token_to_sequence(0)) == (0, 1, None)
    assert row.token_to_sequence(7) is None and row.token_to_sequence(-8) is None  # out of range


def test_a_sequence_the_row_lacks_searches_the_whole_row(tok):
    """sequence_index=1 on one text searches every token, special ones included (tokenizers' sequence_range)."""
    bare = tok("want run", add_special_tokens=False)
    assert bare.char_to_token(0, sequence_index=1) == 0
    enc = tok("want run")
    assert enc.word_to_tokens(0, sequence_index=1) == (1, 2)
    assert enc.word_to_chars(1, sequence_index=1) == (5, 8)


def test_batch_encoding_mappings_of_a_later_row(tok):
    """enc.f(row, index) answers for that row, and passes sequence_index on (a batch of pairs)."""
    enc = tok(["want", "run a"], ["a", "abcde run"])  # row 1: [CLS] run a [SEP] abcde run [SEP]
    assert enc.tokens(1) == ["[CLS]", "run", "a", "[SEP]", "abcde", "run", "[SEP]"]
    assert enc.token_to_sequence(1, 4) == 1
    assert enc.token_to_chars(1, 2) == (4, 5)
    assert enc.word_to_tokens(1, 1) == (2, 3)
    assert enc.word_to_chars(1, 1) == (4, 5)
    assert enc.word_to_chars(1, 1, sequence_index=1) == (6, 9)
    assert enc.word_to_chars(1, 5) is None
    assert enc.char_to_word(1, 4) == 1
    assert enc.char_to_word(1, 4, sequence_index=1) == 0


@pytest.mark.parametrize("tokens, message", [
    (["[UNK]", ""], r"^token 1 \(''\) cannot go in a vocab file: tokens are non-empty strings without whitespace$"),
    (["[UNK]", "a b"], r"^token 1 \('a b'\) cannot go in a vocab file: tokens are non-empty strings without "
                       r"whitespace$"),
    (["[UNK]", 7], r"^token 1 \(7\) cannot go in a vocab file"),
    (["[UNK]", "a", "b", "a"], r"^token 'a' is listed twice \(again at index 3\)$"),
])
def test_write_vocab_refuses_what_a_vocab_file_cannot_hold(tmp_path, tokens, message):
    """write_vocab refuses empty, whitespace and non-str tokens and duplicates, writing nothing."""
    path = tmp_path / "vocab.txt"
    with pytest.raises(ValueError, match=message):
        save_vocab(tokens, path)
    assert not path.exists()


def test_write_vocab_writes_utf8_that_load_vocab_reads_back(tmp_path):
    """write_vocab writes token i on line i + 1 as UTF-8; load_vocab reads the same ids back."""
    tokens = ["[UNK]", "caf\u00e9", "##\u4e2d", "\U0001F600"]
    save_vocab(tokens, tmp_path / "vocab.txt")
    assert (tmp_path / "vocab.txt").read_bytes() == "".join(t + "\n" for t in tokens).encode("utf-8")
    assert load_vocab(tmp_path / "vocab.txt") == {t: i for i, t in enumerate(tokens)}


def test_load_vocab_of_a_directory_says_what_to_pass(tmp_path):
    """load_vocab of a directory: IsADirectoryError saying to pass the vocab.txt or use from_pretrained."""
    with pytest.raises(IsADirectoryError) as info:
        load_vocab(tmp_path)
    assert str(info.value) == (f"vocab file {str(tmp_path)!r} is a directory, not a file: pass the path of a "
                               "vocab.txt (one token per line), or load a model directory with "
                               "BertTokenizer.from_pretrained")


# -- found by the full mutation run of tokenization, third batch: error messages of bad input,
# -- the bool/int distinction, Hangul under accent stripping, the caches, WordPiece's search

_STR_HINT = ": pass one string, or a list of strings$"


def test_text_that_is_not_a_str_is_refused_naming_the_argument(tok):
    """A non-str text or pair is a TypeError naming the argument (text, text_pair, text[i], text_pair[i]) and type."""
    with pytest.raises(TypeError, match="^text must be a str, got int" + _STR_HINT):
        tok.tokenize(3)
    with pytest.raises(TypeError, match="^text must be a str, got NoneType" + _STR_HINT):
        BasicTokenizer().split(None)
    with pytest.raises(TypeError, match="^text must be a str, got int" + _STR_HINT):
        tok(3)
    with pytest.raises(TypeError, match="^text_pair must be a str, got int" + _STR_HINT):
        tok("want", 3)
    with pytest.raises(TypeError, match=r"^text\[1\] must be a str, got int" + _STR_HINT):
        tok(["want", 3])
    with pytest.raises(TypeError, match=r"^text_pair\[1\] must be a str, got bytes" + _STR_HINT):
        tok(["want", "run"], ["a", b"a"])


def test_blank_text_is_refused_only_with_an_empty_hint():
    """_check_text(empty_hint=...) refuses blank text with "the {what} is empty; {hint}" and accepts other text."""
    with pytest.raises(ValueError, match="^the question is empty; ask something$"):
        _check_text(" \t", "question", empty_hint="ask something")
    assert _check_text("why?", "question", empty_hint="ask something") is None
    assert _check_text(" ") is None  # without a hint blank text is fine


def test_words_that_are_not_a_list_are_refused_naming_the_type(tok):
    """With is_split_into_words a str text is a TypeError saying a list of words is wanted, with an example."""
    with pytest.raises(TypeError, match=r"^text must be a list of words with is_split_into_words=True, got str: "
                                        r"pass \['Hello', 'world'\] \(or a batch of such lists\)$"):
        tok("want run", is_split_into_words=True)


def test_an_empty_batch_and_a_pair_list_of_another_length_are_refused(tok):
    """An empty batch, and a batch whose text_pair is not a list of its length, are ValueErrors saying what to pass."""
    with pytest.raises(ValueError, match="^the batch of texts is empty: pass at least one string$"):
        tok([])
    with pytest.raises(ValueError, match=r"^with a batch of texts, text_pair must be a list of the same length "
                                         r"\(2\), got list of length 1$"):
        tok(["want", "run"], ["a"])
    with pytest.raises(ValueError, match=r"^with a batch of texts, text_pair must be a list of the same length "
                                         r"\(2\), got str$"):
        tok(["want", "run"], "a abcde")


def test_bools_are_not_ints_but_numpy_integers_are(tok):
    """A bool is refused where an int is wanted (max_length, stride, token ids); a numpy integer is an int."""
    with pytest.raises(ValueError, match="^max_length must be a non-negative int, got True$"):
        tok("want", max_length=True)
    with pytest.raises(ValueError, match="^stride must be a non-negative int, got True$"):
        tok("want", stride=True)
    with pytest.raises(TypeError, match=r"^token ids must be ints, got bool \(True\)$"):
        tok.decode([5, True])
    assert tok.convert_ids_to_tokens(np.int64(5)) == "want"  # one id gives one token, not a list
    assert tok("want run a", truncation=True, max_length=np.int64(3))["input_ids"] == [2, 5, 3]


def test_accent_stripping_splits_hangul_syllables_into_jamo():
    """NFD splits a Hangul syllable into its jamo, which stay one word (HF's BERT does the same), lower-cased or not."""
    jamo = "\u1112\u1161\u11ab"  # U+D55C HANGUL SYLLABLE HAN
    assert BasicTokenizer().normalize_char("\ud55c") == tuple((c, False) for c in jamo)
    assert BasicTokenizer().tokenize("\ud55c\uad6d") == [jamo + "\u1100\u116e\u11a8"]
    assert BasicTokenizer(do_lower_case=False, strip_accents=True).tokenize("\ud55c") == [jamo]
    assert BasicTokenizer(strip_accents=False).tokenize("\ud55c") == ["\ud55c"]


def test_each_distinct_character_is_normalized_once():
    """BasicTokenizer caches normalize_char: a character seen before is not normalized again."""
    basic = BasicTokenizer()
    seen = []
    normalize = basic._normalize_char
    basic._normalize_char = lambda char: seen.append(char) or normalize(char)
    assert basic.tokenize("Abba ab") == ["abba", "ab"]
    assert basic.tokenize("ba A") == ["ba", "a"]
    assert sorted(seen) == ["A", "a", "b"]


def test_each_distinct_chunk_is_split_once(tok):
    """BertTokenizer caches each chunk's pieces: a chunk seen before is not split again, with offsets or without."""
    seen = []
    split_chunk = tok.basic_tokenizer.split_chunk
    tok.basic_tokenizer.split_chunk = lambda chunk: seen.append(chunk) or split_chunk(chunk)
    assert tok.tokenize("want run want") == ["want", "run", "want"]
    enc = tok("run want run", return_offsets_mapping=True)
    assert enc["offset_mapping"] == [(0, 0), (0, 3), (4, 8), (9, 12), (0, 0)]
    assert enc.word_ids() == [None, 0, 1, 2, None]
    assert sorted(seen) == ["run", "want"]


def test_the_chunk_cache_holds_at_most_cache_size_chunks(tmp_path):
    """The chunk cache never holds more than cache_size chunks (it is emptied when full); results stay right."""
    tok = BertTokenizer(write_vocab(tmp_path / "vocab.txt"), cache_size=2)
    for text in ["want run", "a", "abcde want", "run a abcde"]:
        assert tok.tokenize(text) == text.split()
        assert len(tok._cache) <= 2, text


class _Lookups(dict):
    """A vocab that records every piece looked up in it, and stops a search that does not end."""

    def __init__(self, tokens):
        super().__init__((token, i) for i, token in enumerate(tokens))
        self.looked_up = []

    def __contains__(self, piece):
        self.looked_up.append(piece)
        assert len(self.looked_up) < 100, "the WordPiece search does not end"
        return dict.__contains__(self, piece)


def test_wordpiece_tries_each_length_once_from_the_longest_vocab_entry_down():
    """split_word looks up the prefixes from the longest vocab entry's length down to one character, then stops."""
    vocab = _Lookups(["un", "##want", "##ed"])  # longest entry: 4 characters ("want")
    wp = WordpieceTokenizer(vocab)
    assert wp.split_word("unwanted") == [("un", 0, 2), ("##want", 2, 6), ("##ed", 6, 8)]
    assert vocab.looked_up == ["unwa", "unw", "un", "##want", "##ed"]
    vocab.looked_up.clear()
    assert wp.split_word("unwantedz") == [("[UNK]", 0, 9)]  # nothing matches "z": the whole word is [UNK]
    assert vocab.looked_up == ["unwa", "unw", "un", "##want", "##edz", "##ed", "##z"]
