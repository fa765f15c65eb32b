"""numpy_bert's model against transformers, live (the reference suite: needs torch).

The same random configs as the committed fixtures (tests/reference/make_model_fixtures.py),
plus a fresh random model per dtype; save_pretrained output loaded by transformers; the
real all-MiniLM-L6-v2 checkpoint.
"""

import numpy as np
import pytest
import torch
import transformers

from numpy_bert import BertConfig
from numpy_bert.model import BertForPreTraining, BertModel

from .compare import max_diff, pretraining_output_diffs
from .make_model_fixtures import CASES, MINILM_SENTENCES, build_model, make_inputs

TOL = {np.float64: 1e-10, np.float32: 1e-5}
GRAD_TOL = {np.float64: 1e-9, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def ours_from_hf(hf_model, config_kwargs, dtype):
    model = BertForPreTraining(BertConfig(**config_kwargs), dtype=dtype)
    model.params = {name: p.detach().numpy().astype(dtype) for name, p in hf_model.named_parameters()}
    return model


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [7, 8])
def test_forward_loss_and_grads_live(case, dtype, seed):
    config_kwargs = CASES[case]
    inputs = make_inputs(config_kwargs, np.random.default_rng(seed))
    hf = build_model(config_kwargs, seed).to(TORCH_DTYPE[dtype])
    ours = ours_from_hf(hf, config_kwargs, dtype)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    ref = hf(**t, output_hidden_states=True, output_attentions=True)
    ref.loss.backward()
    out = ours(inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"],
               output_hidden_states=True, output_attentions=True)
    real = inputs["attention_mask"].astype(bool)
    diffs = pretraining_output_diffs(out, ref, real)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= TOL[dtype], f"worst {worst}: {diffs[worst]:.2e}"

    loss, grads = ours.loss_and_grads(**inputs)
    assert abs(loss - ref.loss.item()) <= TOL[dtype] * max(1, abs(ref.loss.item()))
    scale = max(p.grad.abs().max().item() for p in hf.parameters())
    for name, p in hf.named_parameters():
        g_ref = p.grad.numpy()
        denom = np.max(np.abs(g_ref))
        if name.endswith("attention.self.key.bias"):   # analytically 0 (softmax shift invariance)
            denom = scale
        err = max_diff(grads[name], g_ref) / denom
        assert err <= GRAD_TOL[dtype], f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_pretrained_loads_in_transformers(tmp_path, dtype):
    config_kwargs = CASES["gelu"]
    inputs = make_inputs(config_kwargs, np.random.default_rng(3))
    t = {k: torch.from_numpy(inputs[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    hf = build_model(config_kwargs, 3).to(TORCH_DTYPE[dtype])
    ours = ours_from_hf(hf, config_kwargs, dtype)
    ours.save_pretrained(tmp_path)
    loaded = transformers.BertForPreTraining.from_pretrained(tmp_path, attn_implementation="eager",
                                                             dtype=TORCH_DTYPE[dtype]).eval()
    assert loaded.cls.predictions.decoder.weight.data_ptr() == \
        loaded.bert.embeddings.word_embeddings.weight.data_ptr()          # still tied
    for (name, p), (name2, q) in zip(hf.named_parameters(), loaded.named_parameters()):
        assert name == name2 and q.dtype == TORCH_DTYPE[dtype] and torch.equal(p, q), name
    with torch.no_grad():
        a, b = hf(**t), loaded(**t)
    # the same weights give the same logits (up to BLAS summation order: ~1 ulp)
    same = 1e-14 if dtype == np.float64 else 1e-6
    assert max_diff(a.prediction_logits, b.prediction_logits) <= same
    assert max_diff(a.seq_relationship_logits, b.seq_relationship_logits) <= same
    real = inputs["attention_mask"].astype(bool)
    out = ours(inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"])
    assert max_diff(out["prediction_logits"][real], b.prediction_logits[real]) <= TOL[dtype]

    # the encoder alone: BertModel.save_pretrained -> transformers.BertModel
    encoder = BertModel.from_pretrained(tmp_path, dtype=dtype)
    encoder.save_pretrained(tmp_path / "encoder")
    hf_encoder = transformers.BertModel.from_pretrained(tmp_path / "encoder", attn_implementation="eager",
                                                        dtype=TORCH_DTYPE[dtype]).eval()
    with torch.no_grad():
        ref = hf_encoder(**t)
    out = encoder(inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"])
    assert max_diff(out["last_hidden_state"][real], ref.last_hidden_state[real]) <= TOL[dtype]
    assert max_diff(out["pooler_output"], ref.pooler_output) <= TOL[dtype]


def test_minilm_live(minilm_path):
    tok = transformers.AutoTokenizer.from_pretrained(minilm_path)
    hf = transformers.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    sentences = MINILM_SENTENCES + ["A second batch: different lengths.", "x " * 40]
    enc = tok(sentences, padding=True, return_tensors="np")
    with torch.no_grad():
        ref = hf(**{k: torch.from_numpy(v) for k, v in enc.items()})
    for dtype in (np.float32, np.float64):
        ours = BertModel.from_pretrained(minilm_path, dtype=dtype)
        out = ours(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
        real = enc["attention_mask"].astype(bool)
        assert max_diff(out["last_hidden_state"][real], ref.last_hidden_state[real]) <= 1e-4
        assert max_diff(out["pooler_output"], ref.pooler_output) <= 1e-4
