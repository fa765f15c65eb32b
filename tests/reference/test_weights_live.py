"""Live checks of numpy_bert.weights and numpy_bert.config against safetensors, torch and
transformers: names and shapes against named_parameters(), files in both directions."""

import json

import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file as st_load_numpy
from safetensors.numpy import save_file as st_save_numpy
from safetensors.torch import load_file as st_load_torch
from safetensors.torch import save_file as st_save_torch

from numpy_bert.config import DEFAULTS, BertConfig
from numpy_bert.weights import (expected_shapes, load_safetensors, load_state_dict,
                                save_safetensors, save_state_dict)

CONFIGS = [
    dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
         intermediate_size=37, max_position_embeddings=40, type_vocab_size=3),
    dict(vocab_size=131, hidden_size=20, num_hidden_layers=3, num_attention_heads=5,
         intermediate_size=11, max_position_embeddings=17, type_vocab_size=1,
         hidden_act="gelu_new"),
]


def hf_config(config):
    return transformers.BertConfig(**{k: v for k, v in config.to_dict().items()
                                      if k != "architectures"})


def randomized(model, seed=0):
    """Every parameter non-trivial (HF's init leaves biases at 0 and LayerNorm at 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("cls", ["BertForPreTraining", "BertModel"])
def test_expected_shapes_equal_named_parameters(kwargs, cls):
    config = BertConfig(**kwargs)
    model = getattr(transformers, cls)(hf_config(config))
    hf = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
    assert list(expected_shapes(config, cls).items()) == hf


def test_tied_parameters_are_listed_once_by_hf():
    config = BertConfig(**CONFIGS[0])
    model = transformers.BertForPreTraining(hf_config(config))
    names = [n for n, _ in model.named_parameters()]
    # The decoder weight is the word embedding matrix and the decoder bias is
    # cls.predictions.bias: named_parameters() lists neither under the decoder's name ...
    assert "cls.predictions.decoder.weight" not in names
    assert "cls.predictions.decoder.bias" not in names
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    # ... but state_dict() does, and the position_ids buffer is not persistent.
    assert "cls.predictions.decoder.weight" in model.state_dict()
    assert "bert.embeddings.position_ids" not in model.state_dict()


def test_real_checkpoint_matches_safetensors_library(minilm_path):
    file = minilm_path / "model.safetensors"
    ours = load_safetensors(file)
    reference = st_load_numpy(file)
    assert set(ours) == set(reference)
    for name, want in reference.items():
        assert ours[name].dtype == want.dtype, name
        np.testing.assert_array_equal(ours[name], want, err_msg=name)
    config = BertConfig.from_pretrained(minilm_path)
    params = load_state_dict(minilm_path, config, architecture="BertModel")
    model = transformers.BertModel.from_pretrained(minilm_path)
    hf = dict(model.named_parameters())
    assert list(params) == list(hf)
    for name, value in params.items():
        np.testing.assert_array_equal(value, hf[name].detach().numpy(), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_state_dict_loads_in_transformers_without_warnings(tmp_path, dtype):
    config = BertConfig(**CONFIGS[0])
    rng = np.random.default_rng(1)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in expected_shapes(config).items()}
    config.to_json_file(tmp_path / "config.json")
    save_state_dict(params, tmp_path)
    model, info = transformers.BertForPreTraining.from_pretrained(
        tmp_path, output_loading_info=True, dtype=torch.float64 if dtype == np.float64 else None)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    assert info["mismatched_keys"] == set() and info["error_msgs"] == []
    sd = model.state_dict()
    for name, value in params.items():
        np.testing.assert_array_equal(sd[name].numpy(), value, err_msg=name)
    # The tied decoder was rebuilt from the word embeddings and cls.predictions.bias.
    np.testing.assert_array_equal(sd["cls.predictions.decoder.weight"].numpy(),
                                  params["bert.embeddings.word_embeddings.weight"])
    np.testing.assert_array_equal(model.cls.predictions.decoder.bias.detach().numpy(),
                                  params["cls.predictions.bias"])


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_transformers_save_pretrained_loads_bit_exactly(tmp_path, kwargs):
    config = BertConfig(**kwargs)
    model = randomized(transformers.BertForPreTraining(hf_config(config)))
    model.save_pretrained(tmp_path)
    loaded_config = BertConfig.from_pretrained(tmp_path)
    for name in DEFAULTS:
        assert getattr(loaded_config, name) == getattr(config, name), name
    hf = dict(model.named_parameters())
    for architecture in ("BertForPreTraining", "BertModel"):
        params = load_state_dict(tmp_path, loaded_config, architecture, dtype=np.float64)
        for name, value in params.items():
            full = name if architecture == "BertForPreTraining" else "bert." + name
            np.testing.assert_array_equal(value, hf[full].detach().double().numpy(), err_msg=name)


def test_legacy_state_dict_with_decoder_and_position_ids(tmp_path):
    """A full torch state_dict (decoder weight and bias repeated) as older HF wrote it."""
    config = BertConfig(**CONFIGS[0])
    model = randomized(transformers.BertForPreTraining(hf_config(config)))
    state = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    state["bert.embeddings.position_ids"] = torch.arange(40)[None]
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                        "LayerNorm.beta"): v
              for k, v in state.items()}
    st_save_torch(legacy, tmp_path / "model.safetensors", metadata={"format": "pt"})
    params = load_state_dict(tmp_path, config)
    hf = dict(model.named_parameters())
    assert list(params) == list(hf)
    for name, value in params.items():
        np.testing.assert_array_equal(value, hf[name].detach().numpy(), err_msg=name)


@pytest.mark.parametrize("torch_dtype", [torch.float64, torch.float32, torch.float16,
                                         torch.bfloat16, torch.int64, torch.int32,
                                         torch.int16, torch.int8, torch.uint8, torch.bool])
def test_files_in_both_directions(tmp_path, torch_dtype):
    g = torch.Generator().manual_seed(3)
    if torch_dtype.is_floating_point:
        t = torch.randn(4, 7, generator=g, dtype=torch.float64).mul(30).to(torch_dtype)
    elif torch_dtype == torch.bool:
        t = torch.rand(4, 7, generator=g) < 0.5
    else:
        info = torch.iinfo(torch_dtype)
        t = torch.randint(info.min, info.max, (4, 7), generator=g, dtype=torch_dtype)
    st_save_torch({"t": t, "s": t[0, 0].clone()}, tmp_path / "torch.safetensors")
    ours = load_safetensors(tmp_path / "torch.safetensors")
    widened = t.float() if torch_dtype in (torch.float16, torch.bfloat16) else t
    np.testing.assert_array_equal(ours["t"], widened.numpy())
    assert ours["s"].shape == ()

    # numpy_bert writes, torch reads (BF16 via the bf16= option)
    value = ours["t"]
    save_safetensors({"t": value}, tmp_path / "ours.safetensors",
                     bf16=["t"] if torch_dtype == torch.bfloat16 else ())
    back = st_load_torch(tmp_path / "ours.safetensors")["t"]
    if torch_dtype == torch.bfloat16:
        assert back.dtype == torch.bfloat16
        assert torch.equal(back, t)
    else:
        np.testing.assert_array_equal(back.numpy(), value)


def test_writer_byte_identical_to_safetensors_numpy(tmp_path):
    rng = np.random.default_rng(5)
    tensors = {"z": rng.standard_normal((3, 5)), "a": rng.standard_normal(4).astype(np.float32),
               "ids": np.arange(9), "m": rng.random(3) < 0.5, "h": np.ones(3, np.float16),
               "b.c": np.arange(6, dtype=np.uint8).reshape(2, 3), "ünï": np.zeros(2, np.int16),
               "scalar": np.array(1.5), "empty": np.zeros((0, 2), np.float32)}
    # One metadata key: the reference writes several in random (hash map) order.
    st_save_numpy(tensors, str(tmp_path / "ref.safetensors"), metadata={"format": "pt"})
    save_safetensors(tensors, tmp_path / "ours.safetensors", metadata={"format": "pt"})
    assert (tmp_path / "ours.safetensors").read_bytes() == (tmp_path / "ref.safetensors").read_bytes()


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_config_round_trip_with_transformers(tmp_path, kwargs):
    ours = BertConfig(**kwargs)
    ours.to_json_file(tmp_path / "ours.json")
    theirs = transformers.BertConfig.from_json_file(str(tmp_path / "ours.json"))
    for name, value in ours.to_dict().items():
        if name not in ("architectures", "model_type"):
            assert getattr(theirs, name) == value, name
    assert theirs.model_type == "bert"

    hf_config(ours).to_json_file(str(tmp_path / "theirs.json"))
    back = BertConfig.from_json_file(tmp_path / "theirs.json")
    for name in kwargs:
        assert getattr(back, name) == kwargs[name], name
    back.to_json_file(tmp_path / "again.json")
    assert (json.loads((tmp_path / "again.json").read_text())
            | {"architectures": None}) == (json.loads((tmp_path / "theirs.json").read_text())
                                          | {"architectures": None})
