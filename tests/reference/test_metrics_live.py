"""numpy_bert.metrics against the libraries people compare with: scikit-learn and seqeval.

Random labels and random tag sequences (all of IOB1/IOB2/E-/S- mixed, so every chunking
rule is exercised), compared value for value. Each part skips when its library is not
installed (``pip install -e .[reference]`` installs both). The SQuAD part compares with the
official v1.1 evaluation script's functions, quoted below.
"""

import collections
import re
import string
import warnings

import numpy as np
import pytest

from numpy_bert import metrics


@pytest.mark.parametrize("seed", range(5))
def test_classification_equals_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics", reason="needs scikit-learn: pip install -e .[reference]")
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 6))
    n = int(rng.integers(1, 40))
    # some classes may be missing from y_true or y_pred: the zero_division paths
    y_true = rng.integers(0, K, size=n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, K - 1, size=n))
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=1e-15)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, K),
                                  sk.confusion_matrix(y_true, y_pred, labels=list(range(K))))
    expected = sk.f1_score(y_true, y_pred, average="macro", labels=list(range(K)), zero_division=0)
    assert metrics.macro_f1(y_true, y_pred, K) == pytest.approx(expected, abs=1e-12)


TAGS = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC", "E-ORG", "S-ORG", "B", "I"]


def _random_tags(rng, lengths):
    return [[TAGS[i] for i in rng.integers(0, len(TAGS), size=n)] for n in lengths]


@pytest.mark.parametrize("seed", range(20))
def test_entity_f1_equals_seqeval(seed):
    pytest.importorskip("seqeval", reason="needs seqeval: pip install -e .[reference]")
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import get_entities

    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 12, size=int(rng.integers(1, 8)))
    lengths[0] = max(lengths[0], 1)
    true = _random_tags(rng, lengths)
    # predictions: the truth with about a third of the tags replaced, so that some entities match
    pred = [[rng.choice(TAGS) if rng.random() < 0.3 else t for t in seq] for seq in true]
    for seq in true + pred:
        assert metrics.get_entities(seq) == get_entities(seq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # seqeval warns on zero division and on bare "B"/"I"
        expected = {"precision": precision_score(true, pred), "recall": recall_score(true, pred),
                    "f1": f1_score(true, pred), "accuracy": accuracy_score(true, pred)}
    assert metrics.entity_f1(true, pred) == pytest.approx(expected, abs=1e-12)


# SQuAD v1.1's official evaluate-v1.1.py, the functions that score one answer (verbatim but for names).
def _official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()
    return white_space_fix(remove_articles(remove_punc(lower(s))))


def _official_f1_score(prediction, ground_truth):
    prediction_tokens = _official_normalize_answer(prediction).split()
    ground_truth_tokens = _official_normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _official_exact_match_score(prediction, ground_truth):
    return _official_normalize_answer(prediction) == _official_normalize_answer(ground_truth)


def test_squad_equals_official_script():
    rng = np.random.default_rng(0)
    words = ["the", "a", "an", "The", "Cat", "cat,", "sat.", "on", "mat", "Denver", "Broncos!", "U.S.", "another",
             "théâtre", "Ünïcode", "1,000", "--", " "]
    predictions, references = [], []
    for _ in range(200):
        predictions.append(" ".join(rng.choice(words, size=int(rng.integers(0, 6)))))
        references.append([" ".join(rng.choice(words, size=int(rng.integers(1, 6))))
                           for _ in range(int(rng.integers(1, 4)))])
    em = 100.0 * sum(max(_official_exact_match_score(p, g) for g in gs)
                     for p, gs in zip(predictions, references)) / len(predictions)
    f1 = 100.0 * sum(max(_official_f1_score(p, g) for g in gs)
                     for p, gs in zip(predictions, references)) / len(predictions)
    for p in predictions:
        assert metrics.normalize_answer(p) == _official_normalize_answer(p)
    assert metrics.squad_metrics(predictions, references) == pytest.approx({"exact_match": em, "f1": f1}, abs=1e-9)
