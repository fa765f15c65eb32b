"""inputs_embeds, head_mask, and the gradients at the inputs and at every named activation.

- inputs_embeds = word[input_ids] gives input_ids' outputs; head_mask of ones gives none's;
  (NH,) equals the same row repeated (L, NH); a head with mask 0 is off;
- float64 centred differences (h = 1e-6) of the loss against: the gradient at every named
  activation of every layer (the forward is "tapped" by wrapping numpy_bert.layers'
  functions, which the reference model and its attention call by name, so the perturbed
  forward is the model's own), at inputs_embeds and at the head mask;
- the fast layers report the same activation gradients as the reference;
- bad inputs are errors that say what to pass.

Small odd sizes: V=23, H=12, NH=3 (HS=4), L=2, I=7, B=2, T=5 with the second sequence padded.
"""

import numpy as np
import pytest

from numpy_bert import BertConfig, gradcheck, layers
from numpy_bert.model import (LAYER_ACTIVATIONS, BertForPreTraining, BertForSequenceClassification,
                              BertModel)

CONFIG = dict(vocab_size=23, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
              intermediate_size=7, max_position_embeddings=9, type_vocab_size=2, pad_token_id=0)
B, T, L, NH = 2, 5, 2, 3
FD_TOL = 1e-6         # float64, h = 1e-6: a correct gradient gives ~1e-9, a wrong one O(1)


def perturbed(model, seed=0):
    """The model with every parameter moved off HF's init (biases not 0, LayerNorm not 1)."""
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        p += rng.standard_normal(p.shape) * (0.3 if p.ndim == 1 else 0.1)
    return model


def pretraining_model(layers_name="reference", cls=BertForPreTraining, **config):
    return perturbed(cls(BertConfig(**{**CONFIG, **config}), dtype=np.float64, layers=layers_name))


def batch(seed=3):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, CONFIG["vocab_size"], size=(B, T))
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, 3:] = 0
    ids[attention_mask == 0] = 0
    token_type_ids = np.zeros((B, T), np.int64)
    token_type_ids[0, 3:] = 1
    labels = np.full((B, T), -100)
    labels[0, 1], labels[0, 4], labels[1, 2] = 5, 17, 9
    return dict(input_ids=ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                labels=labels, next_sentence_label=np.array([0, 1]))


HEAD_MASK = np.array([[1.0, 0.6, 1.3], [0.0, 1.0, 0.8]])     # (L, NH): layer 1's head 0 off


# ----------------------------------------------------------------------------- the forward


@pytest.mark.parametrize("layers_name", ["reference", "fast"])
def test_inputs_embeds_equal_the_lookup_of_input_ids(layers_name):
    model = pretraining_model(layers_name)
    data = batch()
    word = model.params["bert.embeddings.word_embeddings.weight"]
    plain = model(data["input_ids"], data["token_type_ids"], data["attention_mask"], output_attentions=True)
    embedded = model(inputs_embeds=word[data["input_ids"]], token_type_ids=data["token_type_ids"],
                     attention_mask=data["attention_mask"], output_attentions=True)
    for key in ("prediction_logits", "seq_relationship_logits", "last_hidden_state"):
        np.testing.assert_allclose(embedded[key], plain[key], rtol=0, atol=1e-13, err_msg=key)
    # the loss and every gradient but the word table's, whose lookup inputs_embeds bypass
    loss, grads = model.loss_and_grads(**data, return_input_grads=True)
    ids = data.pop("input_ids")
    loss_e, grads_e = model.loss_and_grads(inputs_embeds=word[ids], **data, return_input_grads=True)
    assert abs(loss - loss_e) <= 1e-13
    for name in grads:
        if name != "bert.embeddings.word_embeddings.weight":
            np.testing.assert_allclose(grads_e[name], grads[name], rtol=0, atol=1e-12, err_msg=name)
    # the table's gradient: the tied decoder's (all that is left with inputs_embeds) plus the
    # lookup's, the scatter-add of the gradient at inputs_embeds (none into the padding row)
    lookup = np.zeros_like(word)
    np.add.at(lookup, ids.reshape(-1), grads["inputs_embeds"].reshape(-1, word.shape[1]))
    lookup[0] = 0.0
    np.testing.assert_allclose(grads["bert.embeddings.word_embeddings.weight"],
                               grads_e["bert.embeddings.word_embeddings.weight"] + lookup, rtol=0, atol=1e-13)


@pytest.mark.parametrize("layers_name", ["reference", "fast"])
def test_head_mask_shapes_and_meaning(layers_name):
    model = pretraining_model(layers_name)
    data = batch()
    inputs = {k: data[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    plain = model(**inputs, output_attentions=True)
    ones = model(**inputs, head_mask=np.ones(NH), output_attentions=True)
    np.testing.assert_allclose(ones["prediction_logits"], plain["prediction_logits"], rtol=0, atol=1e-13)
    row = np.array([1.0, 0.0, 0.7])
    a = model(**inputs, head_mask=row, output_attentions=True)
    b = model(**inputs, head_mask=np.tile(row, (L, 1)), output_attentions=True)
    np.testing.assert_allclose(a["prediction_logits"], b["prediction_logits"], rtol=0, atol=1e-13)
    assert not np.allclose(a["prediction_logits"], plain["prediction_logits"], atol=1e-6)
    # HF's attentions with a head mask: the probabilities times it (layer 0 sees the same
    # input with or without the mask; in every layer head h's rows sum to row[h])
    np.testing.assert_allclose(a["attentions"][0], plain["attentions"][0] * row[:, None, None],
                               rtol=0, atol=1e-13)
    for l in range(L):
        np.testing.assert_allclose(a["attentions"][l].sum(-1), np.broadcast_to(row[:, None], (B, NH, T)),
                                   rtol=0, atol=1e-13)
    # a head with mask 0 is off: its value projection no longer reaches the output
    layer0 = "bert.encoder.layer.0.attention.self.value."
    HS = CONFIG["hidden_size"] // NH
    only_layer0_head1 = np.ones((L, NH))
    only_layer0_head1[0, 1] = 0.0
    before = model(**inputs, head_mask=only_layer0_head1)["last_hidden_state"]
    model.params[layer0 + "weight"][HS:2 * HS] += 1.0               # head 1's rows of Wv
    model.params[layer0 + "bias"][HS:2 * HS] += 1.0
    after = model(**inputs, head_mask=only_layer0_head1)["last_hidden_state"]
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- finite differences

class Taps:
    """Wraps numpy_bert.layers' functions so that one named activation of the forward is
    perturbed: ``delta`` is added to the output (or the input) of the n-th call of a layer
    function. The reference model and its attention look these functions up by name at
    call time, so the forward perturbed is the model's own.

    Where each activation is, in the order the forward calls the functions (the
    embeddings, then each encoder layer l, then the heads):
        linear_forward       q, k, v, attention.output.dense, intermediate.dense, output.dense: 6 per layer
        softmax_forward      input: attention.scores, output: attention.probs: 1 per layer
        self_attention_forward  output: attention.context: 1 per layer
        layer_norm_forward   call 0 the embeddings' (input: its LayerNorm input, output: the
                             embedding output); then 2 per layer (input: the residual sum,
                             output: attention.output / output)
        activation_forward   output: intermediate: 1 per layer
    """

    def __init__(self, monkeypatch):
        self.target = None                                  # (function, call, "in" | "out", delta)
        self.calls = {}
        for fn in ("linear_forward", "softmax_forward", "self_attention_forward", "layer_norm_forward",
                   "activation_forward"):
            monkeypatch.setattr(layers, fn, self._wrap(fn, getattr(layers, fn)))

    def _wrap(self, fn, original):
        def tapped(x, *args, **kwargs):
            n = self.calls.get(fn, 0)
            self.calls[fn] = n + 1
            hit = self.target is not None and self.target[:2] == (fn, n)
            if hit and self.target[2] == "in":
                x = x + self.target[3]
            out, cache = original(x, *args, **kwargs)
            if hit and self.target[2] == "out":
                out = out + self.target[3]
            return out, cache
        return tapped

    @staticmethod
    def where(name):
        """(function, call, side) of an activation name such as "bert.encoder.layer.1.intermediate"."""
        if name == "bert.embeddings":
            return "layer_norm_forward", 0, "out"
        if name == "bert.embeddings.LayerNorm.input":
            return "layer_norm_forward", 0, "in"
        l, local = int(name.split(".")[3]), name.split(".", 4)[4]
        return {"attention.scores": ("softmax_forward", l, "in"),
                "attention.probs": ("softmax_forward", l, "out"),
                "attention.context": ("self_attention_forward", l, "out"),
                "attention.output.dense": ("linear_forward", 6 * l + 3, "out"),
                "attention.output.LayerNorm.input": ("layer_norm_forward", 1 + 2 * l, "in"),
                "attention.output": ("layer_norm_forward", 1 + 2 * l, "out"),
                "intermediate.dense": ("linear_forward", 6 * l + 4, "out"),
                "intermediate": ("activation_forward", l, "out"),
                "output.dense": ("linear_forward", 6 * l + 5, "out"),
                "output.LayerNorm.input": ("layer_norm_forward", 2 + 2 * l, "in"),
                "output": ("layer_norm_forward", 2 + 2 * l, "out")}[local]

    def loss(self, model, data, name, delta):
        self.calls = {}
        self.target = (*self.where(name), delta)
        try:
            return model.loss_and_grads(**data)[0]
        finally:
            self.target = None


def test_every_named_activation_gradient_matches_finite_differences(monkeypatch):
    model = pretraining_model("reference")
    data = batch()
    loss, grads = model.loss_and_grads(**data, head_mask=HEAD_MASK, return_activation_grads=True)
    names = ["bert.embeddings.LayerNorm.input", "bert.embeddings"] + [
        f"bert.encoder.layer.{l}.{a}" for l in range(L) for a in LAYER_ACTIVATIONS]
    activation_keys = [k for k in grads if k not in model.params]
    assert sorted(activation_keys) == sorted(names)
    taps = Taps(monkeypatch)
    data = {**data, "head_mask": HEAD_MASK}
    assert taps.loss(model, data, names[0], 0.0) == loss            # the taps change nothing by themselves
    pick = np.random.default_rng(5)
    h = 1e-6
    errors = {}
    for name in names:
        g = grads[name]
        assert g.shape[0] == B and np.any(g != 0), name
        idx = pick.choice(np.flatnonzero(g), size=min(6, np.count_nonzero(g)), replace=False)
        numeric = []
        for i in idx:
            e = np.zeros(g.size)
            e[i] = h
            e = e.reshape(g.shape)
            numeric.append((taps.loss(model, data, name, e) - taps.loss(model, data, name, -e)) / (2 * h))
        errors[name] = gradcheck.relative_error(g.reshape(-1)[idx], numeric)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= FD_TOL, f"worst {worst}: relative error {errors[worst]:.2e}"
    # padded keys get no gradient at the scores (their probability is exactly 0)
    assert not np.any(grads["bert.encoder.layer.0.attention.scores"][1, :, :, 3:])


@pytest.mark.parametrize("cls", [BertForPreTraining, BertForSequenceClassification])
def test_inputs_embeds_and_head_mask_gradients_match_finite_differences(cls):
    model = pretraining_model("reference", cls, num_labels=3)
    data = batch()
    word = model.params["bert.embeddings.word_embeddings.weight"]
    inputs = dict(inputs_embeds=word[data["input_ids"]], token_type_ids=data["token_type_ids"],
                  attention_mask=data["attention_mask"])
    if cls is BertForPreTraining:
        targets = dict(labels=data["labels"], next_sentence_label=data["next_sentence_label"])
    else:
        targets = dict(labels=np.array([2, 0]))
    for head_mask in (HEAD_MASK, HEAD_MASK[1], None):
        loss, grads = model.loss_and_grads(**inputs, **targets, head_mask=head_mask, return_input_grads=True)
        assert grads["inputs_embeds"].shape == (B, T, CONFIG["hidden_size"])
        assert grads["head_mask"].shape == (np.shape(head_mask) if head_mask is not None else (L, NH))
        mask = np.ones((L, NH)) if head_mask is None else np.array(head_mask, dtype=np.float64)

        def loss_only():
            return model.loss_and_grads(**inputs, **targets, head_mask=mask)[0]

        embeds = inputs["inputs_embeds"]
        idx = np.random.default_rng(2).choice(embeds.size, size=8, replace=False)
        num = gradcheck.numerical_gradient(loss_only, embeds, idx, dout=1.0, h=1e-6)
        assert gradcheck.relative_error(grads["inputs_embeds"].reshape(-1)[idx], num) <= FD_TOL
        num = gradcheck.numerical_gradient(loss_only, mask, np.arange(mask.size), dout=1.0, h=1e-6)
        assert gradcheck.relative_error(grads["head_mask"].reshape(-1), num) <= FD_TOL, head_mask
    # the gradient at the embedding output: the first layer's input
    _, grads = model.loss_and_grads(**inputs, **targets, return_input_grads=True, return_activation_grads=True)
    np.testing.assert_array_equal(grads["embedding_output"], grads["bert.embeddings"])


def test_fast_layers_report_the_reference_activation_gradients():
    reference = pretraining_model("reference")
    fast = BertForPreTraining(reference.config, dtype=np.float64, layers="fast")
    fast.params = {k: v.copy() for k, v in reference.params.items()}
    data = {**batch(), "head_mask": HEAD_MASK}
    _, ref = reference.loss_and_grads(**data, return_input_grads=True, return_activation_grads=True)
    _, got = fast.loss_and_grads(**data, return_input_grads=True, return_activation_grads=True)
    assert sorted(got) == sorted(ref)
    for name in ref:
        scale = max(1.0, float(np.max(np.abs(ref[name]))))
        np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=1e-12 * scale, err_msg=name)


def test_bad_inputs_say_what_to_pass():
    model = pretraining_model("reference")
    data = batch()
    embeds = np.zeros((B, T, CONFIG["hidden_size"]))
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        model(data["input_ids"], inputs_embeds=embeds)
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        model()
    with pytest.raises(ValueError, match=r"\(B, T, H=12\)"):
        model(inputs_embeds=embeds[..., :5])
    with pytest.raises(TypeError, match="inputs_embeds must hold floats"):
        model(inputs_embeds=embeds.astype(np.int64))
    with pytest.raises(ValueError, match=r"head_mask must have shape \(num_attention_heads,\) = \(3,\)"):
        model(data["input_ids"], head_mask=np.ones(4))
    with pytest.raises(ValueError, match="head_mask must be finite"):
        model(data["input_ids"], head_mask=np.array([1.0, np.nan, 1.0]))
    encoder = BertModel(model.config, dtype=np.float64)
    out = encoder(inputs_embeds=embeds, head_mask=np.zeros(NH))
    assert out["last_hidden_state"].shape == (B, T, CONFIG["hidden_size"])
