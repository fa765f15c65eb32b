"""Tests of numpy_bert.optim: BERT's AdamWeightDecay, AdamW, the schedule and clipping.

The end-to-end check replays tests/fixtures/optim/ (20 steps of a tiny float64 BERT
trained with PyTorch, written by tests/reference/make_optim_fixtures.py) with
numpy_bert's model and optimizer: every loss within 1e-9, final weights within 1e-8.
"""

import json

import numpy as np
import pytest

from numpy_bert import optim
from numpy_bert.fast import threads
from numpy_bert.optim import (AdamW, AdamWeightDecay, clip_by_global_norm, clip_grad_norm, global_norm,
                              learning_rate, make_optimizer, use_weight_decay)
from tests.conftest import FIXTURES

OPTIM = FIXTURES / "optim"


# ---------------------------------------------------------------- schedule

def test_learning_rate_warmup_then_linear_decay():
    peak, warmup, total = 3e-3, 10, 110
    assert learning_rate(0, peak, warmup, total) == 0.0
    assert learning_rate(5, peak, warmup, total) == pytest.approx(peak / 2, rel=1e-12)
    assert learning_rate(10, peak, warmup, total) == pytest.approx(peak, rel=1e-12)
    assert learning_rate(60, peak, warmup, total) == pytest.approx(peak / 2, rel=1e-12)
    assert learning_rate(110, peak, warmup, total) == 0.0
    assert learning_rate(500, peak, warmup, total) == 0.0  # never negative
    lrs = [learning_rate(s, peak, warmup, total) for s in range(total + 1)]
    assert all(a < b for a, b in zip(lrs[:warmup], lrs[1:warmup + 1]))       # rises during warmup
    assert all(a > b for a, b in zip(lrs[warmup:total], lrs[warmup + 1:]))  # falls after


def test_learning_rate_without_warmup_starts_at_peak():
    assert learning_rate(0, 1e-3, 0, 100) == pytest.approx(1e-3)
    assert learning_rate(99, 1e-3, 0, 100) == pytest.approx(1e-5)


def test_learning_rate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="total_steps"):
        learning_rate(0, 1e-3, 0, 0)
    with pytest.raises(ValueError, match="step"):
        learning_rate(-1, 1e-3, 10, 100)


# ---------------------------------------------------------------- clipping

def _grads(scale, dtype=np.float64):
    rng = np.random.default_rng(0)
    return {"a.weight": scale * rng.standard_normal((5, 3)).astype(dtype),
            "a.bias": scale * rng.standard_normal(5).astype(dtype)}


def test_global_norm_is_norm_of_all_gradients_concatenated():
    grads = _grads(1.0)
    expected = np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()]))
    assert global_norm(grads) == pytest.approx(expected, rel=1e-12)


def test_clip_scales_large_gradients_to_max_norm_keeping_direction():
    grads = _grads(10.0)
    before = {k: g.copy() for k, g in grads.items()}
    norm = clip_by_global_norm(grads, max_norm=1.0)
    assert norm > 1.0
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], before[k] / norm, rtol=1e-12)


def test_clip_leaves_small_gradients_alone_and_keeps_dtype():
    grads = _grads(0.01, np.float32)
    before = {k: g.copy() for k, g in grads.items()}
    norm = clip_by_global_norm(grads, max_norm=1.0)
    assert norm < 1.0
    for k in grads:
        assert grads[k].dtype == np.float32
        np.testing.assert_array_equal(grads[k], before[k])


def test_clip_returns_nan_norm_without_touching_gradients():
    grads = _grads(1.0)
    grads["a.bias"][0] = np.nan
    assert np.isnan(clip_by_global_norm(grads))
    assert np.isfinite(grads["a.weight"]).all()


def test_clip_grad_norm_is_pytorchs():
    """torch.nn.utils.clip_grad_norm_: factor min(1, max_norm / (norm + 1e-6))."""
    grads = _grads(10.0)
    before = {k: g.copy() for k, g in grads.items()}
    norm = clip_grad_norm(grads, max_norm=1.0)
    assert norm == pytest.approx(global_norm(before), rel=1e-15)
    for k in grads:
        np.testing.assert_allclose(grads[k], before[k] * (1.0 / (norm + 1e-6)), rtol=1e-14)
    # just below max_norm the 1e-6 still clips (torch does), well below nothing changes
    grads = _grads(1.0)
    scale = (1.0 - 1e-7) / global_norm(grads)
    for g in grads.values():
        g *= scale
    before = {k: g.copy() for k, g in grads.items()}
    clip_grad_norm(grads, 1.0)
    assert 0 < global_norm(before) - global_norm(grads) < 1e-6
    small = _grads(0.01, np.float32)
    before = {k: g.copy() for k, g in small.items()}
    clip_grad_norm(small, 1.0)
    for k in small:
        assert small[k].dtype == np.float32
        np.testing.assert_array_equal(small[k], before[k])
    grads["a.bias"][0] = np.nan
    assert np.isnan(clip_grad_norm(grads)) and np.isfinite(grads["a.weight"]).all()


# ---------------------------------------------------------------- weight decay selection

def test_no_weight_decay_for_layer_norm_and_bias_parameters():
    decayed = ["bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
               "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.1.output.dense.weight",
               "bert.pooler.dense.weight", "cls.predictions.transform.dense.weight",
               "cls.seq_relationship.weight"]
    not_decayed = ["bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias",
                   "bert.encoder.layer.0.attention.self.query.bias",
                   "bert.encoder.layer.0.attention.output.LayerNorm.weight",
                   "bert.encoder.layer.1.output.LayerNorm.bias", "bert.pooler.dense.bias",
                   "cls.predictions.bias", "cls.predictions.transform.LayerNorm.weight",
                   "cls.seq_relationship.bias"]
    assert all(use_weight_decay(n) for n in decayed)
    assert not any(use_weight_decay(n) for n in not_decayed)


def test_no_decay_parameters_are_untouched_when_gradient_is_zero():
    params = {"x.weight": np.ones((2, 2)), "x.bias": np.ones(2), "x.LayerNorm.weight": np.ones(2)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    AdamWeightDecay(params, weight_decay=0.5).step(grads, lr=0.1)
    np.testing.assert_array_equal(params["x.bias"], 1.0)
    np.testing.assert_array_equal(params["x.LayerNorm.weight"], 1.0)
    np.testing.assert_allclose(params["x.weight"], 1.0 - 0.1 * 0.5, rtol=1e-15)  # p -= lr * wd * p


# ---------------------------------------------------------------- the update rule

def test_adam_weight_decay_first_two_steps_follow_the_formula():
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((4, 3))
    g1, g2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    params = {"w.weight": p0.copy()}
    opt = AdamWeightDecay(params, weight_decay=0.01)
    opt.step({"w.weight": g1}, lr=0.1)
    m1, v1 = 0.1 * g1, 0.001 * g1 ** 2
    p1 = p0 - 0.1 * (m1 / (np.sqrt(v1) + 1e-6) + 0.01 * p0)
    np.testing.assert_allclose(params["w.weight"], p1, rtol=1e-13, atol=1e-15)
    opt.step({"w.weight": g2}, lr=0.05)
    m2, v2 = 0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2 ** 2
    p2 = p1 - 0.05 * (m2 / (np.sqrt(v2) + 1e-6) + 0.01 * p1)
    np.testing.assert_allclose(params["w.weight"], p2, rtol=1e-13, atol=1e-15)
    assert opt.step_count == 2


def test_adamw_first_step_moves_each_weight_by_about_lr():
    # with bias correction m_hat = g and v_hat = g^2 on the first step: update = g / (|g| + eps) ~ sign(g)
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal(50)
    g = rng.standard_normal(50)
    params = {"w.bias": p0.copy()}  # a bias: no weight decay
    AdamW(params).step({"w.bias": g}, lr=1e-3)
    np.testing.assert_allclose(p0 - params["w.bias"], 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(p0 - params["w.bias"], 1e-3 * np.sign(g), rtol=1e-5)


def test_step_is_in_place_and_float32_stays_float32():
    params = {"w.weight": np.ones((3, 2), np.float32), "w.bias": np.zeros(3, np.float32)}
    arrays = dict(params)
    opt = AdamWeightDecay(params)
    opt.step({k: np.full_like(v, 0.5) for k, v in params.items()}, lr=1e-2)
    for k in params:
        assert params[k] is arrays[k]
        assert params[k].dtype == np.float32
        assert opt.m[k].dtype == np.float32 and opt.v[k].dtype == np.float32
    assert (params["w.weight"] < 1).all()


def test_state_dict_round_trip_continues_bit_identically():
    rng = np.random.default_rng(5)
    start = {"a.weight": rng.standard_normal((3, 4)).astype(np.float32), "a.bias": rng.standard_normal(3)}
    grads = [{k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in start.items()} for _ in range(6)]
    for cls in (AdamWeightDecay, AdamW):
        straight = {k: v.copy() for k, v in start.items()}
        opt = cls(straight)
        for g in grads:
            opt.step({k: v.copy() for k, v in g.items()}, lr=1e-2)
        resumed = {k: v.copy() for k, v in start.items()}
        first = cls(resumed)
        for g in grads[:3]:
            first.step({k: v.copy() for k, v in g.items()}, lr=1e-2)
        state = {k: np.array(v) for k, v in first.state_dict().items()}  # copies, as if saved to disk
        second = cls(resumed)
        second.load_state_dict(state)
        assert second.step_count == 3
        for g in grads[3:]:
            second.step({k: v.copy() for k, v in g.items()}, lr=1e-2)
        for k in start:
            np.testing.assert_array_equal(resumed[k], straight[k])


def test_bad_inputs_give_clear_errors():
    params = {"a.weight": np.ones(3)}
    with pytest.raises(TypeError, match="dict"):
        AdamWeightDecay([np.ones(3)])
    with pytest.raises(ValueError, match="no gradient"):
        AdamWeightDecay(params).step({}, lr=1.0)
    with pytest.raises(ValueError, match="shape"):
        AdamWeightDecay(params).step({"a.weight": np.ones(4)}, lr=1.0)
    with pytest.raises(ValueError, match="does not match"):
        AdamWeightDecay(params).load_state_dict({"step": np.array(1)})
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("sgd", params)
    assert isinstance(make_optimizer("adamw", params), AdamW)


# ---------------------------------------------------------------- against PyTorch

def _model_or_skip():
    try:
        from numpy_bert.config import BertConfig
        from numpy_bert.model import BertForPreTraining
        from numpy_bert.weights import load_safetensors
    except ImportError as exc:
        pytest.skip(f"numpy_bert.model / config / weights not available yet ({exc})")
    if not hasattr(BertForPreTraining, "loss_and_grads"):
        pytest.skip("BertForPreTraining.loss_and_grads not written yet")
    return BertConfig, BertForPreTraining, load_safetensors


@pytest.mark.parametrize("name", ["bert", "adamw"])
def test_twenty_steps_match_pytorch(name):
    BertConfig, BertForPreTraining, load_safetensors = _model_or_skip()
    meta = json.loads((OPTIM / f"{name}_trace.json").read_text())
    config = BertConfig.from_json_file(OPTIM / "config.json")
    model = BertForPreTraining(config, dtype=np.float64)
    initial = load_safetensors(OPTIM / "initial.safetensors")
    assert set(initial) == set(model.params)
    for k in model.params:
        model.params[k][...] = initial[k]
    batches = np.load(OPTIM / "batches.npz", allow_pickle=False)
    opt = make_optimizer(name, model.params, weight_decay=meta["weight_decay"])
    assert opt.eps == meta["eps"]
    for record in meta["trace"]:
        step = record["step"]
        i = step % 2
        loss, grads, details = model.loss_and_grads(
            batches[f"input_ids_{i}"], batches[f"token_type_ids_{i}"], batches[f"attention_mask_{i}"],
            labels=batches[f"labels_{i}"], next_sentence_label=batches[f"next_sentence_label_{i}"],
            return_details=True)
        assert abs(float(loss) - record["loss"]) < 1e-9, f"step {step}: loss {loss} vs torch {record['loss']}"
        assert abs(float(details["mlm_loss"]) - record["mlm_loss"]) < 1e-9, f"step {step}: mlm loss"
        assert abs(float(details["nsp_loss"]) - record["nsp_loss"]) < 1e-9, f"step {step}: nsp loss"
        norm = clip_by_global_norm(grads, meta["clip_norm"])
        assert norm == pytest.approx(record["grad_norm"], rel=1e-9), f"step {step}: gradient norm"
        lr = learning_rate(step, meta["peak_lr"], meta["warmup_steps"], meta["steps"])
        assert lr == pytest.approx(record["lr"], rel=1e-15, abs=1e-18)
        opt.step(grads, lr)
    final = load_safetensors(OPTIM / f"{name}_final.safetensors")
    worst = max((float(np.max(np.abs(model.params[k] - final[k]))), k) for k in final)
    assert worst[0] < 1e-8, f"largest final weight difference {worst[0]:.3g} in {worst[1]}"
    moved = max(float(np.max(np.abs(final[k] - initial[k]))) for k in final)
    assert moved > 0.01  # the run really trained


@pytest.mark.skipif(threads.get_blas_threads() is None, reason="NumPy's BLAS is not OpenBLAS")
def test_update_in_row_blocks_on_threads_equals_one_thread():
    # with one BLAS thread and several numpy_bert threads, large parameters are updated in
    # two row blocks side by side: element by element the same correctly rounded IEEE
    # operations (no sums, no BLAS). Bit-identity is not the promise across thread counts
    # (a vectorised kernel may take another path on a block's edge), so the bound is that
    # of the arithmetic: 3 steps of about 10 float32 operations, each within eps/2 of its
    # value, so 32 eps of the parameter's scale
    rng = np.random.default_rng(3)
    shapes = {"big.weight": (700, 400), "LayerNorm.weight": (400,), "small.bias": (7,)}
    start = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()} for _ in range(3)]
    blas_before, threads_before = threads.get_blas_threads(), threads.get_num_threads()
    results = []
    try:
        threads.set_blas_threads(1)
        for n in (1, 2):
            threads.set_num_threads(n)
            assert threads.spread_products() == (n == 2)
            params = {k: v.copy() for k, v in start.items()}
            opt = AdamWeightDecay(params)
            for g in grads:
                opt.step({k: v.copy() for k, v in g.items()}, lr=1e-2)
            results.append(params)
    finally:
        threads.set_blas_threads(blas_before)
        threads.set_num_threads(threads_before)
    assert params["big.weight"].size >= optim._SPLIT_SIZE
    eps = float(np.finfo(np.float32).eps)
    for k in shapes:
        scale = float(np.abs(results[0][k]).max())
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=0, atol=32 * eps * scale, err_msg=k)
        assert np.abs(results[0][k] - start[k]).max() > 1e-3  # the steps moved it (lr 1e-2)


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# load_state_dict: the message names at most three keys of each kind, the first in sorted order
def test_optimizer_state_of_another_model_names_three_keys_of_each_kind():
    opt = AdamWeightDecay({name: np.zeros(2) for name in ("a", "b", "c", "d", "e")})
    state = opt.state_dict()
    for name in ("a", "b", "c", "d"):
        del state[f"m.{name}"]
    state.update({f"m.z{i}": np.zeros(2) for i in range(5)})
    with pytest.raises(ValueError) as info:
        opt.load_state_dict(state)
    assert ("(missing e.g. ['m.a', 'm.b', 'm.c'], unexpected e.g. ['m.z0', 'm.z1', 'm.z2']); "
            "was it saved for another model configuration?") in str(info.value)


# step: a large parameter (updated in two row blocks) and the ones around it follow the
# formula, every row once; the defaults are BERT's (weight decay 0.01, eps 1e-6)
def test_row_blocks_of_a_large_parameter_follow_the_formula_with_the_defaults():
    rng = np.random.default_rng(5)
    shapes = {"a.weight": (3, 4), "big.weight": (2, optim._SPLIT_SIZE // 2), "c.weight": (5,)}
    start = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
    params = {k: v.copy() for k, v in start.items()}
    AdamWeightDecay(params).step(grads, lr=0.1)
    for k in shapes:
        m, v = 0.1 * grads[k], 0.001 * grads[k] ** 2
        expected = start[k] - 0.1 * (m / (np.sqrt(v) + 1e-6) + 0.01 * start[k])
        np.testing.assert_allclose(params[k], expected, rtol=1e-13, atol=1e-15, err_msg=k)


# __init__: each hyper-parameter out of range is refused on its own
@pytest.mark.parametrize("bad", [dict(beta1=1.0), dict(beta1=-0.1), dict(beta2=1.0), dict(eps=0.0),
                                 dict(weight_decay=-0.01)])
def test_each_hyper_parameter_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="need 0 <= beta1, beta2 < 1, eps > 0 and weight_decay >= 0"):
        AdamWeightDecay({"a.weight": np.ones(2)}, **bad)


# learning_rate: a run of one step is allowed (its only update gets the peak rate without warmup)
def test_a_one_step_schedule_is_allowed():
    assert learning_rate(0, 2e-5, 0, 1) == 2e-5 and learning_rate(1, 2e-5, 0, 1) == 0.0
    with pytest.raises(ValueError, match="total_steps > 0"):
        learning_rate(0, 2e-5, 0, 0)


# make_optimizer: case, '_' and '-' do not matter in the name
@pytest.mark.parametrize("name", ["AdamWeightDecay", "adam_weight_decay", "adam-weight-decay", "Adam_W"])
def test_optimizer_names_ignore_case_underscores_and_dashes(name):
    opt = make_optimizer(name, {"a.weight": np.ones(2)})
    assert type(opt) is (AdamW if name == "Adam_W" else AdamWeightDecay)


# -- found by the full mutation run of optim (docs/mutation.md, every mutant of the module)

# clip_by_global_norm / clip_grad_norm: the default max_norm is 1.0 (BERT's and HF Trainer's)
@pytest.mark.parametrize("clip", [clip_by_global_norm, clip_grad_norm])
def test_clipping_defaults_to_max_norm_one(clip):
    grads = {"a": np.array([1.2, 0.0]), "b": np.array([0.0, 0.9])}  # norm 1.5
    assert clip(grads) == pytest.approx(1.5, rel=1e-15)
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(grads["a"], [0.8, 0.0], rtol=1e-5)  # direction kept: 1.5 -> 1.0


# clip_grad_norm: gradients under max_norm are left alone, never scaled up (its coef is > 1 then)
def test_clip_grad_norm_leaves_small_gradients_alone():
    grads = {"a": np.array([0.3, 0.4])}  # norm 0.5: coef = 1 / 0.500001, about 2
    assert clip_grad_norm(grads, 1.0) == pytest.approx(0.5, rel=1e-15)
    assert grads["a"].tolist() == [0.3, 0.4]


# make_optimizer passes its keyword arguments on
@pytest.mark.parametrize("name", ["bert", "adamw"])
def test_make_optimizer_passes_hyper_parameters_on(name):
    opt = make_optimizer(name, {"a.weight": np.ones(2)}, weight_decay=0.5, beta1=0.5, beta2=0.75, eps=1e-3)
    assert (opt.weight_decay, opt.beta1, opt.beta2, opt.eps) == (0.5, 0.5, 0.75, 1e-3)


# AdamW: torch.optim.AdamW's defaults, and every argument reaches the update
def test_adamw_defaults_are_pytorchs_and_its_arguments_are_used():
    opt = AdamW({"a.weight": np.ones(2)})
    assert (opt.weight_decay, opt.beta1, opt.beta2, opt.eps, opt.bias_correction) == (0.01, 0.9, 0.999, 1e-8, True)
    opt = AdamW({"a.weight": np.ones(2), "a.bias": np.ones(2)}, weight_decay=0.5, beta1=0.5, beta2=0.75,
                eps=1e-3, exclude_from_weight_decay=("weight",))
    assert (opt.weight_decay, opt.beta1, opt.beta2, opt.eps) == (0.5, 0.5, 0.75, 1e-3)
    assert opt.decay == {"a.weight": False, "a.bias": True}


# AdamWeightDecay: exclude_from_weight_decay replaces BERT's patterns
def test_exclude_from_weight_decay_is_used():
    params = {"x.query.weight": np.ones(3), "x.bias": np.ones(3)}
    opt = AdamWeightDecay(params, exclude_from_weight_decay=("query",))
    assert opt.decay == {"x.query.weight": False, "x.bias": True}
    opt.step({k: np.zeros(3) for k in params}, lr=0.1)   # zero gradient: only the decay moves a weight
    assert params["x.query.weight"].tolist() == [1.0] * 3
    np.testing.assert_allclose(params["x.bias"], 1.0 - 0.1 * 0.01, rtol=1e-15)


# __init__: the edges of the ranges are allowed (beta = 0 is plain RMSprop-like / momentum-free Adam,
# weight_decay = 0 turns the decay off), and a wrong params says what to pass
@pytest.mark.parametrize("edge", [dict(beta1=0.0), dict(beta2=0.0), dict(weight_decay=0.0)])
def test_the_edges_of_the_hyper_parameter_ranges_are_allowed(edge):
    opt = AdamWeightDecay({"a.weight": np.ones(2)}, **edge)
    assert all(getattr(opt, k) == v for k, v in edge.items())


@pytest.mark.parametrize("params", [{}, [np.ones(2)], None])
def test_params_that_are_not_a_dict_of_arrays_are_refused(params):
    with pytest.raises(TypeError, match=r"^the optimizer needs the model's parameters as a non-empty dict "
                                         r"name -> array \(model\.params\)$"):
        AdamWeightDecay(params)


# load_state_dict: files written before "/" was refused in names have "m/<name>" and "v/<name>"
def test_optimizer_state_with_the_old_slash_names_loads():
    rng = np.random.default_rng(0)
    params = {"a.weight": rng.standard_normal((2, 3)), "a.bias": rng.standard_normal(3)}
    opt = AdamWeightDecay({k: v.copy() for k, v in params.items()})
    opt.step({k: rng.standard_normal(v.shape) for k, v in params.items()}, lr=0.1)
    old = {key.replace(".", "/", 1) if key[:2] in ("m.", "v.") else key: value
           for key, value in opt.state_dict().items()}
    assert "m/a.weight" in old and "step" in old
    fresh = AdamWeightDecay({k: v.copy() for k, v in params.items()})
    fresh.load_state_dict(old)
    assert fresh.step_count == 1
    for name in params:
        assert np.array_equal(fresh.m[name], opt.m[name]) and np.array_equal(fresh.v[name], opt.v[name])


def test_optimizer_state_of_the_wrong_shape_names_the_key_and_both_shapes():
    opt = AdamWeightDecay({"a.weight": np.zeros((2, 3))})
    state = opt.state_dict()
    state["v.a.weight"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"^optimizer state v\.a\.weight has shape \(3, 2\), the parameter \(2, 3\)$"):
        opt.load_state_dict(state)


# step: a large 1-D parameter (rows = elements) is updated too
def test_a_large_one_dimensional_parameter_is_updated():
    params = {"big.bias": np.ones(optim._SPLIT_SIZE)}
    AdamWeightDecay(params).step({"big.bias": np.full(optim._SPLIT_SIZE, 2.0)}, lr=0.1)
    # m = 0.2, sqrt(v) = 0.0632..: update m / (sqrt(v) + eps) ~ 3.16; no decay for a bias
    expected = 1.0 - 0.1 * 0.2 / (np.sqrt(0.001 * 4.0) + 1e-6)
    np.testing.assert_allclose(params["big.bias"], expected, rtol=1e-14)
