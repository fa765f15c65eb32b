"""numpy_bert's tokenizer against transformers' default BertTokenizer, live.

The plain suite compares with committed fixtures; this checks the same things
against the installed transformers, plus what the fixtures cannot hold: a saved
tokenizer loading in transformers, and a freshly trained vocab.
"""

import gzip
import json
import random
import shutil

import pytest

from numpy_bert.tokenization import BertTokenizer, write_vocab
from numpy_bert.vocab_trainer import train_wordpiece
from tests.conftest import FIXTURES
from tests.test_tokenization_corpus import REFUSALS, record

transformers = pytest.importorskip("transformers")
HERE = FIXTURES / "tokenizer"


def hf(vocab_file, tmp_path, **kwargs):
    directory = tmp_path / f"hf-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    shutil.copy(vocab_file, directory / "vocab.txt")
    return transformers.BertTokenizer.from_pretrained(str(directory), **kwargs)


@pytest.fixture(scope="module")
def sample():
    with gzip.open(HERE / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    # every machine line of a 1-in-8 sample plus all the generated edge cases (the last 2,000)
    return lines[:-2000:8] + lines[-2000:]


def assert_same(mine, theirs, lines, **kwargs):
    expected = theirs(lines, return_offsets_mapping=True, **kwargs)
    for i, line in enumerate(lines):
        got = mine(line, return_offsets_mapping=True, **kwargs)
        assert got["input_ids"] == expected["input_ids"][i], repr(line)
        assert got["offset_mapping"] == [tuple(o) for o in expected["offset_mapping"][i]], repr(line)


@pytest.mark.parametrize("lower", [True, False], ids=["lower", "cased"])
def test_minilm_vocab(sample, minilm_path, tmp_path, lower):
    assert_same(BertTokenizer(minilm_path / "vocab.txt", do_lower_case=lower),
                hf(minilm_path / "vocab.txt", tmp_path, do_lower_case=lower), sample)


@pytest.mark.parametrize("lower", [True, False], ids=["lower", "cased"])
@pytest.mark.parametrize("strip_accents", [None, True, False])
def test_own_vocab_and_strip_accents(sample, tmp_path, lower, strip_accents):
    vocab = HERE / "vocab-own.txt"
    assert_same(BertTokenizer(vocab, do_lower_case=lower, strip_accents=strip_accents),
                hf(vocab, tmp_path, do_lower_case=lower, strip_accents=strip_accents), sample[::3])


def test_freshly_trained_vocab_loads_in_transformers(sample, tmp_path):
    for lower in (True, False):
        vocab = train_wordpiece(sample[:3000], vocab_size=1500, do_lower_case=lower)
        path = tmp_path / f"vocab-{lower}.txt"
        write_vocab(vocab, path)
        theirs = hf(path, tmp_path, do_lower_case=lower)
        assert theirs.convert_ids_to_tokens(list(range(5))) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        assert theirs.mask_token_id == 4 and theirs.pad_token_id == 0
        assert_same(BertTokenizer(path, do_lower_case=lower), theirs, sample[::5])


def test_save_pretrained_loads_in_transformers(minilm_path, tmp_path, sample):
    mine = BertTokenizer(minilm_path / "vocab.txt", do_lower_case=False, model_max_length=512)
    mine.save_pretrained(tmp_path / "saved")
    theirs = transformers.BertTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert theirs.do_lower_case is False and theirs.model_max_length == 512
    assert_same(mine, theirs, sample[::10])
    # and the other way round: transformers 5's save_pretrained writes tokenizer.json, no vocab.txt
    hf_dir = tmp_path / "hf_saved"
    original = transformers.BertTokenizer.from_pretrained(str(minilm_path))
    original.save_pretrained(str(hf_dir))
    again = BertTokenizer.from_pretrained(hf_dir)
    assert again.do_lower_case is True and again.model_max_length == 512
    assert_same(again, original, sample[::10])


def test_random_pairs_truncation_padding(minilm_path, tmp_path, sample):
    mine = BertTokenizer(minilm_path / "vocab.txt")
    theirs = hf(minilm_path / "vocab.txt", tmp_path)
    rng = random.Random(0)
    for _ in range(300):
        batch = [rng.choice(sample)[:300] for _ in range(rng.randint(1, 4))]
        pairs = [rng.choice(sample)[:300] for _ in batch] if rng.random() < 0.7 else None
        kwargs = {"truncation": rng.choice([True, "longest_first", "only_first", "only_second", False]),
                  "max_length": rng.randint(3, 80),
                  "padding": rng.choice([False, True, "max_length"]), "return_offsets_mapping": True}
        if pairs is None and kwargs["truncation"] == "only_second":
            kwargs["truncation"] = "only_first"
        try:
            expected = theirs(batch, pairs, **kwargs)
        except Exception as exc:
            assert "too short" in str(exc)
            with pytest.raises(ValueError, match="too few"):
                mine(batch, pairs, **kwargs)
            continue
        got = mine(batch, pairs, **kwargs)
        for key in expected:
            assert json.loads(json.dumps(got[key])) == json.loads(json.dumps(expected[key])), (batch, pairs, kwargs)


def test_decode_matches(minilm_path, tmp_path, sample):
    mine = BertTokenizer(minilm_path / "vocab.txt")
    theirs = hf(minilm_path / "vocab.txt", tmp_path)
    for line in sample[::7]:
        ids = theirs(line)["input_ids"]
        assert mine.decode(ids) == theirs.decode(ids), repr(line)
        assert mine.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True)
    rng = random.Random(1)
    for _ in range(300):  # random ids, including pieces that never follow each other in real text
        ids = [rng.randrange(mine.vocab_size) for _ in range(rng.randint(0, 12))]
        assert mine.decode(ids) == theirs.decode(ids), ids


def test_unicode_tables_match_the_rust_library():
    """The tables at the top of numpy_bert/tokenization.py, re-probed from tokenizers code point by code point."""
    import sys

    from numpy_bert import tokenization

    sys.path.insert(0, str(FIXTURES.parent / "reference"))
    from make_tokenizer_fixtures import probe_unicode_tables

    for name, probed in probe_unicode_tables().items():
        assert getattr(tokenization, name).split() == probed.split(), name


# -- the features fine-tuning needs, live (the calls of features.json.gz and random ones) -----

def fixture_script():
    import sys

    sys.path.insert(0, str(FIXTURES.parent / "reference"))
    import make_tokenizer_fixtures

    return make_tokenizer_fixtures


def assert_same_call(mine, theirs, args, kwargs):
    expected = fixture_script().hf_record(theirs, args, kwargs)
    if "error" in expected:
        ours = next((ours for key, ours in REFUSALS.items() if key in expected["error"]), None)
        assert ours, expected["error"]
        with pytest.raises(ValueError, match=ours):
            mine(*args, **kwargs)
        return expected, None
    got = mine(*args, **kwargs)
    assert record(got) == expected, (str(args)[:300], kwargs)
    return expected, got


@pytest.mark.parametrize("name", ["own-cased", "minilm-lower"])
def test_features_live(name, minilm_path, tmp_path):
    script = fixture_script()
    vocab, lower = script.FEATURE_TOKENIZERS[name]
    vocab_file = HERE / "vocab-own.txt" if vocab == "own" else minilm_path / "vocab.txt"
    mine, theirs = BertTokenizer(vocab_file, do_lower_case=lower), hf(vocab_file, tmp_path, do_lower_case=lower)
    with gzip.open(HERE / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    for args, kwargs in script.feature_inputs(lines):
        assert_same_call(mine, theirs, args, kwargs)


def test_random_windows_and_mappings(minilm_path, tmp_path, sample):
    """Random batches of corpus lines and SQuAD contexts under random settings, then the mapping
    methods (char_to_token, token_to_word, token_to_chars, word_to_tokens, ...) at random indices."""
    squad = fixture_script().SQUAD
    mine = BertTokenizer(minilm_path / "vocab.txt")
    theirs = hf(minilm_path / "vocab.txt", tmp_path)
    texts = [line[:400] for line in sample[::5]] + [c for c, _ in squad] + [q for _, qs in squad for q in qs]
    rng = random.Random(2)
    compared = 0
    for _ in range(250):
        n = rng.randint(1, 3)
        first = [rng.choice(texts) for _ in range(n)]
        second = [rng.choice(texts) for _ in range(n)] if rng.random() < 0.7 else None
        kwargs = {"truncation": rng.choice([True, "longest_first", "only_first", "only_second"]),
                  "max_length": rng.randint(8, 80), "padding": rng.choice([False, True, "max_length"]),
                  "return_overflowing_tokens": rng.random() < 0.8, "return_offsets_mapping": rng.random() < 0.7,
                  "return_special_tokens_mask": rng.random() < 0.5}
        kwargs["stride"] = rng.randint(0, kwargs["max_length"] // 2)
        if rng.random() < 0.3:
            kwargs["is_split_into_words"] = True
            first = [t.split() for t in first]
            second = None if second is None else [t.split() for t in second]
        args = (first,) if second is None else (first, second)
        if n == 1 and rng.random() < 0.5:  # one text, not a batch
            args = tuple(a[0] for a in args)
        _, got = assert_same_call(mine, theirs, args, kwargs)
        if got is None:
            continue
        compared += 1
        enc = theirs(*args, **kwargs)
        batched = len(enc.encodings) > 1 or isinstance(got["input_ids"][0], list)
        for _ in range(20):
            b = rng.randrange(len(enc.encodings))
            row = (b,) if batched else ()
            length = len(enc.encodings[b].ids)
            token, char, word, seq = rng.randrange(length), rng.randrange(60), rng.randrange(12), rng.randint(0, 1)
            assert got.token_to_word(*row, token) == enc.token_to_word(*row, token)
            assert got.token_to_sequence(*row, token) == enc.token_to_sequence(*row, token)
            assert got.token_to_chars(*row, token) == enc.token_to_chars(*row, token)
            assert got.char_to_token(*row, char, sequence_index=seq) == enc.char_to_token(*row, char, sequence_index=seq)
            assert got.char_to_word(*row, char, sequence_index=seq) == enc.char_to_word(*row, char, sequence_index=seq)
            assert got.word_to_tokens(*row, word, sequence_index=seq) == enc.word_to_tokens(*row, word, sequence_index=seq)
            assert got.tokens(b) == enc.tokens(b)
    assert compared > 120, compared
