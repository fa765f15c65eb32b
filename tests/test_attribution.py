"""numpy_bert.attribution: gradient x input and integrated gradients, per token.

- gradient x input against centred differences of the score (a forward only) along each
  token's (x - x'), float64;
- integrated gradients against the same rule fed with finite-difference directional
  derivatives at every node of the path;
- completeness at DEFAULT_STEPS within 1% (the issue's bar) on the shipped model (fill-mask)
  and on classifiers built on it and on all-MiniLM-L6-v2;
- the result's keys, the baselines, and errors that say what to do.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

from numpy_bert import BertForPreTraining, BertForSequenceClassification, BertTokenizer, gradcheck
from numpy_bert.attribution import (DEFAULT_STEPS, classification_attributions, fill_mask_attributions,
                                    gauss_legendre)
from numpy_bert.layers import softmax_forward

TINY = Path(__file__).resolve().parent.parent / "weights" / "numpy-bert-tiny"
FILL = "The [MASK] of the array is returned."
SENTENCE = "This function returns a new array of zeros."


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_pretrained(TINY)


@pytest.fixture(scope="module")
def mlm():
    return BertForPreTraining.from_pretrained(TINY, dtype=np.float64)


def classifier_on(path, seed=1):
    """A 3-class classifier on a real encoder, its new head scaled up so that the class
    probabilities move far from uniform (a random head of std 0.02 barely moves them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "newly initialized": the head, on purpose
        model = BertForSequenceClassification.from_pretrained(path, dtype=np.float64, num_labels=3, seed=seed)
    model.params["classifier.weight"] *= 40
    return model


@pytest.fixture(scope="module")
def classifier():
    return classifier_on(TINY)


def forward_score(model, result, z):
    """The explained probability at inputs_embeds z (S, T, H), by a forward pass alone."""
    types = np.zeros(z.shape[:2], np.int64)
    out = model(inputs_embeds=z, token_type_ids=types)
    if result["task"] == "fill-mask":
        logits = out["prediction_logits"][:, result["position"]]        # (S, V)
    else:
        logits = out["logits"]                                          # (S, N)
    return softmax_forward(logits)[0][:, result["target_id"]]


def inputs_and_baseline(model, tokenizer, result):
    word = model.params["bert.embeddings.word_embeddings.weight"]
    ids = np.array(result["token_ids"])
    x = word[ids]
    special = np.isin(ids, tokenizer.all_special_ids)[:, None]
    return x, np.where(special, x, word[tokenizer.pad_token_id])


def token_directions(x, baseline):
    """(T, T, H): direction t is x - x' on token t only."""
    T = x.shape[0]
    d = np.zeros((T,) + x.shape)
    d[np.arange(T), np.arange(T)] = (x - baseline)
    return d


def directional_derivatives(model, result, z, d, eps=1e-5):
    """Centred differences of the score at z (T, H) along each direction d[t]: (T,)."""
    plus = forward_score(model, result, z[None] + eps * d)
    minus = forward_score(model, result, z[None] - eps * d)
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize("task", ["fill-mask", "text-classification"])
def test_gradient_x_input_matches_finite_differences(task, mlm, classifier, tokenizer):
    if task == "fill-mask":
        model, result = mlm, fill_mask_attributions(mlm, tokenizer, FILL, method="gradient_x_input")
    else:
        model, result = classifier, classification_attributions(classifier, tokenizer, SENTENCE,
                                                                method="gradient_x_input")
    x, baseline = inputs_and_baseline(model, tokenizer, result)
    numeric = directional_derivatives(model, result, x, token_directions(x, baseline))
    assert gradcheck.relative_error(result["attributions"], numeric) <= 1e-6
    assert result["attributions"].dtype == np.float64 and result["attributions"].shape == (len(x),)
    assert abs(result["score"] - forward_score(model, result, x[None])[0]) <= 1e-12


@pytest.mark.parametrize("task", ["fill-mask", "text-classification"])
def test_integrated_gradients_match_finite_differences_along_the_path(task, mlm, classifier, tokenizer):
    steps = 5
    if task == "fill-mask":
        model, result = mlm, fill_mask_attributions(mlm, tokenizer, FILL, steps=steps)
    else:
        model, result = classifier, classification_attributions(classifier, tokenizer, SENTENCE, steps=steps)
    x, baseline = inputs_and_baseline(model, tokenizer, result)
    d = token_directions(x, baseline)
    alphas, weights = gauss_legendre(steps)
    numeric = sum(w * directional_derivatives(model, result, baseline + a * (x - baseline), d)
                  for a, w in zip(alphas, weights))
    assert gradcheck.relative_error(result["attributions"], numeric) <= 1e-6
    assert abs(result["baseline_score"] - forward_score(model, result, baseline[None])[0]) <= 1e-12
    # the special tokens keep their vectors in the baseline: nothing to attribute to them
    special = np.isin(result["token_ids"], tokenizer.all_special_ids)
    assert np.all(result["attributions"][special] == 0) and np.all(result["attributions"][~special] != 0)


def test_gauss_legendre_rule():
    alphas, weights = gauss_legendre(DEFAULT_STEPS)
    assert np.all((alphas > 0) & (alphas < 1)) and abs(weights.sum() - 1) <= 1e-14
    # exact for polynomials of degree 2 * steps - 1: integral_0^1 a^k = 1 / (k + 1)
    for k in (1, 7, 2 * DEFAULT_STEPS - 1):
        assert abs(np.dot(weights, alphas ** k) - 1 / (k + 1)) <= 1e-13
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        gauss_legendre(0)


@pytest.mark.parametrize("text", [FILL, "The cat sat on the [MASK].", "import numpy as [MASK]"])
def test_completeness_at_the_default_steps_fill_mask(text, mlm, tokenizer):
    result = fill_mask_attributions(mlm, tokenizer, text)
    assert result["steps"] == DEFAULT_STEPS and result["method"] == "integrated_gradients"
    change = result["score"] - result["baseline_score"]
    assert abs(change) > 1e-3                                   # a real difference to explain
    assert abs(result["attributions"].sum() - change) <= 0.01 * abs(change)
    assert result["completeness_error"] <= 0.01


def test_completeness_at_the_default_steps_classifier(classifier, tokenizer):
    result = classification_attributions(classifier, tokenizer, SENTENCE)
    change = result["score"] - result["baseline_score"]
    assert abs(change) > 1e-2
    assert abs(result["attributions"].sum() - change) <= 0.01 * abs(change)


def test_completeness_at_the_default_steps_minilm_classifier(minilm_path):
    model = classifier_on(minilm_path, seed=3)
    tok = BertTokenizer.from_pretrained(minilm_path)
    result = classification_attributions(model, tok, "The movie was wonderful and the actors were great.")
    change = result["score"] - result["baseline_score"]
    assert abs(change) > 1e-2
    assert abs(result["attributions"].sum() - change) <= 0.01 * abs(change)


def test_result_keys_targets_and_baselines(mlm, classifier, tokenizer):
    r = fill_mask_attributions(mlm, tokenizer, FILL, target="array", steps=4, baseline="zeros")
    assert set(r) >= {"tokens", "attributions", "target", "score", "baseline_score", "method"}
    assert r["target"] == "array" and r["tokens"][r["position"]] == "[MASK]" and r["baseline"] == "zeros"
    assert len(r["tokens"]) == len(r["attributions"])
    predicted = fill_mask_attributions(mlm, tokenizer, FILL, steps=4)
    logits = mlm(np.array([predicted["token_ids"]]))["prediction_logits"][0, predicted["position"]]
    assert predicted["target_id"] == int(np.argmax(logits))
    c = classification_attributions(classifier, tokenizer, SENTENCE, target="LABEL_2", steps=4)
    assert c["target"] == "LABEL_2" and c["target_id"] == 2 and c["position"] is None
    assert classifier.training is False


def test_errors_say_what_to_do(mlm, classifier, tokenizer):
    with pytest.raises(ValueError, match=r"no \[MASK\]"):
        fill_mask_attributions(mlm, tokenizer, "No mask here.")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        fill_mask_attributions(mlm, tokenizer, FILL, target="qqqqzzzz")
    with pytest.raises(ValueError, match="method must be one of"):
        fill_mask_attributions(mlm, tokenizer, FILL, method="saliency")
    with pytest.raises(ValueError, match="baseline must be one of"):
        fill_mask_attributions(mlm, tokenizer, FILL, baseline="unk")
    with pytest.raises(ValueError, match="unknown label"):
        classification_attributions(classifier, tokenizer, SENTENCE, target="positive")
    with pytest.raises(TypeError, match="need a BertForSequenceClassification"):
        classification_attributions(mlm, tokenizer, SENTENCE)
