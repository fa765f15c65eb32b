"""Evaluation metrics for fine-tuning: classification, entity (NER) F1 and SQuAD.

Each function computes what the library people compare against computes, so that a
number printed by numpy_bert means what it means elsewhere:

- ``accuracy``, ``confusion_matrix``, ``macro_f1``, ``classification_metrics``: scikit-learn's
  ``accuracy_score``, ``confusion_matrix`` (rows are the true labels, columns the predicted
  ones) and ``f1_score(average="macro", labels=range(K), zero_division=0)``. Labels are
  integer class ids 0..K-1.
- ``entity_f1``: seqeval's default mode (the chunking of CoNLL's ``conlleval`` script), the
  one HF's ``seqeval`` metric and every token-classification example report. Tags are
  strings such as ``"B-PER"``, ``"I-PER"``, ``"O"`` (IOB1, IOB2, and also E-/S- tags).
- ``squad_metrics``: the official SQuAD v1.1 evaluation script (exact match and token F1
  after normalising the answers, the best over the gold answers), in percent as HF's
  ``squad`` metric.

All take plain Python lists or NumPy arrays and never import anything beyond NumPy.
"""

import collections
import re
import string

import numpy as np


# ----------------------------------------------------------------------------- classification

def _class_ids(values, name):
    """``values`` as a 1-D int64 array of class ids, or a ValueError/TypeError saying what is wrong."""
    array = np.asarray(values)
    if array.ndim != 1:
        hint = " (logits? take logits.argmax(-1))" if array.ndim == 2 else ""
        raise ValueError(f"{name} must be a 1-D sequence of class ids, got an array of shape {array.shape}{hint}")
    if array.size and array.dtype.kind not in "iu":
        hint = " (probabilities or logits? take argmax(-1))" if array.dtype.kind == "f" else ""
        raise TypeError(f"{name} must hold integer class ids 0..K-1, got dtype {array.dtype}{hint}; "
                        "map label names to ids with config.label2id first")
    return array.astype(np.int64)


def _check_pair(y_true, y_pred, num_labels=None):
    """The two label arrays, checked: same length, at least one example, ids in 0..num_labels-1."""
    y_true, y_pred = _class_ids(y_true, "y_true"), _class_ids(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; "
                         "pass one prediction per example")
    if len(y_true) == 0:
        raise ValueError("y_true and y_pred are empty: a metric needs at least one example")
    if num_labels is not None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
        for name, array in (("y_true", y_true), ("y_pred", y_pred)):
            bad = (array < 0) | (array >= num_labels)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{name}[{i}] = {array[i]} is not a class id in 0..{num_labels - 1} "
                                 f"(num_labels={num_labels})")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """Fraction of examples whose predicted class id equals the true one, in 0..1.

        accuracy = mean(y_true == y_pred)

        >>> accuracy([0, 1, 2, 2], [0, 2, 2, 2])
        0.75
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_labels):
    """(K, K) int64 counts: entry [i, j] is the number of examples of true class i predicted as j.

    Rows are the true labels, columns the predicted ones (scikit-learn's layout), so the
    diagonal holds the correct predictions and row i sums to the support of class i.

        >>> confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], num_labels=3).tolist()
        [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    y_true, y_pred = _check_pair(y_true, y_pred, num_labels)
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)   # (K, K)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def macro_f1(y_true, y_pred, num_labels):
    """Unweighted mean over the classes 0..K-1 of each class's F1, in 0..1.

    For class k, with tp = examples of class k predicted as k, fp = others predicted as k
    and fn = examples of class k predicted as something else:

        F1_k = 2 tp / (2 tp + fp + fn)        (= 2 P R / (P + R)), and 0 when 2 tp + fp + fn = 0
        macro_f1 = mean_k F1_k

    This is scikit-learn's ``f1_score(y_true, y_pred, average="macro",
    labels=range(num_labels), zero_division=0)``: a class that is neither present nor
    predicted counts as 0 and pulls the mean down, so pass the model's num_labels.
    """
    counts = confusion_matrix(y_true, y_pred, num_labels)       # (K, K)
    tp = np.diag(counts)                                         # (K,)
    fp = counts.sum(axis=0) - tp                                 # predicted as k, but not k
    fn = counts.sum(axis=1) - tp                                 # class k, predicted as another
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(num_labels), where=denominator > 0)
    return float(f1.mean())


def classification_metrics(y_true, y_pred, num_labels):
    """``{"accuracy": ..., "macro_f1": ...}`` for class ids, both in 0..1."""
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, num_labels)}


# ----------------------------------------------------------------------------- entities (seqeval)

_TAG = re.compile(r"O|[BIES](-.+)?")


def _split_tag(tag, where):
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "_")``; a bare ``"B"`` -> ``("B", "_")``.

    The type is everything after the first hyphen (``"B-I-X"`` has type ``"I-X"``), as in
    seqeval, which also gives ``"O"`` and bare prefixes the placeholder type ``"_"``.
    """
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise ValueError(f"{where}: {tag!r} is not an IOB tag; tags are 'O' or a prefix B-, I-, E-, S- "
                         "followed by the entity type (e.g. 'B-PER'); map label ids to names with "
                         "config.id2label first")
    return tag[0], tag[2:] or "_"


def _chunk_ends(prev_tag, prev_type, tag, type_):
    """conlleval's endOfChunk: does a chunk end just before a token tagged (tag, type_)?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != type_                # the type changes


def _chunk_starts(prev_tag, prev_type, tag, type_):
    """conlleval's startOfChunk: does a chunk start at a token tagged (tag, type_)?"""
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev_tag in ("O", "E", "S"):        # I- after O starts a chunk
        return True
    return tag != "O" and prev_type != type_                     # the type changes


def get_entities(tags):
    """The chunks of one tag sequence as ``(type, start, end)``, ``end`` inclusive.

    conlleval's rules (seqeval's default mode), which read IOB1 and IOB2 alike:
    an I- tag after O, or after a tag of another type, starts a new chunk; B- always
    starts one; a change of type ends the current chunk; E- and S- end it.

        >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "I-ORG", "B-ORG"])
        [('PER', 0, 1), ('LOC', 3, 3), ('ORG', 4, 4), ('ORG', 5, 5)]
    """
    chunks = []
    prev_tag, prev_type, start = "O", "_", 0
    for i, tag_name in enumerate(list(tags) + ["O"]):            # a final O closes the last chunk
        tag, type_ = _split_tag(tag_name, f"tag {i}")
        if _chunk_ends(prev_tag, prev_type, tag, type_):
            chunks.append((prev_type, start, i - 1))
        if _chunk_starts(prev_tag, prev_type, tag, type_):
            start = i
        prev_tag, prev_type = tag, type_
    return chunks


def _check_tag_sequences(true_tags, pred_tags):
    for name, value in (("true_tags", true_tags), ("pred_tags", pred_tags)):
        if isinstance(value, str) or not all(not isinstance(s, str) for s in value):
            raise TypeError(f"{name} must be a list of tag sequences (one list of tag names per "
                            "sentence), e.g. [['B-PER', 'I-PER', 'O']]")
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"true_tags has {len(true_tags)} sequences but pred_tags has {len(pred_tags)}")
    for i, (true, pred) in enumerate(zip(true_tags, pred_tags)):
        if len(true) != len(pred):
            raise ValueError(f"sequence {i}: {len(true)} true tags but {len(pred)} predicted tags; "
                             "predict one tag per word (drop the -100 positions before comparing)")


def entity_f1(true_tags, pred_tags):
    """Micro-averaged entity precision, recall and F1, and tag accuracy, all in 0..1.

    ``true_tags`` and ``pred_tags`` are lists of sentences, each a list of tag names.
    An entity is a chunk ``(sentence, type, start, end)`` found by ``get_entities``; a
    predicted entity counts only when its type and both boundaries are right:

        precision = |true & predicted| / |predicted|     (0 when nothing is predicted)
        recall    = |true & predicted| / |true|          (0 when there is no true entity)
        f1        = 2 precision recall / (precision + recall)    (0 when both are 0)
        accuracy  = fraction of tags equal to the true tag (O included)

    This is seqeval's ``precision_score``/``recall_score``/``f1_score``/``accuracy_score``
    in its default (conlleval) mode, what HF's ``seqeval`` metric reports as ``overall_*``.
    """
    _check_tag_sequences(true_tags, pred_tags)
    true_entities, pred_entities = set(), set()
    correct_tags = total_tags = 0
    for i, (true, pred) in enumerate(zip(true_tags, pred_tags)):
        try:
            true_entities.update((i,) + chunk for chunk in get_entities(true))
            pred_entities.update((i,) + chunk for chunk in get_entities(pred))
        except ValueError as error:
            raise ValueError(f"sequence {i}, {error}") from None
        correct_tags += sum(t == p for t, p in zip(true, pred))
        total_tags += len(true)
    if total_tags == 0:
        raise ValueError("true_tags holds no tags: entity_f1 needs at least one tagged word")
    tp = len(true_entities & pred_entities)
    precision = tp / len(pred_entities) if pred_entities else 0.0
    recall = tp / len(true_entities) if true_entities else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": correct_tags / total_tags}


# ----------------------------------------------------------------------------- SQuAD v1.1

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text):
    """SQuAD v1.1's normalisation: lower case, drop punctuation, drop a/an/the, collapse spaces.

        >>> normalize_answer("The  Eiffel-Tower!")
        'eiffeltower'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(prediction, gold):
    """SQuAD's F1 over the bags of normalised words of one prediction and one gold answer."""
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(prediction_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions, references):
    """``{"exact_match": ..., "f1": ...}`` in percent (0..100), as SQuAD v1.1's evaluate script.

    ``predictions`` is one answer string per question; ``references`` one list of gold
    answer strings per question. Per question, after ``normalize_answer``:

        exact_match = 100 if the prediction equals some gold answer, else 0
        f1          = max over gold answers of the F1 of the two bags of words
                      (P = shared words / predicted words, R = shared words / gold words)

    and both are averaged over the questions.
    """
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("predictions must be a list of answer strings and references a list of "
                        "lists of gold answers, one per question")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; "
                         "pass one list of gold answers per prediction")
    if len(predictions) == 0:
        raise ValueError("predictions is empty: squad_metrics needs at least one question")
    exact = f1 = 0.0
    for i, (prediction, golds) in enumerate(zip(predictions, references)):
        if not isinstance(prediction, str):
            raise TypeError(f"predictions[{i}] must be an answer string, got {type(prediction).__name__}")
        if isinstance(golds, str) or not golds or not all(isinstance(g, str) for g in golds):
            raise ValueError(f"references[{i}] must be a non-empty list of gold answer strings, got {golds!r}")
        exact += max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
        f1 += max(_token_f1(prediction, g) for g in golds)
    return {"exact_match": 100.0 * exact / len(predictions), "f1": 100.0 * f1 / len(predictions)}
