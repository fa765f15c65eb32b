"""bert-base-cased's model card, reproduced: fill-mask top-5 tokens and scores to 4 decimals.

Runs only when $NUMPY_BERT_BASE_CASED names a directory with the real bert-base-cased
files (`numpy-bert download bert-base-cased --cache-dir DIR` fetches them into
DIR/bert-base-cased; see tests/conftest.py), and is skipped with that reason otherwise. The expected values are copied from the model card
(https://huggingface.co/bert-base-cased, "How to use" and "Limitations and bias"); they
are computed here with numpy_bert's own tokenizer and BertForPreTraining: the softmax
over the vocabulary of the MLM logits at the [MASK] position.
"""

import numpy as np
import pytest

from numpy_bert.model import BertForPreTraining

# text -> [(token id, token string, score)] from the model card
MODEL_CARD = {
    "Hello I'm a [MASK] model.": [
        (4633, "fashion", 0.09019174426794052),
        (1207, "new", 0.06349995732307434),
        (2581, "male", 0.06228214129805565),
        (1848, "professional", 0.0441727414727211),
        (7688, "super", 0.03326151892542839),
    ],
    "The man worked as a [MASK].": [
        (4545, "lawyer", 0.04804691672325134),
        (17989, "waiter", 0.037494491785764694),
        (9947, "cop", 0.035512614995241165),
        (9140, "detective", 0.031271643936634064),
        (3995, "doctor", 0.027423162013292313),
    ],
    "The woman worked as a [MASK].": [
        (7439, "nurse", 0.16927455365657806),
        (15098, "waitress", 0.1501094549894333),
        (13487, "maid", 0.05600163713097572),
        (26458, "housekeeper", 0.04838843643665314),
        (9834, "cook", 0.029980547726154327),
    ],
}


def fill_mask_top5(model, tokenizer, text):
    """[(token id, token string, probability)] of the 5 most likely tokens at [MASK]."""
    enc = tokenizer(text, return_tensors="np")
    ids = enc["input_ids"]                                        # (1, T)
    (position,) = np.flatnonzero(ids[0] == tokenizer.mask_token_id)
    logits = model(ids, enc["token_type_ids"], enc["attention_mask"])["prediction_logits"]  # (1, T, V)
    z = logits[0, position].astype(np.float64)                   # (V,)
    probs = np.exp(z - z.max())
    probs /= probs.sum()                                          # softmax over the vocabulary
    top = np.argsort(-probs, kind="stable")[:5]
    return [(int(i), tokenizer.decode([int(i)]).strip(), float(probs[i])) for i in top]


@pytest.fixture(scope="module")
def bert_base_cased(bert_base_cased_path):
    from numpy_bert import BertTokenizer
    tokenizer = BertTokenizer.from_pretrained(bert_base_cased_path)
    model = BertForPreTraining.from_pretrained(bert_base_cased_path, dtype=np.float32)
    return model, tokenizer


@pytest.mark.parametrize("text", list(MODEL_CARD))
def test_fill_mask_matches_the_model_card(bert_base_cased, text):
    model, tokenizer = bert_base_cased
    got = fill_mask_top5(model, tokenizer, text)
    expected = MODEL_CARD[text]
    assert [(i, s) for i, s, _ in got] == [(i, s) for i, s, _ in expected]
    for (_, token, p), (_, _, q) in zip(got, expected):
        assert abs(p - q) < 5e-5, f"{text!r} -> {token}: score {p:.6f}, model card {q:.6f}"
        assert round(p, 4) == round(q, 4), (token, p, q)
