"""The forward pass of BertModel / BertForPreTraining against committed HF fixtures.

Fixtures in tests/fixtures/model/ are written by tests/reference/make_model_fixtures.py
with transformers (eager attention, dropout off). Outputs are compared on non-padded
positions: float64 max abs diff <= 1e-10, float32 <= 1e-5.
"""

import json
import re

import numpy as np
import pytest

from numpy_bert import BertConfig, layers, weights
from numpy_bert.model import BertForPreTraining, BertModel

from .conftest import FIXTURES

MODEL_FIXTURES = FIXTURES / "model"
CASES = ["gelu", "gelu_new"]
DTYPES = {"f64": np.float64, "f32": np.float32}
TOL = {"f64": 1e-10, "f32": 1e-5}


def load_case(case):
    meta = json.loads((MODEL_FIXTURES / f"{case}.json").read_text())
    data = np.load(MODEL_FIXTURES / f"{case}.npz", allow_pickle=False)
    return BertConfig(**meta["config"]), {k: data[k] for k in data.files}, meta


def model_from_case(case, dtype, cls=BertForPreTraining):
    """A model holding the fixture's weights (float64 state dict cast to ``dtype``)."""
    config, data, _ = load_case(case)
    state = {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}
    model = cls(config, dtype=dtype)
    model.params = weights.load_state_dict(state, config, architecture=cls.__name__, dtype=dtype)
    return model, data


def real_rows(mask):
    """Boolean (B, T) mask of non-padded positions."""
    return mask.astype(bool)


def compare(pairs, tol):
    """pairs: name -> (ours, reference). Asserts every max abs diff <= tol, naming the worst."""
    diffs = {}
    for name, (ours, ref) in pairs.items():
        assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != reference {ref.shape}"
        assert np.all(np.isfinite(ours)), f"{name}: non-finite values"
        diffs[name] = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= tol, (f"worst tensor {worst}: max abs diff {diffs[worst]:.3e} > {tol:.0e}; "
                                 f"all: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    return diffs


def forward_pairs(out, data, prefix, with_heads=True):
    real = real_rows(data["attention_mask"])                      # (B, T)
    pairs = {
        "last_hidden_state": (out["last_hidden_state"][real], data[f"{prefix}/last_hidden_state"][real]),
        "pooler_output": (out["pooler_output"], data[f"{prefix}/pooler_output"]),
    }
    for i, h in enumerate(out["hidden_states"]):
        pairs[f"hidden_states[{i}]"] = (h[real], data[f"{prefix}/hidden_states/{i}"][real])
    for i, a in enumerate(out["attentions"]):
        # (B, NH, T, T): query rows of real tokens; padded keys must get probability 0 in both
        ours, ref = a.transpose(0, 2, 1, 3)[real], data[f"{prefix}/attentions/{i}"].transpose(0, 2, 1, 3)[real]
        pairs[f"attentions[{i}]"] = (ours, ref)                   # (N_real, NH, T)
    if with_heads:
        pairs["prediction_logits"] = (out["prediction_logits"][real], data[f"{prefix}/prediction_logits"][real])
        pairs["seq_relationship_logits"] = (out["seq_relationship_logits"], data[f"{prefix}/seq_relationship_logits"])
    return pairs


@pytest.mark.parametrize("prefix", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_pretraining_forward_matches_transformers(case, prefix):
    model, data = model_from_case(case, DTYPES[prefix])
    out = model(data["input_ids"], data["token_type_ids"], data["attention_mask"],
                output_hidden_states=True, output_attentions=True)
    L = model.config.num_hidden_layers
    assert len(out["hidden_states"]) == L + 1 and len(out["attentions"]) == L
    for name in ("prediction_logits", "last_hidden_state", "pooler_output"):
        assert out[name].dtype == DTYPES[prefix], name
    compare(forward_pairs(out, data, prefix), TOL[prefix])
    # padded keys get exactly zero attention probability
    pad = data["attention_mask"] == 0                              # (B, T)
    for a in out["attentions"]:
        assert np.all(a[np.broadcast_to(pad[:, None, None, :], a.shape)] == 0)


@pytest.mark.parametrize("case", CASES)
def test_bert_model_forward_matches_transformers(case):
    """BertModel: the same encoder under names without "bert."; the heads are dropped."""
    model, data = model_from_case(case, np.float64, cls=BertModel)
    assert all(not k.startswith(("bert.", "cls.")) for k in model.params)
    out = model(data["input_ids"], data["token_type_ids"], data["attention_mask"],
                output_hidden_states=True, output_attentions=True)
    assert set(out) == {"last_hidden_state", "pooler_output", "hidden_states", "attentions"}
    compare(forward_pairs(out, data, "f64", with_heads=False), TOL["f64"])


def test_defaults_mean_one_segment_and_no_padding():
    model, data = model_from_case("gelu", np.float64)
    ids = data["input_ids"][:1]                                   # row 0 has no padding
    a = model(ids)
    b = model(ids, np.zeros_like(ids), np.ones_like(ids))
    for k in ("prediction_logits", "seq_relationship_logits", "last_hidden_state"):
        np.testing.assert_array_equal(a[k], b[k])
    assert "hidden_states" not in a and "attentions" not in a


def test_padding_does_not_change_real_positions():
    """A sequence alone and the same sequence padded to a longer batch agree where real."""
    model, data = model_from_case("gelu_new", np.float64)
    ids = data["input_ids"][1:2, :5]                              # row 1: 5 real tokens
    alone = model(ids)["last_hidden_state"]                       # (1, 5, H)
    padded = model(data["input_ids"][1:2], attention_mask=data["attention_mask"][1:2])["last_hidden_state"]
    np.testing.assert_allclose(padded[:, :5], alone, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- init, modes

def test_init_is_hf_style_and_seeded():
    config = BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=37, max_position_embeddings=16, initializer_range=0.05)
    m = BertForPreTraining(config, seed=3, dtype=np.float64)
    assert list(m.params) == list(weights.expected_shapes(config, "BertForPreTraining"))
    assert "cls.predictions.decoder.weight" not in m.params       # tied, not repeated
    for name, p in m.params.items():
        assert p.dtype == np.float64
        if name.endswith("LayerNorm.weight"):
            assert np.all(p == 1), name
        elif name.endswith("bias"):
            assert np.all(p == 0), name
        else:
            assert abs(p.std() - 0.05) < 0.01, (name, p.std())
    assert np.all(m.params["bert.embeddings.word_embeddings.weight"][config.pad_token_id] == 0)
    same = BertForPreTraining(config, seed=3, dtype=np.float64)
    other = BertForPreTraining(config, seed=4, dtype=np.float64)
    w = "bert.encoder.layer.1.intermediate.dense.weight"
    np.testing.assert_array_equal(m.params[w], same.params[w])
    assert not np.array_equal(m.params[w], other.params[w])
    m32 = BertModel(config, seed=3)
    assert all(p.dtype == np.float32 for p in m32.params.values())
    assert "embeddings.word_embeddings.weight" in m32.params and "pooler.dense.weight" in m32.params
    with pytest.raises(TypeError, match="float32 or np.float64"):
        BertModel(config, dtype=np.int32)
    with pytest.raises(TypeError, match="BertConfig"):
        BertModel({"vocab_size": 99})


def test_train_mode_applies_dropout_from_the_models_generator():
    model, data = model_from_case("gelu", np.float64)
    model.config.hidden_dropout_prob = 0.1
    model.config.attention_probs_dropout_prob = 0.1
    inputs = (data["input_ids"], data["token_type_ids"], data["attention_mask"])
    assert model.training is False
    ref = model(*inputs)["last_hidden_state"]
    assert model.train() is model and model.training
    model.rng = np.random.default_rng(7)
    a = model(*inputs)["last_hidden_state"]
    b = model(*inputs)["last_hidden_state"]
    model.rng = np.random.default_rng(7)
    a_again = model(*inputs)["last_hidden_state"]
    assert not np.allclose(a, ref) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, a_again)
    model.eval()
    np.testing.assert_array_equal(model(*inputs)["last_hidden_state"], ref)


# ----------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def small():
    model, data = model_from_case("gelu", np.float32)
    return model, data


def test_bad_input_ids(small):
    model, data = small
    ids = data["input_ids"]
    with pytest.raises(TypeError, match="integers"):
        model(ids.astype(np.float64))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(np.where(ids == ids[0, 1], 99, ids))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(-ids)
    with pytest.raises(ValueError, match="2-D"):
        model(ids[0])
    with pytest.raises(ValueError, match="2-D"):
        model(np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(ValueError, match="max_position_embeddings=16"):
        model(np.ones((1, 17), dtype=np.int64))
    model(np.ones((1, 16), dtype=np.int64))                       # exactly the maximum is fine


def test_bad_token_types_and_mask(small):
    model, data = small
    ids, types, mask = data["input_ids"], data["token_type_ids"], data["attention_mask"]
    with pytest.raises(ValueError, match="token_type_ids has shape"):
        model(ids, types[:, :5])
    with pytest.raises(ValueError, match="type_vocab_size=2"):
        model(ids, types * 2)
    with pytest.raises(TypeError, match="token_type_ids must hold integers"):
        model(ids, types.astype(np.float32))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(ids, types, mask[:2])
    with pytest.raises(ValueError, match="only 0"):
        model(ids, types, mask * 2)
    # a boolean or float 0/1 mask is the same mask
    out_int = model(ids, types, mask)["last_hidden_state"]
    np.testing.assert_array_equal(model(ids, types, mask.astype(bool))["last_hidden_state"], out_int)
    np.testing.assert_array_equal(model(ids, types, mask.astype(np.float32))["last_hidden_state"], out_int)


# ----------------------------------------------------------------------------- save / load

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_pretrained_round_trip_is_bit_exact(tmp_path, dtype):
    model, data = model_from_case("gelu_new", dtype)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    again = BertForPreTraining.from_pretrained(tmp_path, dtype=dtype)
    assert again.config == model.config
    assert list(again.params) == list(model.params)
    for name, p in model.params.items():
        assert again.params[name].dtype == dtype, name
        np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    inputs = (data["input_ids"], data["token_type_ids"], data["attention_mask"])
    np.testing.assert_array_equal(again(*inputs)["prediction_logits"], model(*inputs)["prediction_logits"])
    # the encoder alone loads from a pre-training checkpoint (heads ignored)
    encoder = BertModel.from_pretrained(tmp_path, dtype=dtype)
    np.testing.assert_array_equal(encoder(*inputs)["last_hidden_state"], model(*inputs)["last_hidden_state"])
    # and a BertModel saves and loads as BertModel
    encoder.save_pretrained(tmp_path / "encoder")
    assert json.loads((tmp_path / "encoder" / "config.json").read_text())["architectures"] == ["BertModel"]
    again_encoder = BertModel.from_pretrained(tmp_path / "encoder", dtype=dtype)
    for name, p in encoder.params.items():
        np.testing.assert_array_equal(again_encoder.params[name], p, err_msg=name)


def test_from_pretrained_missing_dir(tmp_path):
    with pytest.raises(OSError):
        BertForPreTraining.from_pretrained(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- real checkpoint

def _minilm_fixture():
    meta = json.loads((MODEL_FIXTURES / "minilm.json").read_text())
    data = np.load(MODEL_FIXTURES / "minilm.npz", allow_pickle=False)
    return meta, {k: data[k] for k in data.files}


def _tokenizer_available():
    try:
        from numpy_bert import tokenization  # noqa: F401
    except ImportError:
        return False
    return True


def mean_pool_normalize(hidden, mask):
    """sentence-transformers' recipe: mean over real tokens, then L2-normalise."""
    mask = mask.astype(hidden.dtype)[:, :, None]                  # (B, T, 1)
    mean = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)  # (B, H)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def test_minilm_checkpoint_matches_transformers(minilm_path):
    meta, data = _minilm_fixture()
    ids, types, mask = data["input_ids"], data["token_type_ids"], data["attention_mask"]
    if _tokenizer_available():   # our own tokenizer must give the ids transformers gave
        from numpy_bert import BertTokenizer
        tok = BertTokenizer.from_pretrained(minilm_path)
        enc = tok(meta["sentences"], padding=True, return_tensors="np")
        np.testing.assert_array_equal(enc["input_ids"], ids)
        np.testing.assert_array_equal(enc["attention_mask"], mask)
        ids, types, mask = enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]
    model = BertModel.from_pretrained(minilm_path, dtype=np.float32)
    assert model.config.num_hidden_layers == 6
    hidden = model(ids, types, mask)["last_hidden_state"]         # (B, T, 384)
    compare({"last_hidden_state": (hidden[mask.astype(bool)], data["last_hidden_state_real"])}, 1e-4)
    emb = mean_pool_normalize(hidden, mask)                        # (B, 384)
    compare({"sentence_embedding": (emb, data["sentence_embedding"])}, 1e-5)
    # the embeddings are unit vectors that tell the sentences apart
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    sims = emb @ emb.T                                            # (B, B)
    assert np.all(sims[~np.eye(len(sims), dtype=bool)] < 0.99)


def test_minilm_has_no_pretraining_heads(minilm_path):
    """A BertModel checkpoint into BertForPreTraining: the heads are initialised, as
    transformers does, and the warning and loading_info name them."""
    with pytest.warns(UserWarning, match=r"newly initialized: \['cls.predictions.bias'"):
        model = BertForPreTraining.from_pretrained(minilm_path)
    heads = [name for name in model.params if name.startswith("cls.")]
    assert model.loading_info == {"missing_keys": heads, "unexpected_keys": [], "mismatched_keys": []}
    encoder = BertModel.from_pretrained(minilm_path)
    for name, p in encoder.params.items():
        np.testing.assert_array_equal(model.params["bert." + name], p)


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# resolve_layers: a namespace of one's own must have every layer function, and says which it lacks
def test_a_namespace_of_layers_must_have_every_function():
    import types

    from numpy_bert import layers as reference
    from numpy_bert.model import resolve_layers
    full = types.SimpleNamespace(**{name: getattr(reference, name) for name in reference.__all__})
    assert resolve_layers(full) is full
    partial = types.SimpleNamespace(**{name: getattr(reference, name) for name in reference.__all__[5:]})
    with pytest.raises(TypeError, match=f"lacks {', '.join(reference.__all__[:4])} ...; give it every "
                                        "function of numpy_bert.layers"):
        resolve_layers(partial)


# -- found by the full mutation run of model: inputs_embeds, head_mask, the inspection
# -- gradients, label messages and the small methods, at a tiny odd float64 config

TINY_CONFIG = dict(vocab_size=13, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                   intermediate_size=7, max_position_embeddings=9, type_vocab_size=3, initializer_range=0.3,
                   layer_norm_eps=1e-5)
TINY_IDS = np.array([[2, 0, 7, 3, 12], [5, 9, 1, 0, 0]])     # (2, 5): id 0 at a real position, a padded row
TINY_TYPES = np.array([[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]])
TINY_MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])


def tiny_model(cls=BertForPreTraining, dtype=np.float64, seed=0, namespace="fast"):
    """A model at the tiny config, every tensor moved off its initial value (biases off 0)."""
    model = cls(BertConfig(**TINY_CONFIG), seed=seed, dtype=dtype, layers=namespace)
    rng = np.random.default_rng(seed + 100)
    for p in model.params.values():
        p += ((0.2 if p.ndim == 1 else 0.05) * rng.standard_normal(p.shape)).astype(p.dtype)
    return model


def word_vectors(model, ids=TINY_IDS):
    """What inputs_embeds replaces: the word embedding rows of ``ids`` (B, T, H)."""
    return model.params[model._prefix + "embeddings.word_embeddings.weight"][ids]


def test_inputs_embeds_are_the_word_vectors_of_the_ids():
    """inputs_embeds = word[ids] gives the ids' outputs in the model's dtype (encoder, sequence_output, heads)."""
    for cls, keys in ((BertModel, ("last_hidden_state", "pooler_output")),
                      (BertForPreTraining, ("prediction_logits", "seq_relationship_logits"))):
        model = tiny_model(cls)
        want = model(TINY_IDS, TINY_TYPES, TINY_MASK)
        got = model(token_type_ids=TINY_TYPES, attention_mask=TINY_MASK, inputs_embeds=word_vectors(model))
        for key in keys:
            assert got[key].dtype == np.float64, key
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-12, err_msg=key)
        seq = model.sequence_output(token_type_ids=TINY_TYPES, attention_mask=TINY_MASK,
                                    inputs_embeds=word_vectors(model))
        np.testing.assert_allclose(seq, want["last_hidden_state"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(model.sequence_output(TINY_IDS, TINY_TYPES, TINY_MASK),
                                   want["last_hidden_state"], rtol=0, atol=1e-12)
        one = model(inputs_embeds=word_vectors(model, TINY_IDS[:1]))
        np.testing.assert_allclose(one[keys[0]], model(TINY_IDS[:1])[keys[0]], rtol=0, atol=1e-12)
    # a float32 model takes float64 vectors and computes in float32
    model32 = tiny_model(BertModel, dtype=np.float32)
    out = model32(inputs_embeds=word_vectors(model32).astype(np.float64))["last_hidden_state"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model32(TINY_IDS)["last_hidden_state"], rtol=0, atol=1e-5)


def test_bad_inputs_embeds_say_what_is_wrong():
    """Integer, wrongly shaped, empty or non-finite inputs_embeds: the whole message."""
    model = tiny_model(BertModel)
    embeds = word_vectors(model)
    with pytest.raises(TypeError, match=r"^inputs_embeds must hold floats \(vectors in place of the word "
                                        r"embeddings\), got dtype int64$"):
        model(inputs_embeds=TINY_IDS[..., None].repeat(12, axis=2).astype(np.int64))
    for bad in (embeds[0], embeds[..., :11], embeds[:, :0], embeds[None]):
        shape = re.escape(str(bad.shape))
        with pytest.raises(ValueError, match=rf"^inputs_embeds must be a non-empty \(B, T, H=12\) array, got "
                                             rf"shape {shape}; for a single sequence pass embeds\[None\]$"):
            model(inputs_embeds=bad)
    for value in (np.nan, np.inf):
        bad = embeds.copy()
        bad[1, 2, 3] = value
        with pytest.raises(ValueError, match=r"^inputs_embeds must be finite \(no NaN or inf\)$"):
            model(inputs_embeds=bad)


def no_attention_forward(model, ids, types):
    """The encoder with every head masked off (HF's head_mask of zeros), by hand from the
    reference layers: each attention block outputs only its dense bias."""
    P, config = model.params, model.config
    ln = lambda x, name: layers.layer_norm_forward(x, P[name + ".weight"], P[name + ".bias"],
                                                   config.layer_norm_eps)[0]
    T = ids.shape[1]
    x = ln(P["embeddings.word_embeddings.weight"][ids] + P["embeddings.position_embeddings.weight"][:T]
           + P["embeddings.token_type_embeddings.weight"][types], "embeddings.LayerNorm")
    for l in range(config.num_hidden_layers):
        g = f"encoder.layer.{l}."
        a = ln(x + P[g + "attention.output.dense.bias"], g + "attention.output.LayerNorm")
        i = layers.activation_forward(a @ P[g + "intermediate.dense.weight"].T + P[g + "intermediate.dense.bias"],
                                      config.hidden_act)[0]
        x = ln(a + i @ P[g + "output.dense.weight"].T + P[g + "output.dense.bias"], g + "output.LayerNorm")
    return x


def test_head_mask_multiplies_each_heads_attention_probabilities():
    """head_mask (NH,) or (L, NH) multiplies each head's attention probabilities, as HF's (0 = head off)."""
    model = tiny_model(BertModel)
    L, NH = 2, 3
    off = model(TINY_IDS, TINY_TYPES, head_mask=np.zeros((L, NH)))["last_hidden_state"]
    np.testing.assert_allclose(off, no_attention_forward(model, TINY_IDS, TINY_TYPES), rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.sequence_output(TINY_IDS, TINY_TYPES, head_mask=np.zeros(NH)), off,
                               rtol=0, atol=1e-12)
    one_off = np.array([1.0, 0.0, 1.0])
    plain = model(TINY_IDS, TINY_TYPES, TINY_MASK, output_attentions=True)
    masked = model(TINY_IDS, TINY_TYPES, TINY_MASK, output_attentions=True, head_mask=one_off)
    both = model(TINY_IDS, TINY_TYPES, TINY_MASK, output_attentions=True, head_mask=np.stack([one_off] * L))
    for l in range(L):
        assert np.all(masked["attentions"][l][:, 1] == 0)
        np.testing.assert_allclose(masked["attentions"][l][:, [0, 2]].sum(-1), 1, rtol=0, atol=1e-12)
    assert not np.allclose(masked["last_hidden_state"], plain["last_hidden_state"])
    np.testing.assert_allclose(both["last_hidden_state"], masked["last_hidden_state"], rtol=0, atol=1e-12)
    pretraining = tiny_model(BertForPreTraining)
    encoder = BertModel(pretraining.config, dtype=np.float64)
    for name in encoder.params:
        encoder.params[name][...] = pretraining.params["bert." + name]
    got = pretraining(TINY_IDS, TINY_TYPES, head_mask=np.zeros((L, NH)))["last_hidden_state"]
    np.testing.assert_allclose(got, no_attention_forward(encoder, TINY_IDS, TINY_TYPES), rtol=0, atol=1e-12)
    # a float64 head mask on a float32 model: still float32 (the reference layers would promote)
    for namespace in ("fast", "reference"):
        model32 = tiny_model(BertModel, dtype=np.float32, namespace=namespace)
        assert model32(TINY_IDS, head_mask=one_off)["last_hidden_state"].dtype == np.float32, namespace


def test_bert_model_call_defaults_and_eval():
    """BertModel(ids) gives only last_hidden_state and pooler_output; eval() sets training to False."""
    model = tiny_model(BertModel)
    assert set(model(TINY_IDS)) == {"last_hidden_state", "pooler_output"}
    assert model.train().training is True
    assert model.eval() is model and model.training is False


def test_num_parameters_counts_every_tensor_once():
    """num_parameters: BERT's parameter count written out (the tied decoder counted once)."""
    V, H, L, I, P, TV = 13, 12, 2, 7, 9, 3
    encoder = (V + P + TV) * H + 2 * H + L * (4 * (H * H + H) + H * I + I + I * H + H + 2 * 2 * H) + H * H + H
    assert tiny_model(BertModel).num_parameters() == encoder
    heads = (H * H + H + 2 * H + V) + (2 * H + 2)                # MLM transform, LayerNorm, bias; NSP
    assert tiny_model(BertForPreTraining).num_parameters() == encoder + heads


TINY_LABELS = np.array([[4, -100, 3, -100, 11], [0, -100, -100, -100, -100]])   # position 0 labelled
TINY_NSP = np.array([1, 0])


def centred_difference(loss_of, array, index, h=1e-6):
    """d loss / d array[index] by a float64 centred difference (array changed and restored)."""
    keep = array[index]
    array[index] = keep + h
    up = loss_of()
    array[index] = keep - h
    down = loss_of()
    array[index] = keep
    return (up - down) / (2 * h)


def test_pretraining_input_grads_match_finite_differences():
    """return_input_grads: the gradients at inputs_embeds, head_mask (shaped as given) and the embedding output."""
    model = tiny_model()
    embeds = word_vectors(model).copy()
    mask_1d = np.array([1.0, 0.7, 1.3])
    kwargs = dict(token_type_ids=TINY_TYPES, attention_mask=TINY_MASK, labels=TINY_LABELS,
                  next_sentence_label=TINY_NSP)
    loss, grads = model.loss_and_grads(inputs_embeds=embeds, head_mask=mask_1d, return_input_grads=True,
                                       **kwargs)
    assert set(grads) == set(model.params) | {"inputs_embeds", "embedding_output", "head_mask"}
    assert grads["inputs_embeds"].shape == grads["embedding_output"].shape == (2, 5, 12)
    assert grads["head_mask"].shape == (3,)
    assert abs(loss - model.loss_and_grads(TINY_IDS, head_mask=mask_1d, **kwargs)[0]) < 1e-12
    loss_of = lambda: model.loss_and_grads(inputs_embeds=embeds, head_mask=mask_1d, **kwargs)[0]
    for index in [(0, 0, 0), (0, 3, 5), (1, 2, 11)]:
        assert abs(grads["inputs_embeds"][index] - centred_difference(loss_of, embeds, index)) < 1e-7, index
    for h in range(3):
        assert abs(grads["head_mask"][h] - centred_difference(loss_of, mask_1d, h)) < 1e-7, h
    # embedding_output -> inputs_embeds through the embeddings' LayerNorm (eval: no dropout)
    P = model.params
    s = embeds + P["bert.embeddings.position_embeddings.weight"][:5] + \
        P["bert.embeddings.token_type_embeddings.weight"][TINY_TYPES]
    _, c_ln = layers.layer_norm_forward(s, P["bert.embeddings.LayerNorm.weight"],
                                        P["bert.embeddings.LayerNorm.bias"], model.config.layer_norm_eps)
    dwords = layers.layer_norm_backward(grads["embedding_output"], c_ln)[0]
    np.testing.assert_allclose(grads["inputs_embeds"], dwords, rtol=0, atol=1e-12)
    # an (L, NH) head mask gets an (L, NH) gradient; none given: the gradient at all ones
    mask_2d = np.array([[1.0, 0.7, 1.3], [0.9, 1.1, 0.8]])
    _, grads = model.loss_and_grads(TINY_IDS, head_mask=mask_2d, return_input_grads=True, **kwargs)
    loss_of = lambda: model.loss_and_grads(TINY_IDS, head_mask=mask_2d, **kwargs)[0]
    assert grads["head_mask"].shape == (2, 3)
    for index in [(0, 1), (1, 2)]:
        assert abs(grads["head_mask"][index] - centred_difference(loss_of, mask_2d, index)) < 1e-7, index
    _, at_none = model.loss_and_grads(TINY_IDS, return_input_grads=True, **kwargs)
    _, at_ones = model.loss_and_grads(TINY_IDS, head_mask=np.ones((2, 3)), return_input_grads=True, **kwargs)
    assert at_none["head_mask"].shape == (2, 3)
    np.testing.assert_allclose(at_none["head_mask"], at_ones["head_mask"], rtol=0, atol=1e-12)
    # a float32 model given float64 vectors and mask: the input gradients are float32 too
    for namespace in ("fast", "reference"):
        model32 = tiny_model(dtype=np.float32, namespace=namespace)
        _, g32 = model32.loss_and_grads(inputs_embeds=word_vectors(model32).astype(np.float64), head_mask=mask_1d,
                                        return_input_grads=True, **kwargs)
        for key in ("inputs_embeds", "embedding_output", "head_mask"):
            assert g32[key].dtype == np.float32, (namespace, key)


def test_pretraining_activation_grads_are_named_per_layer():
    """return_activation_grads alone adds every named activation's gradient and nothing else."""
    from numpy_bert.model import LAYER_ACTIVATIONS
    model = tiny_model()
    kwargs = dict(token_type_ids=TINY_TYPES, attention_mask=TINY_MASK, next_sentence_label=TINY_NSP)
    _, plain = model.loss_and_grads(TINY_IDS, **kwargs)
    _, grads = model.loss_and_grads(TINY_IDS, return_activation_grads=True, **kwargs)
    names = {f"bert.encoder.layer.{l}.{name}" for l in range(2) for name in LAYER_ACTIVATIONS}
    assert set(grads) == set(model.params) | names | {"bert.embeddings", "bert.embeddings.LayerNorm.input"}
    for name in model.params:
        np.testing.assert_allclose(grads[name], plain[name], rtol=0, atol=1e-14, err_msg=name)
    last = grads["bert.encoder.layer.1.output"]                  # (B, T, H)
    assert last.shape == (2, 5, 12) and np.all(last[:, 1:] == 0) and np.all(np.any(last[:, 0] != 0, axis=1))
    assert grads["bert.encoder.layer.0.attention.probs"].shape == (2, 3, 5, 5)
    _, both = model.loss_and_grads(TINY_IDS, return_input_grads=True, return_activation_grads=True, **kwargs)
    np.testing.assert_allclose(both["embedding_output"], both["bert.embeddings"], rtol=0, atol=0)
    np.testing.assert_allclose(both["inputs_embeds"], both["bert.embeddings.LayerNorm.input"], rtol=0, atol=0)


def test_mlm_label_at_the_cls_position_adds_to_the_nsp_gradient():
    """A labelled position 0 gets the MLM and the NSP gradient: MLM + NSP is the sum of each alone."""
    model = tiny_model()
    inputs = dict(input_ids=TINY_IDS, token_type_ids=TINY_TYPES, attention_mask=TINY_MASK)
    _, both = model.loss_and_grads(**inputs, labels=TINY_LABELS, next_sentence_label=TINY_NSP)
    _, mlm = model.loss_and_grads(**inputs, labels=TINY_LABELS)
    _, nsp = model.loss_and_grads(**inputs, next_sentence_label=TINY_NSP)
    for name in both:
        np.testing.assert_allclose(both[name], mlm[name] + nsp[name], rtol=0, atol=1e-13, err_msg=name)


def test_a_namespace_without_inspection_hooks_trains():
    """Without inspection, loss_and_grads calls self_attention_backward(dcontext, cache) only."""
    import types
    namespace = types.SimpleNamespace(**{name: getattr(layers, name) for name in layers.__all__})
    namespace.self_attention_backward = lambda dcontext, cache: layers.self_attention_backward(dcontext, cache)
    model = tiny_model(namespace=namespace)
    reference = tiny_model(namespace="reference")
    kwargs = dict(input_ids=TINY_IDS, labels=TINY_LABELS, next_sentence_label=TINY_NSP)
    loss, grads = model.loss_and_grads(**kwargs)
    want, want_grads = reference.loss_and_grads(**kwargs)
    assert abs(loss - want) < 1e-13
    for name, g in grads.items():
        np.testing.assert_allclose(g, want_grads[name], rtol=0, atol=1e-13, err_msg=name)


def test_all_ignored_mlm_logits_have_the_models_dtype():
    """Every label -100 in a float32 model: details' mlm_logits is (0, V) float32."""
    model = tiny_model(dtype=np.float32)
    _, _, d = model.loss_and_grads(TINY_IDS, labels=np.full((2, 5), -100), return_details=True)
    assert d["mlm_logits"].shape == (0, 13) and d["mlm_logits"].dtype == np.float32


def test_pretraining_label_errors_say_what_is_wrong():
    """The whole message of a missing label, a float next_sentence_label and one not 0/1."""
    model = tiny_model()
    with pytest.raises(ValueError, match=r"^loss_and_grads needs labels \(MLM\), next_sentence_label \(NSP\), "
                                         r"or both$"):
        model.loss_and_grads(TINY_IDS)
    with pytest.raises(TypeError, match=r"^next_sentence_label must hold integers \(token ids / labels\), got "
                                        r"dtype float64; convert with np.asarray\(next_sentence_label, "
                                        r"dtype=np.int64\)$"):
        model.loss_and_grads(TINY_IDS, next_sentence_label=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"^next_sentence_label must be 0 \(IsNext\) or 1 \(NotNext\), got "
                                         r"\[0, 2\]$"):
        model.loss_and_grads(TINY_IDS, next_sentence_label=np.array([2, 0]))


# -- found by the full mutation run of model, third batch: the constructor's defaults and
# -- its error, the padding row of an encoder without a prefix

def test_init_zeroes_the_padding_row_with_or_without_the_bert_prefix():
    """HF's init: the word embedding row of pad_token_id is 0 in BertModel ("embeddings.") and in a
    head model ("bert.embeddings."); the other rows are drawn."""
    for cls in (BertModel, BertForPreTraining):
        for pad in (0, 4):
            model = cls(BertConfig(**TINY_CONFIG, pad_token_id=pad), dtype=np.float64)
            words = model.params[model._prefix + "embeddings.word_embeddings.weight"]   # (V, H)
            np.testing.assert_array_equal(words[pad], 0.0, err_msg=f"{cls.__name__} pad {pad}")
            assert np.all(np.delete(words, pad, axis=0) != 0), (cls.__name__, pad)


def test_constructor_defaults_to_seed_0_and_names_a_wrong_config():
    """BertModel(config) is BertModel(config, seed=0) (float32); a config that is not a BertConfig is named."""
    config = BertConfig(**TINY_CONFIG)
    default, zero, one = BertModel(config), BertModel(config, seed=0), BertModel(config, seed=1)
    assert list(default.params) == list(zero.params)
    for name, p in default.params.items():
        assert p.dtype == np.float32, name
        np.testing.assert_array_equal(p, zero.params[name], err_msg=name)
    assert not np.array_equal(default.params["encoder.layer.0.output.dense.weight"],
                              one.params["encoder.layer.0.output.dense.weight"])
    with pytest.raises(TypeError, match=r"^config must be a numpy_bert.BertConfig, got dict$"):
        BertModel(TINY_CONFIG)


# -- found by the full mutation run of model, fourth batch: the whole messages of bad input ids,
# -- attention and head masks and layer namespaces, what bert_forward keeps by default, the
# -- dropout generator, and what activation_forward is told

def test_input_errors_are_whole_messages():
    """Neither or both of ids and embeds, float or empty ids, an out-of-vocabulary id (the offending
    one: the lowest if negative, else the highest) and a non-numeric attention mask: the whole message."""
    model = tiny_model(BertModel)
    both = r"^pass exactly one of input_ids \(B, T\) and inputs_embeds \(B, T, H\), as transformers does$"
    with pytest.raises(ValueError, match=both):
        model()
    with pytest.raises(ValueError, match=both):
        model(TINY_IDS, inputs_embeds=word_vectors(model))
    with pytest.raises(TypeError, match=r"^input_ids must hold integers \(token ids / labels\), got dtype float64; "
                                        r"convert with np.asarray\(input_ids, dtype=np.int64\)$"):
        model(TINY_IDS.astype(np.float64))
    with pytest.raises(ValueError, match=r"^input_ids must be a non-empty 2-D array \(B, T\) of token ids, got "
                                         r"shape \(0, 5\); for a single sequence pass ids\[None, :\]$"):
        model(np.zeros((0, 5), dtype=np.int64))
    for bad, ids in ((13, np.where(TINY_IDS == 12, 13, TINY_IDS)),       # 0 is in there too
                     (20, np.array([[1, 20, 14, 2]])),
                     (-2, np.array([[-2, 12, 0, 3]])),
                     (-1, np.array([[5, -1, 40, 3]]))):                  # both ends out: the negative one
        assert ids.min() <= 1
        with pytest.raises(ValueError, match=rf"^input_ids contains token id {bad}, outside the vocabulary "
                                             rf"\[0, 13\); was it tokenized with this model's vocab.txt\?$"):
            model(ids)
    with pytest.raises(TypeError, match=r"^attention_mask must be numeric 0/1 \(1 = real token, 0 = padding\), "
                                        r"got dtype <U1$"):
        model(TINY_IDS, attention_mask=np.full((2, 5), "1"))


def test_head_mask_errors_are_whole_messages():
    """A non-numeric, wrongly shaped or non-finite head_mask: the whole message."""
    model = tiny_model(BertModel)
    with pytest.raises(TypeError, match=r"^head_mask must be numbers \(1 keeps a head, 0 switches it off\), got "
                                        r"dtype <U1$"):
        model(TINY_IDS, head_mask=np.array(["1", "0", "1"]))
    with pytest.raises(ValueError, match=r"^head_mask must have shape \(num_attention_heads,\) = \(3,\) or "
                                         r"\(num_hidden_layers, num_attention_heads\) = \(2, 3\), got \(3, 2\)$"):
        model(TINY_IDS, head_mask=np.ones((3, 2)))
    for value in (np.nan, np.inf):
        with pytest.raises(ValueError, match=r"^head_mask must be finite$"):
            model(TINY_IDS, head_mask=np.array([1.0, value, 0.0]))


def test_layer_namespace_errors_are_whole_messages():
    """An unknown layers name lists the known ones; a namespace lacking functions names up to four,
    with " ..." only when more are missing."""
    from numpy_bert.model import resolve_layers
    with pytest.raises(ValueError, match=r"^layers must be one of \['fast', 'reference'\] or a namespace of layer "
                                         r"functions, got 'slow'$"):
        resolve_layers("slow")

    class Mine:
        def __repr__(self):
            return "<my layers>"

    names = layers.__all__
    for missing, listed in ((1, names[0]), (4, ", ".join(names[:4])), (5, ", ".join(names[:4]) + " ...")):
        namespace = Mine()
        for name in names[missing:]:
            setattr(namespace, name, getattr(layers, name))
        with pytest.raises(TypeError, match="^" + re.escape(f"layers <my layers> lacks {listed}; give it every "
                                                            "function of numpy_bert.layers, or pass 'fast' or "
                                                            "'reference'") + "$"):
            resolve_layers(namespace)


def test_bert_forward_keeps_nothing_it_is_not_asked_for():
    """bert_forward with only its required arguments: the encoder's output, no extras, caches None."""
    from numpy_bert.model import bert_forward
    model = tiny_model(BertModel)
    x, extras, caches = bert_forward(model.layers, model.params, "", model.config, TINY_IDS, TINY_TYPES, TINY_MASK,
                                     model.rng, False)
    assert extras == {} and caches is None
    np.testing.assert_allclose(x, model(TINY_IDS, TINY_TYPES, TINY_MASK)["last_hidden_state"], rtol=0, atol=1e-12)


def test_dropout_generator_is_seed_1_and_a_built_model_has_no_loading_info(tmp_path):
    """model.rng is np.random.default_rng([seed, 1]) (train.py's documented streams), built or loaded;
    a model built from a config has loading_info None."""
    config = BertConfig(**TINY_CONFIG)
    for seed in (0, 5):
        model = BertModel(config, seed=seed)
        assert model.rng.bit_generator.state == np.random.default_rng([seed, 1]).bit_generator.state, seed
        assert model.loading_info is None
    model.save_pretrained(tmp_path)
    loaded = BertModel.from_pretrained(tmp_path, seed=3)
    assert loaded.rng.bit_generator.state == np.random.default_rng([3, 1]).bit_generator.state


def test_activation_forward_is_told_whether_a_backward_follows():
    """Every activation_forward gets keep_caches=True in loss_and_grads (a backward follows) and a
    false one in a forward alone: a namespace may keep what its backward needs."""
    import types
    namespace = types.SimpleNamespace(**{name: getattr(layers, name) for name in layers.__all__})
    told = []

    def activation_forward(x, hidden_act, keep_caches=False):
        told.append(keep_caches)
        return layers.activation_forward(x, hidden_act, keep_caches)

    namespace.activation_forward = activation_forward
    model = tiny_model(namespace=namespace)
    model(TINY_IDS)
    assert len(told) == 3 and not any(told)                      # 2 layers + the MLM head
    told.clear()
    model.loss_and_grads(TINY_IDS, labels=TINY_LABELS)
    assert told == [True, True, True]
