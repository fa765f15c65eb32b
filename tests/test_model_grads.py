"""BertForPreTraining.loss_and_grads: against PyTorch autograd fixtures and finite differences.

- loss within 1e-10 (float64) / 1e-5 (float32) of the fixture, every gradient within
  1e-9 (float64) / 1e-5 (float32) relative to its largest entry;
- 10 steps of plain SGD give PyTorch's losses within 1e-9 (float64);
- a whole-model float64 centred-difference check over every parameter tensor;
- the gathered MLM head (masked rows only) equals the full (B, T, V) head;
- every parameter receives a gradient, except entries that cannot (named below).
"""

import numpy as np
import pytest

from numpy_bert import BertConfig, gradcheck, layers
from numpy_bert import model as model_module
from numpy_bert.model import BertForPreTraining

from .test_model import CASES, DTYPES, model_from_case

LOSS_TOL = {"f64": 1e-10, "f32": 1e-5}
GRAD_TOL = {"f64": 1e-9, "f32": 1e-5}


def is_key_bias(name):
    """The key bias cannot get a gradient: it adds q . b_k to every score of a query row,
    a constant that softmax removes. Its true gradient is 0 (both sides hold roundoff)."""
    return name.endswith("attention.self.key.bias")


def batch(data):
    return dict(input_ids=data["input_ids"], token_type_ids=data["token_type_ids"],
                attention_mask=data["attention_mask"], labels=data["labels"],
                next_sentence_label=data["next_sentence_label"])


@pytest.mark.parametrize("prefix", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_loss_and_grads_match_pytorch(case, prefix):
    model, data = model_from_case(case, DTYPES[prefix])
    loss, grads, details = model.loss_and_grads(**batch(data), return_details=True)
    for name, ours in (("loss", loss), ("mlm_loss", details["mlm_loss"]), ("nsp_loss", details["nsp_loss"])):
        ref = float(data[f"{prefix}/{name}"])
        assert abs(ours - ref) <= LOSS_TOL[prefix] * max(1.0, abs(ref)), (name, ours, ref)
    assert list(grads) == list(model.params)
    errors = {}
    scale = max(float(np.max(np.abs(data[f"{prefix}/grad/{name}"]))) for name in grads)
    for name, g in grads.items():
        ref = data[f"{prefix}/grad/{name}"]
        assert g.shape == ref.shape and g.dtype == DTYPES[prefix], name
        if is_key_bias(name):   # zero up to roundoff on both sides
            assert np.max(np.abs(g)) <= 10 * GRAD_TOL[prefix] * scale, name
            continue
        errors[name] = float(np.max(np.abs(g - ref)) / np.max(np.abs(ref)))
    worst = max(errors, key=errors.get)
    assert errors[worst] <= GRAD_TOL[prefix], (
        f"worst gradient {worst}: max abs diff / max |ref| = {errors[worst]:.3e} > {GRAD_TOL[prefix]:.0e}")
    # the MLM logits at the labelled positions, in row-major order, and the NSP logits
    real = data["labels"] != -100
    np.testing.assert_allclose(details["mlm_logits"], data[f"{prefix}/prediction_logits"][real],
                               rtol=0, atol=10 * LOSS_TOL[prefix])
    np.testing.assert_allclose(details["seq_relationship_logits"], data[f"{prefix}/seq_relationship_logits"],
                               rtol=0, atol=10 * LOSS_TOL[prefix])


@pytest.mark.parametrize("case", CASES)
def test_sgd_trajectory_matches_pytorch(case):
    model, data = model_from_case(case, np.float64)
    lr = 0.1
    losses = []
    for _ in range(10):
        loss, grads = model.loss_and_grads(**batch(data))
        losses.append(loss)
        for name, g in grads.items():
            model.params[name] -= lr * g
    np.testing.assert_allclose(losses, data["sgd_losses"], rtol=0, atol=1e-9)
    assert losses[-1] < 0.2 * losses[0]                   # it actually learned


@pytest.mark.parametrize("case", CASES)
def test_gathered_mlm_head_equals_full_head(case):
    """Running the MLM head on the M labelled rows gives the full head's loss and grads."""
    model, data = model_from_case(case, np.float64)
    params, config = model.params, model.config
    loss, grads = model.loss_and_grads(data["input_ids"], data["token_type_ids"], data["attention_mask"],
                                       labels=data["labels"])

    # the full head on all B*T positions, cross-entropy with ignore_index over (B*T, V)
    full = {name: np.zeros_like(p) for name, p in params.items()}
    x, _, caches = model_module.bert_forward(model.layers, params, "bert.", config, data["input_ids"],
                                             data["token_type_ids"], data["attention_mask"],
                                             model.rng, False, keep_caches=True)
    B, T, H = x.shape
    logits, c_head = model_module.mlm_head_forward(model.layers, params, config, x)  # (B, T, V)
    full_loss, c_ce = layers.cross_entropy_forward(logits.reshape(B * T, -1), data["labels"].reshape(-1))
    dlogits = layers.cross_entropy_backward(1.0, c_ce).reshape(logits.shape)   # (B, T, V)
    dx = model_module.mlm_head_backward(model.layers, dlogits, c_head, full)   # (B, T, H)
    model_module.bert_backward(model.layers, dx, caches, full, "bert.", config)

    assert abs(loss - float(full_loss)) <= 1e-13
    for name in params:
        np.testing.assert_allclose(grads[name], full[name], rtol=0,
                                   atol=1e-13 * max(1.0, np.abs(full[name]).max()), err_msg=name)


# ----------------------------------------------------------------------------- finite differences

TINY = BertConfig(vocab_size=13, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                  intermediate_size=7, hidden_act="gelu", max_position_embeddings=9, type_vocab_size=3,
                  initializer_range=0.3, layer_norm_eps=1e-5, hidden_dropout_prob=0.2,
                  attention_probs_dropout_prob=0.2)
T_TINY = 5


def tiny_model(seed=0, hidden_act="gelu"):
    config = BertConfig.from_dict({**TINY.to_dict(), "hidden_act": hidden_act})
    model = BertForPreTraining(config, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():   # move biases off 0 and LayerNorm weights off 1
        p += (0.2 if p.ndim == 1 else 0.05) * rng.standard_normal(p.shape)
    # batch 2 x T=5: a pair (types 0 and 1; type 2 unused) and a padded single sentence;
    # token 0 (padding id) also appears at a real position of row 0
    ids = np.array([[2, 0, 7, 3, 12], [5, 9, 1, 0, 0]])
    types = np.array([[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    labels = np.full((2, T_TINY), -100)
    labels[0, 2], labels[0, 4], labels[1, 1] = 4, 11, 0
    nsp = np.array([1, 0])
    return model, dict(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels,
                       next_sentence_label=nsp)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_whole_model_finite_differences(mode):
    """Every parameter tensor, sampled entries; train mode replays the same dropout masks.

    Relative error per tensor as numpy_bert.gradcheck defines it (largest difference over
    the largest entry), centred differences with h = 1e-6.
    """
    model, inputs = tiny_model(hidden_act="gelu" if mode == "eval" else "gelu_new")
    if mode == "train":
        model.train()

    def loss_only():
        model.rng = np.random.default_rng(42)          # same dropout masks every call
        return model.loss_and_grads(**inputs)[0]

    model.rng = np.random.default_rng(42)
    _, grads = model.loss_and_grads(**inputs)
    worst = finite_difference_errors(model, grads, loss_only)
    name = max(worst, key=worst.get)
    assert worst[name] <= 1e-6, f"worst {name}: relative error {worst[name]:.2e}"


def finite_difference_errors(model, grads, loss_only, seed=1, cannot=is_key_bias):
    """{parameter name: relative error of its gradient} over sampled entries of every
    tensor: five with a gradient and one without (which must stay zero numerically),
    centred differences of the scalar ``loss_only()`` with h = 1e-6. Tensors whose true
    gradient is 0 (``cannot(name)``: the key bias) are checked to be zero up to roundoff."""
    pick = np.random.default_rng(seed)
    worst = {}
    for name, p in model.params.items():
        g = grads[name]
        if cannot(name):
            assert np.max(np.abs(g)) < 1e-14, name        # zero up to roundoff
            continue
        flat_g = g.reshape(-1)
        candidates = np.ones(p.size, dtype=bool)
        if name.endswith("word_embeddings.weight") and model.config.pad_token_id is not None:
            # the padding row's lookup gets no gradient by design (HF's padding_idx), while
            # the loss does depend on it here (id 0 at a real position): not a derivative
            candidates.reshape(p.shape)[model.config.pad_token_id] = False
        nonzero = np.flatnonzero((flat_g != 0) & candidates)
        assert nonzero.size, f"{name} receives no gradient"
        # sample entries with a gradient, and one without (must stay zero numerically)
        idx = list(pick.choice(nonzero, size=min(5, nonzero.size), replace=False))
        zeros = np.flatnonzero((flat_g == 0) & candidates)
        if zeros.size:
            idx.append(int(pick.choice(zeros)))
        # the loss is already a scalar: upstream gradient 1
        num = gradcheck.numerical_gradient(loss_only, p, idx, dout=1.0, h=1e-6)
        worst[name] = gradcheck.relative_error(flat_g[idx], num)
    return worst


def test_every_parameter_gets_a_gradient_except_those_that_cannot():
    model, inputs = tiny_model()
    _, grads = model.loss_and_grads(**inputs)
    scale = max(np.max(np.abs(g)) for g in grads.values())
    for name, g in grads.items():
        if is_key_bias(name):
            assert np.max(np.abs(g)) < 1e-12 * scale, name   # cannot: softmax shift invariance
        else:
            assert np.max(np.abs(g)) > 1e-6 * scale, f"{name} receives no gradient"
    T = T_TINY
    pos = grads["bert.embeddings.position_embeddings.weight"]
    assert np.all(np.any(pos[:T] != 0, axis=1))
    # position rows T.. are not used by a length-T batch
    assert np.all(pos[T:] == 0)
    types = grads["bert.embeddings.token_type_embeddings.weight"]
    assert np.all(np.any(types[:2] != 0, axis=1))
    # token type 2 appears nowhere in the batch
    assert np.all(types[2] == 0)
    # the tied decoder sends a gradient to every vocabulary row (softmax over V), padding included
    assert np.all(np.any(grads["bert.embeddings.word_embeddings.weight"] != 0, axis=1))

    # NSP alone: no decoder, so word rows get gradient only from the lookup, and the padding
    # row (id 0, also at a real position in row 0) gets none: nn.Embedding(padding_idx=0)
    _, grads = model.loss_and_grads(inputs["input_ids"], inputs["token_type_ids"],
                                    inputs["attention_mask"], next_sentence_label=inputs["next_sentence_label"])
    word = grads["bert.embeddings.word_embeddings.weight"]
    used = np.unique(inputs["input_ids"][inputs["attention_mask"] == 1])
    assert np.all(word[0] == 0)
    assert np.all(np.any(word[used[used != 0]] != 0, axis=1))
    unused = np.setdiff1d(np.arange(TINY.vocab_size), used)
    assert np.all(word[unused] == 0)
    for name in ("cls.predictions.bias", "cls.predictions.transform.dense.weight"):
        assert np.all(grads[name] == 0), name                   # MLM head not in this loss


def test_loss_parts_add_up():
    model, inputs = tiny_model()
    loss, _, d = model.loss_and_grads(**inputs, return_details=True)
    mlm_only, g_mlm = model.loss_and_grads(inputs["input_ids"], inputs["token_type_ids"],
                                           inputs["attention_mask"], labels=inputs["labels"])
    nsp_only, g_nsp = model.loss_and_grads(inputs["input_ids"], inputs["token_type_ids"],
                                           inputs["attention_mask"],
                                           next_sentence_label=inputs["next_sentence_label"])
    _, g_both = model.loss_and_grads(**inputs)
    assert abs(loss - (mlm_only + nsp_only)) < 1e-12
    assert d["mlm_loss"] == mlm_only and d["nsp_loss"] == nsp_only
    assert d["mlm_logits"].shape == (3, TINY.vocab_size)
    for name in g_both:
        np.testing.assert_allclose(g_both[name], g_mlm[name] + g_nsp[name], rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- bad labels

def test_bad_labels():
    model, inputs = tiny_model()
    for bad in (13, -1, -99):
        labels = inputs["labels"].copy()
        labels[1, 3] = bad
        with pytest.raises(ValueError, match=r"labels must be token ids in \[0, 13\) or -100"):
            model.loss_and_grads(**{**inputs, "labels": labels})
    with pytest.raises(TypeError, match="labels must hold integers"):
        model.loss_and_grads(**{**inputs, "labels": inputs["labels"].astype(float)})
    with pytest.raises(ValueError, match="labels has shape"):
        model.loss_and_grads(**{**inputs, "labels": inputs["labels"][:, :4]})
    for bad in ([0, 2], [-1, 0], [-100, 1]):
        with pytest.raises(ValueError, match="0 \\(IsNext\\) or 1 \\(NotNext\\)"):
            model.loss_and_grads(**{**inputs, "next_sentence_label": np.array(bad)})
    with pytest.raises(ValueError, match="shape"):
        model.loss_and_grads(**{**inputs, "next_sentence_label": np.array([0, 1, 1])})
    with pytest.raises(ValueError, match="needs labels"):
        model.loss_and_grads(inputs["input_ids"])
    # the forward's checks apply too
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.loss_and_grads(**{**inputs, "input_ids": inputs["input_ids"] + 13})


def test_all_labels_ignored_is_defined():
    """Every label -100: the MLM term is 0 with zero gradient (PyTorch would give NaN)."""
    model, inputs = tiny_model()
    labels = np.full_like(inputs["labels"], -100)
    loss, grads, d = model.loss_and_grads(**{**inputs, "labels": labels}, return_details=True)
    nsp_only, g_nsp = model.loss_and_grads(inputs["input_ids"], inputs["token_type_ids"],
                                           inputs["attention_mask"],
                                           next_sentence_label=inputs["next_sentence_label"])
    assert d["mlm_loss"] == 0.0 and d["mlm_logits"].shape == (0, TINY.vocab_size)
    assert np.isfinite(loss) and loss == nsp_only
    for name, g in grads.items():
        assert np.all(np.isfinite(g)), name
        np.testing.assert_array_equal(g, g_nsp[name], err_msg=name)
    loss, grads = model.loss_and_grads(inputs["input_ids"], labels=labels)
    assert loss == 0.0 and all(not np.any(g) for g in grads.values())


def test_train_mode_loss_uses_the_forwards_dropout_masks_and_leaves_params_alone():
    """Same Generator state -> loss_and_grads sees exactly the logits __call__ gives in train mode."""
    model, inputs = tiny_model(hidden_act="gelu_new")
    before = {name: p.copy() for name, p in model.params.items()}
    model.train()
    model.rng = np.random.default_rng(5)
    out = model(inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"])
    model.rng = np.random.default_rng(5)
    _, _, d = model.loss_and_grads(**inputs, return_details=True)
    # equal up to rounding (the head runs on M rows here, on all B*T rows in __call__)
    np.testing.assert_allclose(d["mlm_logits"], out["prediction_logits"][inputs["labels"] != -100],
                               rtol=0, atol=1e-13)
    np.testing.assert_allclose(d["seq_relationship_logits"], out["seq_relationship_logits"], rtol=0, atol=1e-13)
    model.eval()
    _, _, d_eval = model.loss_and_grads(**inputs, return_details=True)
    assert not np.allclose(d_eval["mlm_logits"], d["mlm_logits"])      # dropout did something
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, before[name], err_msg=name)
