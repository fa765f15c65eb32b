"""numpy_bert.metrics on small cases worked out by hand (the working is in the comments)."""

import numpy as np
import pytest

from numpy_bert.metrics import (accuracy, classification_metrics, confusion_matrix, entity_f1, get_entities,
                                macro_f1, normalize_answer, squad_metrics)

# ----------------------------------------------------------------------------- classification

# y_true 0 0 1 1 2 2 2
# y_pred 0 1 1 1 2 0 2
Y_TRUE = [0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0, 2]


def test_accuracy_counts_equal_pairs():
    # correct at positions 0, 2, 3, 4, 6: 5 of 7
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 7, abs=1e-15)
    assert accuracy(np.array([3]), np.array([3])) == 1.0


def test_confusion_matrix_rows_true_columns_predicted():
    # true 0 -> predicted 0 once, 1 once; true 1 -> 1 twice; true 2 -> 2 twice, 0 once
    expected = [[1, 1, 0],
                [0, 2, 0],
                [1, 0, 2]]
    counts = confusion_matrix(Y_TRUE, Y_PRED, num_labels=3)
    assert counts.tolist() == expected
    assert counts.dtype.kind == "i"
    # a fourth class nobody has adds an empty row and column
    assert confusion_matrix(Y_TRUE, Y_PRED, 4)[3].tolist() == [0, 0, 0, 0]
    assert confusion_matrix(Y_TRUE, Y_PRED, 4)[:, 3].tolist() == [0, 0, 0, 0]


def test_macro_f1_by_hand():
    # F1_k = 2tp / (2tp + fp + fn), from the confusion matrix above:
    #   class 0: tp 1, fp 1 (a true 2), fn 1 -> 2 / 4 = 0.5
    #   class 1: tp 2, fp 1 (a true 0), fn 0 -> 4 / 5 = 0.8
    #   class 2: tp 2, fp 0,            fn 1 -> 4 / 5 = 0.8
    # mean = 2.1 / 3 = 0.7
    assert macro_f1(Y_TRUE, Y_PRED, 3) == pytest.approx(0.7, abs=1e-15)
    # with num_labels=4, class 3 (never true, never predicted) counts as 0: 2.1 / 4
    assert macro_f1(Y_TRUE, Y_PRED, 4) == pytest.approx(0.525, abs=1e-15)
    assert classification_metrics(Y_TRUE, Y_PRED, 3) == pytest.approx({"accuracy": 5 / 7, "macro_f1": 0.7})


def test_macro_f1_zero_division_gives_zero():
    # everything predicted as 0: class 0 tp 1, fp 1, fn 0 -> 2/3; class 1 tp 0 -> 0; mean 1/3
    assert macro_f1([0, 1], [0, 0], 2) == pytest.approx(1 / 3, abs=1e-15)
    assert macro_f1([1, 1], [1, 1], 2) == 0.5          # class 0 absent everywhere: 0, class 1: 1
    assert macro_f1([0, 1, 2], [0, 1, 2], 3) == 1.0


@pytest.mark.parametrize("call,match", [
    (lambda: accuracy([0, 1], [0]), "y_true has 2 labels but y_pred has 1"),
    (lambda: accuracy([], []), "empty"),
    (lambda: confusion_matrix([0, 3], [0, 1], 3), r"y_true\[1\] = 3 is not a class id in 0..2"),
    (lambda: macro_f1([0, 1], [0, -1], 2), r"y_pred\[1\] = -1"),
    (lambda: macro_f1([0, 1], [0, 1], 0), "num_labels must be a positive integer"),
    (lambda: accuracy([[0.1, 0.9]], [1]), "logits"),
])
def test_classification_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_float_or_string_labels_are_rejected_with_a_hint():
    with pytest.raises(TypeError, match="argmax"):
        macro_f1([0, 1], [0.2, 0.9], 2)
    with pytest.raises(TypeError, match="label2id"):
        confusion_matrix(["neg", "pos"], [0, 1], 2)


# ----------------------------------------------------------------------------- entities

def test_get_entities_conlleval_rules():
    # B-PER I-PER: one chunk 0..1; O ends it; I-LOC after O starts a chunk (IOB1 style);
    # I-ORG after I-LOC: the type changes, so LOC ends at 3 and ORG starts at 4;
    # B-ORG after I-ORG ends that chunk and starts another.
    assert get_entities(["B-PER", "I-PER", "O", "I-LOC", "I-ORG", "B-ORG"]) == [
        ("PER", 0, 1), ("LOC", 3, 3), ("ORG", 4, 4), ("ORG", 5, 5)]
    # IOB1: B- marks only the boundary between two chunks of the same type
    assert get_entities(["I-PER", "B-PER", "I-PER"]) == [("PER", 0, 0), ("PER", 1, 2)]
    # a B-PER followed by I-LOC: the type change splits them
    assert get_entities(["B-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 2)]
    assert get_entities(["O", "O"]) == []
    assert get_entities([]) == []


def test_get_entities_end_and_single_tags():
    # S-LOC: a chunk of its own; B-PER E-PER: one chunk 1..2; E- after E- starts (and ends) a
    # new one-token chunk at 3; I-ORG after E- starts a chunk at 4 that O ends.
    assert get_entities(["S-LOC", "B-PER", "E-PER", "E-PER", "I-ORG", "O"]) == [
        ("LOC", 0, 0), ("PER", 1, 2), ("PER", 3, 3), ("ORG", 4, 4)]
    # bare prefixes get seqeval's placeholder type "_"
    assert get_entities(["B", "I", "O", "B"]) == [("_", 0, 1), ("_", 3, 3)]


def test_entity_f1_seqeval_docstring_case():
    # true: MISC 2..3, MISC 4..4 (a new B-), PER 0..1 in sentence 1
    # pred: MISC 2..3, MISC 4..5 (wrong end),  PER 0..1
    # tp = 2 of 3 predicted and 3 true: P = R = F = 2/3; tags: 9 of 10 equal
    true = [["O", "O", "B-MISC", "I-MISC", "B-MISC", "O", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "B-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    assert entity_f1(true, pred) == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "accuracy": 0.9}, abs=1e-15)


def test_entity_f1_iob1_and_iob2_spell_the_same_entities():
    # I-PER I-PER O I-LOC and B-PER I-PER O B-LOC are both PER 0..1, LOC 3..3: F1 = 1,
    # while the tags differ at 0 and 3: accuracy 2/4
    scores = entity_f1([["I-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert scores == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 0.5}, abs=1e-15)


def test_entity_f1_micro_average_over_types():
    # true: PER 0..0, LOC 2..3; pred: PER 0..0, MISC 1..1, LOC 2..3
    # tp 2, predicted 3, true 2: P = 2/3, R = 1, F = 2 (2/3) / (5/3) = 4/5; tags 4 of 5
    true = [["B-PER", "O", "B-LOC", "I-LOC", "O"]]
    pred = [["B-PER", "B-MISC", "B-LOC", "I-LOC", "O"]]
    assert entity_f1(true, pred) == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "accuracy": 0.8}, abs=1e-15)


def test_entity_f1_type_change_is_a_miss():
    # true PER 0..2; pred PER 0..0 and LOC 1..2: no match, so P = R = F = 0; tags 1 of 3
    scores = entity_f1([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-LOC", "I-LOC"]])
    assert scores == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 1 / 3}, abs=1e-15)


def test_entity_f1_chunks_stop_at_sentence_ends():
    # sentence 0 "B-PER", sentence 1 "I-PER": two PER entities, not one spanning both.
    # pred finds only the first: tp 1, P = 1, R = 1/2, F = 2 * 1/2 / (3/2) = 2/3; tags 1 of 2
    scores = entity_f1([["B-PER"], ["I-PER"]], [["B-PER"], ["O"]])
    assert scores == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "accuracy": 0.5}, abs=1e-15)


def test_entity_f1_nothing_predicted_or_nothing_true_is_zero():
    assert entity_f1([["B-PER", "O"]], [["O", "O"]])["f1"] == 0.0
    assert entity_f1([["O", "O"]], [["O", "O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 1.0}


def test_entity_f1_bad_input():
    with pytest.raises(ValueError, match="sequence 1: 2 true tags but 1 predicted"):
        entity_f1([["O"], ["O", "B-X"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 sequences but pred_tags has 1"):
        entity_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match=r"sequence 0, tag 1: 'PER' is not an IOB tag"):
        entity_f1([["O", "PER"]], [["O", "O"]])
    with pytest.raises(ValueError, match="is not an IOB tag.*id2label"):
        entity_f1([[0, 1]], [[0, 1]])
    with pytest.raises(TypeError, match="list of tag sequences"):
        entity_f1(["B-PER", "O"], ["B-PER", "O"])
    with pytest.raises(ValueError, match="no tags"):
        entity_f1([[]], [[]])


# ----------------------------------------------------------------------------- SQuAD

def test_normalize_answer():
    # lower, drop punctuation (the hyphen too, so the words join), drop articles, collapse spaces
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("U.S.A.") == "usa"
    # articles only as whole words: "another" and "theory" keep their letters
    assert normalize_answer("An apple, another theory") == "apple another theory"
    assert normalize_answer("  a\tb\n") == "b"


def test_squad_metrics_by_hand():
    # q0: "Denver Broncos" equals the second gold answer: EM 1, F1 1
    # q1: pred words {big, cat, sat}, gold {cat, sat, down} (articles dropped): 2 shared,
    #     P = R = 2/3, F1 = 2/3, EM 0
    # q2: no shared word: EM 0, F1 0
    # EM = 100 * 1/3; F1 = 100 * (1 + 2/3 + 0) / 3 = 100 * 5/9
    predictions = ["Denver Broncos", "the big cat sat", "Paris"]
    references = [["Broncos", "Denver Broncos"], ["a cat sat down"], ["London"]]
    assert squad_metrics(predictions, references) == pytest.approx(
        {"exact_match": 100 / 3, "f1": 500 / 9}, abs=1e-12)


def test_squad_token_f1_counts_repeated_words_once_per_match():
    # pred words cat cat cat (articles dropped), gold cat: 1 shared word, P = 1/3, R = 1,
    # F1 = 2 (1/3) / (4/3) = 1/2
    assert squad_metrics(["the the cat cat cat"], [["cat"]]) == pytest.approx({"exact_match": 0.0, "f1": 50.0})
    # punctuation and case never matter
    assert squad_metrics(["Hello, World!"], [["hello world"]]) == {"exact_match": 100.0, "f1": 100.0}


def test_squad_empty_after_normalisation():
    # the official script: "The" and "a" both normalise to "", so they match exactly, but
    # token F1 has no shared word and is 0
    assert squad_metrics(["The"], [["a"]]) == {"exact_match": 100.0, "f1": 0.0}
    assert squad_metrics([""], [["x"]]) == {"exact_match": 0.0, "f1": 0.0}


def test_squad_bad_input():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        squad_metrics(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match=r"references\[0\] must be a non-empty list"):
        squad_metrics(["a"], [[]])
    with pytest.raises(ValueError, match=r"references\[0\] must be a non-empty list"):
        squad_metrics(["a"], ["a"])
    with pytest.raises(TypeError, match=r"predictions\[0\] must be an answer string"):
        squad_metrics([None], [["a"]])
    with pytest.raises(ValueError, match="empty"):
        squad_metrics([], [])
