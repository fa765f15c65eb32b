"""``OUT/best/`` written by ``numpy-bert finetune`` loads in transformers (AutoModelFor... and
pipeline) with no missing keys, and gives numpy_bert's logits."""

import numpy as np
import pytest
import torch
import transformers

import numpy_bert
from numpy_bert.tokenization import BertTokenizer
from tests.test_finetune import (TINY, needs_cls, needs_qa, needs_tok, ner_rows, qa_rows, run, sentiment_rows,
                                 write_jsonl)

pytestmark = pytest.mark.filterwarnings("ignore:Some weights of:UserWarning")

AUTO = {"BertForSequenceClassification": transformers.AutoModelForSequenceClassification,
        "BertForTokenClassification": transformers.AutoModelForTokenClassification,
        "BertForQuestionAnswering": transformers.AutoModelForQuestionAnswering}


def compare_with_transformers(best, class_name, text, text_pair=None):
    """Load best/ in both; the same inputs give the same outputs (float32: 1e-4)."""
    theirs, info = AUTO[class_name].from_pretrained(str(best), output_loading_info=True,
                                                    attn_implementation="eager")
    assert type(theirs).__name__ == class_name
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    theirs.eval()
    ours = getattr(numpy_bert, class_name).from_pretrained(best)
    enc = BertTokenizer.from_pretrained(best)(text, text_pair, return_tensors="np")
    hf_enc = transformers.AutoTokenizer.from_pretrained(str(best))(text, text_pair, return_tensors="pt")
    np.testing.assert_array_equal(enc["input_ids"], hf_enc["input_ids"].numpy())
    with torch.no_grad():
        out_t = theirs(**hf_enc)
    out = ours(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    for key in ("logits", "start_logits", "end_logits"):
        if key in out:
            np.testing.assert_allclose(out[key], getattr(out_t, key).numpy(), atol=1e-4, rtol=1e-4, err_msg=key)
    return theirs


@needs_cls
def test_classification_best_loads_in_transformers_and_its_pipeline(tmp_path):
    files = (write_jsonl(tmp_path / "train.jsonl", sentiment_rows(32, 1)),
             write_jsonl(tmp_path / "eval.jsonl", sentiment_rows(16, 2)))
    run(tmp_path / "run", files, epochs=1)
    best = tmp_path / "run" / "best"
    theirs = compare_with_transformers(best, "BertForSequenceClassification", "the film was lovely")
    assert theirs.config.id2label == {0: "negative", 1: "positive"}
    result = transformers.pipeline("text-classification", model=str(best))("the film was lovely")
    assert result[0]["label"] in ("negative", "positive")


@needs_tok
def test_token_classification_best_loads_in_transformers(tmp_path):
    files = (write_jsonl(tmp_path / "train.jsonl", ner_rows(24, 1)), write_jsonl(tmp_path / "eval.jsonl", ner_rows(8, 2)))
    run(tmp_path / "run", files, task="token-classification", epochs=1)
    best = tmp_path / "run" / "best"
    theirs = compare_with_transformers(best, "BertForTokenClassification", "peter smith lives in paris")
    assert set(theirs.config.id2label.values()) == {"B-LOC", "B-PER", "I-PER", "O"}
    transformers.pipeline("token-classification", model=str(best))("peter smith lives in paris")


@needs_qa
def test_question_answering_best_loads_in_transformers(tmp_path):
    files = (write_jsonl(tmp_path / "train.jsonl", qa_rows(24, 1)), write_jsonl(tmp_path / "eval.jsonl", qa_rows(8, 2)))
    run(tmp_path / "run", files, task="question-answering", epochs=1, max_length=64, doc_stride=16)
    best = tmp_path / "run" / "best"
    compare_with_transformers(best, "BertForQuestionAnswering", "what colour is the car ?",
                              "the colour of the car is red . it is new .")
