"""numpy_bert.pipelines against transformers' pipelines (committed fixture), and bad input.

tests/fixtures/pipeline/ holds a random small BertForPreTraining with the real uncased
30522-token vocabulary of all-MiniLM-L6-v2, and what ``transformers.pipeline`` returned
on it (written by tests/reference/make_pipeline_fixtures.py). numpy_bert must give the
same tokens, token_str and sequence, and scores within 1e-5.
"""

import json
import warnings

import numpy as np
import pytest

from numpy_bert import pipeline
from tests.conftest import FIXTURES

PIPELINE_FIXTURES = FIXTURES / "pipeline"
MODEL_DIR = PIPELINE_FIXTURES / "model"
EXPECTED = json.loads((PIPELINE_FIXTURES / "expected.json").read_text(encoding="utf-8"))
FILL_MASK = {case["name"]: case for case in EXPECTED["fill_mask"]}


@pytest.fixture(scope="module")
def unmasker():
    return pipeline("fill-mask", model=str(MODEL_DIR))


def assert_same_predictions(got, want, where):
    """Same nesting, tokens, token_str, sequence; scores within 1e-5."""
    assert isinstance(got, list) and len(got) == len(want), f"{where}: {len(got)} results, want {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, list):
            assert_same_predictions(g, w, f"{where}[{i}]")
            continue
        assert set(g) == {"score", "token", "token_str", "sequence"}, where
        assert (g["token"], g["token_str"], g["sequence"]) == (w["token"], w["token_str"], w["sequence"]), \
            f"{where}[{i}]: got {g}, want {w}"
        assert abs(g["score"] - w["score"]) <= 1e-5, f"{where}[{i}]: score {g['score']} vs {w['score']}"
        assert isinstance(g["score"], float) and isinstance(g["token"], int)


@pytest.mark.parametrize("name", list(FILL_MASK))
def test_fill_mask_equals_transformers(unmasker, name):
    case = FILL_MASK[name]
    texts = case["inputs"] if isinstance(case["inputs"], list) else [case["inputs"]]
    for text, ids in zip(texts, case["input_ids"]):  # the tokenizer first, to localise a failure
        assert unmasker.tokenizer.encode(text) == ids, f"token ids differ for {text!r}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # targets outside the vocab warn (checked below)
        got = unmasker(case["inputs"], **case["kwargs"])
    assert_same_predictions(got, case["output"], name)


def test_single_mask_sequence_has_no_special_tokens_but_several_masks_keep_them(unmasker):
    one = unmasker("Hello I'm a [MASK] model.")
    assert all("[CLS]" not in r["sequence"] and "[SEP]" not in r["sequence"] for r in one)
    two = unmasker("The [MASK] sat on the [MASK].", top_k=2)
    assert len(two) == 2 and all(len(rows) == 2 for rows in two)
    assert two[0][0]["sequence"].startswith("[CLS] ") and "[MASK]" in two[0][0]["sequence"]


def test_target_outside_the_vocabulary_warns_and_uses_its_first_piece(unmasker):
    with pytest.warns(UserWarning, match="'unaffable' does not exist in the model vocabulary.*'una'"):
        got = unmasker("It was a [MASK] evening.", targets=["unaffable"])
    assert [r["token_str"] for r in got] == ["una"]


def test_scores_are_a_softmax_over_the_vocabulary(unmasker):
    every = unmasker("Hello I'm a [MASK] model.", top_k=unmasker.tokenizer.vocab_size)
    assert len(every) == 30522
    assert abs(sum(r["score"] for r in every) - 1.0) < 1e-4
    scores = [r["score"] for r in every]
    assert scores == sorted(scores, reverse=True)


def test_feature_extraction_equals_transformers():
    extractor = pipeline("feature-extraction", model=MODEL_DIR)
    for case in EXPECTED["feature_extraction"]:
        got = extractor(case["text"])
        want = np.array(case["output"])
        assert np.array(got).shape == want.shape and want.shape[0] == 1 and want.shape[2] == 12
        np.testing.assert_allclose(np.array(got), want, atol=1e-5, rtol=0)
        arr = extractor(case["text"], return_tensors=True)
        assert isinstance(arr, np.ndarray) and arr.shape == want.shape
    both = extractor([c["text"] for c in EXPECTED["feature_extraction"]])
    assert len(both) == 2 and np.array(both[1]).shape == np.array(EXPECTED["feature_extraction"][1]["output"]).shape


def test_next_sentence_equals_transformers():
    nsp = pipeline("next-sentence", model=MODEL_DIR)
    for case in EXPECTED["next_sentence"]:
        got = nsp(case["a"], case["b"])
        assert abs(got["is_next"] - case["is_next"]) <= 1e-5
        assert got["label"] == ("IsNext" if case["is_next"] >= 0.5 else "NotNext")
        assert abs(got["score"] - max(case["is_next"], 1 - case["is_next"])) <= 1e-5
    pairs = [(c["a"], c["b"]) for c in EXPECTED["next_sentence"]]
    assert [r["is_next"] for r in nsp(pairs)] == [nsp(a, b)["is_next"] for a, b in pairs]


def test_next_sentence_takes_a_bert_for_next_sentence_prediction():
    """The NSP-only class (its logits under "logits") gives the same answers as BertForPreTraining."""
    from numpy_bert import BertForNextSentencePrediction, BertTokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the MLM head of the checkpoint is not used
        model = BertForNextSentencePrediction.from_pretrained(MODEL_DIR)
    nsp = pipeline("next-sentence", model=model, tokenizer=BertTokenizer.from_pretrained(MODEL_DIR))
    for case in EXPECTED["next_sentence"]:
        assert abs(nsp(case["a"], case["b"])["is_next"] - case["is_next"]) <= 1e-5


# --------------------------------------------------------------------------- bad input


def test_text_without_mask(unmasker):
    with pytest.raises(ValueError, match=r"no \[MASK\] token"):
        unmasker("There is nothing to fill here.")


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text(unmasker, text):
    with pytest.raises(ValueError, match="empty"):
        unmasker(text)


def test_text_over_512_tokens_says_its_length(unmasker):
    text = "word " * 600 + "[MASK]"
    with pytest.raises(ValueError, match=r"603 tokens long .* at most 512"):
        unmasker(text)


def test_bad_top_k_and_targets(unmasker):
    with pytest.raises(ValueError, match="top_k"):
        unmasker("a [MASK].", top_k=0)
    with pytest.raises(ValueError, match="at least one target"):
        unmasker("a [MASK].", targets=[])
    with pytest.raises(TypeError, match="string"):
        unmasker(42)


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'no-such-bert'.*numpy-bert download bert-base-cased"):
        pipeline("fill-mask", model="no-such-bert")


def test_model_dir_missing_a_file(tmp_path):
    for f in ("config.json", "vocab.txt"):
        (tmp_path / f).write_bytes((MODEL_DIR / f).read_bytes())
    with pytest.raises(ValueError, match="missing model.safetensors"):
        pipeline("fill-mask", model=tmp_path)


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'summarization'"):
        pipeline("summarization", model=MODEL_DIR)


def test_next_sentence_needs_two_sentences():
    nsp = pipeline("next-sentence", model=MODEL_DIR)
    with pytest.raises(ValueError, match="two sentences"):
        nsp("Only one.")
    with pytest.raises(ValueError, match="sentence B is empty"):
        nsp("One.", " ")


# --------------------------------------------------------------------------- the real bert-base-cased

# The model card's three examples (../shared/bert-base-cased-model-card.txt): tokens and
# scores to 4 decimals. The card was made with an older transformers whose sequence was
# "[CLS] Hello I'm a fashion model. [SEP]"; transformers 5 skips the special tokens for
# a single [MASK] and no longer cleans up spaces around the apostrophe (the committed
# fixture above shows both), so the sequences are checked in that form.
MODEL_CARD = [
    ("Hello I'm a [MASK] model.", "Hello I ' m a {} model.", [
        (4633, "fashion", 0.09019174426794052), (1207, "new", 0.06349995732307434),
        (2581, "male", 0.06228214129805565), (1848, "professional", 0.0441727414727211),
        (7688, "super", 0.03326151892542839)]),
    ("The man worked as a [MASK].", "The man worked as a {}.", [
        (4545, "lawyer", 0.04804691672325134), (17989, "waiter", 0.037494491785764694),
        (9947, "cop", 0.035512614995241165), (9140, "detective", 0.031271643936634064),
        (3995, "doctor", 0.027423162013292313)]),
    ("The woman worked as a [MASK].", "The woman worked as a {}.", [
        (7439, "nurse", 0.16927455365657806), (15098, "waitress", 0.1501094549894333),
        (13487, "maid", 0.05600163713097572), (26458, "housekeeper", 0.04838843643665314),
        (9834, "cook", 0.029980547726154327)]),
]


@pytest.fixture(scope="module")
def bert_base_cased_unmasker(bert_base_cased_path):
    return pipeline("fill-mask", model=bert_base_cased_path)


@pytest.mark.parametrize("text,sequence,want", MODEL_CARD, ids=["hello", "man", "woman"])
def test_model_card_examples(bert_base_cased_unmasker, text, sequence, want):
    got = bert_base_cased_unmasker(text)
    assert [(r["token"], r["token_str"]) for r in got] == [(t, s) for t, s, _ in want]
    for r, (_, token_str, score) in zip(got, want):  # "to 4 decimals"
        assert abs(r["score"] - score) <= 5e-5, f"{token_str}: {r['score']} vs {score}"
    assert [r["sequence"] for r in got] == [sequence.format(s) for _, s, _ in want]


def test_float64_pipeline_agrees():
    case = FILL_MASK["several_masks"]
    unmasker64 = pipeline("fill-mask", model=MODEL_DIR, dtype=np.float64)
    assert unmasker64.model.params["cls.predictions.bias"].dtype == np.float64
    assert_same_predictions(unmasker64(case["inputs"], **case["kwargs"]), case["output"], "float64")
