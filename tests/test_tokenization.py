"""Tokenizer unit tests: google-research/bert's test vectors, each stage, bad input.

The comparisons with transformers on a 23,000-line corpus are in
test_tokenization_corpus.py; property tests in test_tokenization_properties.py.
"""

import json

import numpy as np
import pytest

from numpy_bert.tokenization import (BasicTokenizer, BertTokenizer, VocabFileNotFoundError, WordpieceTokenizer,
                                     _extra_lower, is_control, is_punctuation, is_whitespace, load_vocab)

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
