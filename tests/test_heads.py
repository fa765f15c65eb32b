"""The task heads: gradients against finite differences, losses as HF defines them, and
loading / saving as transformers' from_pretrained / save_pretrained do.

- every head's loss_and_grads, for every parameter tensor, against float64 centred
  differences at a tiny odd config, with dropout off and on (the same masks replayed);
- each loss against a direct NumPy formula of HF's loss (problem types, -100, QA's clamp);
- from_pretrained on checkpoints without the head (BertModel, BertForPreTraining): the
  head is initialised from the seed, named in a warning and in loading_info; another
  num_labels is refused unless ignore_mismatched_sizes; save_pretrained round trips.
(tests/reference/test_heads_live.py compares all of it with transformers and torch.)
"""

import json

import numpy as np
import pytest

from numpy_bert import (BertConfig, BertForMaskedLM, BertForMultipleChoice, BertForNextSentencePrediction,
                        BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification,
                        BertForTokenClassification, BertModel)
from numpy_bert.model import init_params

from .test_model_grads import finite_difference_errors, is_key_bias

TINY = dict(vocab_size=13, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
            intermediate_size=7, max_position_embeddings=9, type_vocab_size=3, initializer_range=0.3,
            layer_norm_eps=1e-5, hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)


def tiny(cls, seed=0, **config):
    """A float64 model at the tiny odd config, every tensor moved off its initial value."""
    model = cls(BertConfig(**{**TINY, **config}), seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for p in model.params.values():   # biases off 0, LayerNorm weights off 1
        p += (0.2 if p.ndim == 1 else 0.05) * rng.standard_normal(p.shape)
    return model


def batch(B=3, T=5, seed=0):
    """ids (B, T) with a padded row and the padding id 0 at a real position, two segments."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, TINY["vocab_size"], size=(B, T))
    ids[0, 1] = 0
    types = np.zeros((B, T), np.int64)
    types[0, 3:] = 1
    mask = np.ones((B, T), np.int64)
    mask[1, 3:] = 0
    ids[1, 3:] = 0
    return dict(input_ids=ids, token_type_ids=types, attention_mask=mask)


def cannot_learn(model, name):
    """Parameters whose true gradient is 0: the key bias (softmax over the keys removes it)
    and, for QA, qa_outputs.bias and the last LayerNorm's bias: each adds one constant to
    the start (or end) logit of every token, which the softmax over the tokens removes;
    for multiple choice, classifier.bias (the same constant added to every choice's score)."""
    last = f"bert.encoder.layer.{model.config.num_hidden_layers - 1}.output.LayerNorm.bias"
    return (is_key_bias(name)
            or (isinstance(model, BertForQuestionAnswering) and name in (last, "qa_outputs.bias"))
            or (isinstance(model, BertForMultipleChoice) and name == "classifier.bias"))


def assert_gradients_match_finite_differences(model, inputs, train):
    """Every parameter tensor, eval or train mode (the same dropout masks on every call)."""
    if train:
        model.train()

    def loss_only():
        model.rng = np.random.default_rng(42)
        return model.loss_and_grads(**inputs)[0]

    model.rng = np.random.default_rng(42)
    _, grads = model.loss_and_grads(**inputs)
    assert list(grads) == list(model.params)
    worst = finite_difference_errors(model, grads, loss_only, cannot=lambda name: cannot_learn(model, name))
    name = max(worst, key=worst.get)
    assert worst[name] <= 1e-6, f"worst {name}: relative error {worst[name]:.2e}"


# ----------------------------------------------------------------------------- sequence classification

SEQUENCE_LABELS = {
    "single_label_classification": (3, np.array([2, 0, 1])),
    "multi_label_classification": (3, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.3, 1.0, 0.0]])),
    "regression": (1, np.array([0.5, -1.25, 2.0])),
    "regression (N=2)": (2, np.array([[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]])),
}


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("problem", SEQUENCE_LABELS)
def test_sequence_classification_gradients(problem, train):
    num_labels, labels = SEQUENCE_LABELS[problem]
    model = tiny(BertForSequenceClassification, num_labels=num_labels,
                 problem_type=problem.split(" ")[0], classifier_dropout=0.3)
    assert_gradients_match_finite_differences(model, {**batch(), "labels": labels}, train)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("problem", SEQUENCE_LABELS)
def test_sequence_classification_loss_is_hfs(problem):
    """HF's losses written out: MSE, cross-entropy, BCE with logits; problem_type chosen
    from num_labels and the labels' dtype when None, and kept in the config."""
    num_labels, labels = SEQUENCE_LABELS[problem]
    # float labels with N > 1 are multi-label to HF: regression there must be asked for
    given = "regression" if problem == "regression (N=2)" else None
    model = tiny(BertForSequenceClassification, num_labels=num_labels, problem_type=given)
    loss, _, details = model.loss_and_grads(**batch(), labels=labels, return_details=True)
    z = details["logits"]                                            # (B, N)
    np.testing.assert_allclose(z, model(**batch())["logits"], rtol=0, atol=1e-14)
    assert model.config.problem_type == problem.split(" ")[0]
    if problem == "single_label_classification":
        want = -np.mean(log_softmax(z)[np.arange(3), labels])
    elif problem == "multi_label_classification":
        want = -np.mean(labels * np.log(sigmoid(z)) + (1 - labels) * np.log(1 - sigmoid(z)))
    else:
        want = np.mean((z - labels.reshape(z.shape)) ** 2)
    assert abs(loss - want) <= 1e-13 * max(1.0, want)


def test_sequence_classification_ignores_label_minus_100_and_uses_classifier_dropout():
    model = tiny(BertForSequenceClassification, num_labels=3)
    full, _ = model.loss_and_grads(**batch(), labels=np.array([2, -100, 1]))
    first_and_last = {k: v[[0, 2]] for k, v in batch().items()}
    alone, _ = model.loss_and_grads(**first_and_last, labels=np.array([2, 1]))
    assert abs(full - alone) < 1e-13
    # classifier_dropout falls back to hidden_dropout_prob, as in HF
    assert model._dropout_p() == TINY["hidden_dropout_prob"]
    model.config.classifier_dropout = 0.0
    model.train()
    model.rng = np.random.default_rng(3)
    a = model(**batch())["logits"]
    model.config.classifier_dropout = 0.5
    model.rng = np.random.default_rng(3)
    b = model(**batch())["logits"]
    assert not np.allclose(a, b)


def test_sequence_classification_bad_labels():
    model = tiny(BertForSequenceClassification, num_labels=3)
    inputs = batch()
    with pytest.raises(ValueError, match="needs labels"):
        model.loss_and_grads(**inputs)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\) or -100"):
        model.loss_and_grads(**inputs, labels=np.array([0, 3, 1]))
    with pytest.raises(ValueError, match=r"labels has shape \(2,\) but must be \(3,\)"):
        model.loss_and_grads(**inputs, labels=np.array([0, 1]))
    multi = tiny(BertForSequenceClassification, num_labels=3, problem_type="multi_label_classification")
    with pytest.raises(ValueError, match=r"shape \(3,\) but must be \(3, 3\)"):
        multi.loss_and_grads(**inputs, labels=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        multi.loss_and_grads(**inputs, labels=np.full((3, 3), 2.0))
    single = tiny(BertForSequenceClassification, num_labels=3, problem_type="single_label_classification")
    with pytest.raises(TypeError, match="labels must hold integers"):
        single.loss_and_grads(**inputs, labels=np.array([0.0, 1.0, 2.0]))


# ----------------------------------------------------------------------------- the other heads

TOKEN_LABELS = np.array([[-100, 2, 0, 3, -100], [1, 1, 0, -100, -100], [-100, 0, 3, 2, 1]])
MLM_LABELS = np.array([[-100, 4, -100, -100, 11], [0, -100, -100, -100, -100], [-100, -100, 12, -100, -100]])


def other_heads():
    """(class, config changes, inputs) for each head but sequence classification."""
    rng = np.random.default_rng(5)
    choices = {k: np.stack([v, np.roll(v, 1, axis=0)], axis=1) for k, v in batch().items()}  # (B, 2, T)
    return {
        "token": (BertForTokenClassification, {"num_labels": 4}, {**batch(), "labels": TOKEN_LABELS}),
        # positions past the end (9 > T = 5) and negative are clamped to T (ignored) and 0
        "qa": (BertForQuestionAnswering, {}, {**batch(), "start_positions": np.array([1, 9, -3]),
                                              "end_positions": np.array([[3], [2], [7]])}),
        "mlm": (BertForMaskedLM, {}, {**batch(), "labels": MLM_LABELS}),
        "nsp": (BertForNextSentencePrediction, {}, {**batch(), "labels": np.array([1, 0, 1])}),
        "choice": (BertForMultipleChoice, {}, {**choices, "labels": rng.permutation([0, 1, 1])}),
    }


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("head", list(other_heads()))
def test_other_heads_gradients(head, train):
    cls, config, inputs = other_heads()[head]
    assert_gradients_match_finite_differences(tiny(cls, classifier_dropout=0.3, **config), inputs, train)


@pytest.mark.parametrize("head", list(other_heads()))
def test_details_are_the_forwards_outputs(head):
    cls, config, inputs = other_heads()[head]
    model = tiny(cls, **config)
    _, _, details = model.loss_and_grads(**inputs, return_details=True)
    out = model(**{k: v for k, v in inputs.items() if k in batch()})
    assert set(details) <= set(out)
    for key, value in details.items():
        np.testing.assert_allclose(value, out[key], rtol=0, atol=1e-14, err_msg=key)


def test_token_classification_loss_skips_minus_100_and_all_ignored_is_zero():
    model = tiny(BertForTokenClassification, num_labels=4)
    loss, _, details = model.loss_and_grads(**batch(), labels=TOKEN_LABELS, return_details=True)
    kept = TOKEN_LABELS != -100
    assert abs(loss + np.mean(log_softmax(details["logits"])[kept, TOKEN_LABELS[kept]])) < 1e-13
    loss, grads = model.loss_and_grads(**batch(), labels=np.full_like(TOKEN_LABELS, -100))
    assert loss == 0.0 and not any(np.any(g) for g in grads.values())


def test_question_answering_clamps_positions_as_hf():
    model = tiny(BertForQuestionAnswering)
    inputs = other_heads()["qa"][2]
    loss, _, d = model.loss_and_grads(**inputs, return_details=True)
    # clamp(0, T=5): start 9 -> 5 (ignored), -3 -> 0; end 7 -> 5 (ignored)
    start = -np.mean(log_softmax(d["start_logits"])[[0, 2], [1, 0]])
    end = -np.mean(log_softmax(d["end_logits"])[[0, 1], [3, 2]])
    assert abs(loss - (start + end) / 2) < 1e-13
    with pytest.raises(ValueError, match="needs start_positions and end_positions"):
        model.loss_and_grads(**batch(), start_positions=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"start_positions must have shape \(B,\)"):
        model.loss_and_grads(**batch(), start_positions=np.zeros(2, int), end_positions=np.zeros(3, int))
    with pytest.raises(ValueError, match="num_labels must be 2"):
        BertForQuestionAnswering(BertConfig(**TINY, num_labels=3))


def test_masked_lm_is_the_pretraining_models_mlm_head():
    """Same parameters: BertForMaskedLM's logits, loss and gradients are BertForPreTraining's
    MLM part (which runs the head on the labelled rows only); the decoder is tied."""
    pretraining = tiny(BertForPreTraining)
    mlm = BertForMaskedLM(pretraining.config, dtype=np.float64)
    assert "bert.pooler.dense.weight" not in mlm.params and "cls.seq_relationship.weight" not in mlm.params
    for name in mlm.params:
        mlm.params[name][...] = pretraining.params[name]
    inputs = batch()
    np.testing.assert_allclose(mlm(**inputs)["logits"], pretraining(**inputs)["prediction_logits"],
                               rtol=0, atol=1e-13)
    loss, grads = mlm.loss_and_grads(**inputs, labels=MLM_LABELS)
    want, want_grads = pretraining.loss_and_grads(**inputs, labels=MLM_LABELS)
    assert abs(loss - want) < 1e-13
    for name, g in grads.items():
        np.testing.assert_allclose(g, want_grads[name], rtol=0, atol=1e-13, err_msg=name)
    # every vocabulary row gets the decoder's gradient (softmax over V), on top of the lookup's
    assert np.all(np.any(grads["bert.embeddings.word_embeddings.weight"] != 0, axis=1))


def test_multiple_choice_scores_each_choice_as_a_sequence():
    model = tiny(BertForMultipleChoice)
    cls, _, inputs = other_heads()["choice"]
    logits = model(**{k: v for k, v in inputs.items() if k != "labels"})["logits"]   # (B, C)
    assert logits.shape == (3, 2)
    for c in range(2):
        one = {k: v[:, c] for k, v in inputs.items() if k != "labels"}
        ours = model(**{k: v[:, None] for k, v in one.items()})["logits"][:, 0]
        np.testing.assert_allclose(logits[:, c], ours, rtol=0, atol=1e-14)
    assert model.params["classifier.weight"].shape == (1, 12)
    with pytest.raises(ValueError, match=r"input_ids of shape \(B, C, T\)"):
        model(batch()["input_ids"])
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\)"):
        model.loss_and_grads(**{**inputs, "labels": np.array([0, 2, 1])})


def test_fill_mask_pipeline_takes_an_mlm_only_checkpoint(tmp_path):
    """A BertForMaskedLM checkpoint (no pooler, no NSP head) fills masks as the full one."""
    import shutil

    from numpy_bert import pipeline
    from tests.test_pipelines import FILL_MASK, MODEL_DIR, assert_same_predictions

    pretraining = BertForPreTraining.from_pretrained(MODEL_DIR)
    mlm = BertForMaskedLM.from_pretrained(MODEL_DIR)
    assert sorted(mlm.loading_info["unexpected_keys"]) == [
        "bert.pooler.dense.bias", "bert.pooler.dense.weight",
        "cls.seq_relationship.bias", "cls.seq_relationship.weight"]
    shutil.copytree(MODEL_DIR, tmp_path / "mlm")
    mlm.save_pretrained(tmp_path / "mlm")
    unmasker = pipeline("fill-mask", model=tmp_path / "mlm")
    assert isinstance(unmasker.model, BertForMaskedLM) and unmasker.model.loading_info["unexpected_keys"] == []
    case = FILL_MASK[next(iter(FILL_MASK))]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert_same_predictions(unmasker(case["inputs"], **case["kwargs"]), case["output"], "mlm-only")
    assert pipeline("fill-mask", model=pretraining, tokenizer=unmasker.tokenizer).model is pretraining


# ----------------------------------------------------------------------------- loading and saving

@pytest.fixture
def encoder_dir(tmp_path):
    """A BertModel checkpoint (no head, no "bert." prefix), as MiniLM's."""
    encoder = tiny(BertModel)
    encoder.save_pretrained(tmp_path / "encoder")
    return tmp_path / "encoder", encoder


def test_from_pretrained_initialises_the_missing_head_and_names_it(encoder_dir):
    path, encoder = encoder_dir
    with pytest.warns(UserWarning, match=r"newly initialized: \['classifier.weight', 'classifier.bias'\]"):
        model = BertForSequenceClassification.from_pretrained(path, dtype=np.float64, seed=7, num_labels=3,
                                                              id2label={0: "neg", 1: "neu", 2: "pos"})
    assert model.loading_info == {"missing_keys": ["classifier.weight", "classifier.bias"],
                                  "unexpected_keys": [], "mismatched_keys": []}
    assert model.config.id2label == {0: "neg", 1: "neu", 2: "pos"} and model.config.num_labels == 3
    for name, p in encoder.params.items():
        np.testing.assert_array_equal(model.params["bert." + name], p, err_msg=name)
    # the head as HF initialises it: N(0, initializer_range), zero bias, from default_rng(seed)
    w = np.random.default_rng(7).standard_normal((3, 12)) * TINY["initializer_range"]
    np.testing.assert_array_equal(model.params["classifier.weight"], w)
    np.testing.assert_array_equal(model.params["classifier.bias"], np.zeros(3))
    head = init_params(model.config, model.architecture, 7, np.float64, names=["classifier.weight"])
    np.testing.assert_array_equal(head["classifier.weight"], w)
    assert list(model.params) == list(BertForSequenceClassification(model.config).params)


def test_from_pretrained_of_a_pretraining_checkpoint_leaves_its_heads_out(tmp_path):
    pretrained = tiny(BertForPreTraining)
    pretrained.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="classifier.weight"):
        model = BertForSequenceClassification.from_pretrained(tmp_path, dtype=np.float64)
    heads = [name for name in pretrained.params if name.startswith("cls.")]
    assert sorted(model.loading_info["unexpected_keys"]) == sorted(heads)
    for name in model.params:
        if name.startswith("bert."):
            np.testing.assert_array_equal(model.params[name], pretrained.params[name], err_msg=name)


def test_save_pretrained_round_trip(tmp_path):
    model = tiny(BertForSequenceClassification, num_labels=3, id2label={0: "a", 1: "b", 2: "c"},
                 problem_type="multi_label_classification", classifier_dropout=0.25)
    model.save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["architectures"] == ["BertForSequenceClassification"]
    assert raw["id2label"] == {"0": "a", "1": "b", "2": "c"} and raw["label2id"] == {"a": 0, "b": 1, "c": 2}
    assert raw["problem_type"] == "multi_label_classification" and raw["classifier_dropout"] == 0.25
    again = BertForSequenceClassification.from_pretrained(tmp_path, dtype=np.float64)
    assert again.loading_info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert again.config.architectures == ["BertForSequenceClassification"]
    again.config.architectures = model.config.architectures
    assert again.config == model.config and list(again.params) == list(model.params)
    for name, p in model.params.items():
        np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    inputs = batch()
    np.testing.assert_array_equal(again(**inputs)["logits"], model(**inputs)["logits"])


def test_another_num_labels_needs_ignore_mismatched_sizes(tmp_path):
    tiny(BertForSequenceClassification, num_labels=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"classifier.weight has shape \(2, 12\) but the config expects "
                                         r"\(3, 12\).*ignore_mismatched_sizes=True.*--ignore-mismatched-sizes"):
        BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    with pytest.warns(UserWarning, match=r"shapes did not match:\n- classifier.weight: found shape \(2, 12\)"):
        model = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3, ignore_mismatched_sizes=True)
    assert model.loading_info["mismatched_keys"] == [("classifier.weight", (2, 12), (3, 12)),
                                                     ("classifier.bias", (2,), (3,))]
    assert model.params["classifier.weight"].shape == (3, 12)


def test_an_incomplete_encoder_is_still_an_error(tmp_path, encoder_dir):
    from numpy_bert.weights import load_safetensors, save_state_dict

    path, _ = encoder_dir
    tensors = dict(load_safetensors(path / "model.safetensors"))
    del tensors["encoder.layer.1.output.dense.weight"]
    (tmp_path / "broken").mkdir()
    save_state_dict(tensors, tmp_path / "broken")
    (tmp_path / "broken" / "config.json").write_text((path / "config.json").read_text())
    with pytest.raises(ValueError, match="missing 1 tensor.*bert.encoder.layer.1.output.dense.weight"):
        BertForSequenceClassification.from_pretrained(tmp_path / "broken")
    with pytest.raises(TypeError, match="unknown config field"):
        BertForSequenceClassification.from_pretrained(path, num_label=3)


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# BertForNextSentencePrediction._labels_spec: two classes, so label 2 is refused
def test_next_sentence_labels_are_0_or_1():
    model = tiny(BertForNextSentencePrediction)
    with pytest.raises(ValueError, match=r"^labels must be class ids in \[0, 2\) or -100 \(ignored\), got 2$"):
        model.loss_and_grads(**batch(), labels=np.array([0, 2, 1]))


# BertForMultipleChoice._inputs: a mask of another shape is named in the message
def test_multiple_choice_names_a_mask_of_another_shape():
    model = tiny(BertForMultipleChoice)
    inputs = other_heads()["choice"][2]
    with pytest.raises(ValueError, match=r"^attention_mask has shape \(3, 2, 4\) but the inputs have shape "
                                         r"\(3, 2, 5\); they must match$"):
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"][..., :4])


# -- found by the full mutation run of model: what a head's __call__ passes on, and
# -- from_pretrained's defaults, warning and checks

def test_head_call_passes_hidden_states_attentions_embeds_and_head_mask():
    """A head's __call__ gives "logits", and hidden_states, attentions, inputs_embeds, head_mask as asked."""
    model = tiny(BertForTokenClassification, num_labels=4)
    inputs = batch()
    plain = model(**inputs)
    assert set(plain) == {"logits"} and plain["logits"].shape == (3, 5, 4)
    hidden = model(**inputs, output_hidden_states=True)
    assert set(hidden) == {"logits", "hidden_states"} and len(hidden["hidden_states"]) == 3
    assert all(h.shape == (3, 5, 12) for h in hidden["hidden_states"])
    w, b = model.params["classifier.weight"], model.params["classifier.bias"]
    np.testing.assert_allclose(hidden["hidden_states"][-1] @ w.T + b, plain["logits"], rtol=0, atol=1e-12)
    attentions = model(**inputs, output_attentions=True)
    assert set(attentions) == {"logits", "attentions"} and len(attentions["attentions"]) == 2
    for a in attentions["attentions"]:
        assert a.shape == (3, 3, 5, 5)
        np.testing.assert_allclose(a.sum(-1), 1, rtol=0, atol=1e-12)
    embeds = model.params["bert.embeddings.word_embeddings.weight"][inputs["input_ids"]]
    from_embeds = model(token_type_ids=inputs["token_type_ids"], attention_mask=inputs["attention_mask"],
                        inputs_embeds=embeds)
    np.testing.assert_allclose(from_embeds["logits"], plain["logits"], rtol=0, atol=1e-12)
    masked = model(**inputs, output_attentions=True, head_mask=np.array([1.0, 0.0, 1.0]))
    assert all(np.all(a[:, 1] == 0) for a in masked["attentions"])
    assert not np.allclose(masked["logits"], plain["logits"])


def test_from_pretrained_warning_says_what_was_initialised(encoder_dir):
    """transformers' whole warning; defaults float32 and seed 0 (the new head drawn as init_params draws it)."""
    path, _ = encoder_dir
    with pytest.warns(UserWarning) as caught:
        model = BertForSequenceClassification.from_pretrained(path)
    [warning] = caught
    assert str(warning.message) == (
        f"Some weights of BertForSequenceClassification were not initialized from the model checkpoint at "
        f"{path} and are newly initialized: ['classifier.weight', 'classifier.bias']\n"
        f"You should probably TRAIN this model on a down-stream task to be able to use it for predictions "
        f"and inference.")
    assert all(p.dtype == np.float32 for p in model.params.values())
    w = np.random.default_rng(0).standard_normal((2, 12), dtype=np.float32) * np.float32(TINY["initializer_range"])
    np.testing.assert_array_equal(model.params["classifier.weight"], w)


@pytest.mark.skipif(hasattr(BertModel.from_pretrained, "__wrapped__"),
                    reason="a wrapper around from_pretrained (mutmut's trampolines) adds stack frames")
def test_from_pretrained_warning_points_at_the_callers_line(encoder_dir):
    """The newly-initialised warning is attributed to the line that called from_pretrained."""
    with pytest.warns(UserWarning) as caught:
        BertForSequenceClassification.from_pretrained(encoder_dir[0])
    assert [w.filename for w in caught] == [__file__]


def test_from_pretrained_refuses_nonfinite_weights_unless_allowed(tmp_path):
    """A NaN in a checkpoint is refused by default, naming the tensor; allow_nonfinite=True loads it."""
    encoder = tiny(BertModel)
    encoder.params["encoder.layer.0.output.dense.weight"][1, 2] = np.nan
    encoder.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"1 tensor\(s\) hold NaN or infinite values: encoder.layer.0.output"
                                         r".dense.weight \(1 NaN, 0 infinite of 84 values\)"):
        BertModel.from_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="loaded with allow_nonfinite=True"):
        model = BertModel.from_pretrained(tmp_path, dtype=np.float64, allow_nonfinite=True)
    assert np.isnan(model.params["encoder.layer.0.output.dense.weight"][1, 2])


def test_question_answering_from_pretrained_checks_num_labels(encoder_dir):
    """from_pretrained refuses a config QA cannot be built from, as the constructor does."""
    path, _ = encoder_dir
    with pytest.raises(ValueError, match=r"^BertForQuestionAnswering's qa_outputs give a start and an end "
                                         r"score: config.num_labels must be 2, got 3; pass num_labels=2$"):
        BertForQuestionAnswering.from_pretrained(path, num_labels=3)


def test_question_answering_position_errors_name_the_argument():
    """The whole message of missing, float or wrongly shaped start / end positions."""
    model = tiny(BertForQuestionAnswering)
    good = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"^loss_and_grads needs start_positions and end_positions \(B,\): "
                                         r"the answer's first and last token$"):
        model.loss_and_grads(**batch(), end_positions=good)
    with pytest.raises(TypeError, match=r"^start_positions must hold integers \(token ids / labels\), got dtype "
                                        r"float64; convert with np.asarray\(start_positions, dtype=np.int64\)$"):
        model.loss_and_grads(**batch(), start_positions=good.astype(float), end_positions=good)
    with pytest.raises(ValueError, match=r"^end_positions must have shape \(B,\) = \(3,\), got \(2,\)$"):
        model.loss_and_grads(**batch(), start_positions=good, end_positions=good[:2])


def test_multiple_choice_input_grads_have_the_inputs_shape():
    """return_input_grads on (B, C, T) inputs gives (B, C, T, H) gradients, matching centred differences."""
    model = tiny(BertForMultipleChoice)
    _, _, inputs = other_heads()["choice"]
    embeds = model.params["bert.embeddings.word_embeddings.weight"][inputs["input_ids"]].copy()   # (3, 2, 5, 12)
    kwargs = dict(token_type_ids=inputs["token_type_ids"], attention_mask=inputs["attention_mask"],
                  labels=inputs["labels"])
    _, grads = model.loss_and_grads(inputs_embeds=embeds, return_input_grads=True, **kwargs)
    assert grads["inputs_embeds"].shape == grads["embedding_output"].shape == (3, 2, 5, 12)
    for index in [(0, 1, 0, 3), (2, 0, 4, 11)]:
        keep = embeds[index]
        embeds[index] = keep + 1e-6
        up = model.loss_and_grads(inputs_embeds=embeds, **kwargs)[0]
        embeds[index] = keep - 1e-6
        down = model.loss_and_grads(inputs_embeds=embeds, **kwargs)[0]
        embeds[index] = keep
        assert abs(grads["inputs_embeds"][index] - (up - down) / 2e-6) < 1e-7, index


# -- found by the full mutation run of model, second part: the MLM head's backward adds into
# -- grads, BertForMultipleChoice's flattening and input errors, what QA's loss_and_grads
# -- passes on, and sequence classification's whole label messages

def test_mlm_head_backward_adds_into_the_gradients():
    """mlm_head_backward adds each of its gradients into grads (accumulation), and they are the head's."""
    from numpy_bert.model import mlm_head_backward, mlm_head_forward

    model = tiny(BertForPreTraining)
    layers, params, config = model.layers, model.params, model.config
    rng = np.random.default_rng(11)
    h = rng.standard_normal((4, 12))                                          # (M, H)
    logits, _ = mlm_head_forward(layers, params, config, h)
    dlogits = rng.standard_normal(logits.shape)                               # (M, V)
    names = ["bert.embeddings.word_embeddings.weight", "cls.predictions.bias",
             "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
             "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias"]
    alone = {name: np.zeros_like(params[name]) for name in names}
    mlm_head_backward(layers, dlogits, mlm_head_forward(layers, params, config, h, True)[1], alone)
    start = {name: rng.standard_normal(params[name].shape) for name in names}
    grads = {name: g.copy() for name, g in start.items()}
    mlm_head_backward(layers, dlogits, mlm_head_forward(layers, params, config, h, True)[1], grads)
    for name in names:
        assert np.any(alone[name] != 0), name
        np.testing.assert_allclose(grads[name], start[name] + alone[name], rtol=0, atol=1e-12, err_msg=name)
    # the gradients themselves: sum(dlogits * logits) along a random direction, centred differences
    direction = {name: rng.standard_normal(params[name].shape) for name in names}
    f = lambda: np.sum(dlogits * mlm_head_forward(layers, params, config, h)[0])
    moved = {}
    for sign in (1, -1):
        for name in names:
            params[name] += sign * 1e-6 * direction[name]
        moved[sign] = f()
        for name in names:
            params[name] -= sign * 1e-6 * direction[name]
    want = (moved[1] - moved[-1]) / 2e-6
    got = sum(np.sum(alone[name] * direction[name]) for name in names)
    assert abs(got - want) <= 1e-6 * max(1.0, abs(want))


def test_multiple_choice_is_sequence_classification_of_the_flattened_pairs():
    """(B, C, T) inputs scored as the B*C flattened pairs by a one-label classifier, logits (B, C);
    masks and token types flattened with them, inputs_embeds (B, C, T, H) as the ids' embeddings."""
    choice = tiny(BertForMultipleChoice)
    single = BertForSequenceClassification(BertConfig(**{**TINY, "num_labels": 1}), dtype=np.float64)
    assert list(single.params) == list(choice.params)
    for name, p in choice.params.items():
        single.params[name][...] = p
    _, _, inputs = other_heads()["choice"]
    grid = {k: v for k, v in inputs.items() if k != "labels"}                 # (3, 2, 5) each
    flat = {k: v.reshape(6, 5) for k, v in grid.items()}
    for keys in [("input_ids",), ("input_ids", "token_type_ids"), ("input_ids", "attention_mask"), tuple(grid)]:
        logits = choice(**{k: grid[k] for k in keys})["logits"]
        assert logits.shape == (3, 2) and logits.dtype == np.float64
        want = single(**{k: flat[k] for k in keys})["logits"].reshape(3, 2)
        np.testing.assert_allclose(logits, want, rtol=0, atol=1e-12, err_msg=str(keys))
    assert not np.allclose(choice(grid["input_ids"])["logits"], choice(**grid)["logits"])
    words = choice.params["bert.embeddings.word_embeddings.weight"]
    embeds = words[grid["input_ids"]]                                          # (3, 2, 5, 12)
    from_embeds = choice(inputs_embeds=embeds, token_type_ids=grid["token_type_ids"],
                         attention_mask=grid["attention_mask"])["logits"]
    assert from_embeds.dtype == np.float64
    np.testing.assert_allclose(from_embeds, choice(**grid)["logits"], rtol=0, atol=1e-12)
    # one choice per example (C = 1) and one example (B = 1) are shapes like any other
    one = choice(inputs_embeds=embeds[:1, :1])["logits"]
    assert one.shape == (1, 1)
    np.testing.assert_allclose(one, choice(grid["input_ids"][:1, :1])["logits"], rtol=0, atol=1e-12)


def test_multiple_choice_input_errors_are_whole_messages():
    """Both ids and embeds, embeds not (B, C, T, H) or empty, float ids, token types of another shape."""
    model = tiny(BertForMultipleChoice)
    _, _, inputs = other_heads()["choice"]
    ids = inputs["input_ids"]                                                  # (3, 2, 5)
    embeds = model.params["bert.embeddings.word_embeddings.weight"][ids]       # (3, 2, 5, 12)
    with pytest.raises(ValueError, match=r"^pass exactly one of input_ids \(B, C, T\) and inputs_embeds "
                                         r"\(B, C, T, H\)$"):
        model(input_ids=ids, inputs_embeds=embeds)
    for bad in (embeds[:, 0], embeds[:, :0]):
        shape = str(bad.shape).replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(ValueError, match=r"^BertForMultipleChoice takes inputs_embeds of shape "
                                             r"\(B, C, T, H\), got shape " + shape + "$"):
            model(inputs_embeds=bad)
    with pytest.raises(TypeError, match=r"^input_ids must hold integers \(token ids / labels\), got dtype "
                                        r"float64; convert with np.asarray\(input_ids, dtype=np.int64\)$"):
        model(ids.astype(np.float64))
    with pytest.raises(ValueError, match=r"^token_type_ids has shape \(3, 2, 4\) but the inputs have shape "
                                         r"\(3, 2, 5\); they must match$"):
        model(ids, token_type_ids=inputs["token_type_ids"][..., :4])


def test_question_answering_loss_and_grads_passes_embeds_head_mask_and_inspection():
    """QA's loss_and_grads takes inputs_embeds and head_mask, and adds input / activation gradients as asked."""
    model = tiny(BertForQuestionAnswering)
    inputs = other_heads()["qa"][2]
    positions = {k: inputs[k] for k in ("start_positions", "end_positions")}
    rest = {k: inputs[k] for k in ("token_type_ids", "attention_mask")}
    embeds = model.params["bert.embeddings.word_embeddings.weight"][inputs["input_ids"]].copy()   # (3, 5, 12)
    head_mask = np.array([1.0, 0.0, 0.5])
    loss, grads, details = model.loss_and_grads(inputs_embeds=embeds, head_mask=head_mask, **rest, **positions,
                                                return_details=True)
    out = model(inputs_embeds=embeds, head_mask=head_mask, **rest)
    np.testing.assert_allclose(details["start_logits"], out["start_logits"], rtol=0, atol=1e-14)
    assert not np.allclose(out["start_logits"], model(**batch())["start_logits"])
    # clamp(0, T=5) as HF: start 9 -> 5 (ignored), -3 -> 0; end 7 -> 5 (ignored)
    start = -np.mean(log_softmax(out["start_logits"])[[0, 2], [1, 0]])
    end = -np.mean(log_softmax(out["end_logits"])[[0, 1], [3, 2]])
    assert abs(loss - (start + end) / 2) < 1e-13
    assert set(grads) == set(model.params)
    kwargs = dict(inputs_embeds=embeds, head_mask=head_mask, **rest, **positions)
    _, grads = model.loss_and_grads(**kwargs, return_input_grads=True)
    assert set(grads) - set(model.params) == {"inputs_embeds", "embedding_output", "head_mask"}
    assert grads["inputs_embeds"].shape == (3, 5, 12) and grads["head_mask"].shape == (3,)
    for index, array in [((2, 3, 7), embeds), ((2,), head_mask)]:
        keep = array[index]
        array[index] = keep + 1e-6
        up = model.loss_and_grads(**kwargs)[0]
        array[index] = keep - 1e-6
        down = model.loss_and_grads(**kwargs)[0]
        array[index] = keep
        name = "inputs_embeds" if array is embeds else "head_mask"
        assert abs(grads[name][index] - (up - down) / 2e-6) < 1e-7, name
    _, grads = model.loss_and_grads(**kwargs, return_activation_grads=True)
    extra = set(grads) - set(model.params)
    assert {"bert.embeddings", "bert.encoder.layer.1.output"} <= extra and "inputs_embeds" not in extra


def test_sequence_classification_label_errors_are_whole_messages():
    """Missing, non-numeric, wrongly shaped, non-finite and out-of-[0, 1] labels: the whole message."""
    inputs = batch()
    model = tiny(BertForSequenceClassification, num_labels=3)
    with pytest.raises(ValueError, match=r"^loss_and_grads needs labels: class ids \(B,\), or floats "
                                         r"\(B, num_labels\) for multi-label classification and regression$"):
        model.loss_and_grads(**inputs)
    with pytest.raises(TypeError, match=r"^labels must be numbers, got dtype <U1$"):
        model.loss_and_grads(**inputs, labels=np.array(["a", "b", "c"]))
    regression = tiny(BertForSequenceClassification, num_labels=1)
    with pytest.raises(ValueError, match=r"^labels for regression have shape \(2,\) but must be \(3, 1\) "
                                         r"\(num_labels=1\) or \(B,\)$"):
        regression.loss_and_grads(**inputs, labels=np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"^labels must be finite numbers$"):
        regression.loss_and_grads(**inputs, labels=np.array([0.5, np.nan, 1.0]))
    two = tiny(BertForSequenceClassification, num_labels=2, problem_type="regression")
    with pytest.raises(ValueError, match=r"^labels for regression have shape \(3,\) but must be \(3, 2\) "
                                         r"\(num_labels=2\)$"):
        two.loss_and_grads(**inputs, labels=np.array([0.5, 1.0, 2.0]))
    multi = tiny(BertForSequenceClassification, num_labels=3, problem_type="multi_label_classification")
    with pytest.raises(ValueError, match=r"^labels for multi_label_classification have shape \(3,\) but must "
                                         r"be \(3, 3\) \(num_labels=3\)$"):
        multi.loss_and_grads(**inputs, labels=np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"^multi-label labels are targets of a sigmoid and must be in "
                                         r"\[0, 1\] \(1 = the label applies\)$"):
        multi.loss_and_grads(**inputs, labels=np.full((3, 3), 2.0))


# -- found by the full mutation run of model, third batch: the dropouts a head's training
# -- forward applies, a namespace of one's own, float32 all through, input errors before
# -- label errors, the base loss_and_grads' head mask and activation gradients

def test_training_drops_out_the_embeddings_and_both_output_blocks():
    """In training, the embeddings' output and each output block's dense branch are dropped out
    (kept units scaled by 1 / (1 - p)); in eval nothing is."""
    model = tiny(BertForTokenClassification, num_labels=4, hidden_dropout_prob=0.5,
                 attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    e = model(**batch(), output_hidden_states=True)["hidden_states"][0]       # (B, T, H), eval
    model.train()
    d = model(**batch(), output_hidden_states=True)["hidden_states"][0]
    kept = d != 0
    assert 0.2 < kept.mean() < 0.8
    np.testing.assert_allclose(d[kept], 2.0 * e[kept], rtol=1e-12, atol=0)
    for training in (True, False):
        model.training = training
        _, grads = model.loss_and_grads(**batch(), labels=TOKEN_LABELS, return_activation_grads=True)
        for l in range(2):
            for module in ("attention.output", "output"):
                g = f"bert.encoder.layer.{l}.{module}"
                branch, summed = grads[g + ".dense"], grads[g + ".LayerNorm.input"]    # (B, T, H)
                live = summed != 0
                assert live.mean() > 0.5 and np.all(branch[~live] == 0), g
                ratio = branch[live] / summed[live]
                if training:   # dropout_backward: mask / (1 - p), p = 0.5
                    dropped = np.isclose(ratio, 0.0, rtol=0, atol=1e-12)
                    assert np.all(dropped | np.isclose(ratio, 2.0, rtol=1e-12, atol=0)), g
                    assert 0.2 < dropped.mean() < 0.8, g
                else:
                    np.testing.assert_allclose(ratio, 1.0, rtol=1e-12, atol=0, err_msg=g)


def test_training_drops_out_the_attention_probabilities():
    """attention_probs_dropout_prob alone changes the training forward, and with it at 0 training is eval."""
    model = tiny(BertForTokenClassification, num_labels=4, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.5, classifier_dropout=0.0)
    evaluated = model(**batch())["logits"]
    model.train()
    trained = model(**batch(), output_hidden_states=True)
    np.testing.assert_array_equal(trained["hidden_states"][0],
                                  model.eval()(**batch(), output_hidden_states=True)["hidden_states"][0])
    assert not np.allclose(trained["logits"], evaluated, rtol=0, atol=1e-3)
    model.config.attention_probs_dropout_prob = 0.0
    np.testing.assert_allclose(model.train()(**batch())["logits"], evaluated, rtol=0, atol=1e-14)


def strict_namespace():
    """The reference layers as a namespace of one's own might write them: self-attention without
    head_mask and without inspection hooks, linear_backward taking dout only in the forward's
    output shape."""
    import types

    from numpy_bert import layers as reference

    def self_attention_forward(x, qw, qb, kw, kb, vw, vb, mask, num_heads, dropout_p=0.0, rng=None,
                               training=False):
        return reference.self_attention_forward(x, qw, qb, kw, kb, vw, vb, mask, num_heads, dropout_p=dropout_p,
                                                rng=rng, training=training)

    def self_attention_backward(dcontext, cache):
        return reference.self_attention_backward(dcontext, cache)

    def linear_backward(dout, cache):
        x, weight, _ = cache
        if dout.shape != x.shape[:-1] + weight.shape[:1]:
            raise ValueError(f"dout {dout.shape} is not the output's shape {x.shape[:-1] + weight.shape[:1]}")
        return reference.linear_backward(dout, cache)

    namespace = types.SimpleNamespace(**{name: getattr(reference, name) for name in reference.__all__})
    namespace.self_attention_forward = self_attention_forward
    namespace.self_attention_backward = self_attention_backward
    namespace.linear_backward = linear_backward
    return namespace


@pytest.mark.parametrize("head", ["choice", "token"])
def test_a_head_trains_on_a_namespace_without_head_mask_or_inspection(head):
    """Without head_mask or inspection a head calls self-attention without either, and each backward
    gets its forward's output shape: loss and gradients as the reference layers'."""
    cls, config, inputs = other_heads()[head]
    from numpy_bert import layers as reference_layers

    strict = tiny(cls, **config)
    reference = tiny(cls, **config)
    strict.layers = strict_namespace()
    reference.layers = reference_layers
    call = {k: v for k, v in inputs.items() if k != "labels"}
    np.testing.assert_allclose(strict(**call)["logits"], reference(**call)["logits"], rtol=0, atol=1e-14)
    loss, grads = strict.loss_and_grads(**inputs)
    want, want_grads = reference.loss_and_grads(**inputs)
    assert abs(loss - want) < 1e-13
    assert list(grads) == list(want_grads)
    for name, g in grads.items():
        np.testing.assert_allclose(g, want_grads[name], rtol=0, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("namespace", ["fast", "reference"])
def test_a_float32_head_stays_float32_with_float64_embeds_and_head_mask(namespace):
    """A float32 pooled head given float64 inputs_embeds and head_mask: float32 logits, gradients
    and input gradients, within float32 rounding of the float64 model's."""
    config = BertConfig(**{**TINY, "num_labels": 3})
    model = BertForSequenceClassification(config, dtype=np.float32, layers=namespace)
    wide = BertForSequenceClassification(config, dtype=np.float64, layers=namespace)
    for name, p in model.params.items():
        wide.params[name][...] = p
    inputs = batch()
    embeds = wide.params["bert.embeddings.word_embeddings.weight"][inputs.pop("input_ids")]   # float64
    kwargs = dict(**inputs, inputs_embeds=embeds, head_mask=np.array([1.0, 0.5, 0.0]))
    logits = model(**kwargs)["logits"]
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, wide(**kwargs)["logits"], rtol=0, atol=1e-5)
    labels = np.array([2, 0, 1])
    loss, grads = model.loss_and_grads(**kwargs, labels=labels, return_input_grads=True)
    want, want_grads = wide.loss_and_grads(**kwargs, labels=labels, return_input_grads=True)
    assert abs(loss - want) < 1e-5
    assert set(grads) == set(model.params) | {"inputs_embeds", "embedding_output", "head_mask"}
    for name, g in grads.items():
        assert g.dtype == np.float32, name
        np.testing.assert_allclose(g, want_grads[name], rtol=0, atol=1e-4 * max(1.0, np.abs(want_grads[name]).max()),
                                   err_msg=name)


def test_head_input_errors_come_before_label_errors():
    """Bad token types, attention mask or head mask are named even when the labels are missing too."""
    model = tiny(BertForTokenClassification, num_labels=4)
    inputs = batch()
    with pytest.raises(ValueError, match=r"^token_type_ids must be in \[0, type_vocab_size=3\), got values "
                                         r"3\.\.3$"):
        model.loss_and_grads(**{**inputs, "token_type_ids": np.full((3, 5), 3)})
    with pytest.raises(ValueError, match=r"^attention_mask must hold only 0 \(padding\) and 1 \(real token\)$"):
        model.loss_and_grads(**{**inputs, "attention_mask": np.full((3, 5), 2)})
    with pytest.raises(ValueError, match=r"^head_mask must have shape \(num_attention_heads,\) = \(3,\)"):
        model.loss_and_grads(**inputs, head_mask=np.ones(4))
    with pytest.raises(ValueError, match=r"^loss_and_grads needs labels"):
        model.loss_and_grads(**inputs, head_mask=np.ones(3))


def test_missing_labels_say_what_each_head_takes():
    """The heads with class-id labels say which labels loss_and_grads needs, head by head."""
    for cls, config, inputs, help_ in [
            (BertForTokenClassification, {"num_labels": 4}, batch(), r"\(B, T\): class ids, -100 where none"),
            (BertForMaskedLM, {}, batch(), r"\(B, T\): the token ids to predict, -100 elsewhere"),
            (BertForNextSentencePrediction, {}, batch(), r"\(B,\): 0 \(IsNext\) or 1 \(NotNext\)"),
            (BertForMultipleChoice, {}, {k: v for k, v in other_heads()["choice"][2].items() if k != "labels"},
             r"\(B,\): the right choice of each example")]:
        with pytest.raises(ValueError, match=r"^loss_and_grads needs labels " + help_ + "$"):
            tiny(cls, **config).loss_and_grads(**inputs)


def test_head_loss_and_grads_passes_head_mask_and_activation_grads():
    """A head's loss_and_grads takes head_mask into its loss, and adds the activation gradients as asked:
    the last layer's output gets the cross-entropy's gradient through the classifier."""
    model = tiny(BertForTokenClassification, num_labels=4)
    head_mask = np.array([1.0, 0.0, 0.5])
    loss, grads, details = model.loss_and_grads(**batch(), labels=TOKEN_LABELS, head_mask=head_mask,
                                                return_details=True)
    z = model(**batch(), head_mask=head_mask)["logits"]                        # (B, T, N)
    assert not np.allclose(z, model(**batch())["logits"])
    np.testing.assert_allclose(details["logits"], z, rtol=0, atol=1e-14)
    kept = TOKEN_LABELS != -100
    assert abs(loss + np.mean(log_softmax(z)[kept, TOKEN_LABELS[kept]])) < 1e-13
    assert set(grads) == set(model.params)
    _, grads = model.loss_and_grads(**batch(), labels=TOKEN_LABELS, head_mask=head_mask,
                                    return_activation_grads=True)
    extra = set(grads) - set(model.params)
    assert {"bert.embeddings", "bert.embeddings.LayerNorm.input", "bert.encoder.layer.0.attention.probs",
            "bert.encoder.layer.1.output"} <= extra and "inputs_embeds" not in extra
    dz = np.exp(log_softmax(z))                                                 # softmax
    dz[kept, TOKEN_LABELS[kept]] -= 1.0
    dz[~kept] = 0.0
    dz /= kept.sum()
    np.testing.assert_allclose(grads["bert.encoder.layer.1.output"], dz @ model.params["classifier.weight"],
                               rtol=0, atol=1e-13)
