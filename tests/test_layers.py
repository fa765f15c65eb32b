"""Tests of numpy_bert.layers, the reference: gradient checks, erf, masks, dropout, bad input.

Every backward is checked in float64 by centred finite differences against a random
upstream gradient at odd sizes (B=2, T=5, H=12, NH=3, I=7, V=11), and the forwards
against the textbook formulas written out naively here. tests/test_fast.py checks
numpy_bert.fast against these functions.
"""

import math

import numpy as np
import pytest

from numpy_bert import gradcheck
from numpy_bert import layers as L
from numpy_bert.special import erf

B, T, H, NH, I, V = 2, 5, 12, 3, 7, 11
HS = H // NH


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------
# gradient checks: every input and parameter of every layer, float64, rel error <= 1e-7
# ---------------------------------------------------------------------------------------

CHECKS = gradcheck.layer_checks(seed=0)


@pytest.mark.parametrize("check", CHECKS, ids=[c[0] for c in CHECKS])
def test_gradient_check(check):
    layer, forward, backward, args, names, wrt, zero_grad = check
    results = gradcheck.check_layer(forward, backward, args, names=names, wrt=wrt, layer=layer,
                                    max_entries=60, tol=1e-7, seed=3, zero_grad=zero_grad)
    expected = [names[i] for i in wrt] if wrt else [
        n for n, a in zip(names, args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    assert [r.name for r in results] == expected
    for r in results:
        assert r.rel_error <= 1e-7, gradcheck.format_report(results)


def test_gradient_checks_cover_every_layer():
    covered = " ".join(c[0] for c in CHECKS)
    for layer in ["linear", "gelu", "gelu_tanh", "relu", "tanh", "layer_norm", "softmax",
                  "embedding", "dropout", "self_attention (mask)", "self_attention (mask, dropout)",
                  "cross_entropy"]:
        assert layer in covered


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"])
def test_activation_dispatch_gradient(act, rng):
    x = rng.standard_normal((B, T, I)) * 2
    x += np.where(x >= 0, 0.05, -0.05)  # away from ReLU's kink
    results = gradcheck.check_layer(lambda a: L.activation_forward(a, act), L.activation_backward,
                                    [x], names=["x"], layer=act)
    assert results[0].rel_error <= 1e-7
    direct = {"gelu": L.gelu_forward, "relu": L.relu_forward}.get(act, L.gelu_tanh_forward)
    np.testing.assert_array_equal(L.activation_forward(x, act)[0], direct(x)[0])


def test_layer_norm_gradient_at_bert_eps_and_large_offset(rng):
    # BERT's eps=1e-12 with inputs far from zero mean and a small spread
    x = rng.standard_normal((3, 7, 9)) * 0.01 + 5.0
    w, b = rng.standard_normal(9), rng.standard_normal(9)
    results = gradcheck.check_layer(lambda x, w, b: L.layer_norm_forward(x, w, b, 1e-12),
                                    L.layer_norm_backward, [x, w, b], names=["x", "w", "b"],
                                    h=1e-8)
    assert max(r.rel_error for r in results) <= 1e-6, gradcheck.format_report(results)


def test_cross_entropy_gradient_with_scaled_upstream(rng):
    logits = rng.standard_normal((7, V))
    labels = np.array([3, -100, 0, 10, -100, 5, 2])
    loss, cache = L.cross_entropy_forward(logits, labels)
    d = L.cross_entropy_backward(2.5, cache)
    d1 = L.cross_entropy_backward(1.0, cache)
    np.testing.assert_allclose(d, 2.5 * d1, rtol=1e-15)
    h = 1e-6
    for i, j in [(0, 3), (2, 1), (3, 10), (6, 4)]:
        lp, lm = logits.copy(), logits.copy()
        lp[i, j] += h
        lm[i, j] -= h
        numeric = (L.cross_entropy_forward(lp, labels)[0] - L.cross_entropy_forward(lm, labels)[0]) / (2 * h)
        assert abs(d1[i, j] - numeric) <= 1e-8


# ---------------------------------------------------------------------------------------
# erf (numpy_bert.special)
# ---------------------------------------------------------------------------------------

def _math_erf(x):
    return np.array([math.erf(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def test_erf_float64_dense_grid_against_math_erf():
    x = np.linspace(-10.0, 10.0, 200_001)
    ref = _math_erf(x)
    got = erf(x)
    assert got.dtype == np.float64
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny)
    assert rel.max() <= 1e-15, (x[rel.argmax()], rel.max())


def test_erf_float64_range_boundaries_tiny_and_huge():
    edges = [0.46875, 4.0, 6.0]
    x = np.concatenate([[e for v in edges for e in (np.nextafter(v, 0), v, np.nextafter(v, 10))],
                        np.geomspace(1e-308, 1e-2, 500), [5e-324, 1e-200, 27.0, 1e10, 1e300,
                                                         np.finfo(float).max]])
    x = np.concatenate([x, -x])
    ref = _math_erf(x)
    got = erf(x)
    rel = np.abs(got - ref) / np.abs(ref)
    assert rel.max() <= 1e-15, (x[rel.argmax()], rel.max())
    assert np.all(np.abs(got) <= 1.0)


def test_erf_special_values():
    got = erf(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]))
    assert got[0] == 1.0 and got[1] == -1.0 and np.isnan(got[2])
    assert got[3] == 0.0 and not np.signbit(got[3])
    assert got[4] == 0.0 and np.signbit(got[4])
    with np.errstate(all="raise"):  # no overflow / invalid warnings on the way
        erf(np.array([np.inf, -np.inf, np.nan, 1e300, -1e300], np.float64))
        erf(np.array([np.inf, -np.inf, np.nan, 3e38, -3e38], np.float32))


def test_erf_odd_and_monotone():
    x = np.linspace(0, 7, 30_001)
    e = erf(x)
    np.testing.assert_array_equal(erf(-x), -e)
    assert np.all(np.diff(e) >= 0)


def test_erf_float32_accuracy_and_dtype():
    x = np.concatenate([np.linspace(-8, 8, 100_001), np.geomspace(1e-38, 1e-2, 300)]).astype(np.float32)
    ref = _math_erf(x.astype(np.float64))
    got = erf(x)
    assert got.dtype == np.float32
    err = np.abs(got.astype(np.float64) - ref)
    # a few float32 ulps: 3e-7 relative, 1.8e-7 absolute near 1
    assert (err[ref != 0] / np.abs(ref[ref != 0])).max() <= 4e-7
    assert err.max() <= 2e-7


def test_erf_input_kinds():
    assert isinstance(erf(0.5), np.float64) and erf(0.5) == pytest.approx(math.erf(0.5), rel=1e-15)
    assert erf(np.array(1)).dtype == np.float64  # integers computed in float64
    x = np.linspace(-3, 3, 40).reshape(5, 8)
    np.testing.assert_array_equal(erf(x.T), erf(x).T)  # non-contiguous input, shape kept
    assert erf(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(TypeError, match="real numbers"):
        erf(np.array([1 + 2j]))


# ---------------------------------------------------------------------------------------
# the forwards and backwards agree with the textbook formulas
# ---------------------------------------------------------------------------------------

def test_gelu_matches_textbook(rng):
    x = np.concatenate([rng.standard_normal(50_000) * 4, [-40.0, -8.0, 0.0, 8.0, 40.0]])
    textbook = 0.5 * x * (1 + _math_erf(x / math.sqrt(2)))
    out, cache = L.gelu_forward(x)
    # 1 + erf(x) cancels for negative x, in both: agreement to rounding of |x| (eps = 2.2e-16)
    assert np.all(np.abs(out - textbook) <= 1e-14 * np.abs(textbook) + 1e-15 * np.abs(x))
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    dout = rng.standard_normal(x.shape)
    textbook_dx = dout * (0.5 * (1 + _math_erf(x / math.sqrt(2))) + x * pdf)
    dx = L.gelu_backward(dout, cache)
    assert np.all(np.abs(dx - textbook_dx) <= 1e-13 * np.abs(textbook_dx) + 1e-15 * np.abs(x * dout))


def test_gelu_tanh_matches_textbook(rng):
    x = rng.standard_normal(40_000) * 4
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    out, cache = L.gelu_tanh_forward(x)
    textbook = 0.5 * x * (1 + t)
    assert np.all(np.abs(out - textbook) <= 1e-14 * np.abs(textbook) + 1e-15 * np.abs(x))
    dout = rng.standard_normal(x.shape)
    textbook_dx = dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))
    dx = L.gelu_tanh_backward(dout, cache)
    assert np.all(np.abs(dx - textbook_dx) <= 1e-13 * np.abs(textbook_dx) + 1e-14 * np.abs(x ** 3 * dout))


@pytest.mark.parametrize("forward", [L.gelu_forward, L.gelu_tanh_forward])
def test_gelu_float32_close_to_float64(forward, rng):
    x = (rng.standard_normal((4, 9, 33)) * 3).astype(np.float32)
    out32, c32 = forward(x)
    out64, c64 = forward(x.astype(np.float64))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-6, atol=1e-6)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    backward = L.gelu_backward if forward is L.gelu_forward else L.gelu_tanh_backward
    dx32 = backward(dout, c32)
    assert dx32.dtype == np.float32
    # float32 rounding of 1 + erf / 1 - tanh^2 near -1, times |x|: a few 1e-6 at |x| ~ 5
    np.testing.assert_allclose(dx32, backward(dout.astype(np.float64), c64), rtol=1e-5, atol=5e-6)


def test_layer_norm_matches_textbook(rng):
    x = rng.standard_normal((B, T, H)) * 3 + 2
    w, b = rng.standard_normal(H), rng.standard_normal(H)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)   # biased
    textbook = (x - mean) / np.sqrt(var + 1e-5) * w + b
    out, cache = L.layer_norm_forward(x, w, b, 1e-5)
    np.testing.assert_allclose(out, textbook, rtol=1e-13, atol=1e-13)
    dout = rng.standard_normal(x.shape)
    xhat = (x - mean) / np.sqrt(var + 1e-5)
    dxhat = dout * w
    dx = (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)) \
        / np.sqrt(var + 1e-5)
    got = L.layer_norm_backward(dout, cache)
    np.testing.assert_allclose(got[0], dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], (dout * xhat).sum((0, 1)), rtol=1e-12)
    np.testing.assert_allclose(got[2], dout.sum((0, 1)), rtol=1e-12)


def test_softmax_matches_textbook_and_is_stable(rng):
    x = rng.standard_normal((B, NH, T, T)) * 5
    e = np.exp(x)
    np.testing.assert_allclose(L.softmax_forward(x)[0], e / e.sum(-1, keepdims=True), rtol=1e-14)
    big = np.array([[1000.0, 1000.0, -1000.0], [-1e300, 0.0, 1e300]])
    out = L.softmax_forward(big)[0]
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert L.softmax_forward(x, axis=1)[0].sum(1) == pytest.approx(1.0)
    x_copy = x.copy()
    L.softmax_forward(x)
    np.testing.assert_array_equal(x, x_copy)  # input untouched


def naive_attention(x, qw, qb, kw, kb, vw, vb, mask, nh):
    Bx, Tx, Hx = x.shape
    hs = Hx // nh

    def heads(a):
        return a.reshape(Bx, Tx, nh, hs).transpose(0, 2, 1, 3)

    q, k, v = heads(x @ qw.T + qb), heads(x @ kw.T + kb), heads(x @ vw.T + vb)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs)
    if mask is not None:
        scores = scores + mask
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p @ v).transpose(0, 2, 1, 3).reshape(Bx, Tx, Hx), p


def attention_inputs(rng, dtype=np.float64, b=B, t=T, h=H):
    x = rng.standard_normal((b, t, h)).astype(dtype)
    ws = []
    for _ in range(3):
        ws += [(rng.standard_normal((h, h)) * 0.4).astype(dtype), rng.standard_normal(h).astype(dtype)]
    return x, ws


def test_attention_matches_textbook(rng):
    x, ws = attention_inputs(rng)
    am = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    mask = L.additive_attention_mask(am, np.float64)
    ctx, cache = L.self_attention_forward(x, *ws, mask, NH)
    ref_ctx, ref_p = naive_attention(x, *ws, mask, NH)
    np.testing.assert_allclose(ctx, ref_ctx, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(cache["probs"], ref_p, rtol=1e-13, atol=1e-15)


def test_linear_matches_textbook_and_keeps_shape(rng):
    x = rng.standard_normal((B, T, H))
    w, b = rng.standard_normal((I, H)), rng.standard_normal(I)
    out, cache = L.linear_forward(x, w, b)
    assert out.shape == (B, T, I)
    np.testing.assert_allclose(out, np.einsum("bth,ih->bti", x, w) + b, rtol=1e-13)
    out1, _ = L.linear_forward(x[0, 0], w, None)     # a single vector (H,) -> (I,)
    np.testing.assert_allclose(out1, w @ x[0, 0], rtol=1e-13)
    dx, dw, db = L.linear_backward(np.ones((B, T, I)), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert L.linear_backward(np.ones((B, T, I)), L.linear_forward(x, w, None)[1])[2] is None


def test_cross_entropy_matches_textbook(rng):
    logits = rng.standard_normal((9, V)) * 3
    labels = np.array([1, -100, 10, 0, 4, -100, 7, 7, 2])
    loss, cache = L.cross_entropy_forward(logits, labels)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    kept = labels != -100
    assert loss == pytest.approx(-logp[kept, labels[kept]].mean(), rel=1e-14)
    d = L.cross_entropy_backward(1.0, cache)
    expected = np.exp(logp)
    expected[np.arange(9), np.where(kept, labels, 0)] -= 1
    expected[~kept] = 0
    np.testing.assert_allclose(d, expected / kept.sum(), rtol=1e-13, atol=1e-16)
    # a custom ignore_index works too
    loss2, _ = L.cross_entropy_forward(logits, np.where(kept, labels, 99), ignore_index=99)
    assert loss2 == loss


def test_embedding_backward_matches_add_at(rng):
    ids = rng.integers(0, V, size=(4, 13))
    w = rng.standard_normal((V, H))
    out, cache = L.embedding_forward(ids, w)
    np.testing.assert_array_equal(out, w[ids])
    dout = rng.standard_normal(out.shape)
    expected = np.zeros_like(w)
    np.add.at(expected, ids.reshape(-1), dout.reshape(-1, H))
    np.testing.assert_allclose(L.embedding_backward(dout, cache), expected, rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------------------------------
# attention mask path
# ---------------------------------------------------------------------------------------

def test_additive_mask_values():
    am = np.array([[1, 1, 0], [1, 0, 0]])
    for dtype in (np.float32, np.float64):
        m = L.additive_attention_mask(am, dtype)
        assert m.shape == (2, 1, 1, 3) and m.dtype == dtype
        assert np.all(m[:, 0, 0][am == 1] == 0.0)
        assert np.all(m[:, 0, 0][am == 0] == np.finfo(dtype).min)
    np.testing.assert_array_equal(L.additive_attention_mask(am.astype(bool)), L.additive_attention_mask(am))


def test_padded_keys_get_zero_probability_and_do_not_change_real_positions(rng):
    x, ws = attention_inputs(rng)
    am = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    mask = L.additive_attention_mask(am, np.float64)
    ctx, cache = L.self_attention_forward(x, *ws, mask, NH)
    assert np.all(cache["probs"][1, :, :, 3:] == 0.0)             # exactly zero
    np.testing.assert_allclose(cache["probs"].sum(-1), 1.0, rtol=1e-14)

    # The padded sequence's real positions equal the same sequence without its padding ...
    short = x[1:2, :3].copy()
    ctx_short, cache_short = L.self_attention_forward(short, *ws, None, NH)
    np.testing.assert_allclose(ctx[1, :3], ctx_short[0], rtol=1e-13, atol=1e-14)
    # ... whatever the padded positions hold,
    x2 = x.copy()
    x2[1, 3:] = rng.standard_normal((2, H)) * 100
    ctx2, _ = L.self_attention_forward(x2, *ws, mask, NH)
    np.testing.assert_allclose(ctx2[1, :3], ctx[1, :3], rtol=1e-13, atol=1e-14)

    # ... and so are the gradients: a loss on the real positions only gives the real
    # positions the gradient the unpadded sequence gets, and padded inputs none at all.
    dctx = np.zeros_like(ctx)
    dctx[1, :3] = rng.standard_normal((3, H))
    grads = L.self_attention_backward(dctx, cache)
    grads_short = L.self_attention_backward(dctx[1:2, :3].copy(), cache_short)
    np.testing.assert_allclose(grads[0][1, :3], grads_short[0][0], rtol=1e-12, atol=1e-13)
    assert np.all(grads[0][1, 3:] == 0.0)
    assert np.all(grads[0][0] == 0.0)
    for g, g_short in zip(grads[1:], grads_short[1:]):
        np.testing.assert_allclose(g, g_short, rtol=1e-11, atol=1e-12)


def test_fully_masked_row_stays_finite(rng):
    x, ws = attention_inputs(rng)
    for dtype in (np.float32, np.float64):
        mask = L.additive_attention_mask(np.array([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]), dtype)
        xs = [a.astype(dtype) for a in [x] + ws]
        ctx, cache = L.self_attention_forward(xs[0], *xs[1:], mask, NH)
        assert np.all(np.isfinite(ctx))
        np.testing.assert_allclose(cache["probs"][1], 1.0 / T, rtol=1e-6)   # uniform, as in HF


# ---------------------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------------------

def test_dropout_backward_uses_the_forward_mask(rng):
    x = rng.standard_normal((B, T, H)) + 3.0     # no zeros in x
    out, cache = L.dropout_forward(x, 0.4, np.random.default_rng(7), True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.6, rtol=1e-15)
    dout = rng.standard_normal(x.shape)
    dx = L.dropout_backward(dout, cache)
    np.testing.assert_allclose(dx, np.where(kept, dout / 0.6, 0.0), rtol=1e-15)
    assert cache[0].dtype == bool                  # the mask is kept compactly


def test_dropout_seed_rate_and_modes():
    x = np.ones((200, 500), np.float32)
    a, _ = L.dropout_forward(x, 0.1, np.random.default_rng(5), True)
    b, _ = L.dropout_forward(x, 0.1, np.random.default_rng(5), True)
    c, _ = L.dropout_forward(x.astype(np.float64), 0.1, np.random.default_rng(5), True)
    np.testing.assert_array_equal(a, b)            # same seed, same mask
    np.testing.assert_array_equal(a != 0, c != 0)  # float32 and float64 drop the same units
    assert a.dtype == np.float32
    assert abs((a == 0).mean() - 0.1) < 0.005      # 100k draws: 0.1 +- 5 sigma
    assert a.sum() == pytest.approx(x.sum(), rel=0.01)   # inverted dropout keeps the mean
    out, cache = L.dropout_forward(x, 0.1, None, False)
    assert out is x and L.dropout_backward(x, cache) is x   # eval: identity, no copy
    assert L.dropout_forward(x, 0.0, None, True)[0] is x
    z, cz = L.dropout_forward(x, 1.0, np.random.default_rng(0), True)
    assert np.all(z == 0) and np.all(L.dropout_backward(x, cz) == 0)


def test_attention_dropout_same_mask_in_backward(rng):
    x, ws = attention_inputs(rng)
    ctx_a, cache_a = L.self_attention_forward(x, *ws, None, NH, 0.5, np.random.default_rng(3), True)
    ctx_b, _ = L.self_attention_forward(x, *ws, None, NH, 0.5, np.random.default_rng(3), True)
    ctx_eval, cache_eval = L.self_attention_forward(x, *ws, None, NH)
    np.testing.assert_array_equal(ctx_a, ctx_b)
    assert not np.allclose(ctx_a, ctx_eval)
    np.testing.assert_array_equal(cache_a["probs"], cache_eval["probs"])  # probs before dropout
    # the context equals dropout(probs) @ v with the mask kept in the cache
    mask, scale = cache_a["dropout"]
    dropped = cache_a["probs"] * mask * scale
    v = (x @ ws[4].T + ws[5]).reshape(B, T, NH, HS).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(ctx_a, (dropped @ v).transpose(0, 2, 1, 3).reshape(B, T, H), rtol=1e-13)


# ---------------------------------------------------------------------------------------
# embedding padding row, cross-entropy edge cases
# ---------------------------------------------------------------------------------------

def test_embedding_padding_row_gets_no_gradient(rng):
    ids = np.array([[0, 3, 3, 5, 0], [2, 0, 0, 0, 0]])
    w = rng.standard_normal((V, H))
    out, cache = L.embedding_forward(ids, w, padding_idx=0)
    np.testing.assert_array_equal(out[0, 0], w[0])   # the padding row is still looked up
    dout = rng.standard_normal(out.shape)
    dw = L.embedding_backward(dout, cache)
    dw_all = L.embedding_backward(dout, L.embedding_forward(ids, w)[1])
    assert np.all(dw[0] == 0.0) and np.any(dw_all[0] != 0.0)
    np.testing.assert_array_equal(dw[1:], dw_all[1:])
    np.testing.assert_allclose(dw[3], dout[0, 1] + dout[0, 2], rtol=1e-15)   # repeats add up
    assert np.all(dw[[1, 4, 6, 7, 8, 9, 10]] == 0.0)                         # unused rows
    # a negative padding_idx counts from the end, like torch
    dw_neg = L.embedding_backward(dout, L.embedding_forward(ids, w, padding_idx=-V)[1])
    np.testing.assert_array_equal(dw_neg, dw)


def test_cross_entropy_all_ignored_is_zero_not_nan(rng):
    logits = rng.standard_normal((4, V)).astype(np.float32)
    labels = np.full(4, -100)
    loss, cache = L.cross_entropy_forward(logits, labels)
    assert loss == 0.0 and loss.dtype == np.float32
    d = L.cross_entropy_backward(1.0, cache)
    assert d.shape == (4, V) and d.dtype == np.float32 and np.all(d == 0)
    loss0, cache0 = L.cross_entropy_forward(np.zeros((0, V)), np.zeros(0, np.int64))
    assert loss0 == 0.0 and L.cross_entropy_backward(1.0, cache0).shape == (0, V)


def test_cross_entropy_extreme_logits_are_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], np.float32)
    loss, cache = L.cross_entropy_forward(logits, np.array([1, 1]))
    assert np.isfinite(loss) and loss == pytest.approx(1e4, rel=1e-6)   # mean of 2e4 and 0
    assert np.all(np.isfinite(L.cross_entropy_backward(1.0, cache)))


# ---------------------------------------------------------------------------------------
# dtypes: float32 stays float32, inputs are never modified
# ---------------------------------------------------------------------------------------

def test_float32_in_float32_out_everywhere(rng):
    f = np.float32
    x = rng.standard_normal((B, T, H)).astype(f)
    w, b = rng.standard_normal((H, H)).astype(f), rng.standard_normal(H).astype(f)
    cases = [
        (L.linear_forward(x, w, b), L.linear_backward),
        (L.gelu_forward(x), L.gelu_backward),
        (L.gelu_tanh_forward(x), L.gelu_tanh_backward),
        (L.relu_forward(x), L.relu_backward),
        (L.tanh_forward(x), L.tanh_backward),
        (L.layer_norm_forward(x, b, b, 1e-12), L.layer_norm_backward),
        (L.softmax_forward(x), L.softmax_backward),
        (L.dropout_forward(x, 0.2, rng, True), L.dropout_backward),
        (L.embedding_forward(np.array([[1, 2]]), w), L.embedding_backward),
        (L.self_attention_forward(x, w, b, w, b, w, b, L.additive_attention_mask(np.ones((B, T)), f),
                                  NH, 0.1, rng, True), L.self_attention_backward),
    ]
    for (out, cache), backward in cases:
        assert out.dtype == f, backward.__name__
        grads = backward(np.ones_like(out), cache)
        for g in grads if isinstance(grads, tuple) else (grads,):
            assert g.dtype == f, backward.__name__
    loss, cache = L.cross_entropy_forward(x.reshape(-1, H), np.arange(B * T) % H)
    assert loss.dtype == f and L.cross_entropy_backward(loss, cache).dtype == f


def test_forwards_do_not_modify_their_inputs(rng):
    x, ws = attention_inputs(rng)
    mask = L.additive_attention_mask(np.array([[1] * 5, [1, 1, 1, 0, 0]]), np.float64)
    saved = [a.copy() for a in [x] + ws]
    ctx, cache = L.self_attention_forward(x, *ws, mask, NH, 0.2, rng, True)
    L.self_attention_backward(rng.standard_normal(ctx.shape), cache)
    for a, s in zip([x] + ws, saved):
        np.testing.assert_array_equal(a, s)
    for fwd in (L.gelu_forward, L.gelu_tanh_forward, L.relu_forward, L.tanh_forward, L.softmax_forward):
        y = x.copy()
        out, c = fwd(y)
        np.testing.assert_array_equal(y, x)


def test_read_only_parameters_are_fine(rng):
    # weights loaded from a memory-mapped checkpoint are read-only
    x, ws = attention_inputs(rng)
    writable = [w.copy() for w in ws]
    for w in ws:
        w.setflags(write=False)

    def run(ws):
        ctx, cache = L.self_attention_forward(x, *ws, None, NH)
        w, b = ws[0], ws[1]
        ids = np.array([[1, 2]] * B)
        return ([ctx, *L.self_attention_backward(ctx, cache)]
                + list(L.layer_norm_backward(x, L.layer_norm_forward(x, b, b, 1e-12)[1]))
                + list(L.embedding_backward(x[:, :2], L.embedding_forward(ids, w)[1])))

    # the same calls on the same values (only the flag differs): the same results, bit for
    # bit, and the read-only weights untouched
    for got, want in zip(run(ws), run(writable)):
        np.testing.assert_array_equal(got, want)
    for w, copy in zip(ws, writable):
        assert not w.flags.writeable
        np.testing.assert_array_equal(w, copy)


# ---------------------------------------------------------------------------------------
# bad input: clear errors
# ---------------------------------------------------------------------------------------

def test_cross_entropy_bad_labels():
    logits = np.zeros((3, V))
    with pytest.raises(ValueError, match=r"label 11 at position 1 is outside \[0, 11\)"):
        L.cross_entropy_forward(logits, np.array([0, 11, -100]))
    with pytest.raises(ValueError, match=r"label -1 at position 2"):
        L.cross_entropy_forward(logits, np.array([0, 1, -1]))
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(3,\)"):
        L.cross_entropy_forward(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(3,\).*\(2,\)"):
        L.cross_entropy_forward(logits, np.array([0, 1]))


def test_shape_errors_are_clear(rng):
    x = rng.standard_normal((B, T, H))
    with pytest.raises(ValueError, match=r"x's last dimension must be 13"):
        L.linear_forward(x, np.zeros((I, H + 1)), np.zeros(I))
    w, b = np.zeros((H, H)), np.zeros(H)
    with pytest.raises(ValueError, match="not divisible by num_heads 5"):
        L.self_attention_forward(x, w, b, w, b, w, b, None, 5)
    with pytest.raises(ValueError, match=r"attention_mask must be \(B, T\)"):
        L.additive_attention_mask(np.ones(T))
    with pytest.raises(ValueError, match="only 0 .padding. and 1"):
        L.additive_attention_mask(np.array([[1, 2]]))


def test_embedding_bad_ids(rng):
    w = rng.standard_normal((V, H))
    with pytest.raises(ValueError, match=r"contain 11, outside \[0, 11\)"):
        L.embedding_forward(np.array([[1, 11]]), w)
    with pytest.raises(ValueError, match=r"contain -2"):
        L.embedding_forward(np.array([[1, -2]]), w)
    with pytest.raises(TypeError, match="must be integers"):
        L.embedding_forward(np.array([[1.0, 2.0]]), w)
    with pytest.raises(ValueError, match="padding_idx 11 is outside"):
        L.embedding_forward(np.array([[1]]), w, padding_idx=11)


def test_dropout_and_activation_bad_arguments(rng):
    x = rng.standard_normal(5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        L.dropout_forward(x, 1.5, rng, True)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        L.dropout_forward(x, 0.1, None, True)
    with pytest.raises(ValueError, match="unknown hidden_act 'swish'"):
        L.activation_forward(x, "swish")


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# additive_attention_mask: the message says which values are allowed and what they mean
def test_attention_mask_of_other_values_says_what_0_and_1_mean():
    with pytest.raises(ValueError, match=r"must hold only 0 \(padding\) and 1 \(real token\)$"):
        L.additive_attention_mask(np.array([[1, 2]]))


# dropout_forward: the draw is 32 bits per unit (dtype uint32), as its docstring says; so a
# seed keeps the same units whatever the dtype of x, and across numpy_bert versions
def test_dropout_keeps_the_units_whose_32_bit_draw_is_at_least_p_2_32():
    p, shape = 0.3, (3, 5, 7)
    bits = np.random.default_rng(11).integers(0, 2 ** 32, size=shape, dtype=np.uint32)
    expected = bits >= int(np.ceil(p * 2 ** 32))
    for dtype in (np.float32, np.float64):
        out, (mask, scale) = L.dropout_forward(np.ones(shape, dtype), p, np.random.default_rng(11), True)
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(out, np.where(expected, dtype(1 / (1 - p)), 0))


# -- found by the full mutation run of layers and special (docs/mutation.md, every mutant)

# mse_loss_forward: the formula, integer targets do not promote float32, and a shape mismatch is named
def test_mse_loss_is_the_mean_squared_difference_in_the_predictions_dtype():
    predictions = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
    targets = np.array([[1, 0], [3, 1]])                   # integers, as a regression label can be
    loss, cache = L.mse_loss_forward(predictions, targets)
    assert loss.dtype == np.float32 and loss == np.float32((0 + 4 + 0 + 16) / 4)
    dpred = L.mse_loss_backward(1.0, cache)
    assert dpred.dtype == np.float32
    np.testing.assert_array_equal(dpred, np.array([[0, 2 * 2], [0, 2 * 4]], np.float32) / 4)
    with pytest.raises(ValueError, match=r"^mse_loss_forward: targets have shape \(3,\) but predictions "
                                         r"\(2, 2\); they must match$"):
        L.mse_loss_forward(predictions, np.zeros(3))


# bce_with_logits: 0/1 integer or bool targets keep a float32 gradient; a shape mismatch is named
def test_bce_with_integer_targets_keeps_float32_and_names_a_shape_mismatch():
    logits = np.array([[-2.0, 0.0, 3.0]], np.float32)
    loss, cache = L.bce_with_logits_forward(logits, np.array([[0, 1, 1]]))
    dlogits = L.bce_with_logits_backward(1.0, cache)
    assert loss.dtype == np.float32 and dlogits.dtype == np.float32
    sigmoid = 1 / (1 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(dlogits, (sigmoid - [[0, 1, 1]]) / 3, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^bce_with_logits_forward: targets have shape \(1, 2\) but logits "
                                         r"\(1, 3\); they must match \(one 0/1 target per label\)$"):
        L.bce_with_logits_forward(logits, np.zeros((1, 2)))


# cross_entropy_forward: each row is shifted by its own maximum, so rows on very different
# scales are all exact (one shift for the whole batch would underflow exp in the low row)
def test_cross_entropy_rows_on_very_different_scales():
    logits = np.array([[0.0, 0.0], [1000.0, 1000.0]])
    loss, _ = L.cross_entropy_forward(logits, np.array([0, 1]))
    assert loss == pytest.approx(math.log(2), rel=1e-15)


# dropout_forward: p = 1 drops everything and keeps the dtype; a wrong rng names its type
def test_dropout_of_one_is_zeros_of_the_same_dtype_and_a_bad_rng_is_named():
    out, cache = L.dropout_forward(np.ones((2, 3), np.float32), 1.0, np.random.default_rng(0), True)
    assert out.dtype == np.float32 and not out.any()
    dx = L.dropout_backward(np.ones((2, 3), np.float32), cache)
    assert dx.dtype == np.float32 and not dx.any()
    with pytest.raises(TypeError, match=r"got list$"):
        L.dropout_forward(np.ones(3), 0.5, [0], True)


# embedding_forward: the message names the id that is out of range (here the largest, with 0 in the ids)
def test_embedding_names_the_id_past_the_table_even_when_id_0_is_there():
    with pytest.raises(ValueError, match=r"ids contain 12, outside \[0, 11\)"):
        L.embedding_forward(np.array([0, 3, 12]), np.zeros((V, 4)))


# relu: values in (0, 1) pass, and the gradient at 0 is 0 (PyTorch's convention)
def test_relu_passes_small_positives_and_has_zero_gradient_at_zero():
    x = np.array([-1.0, 0.0, 0.25, 2.0])
    out, cache = L.relu_forward(x)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.25, 2.0])
    np.testing.assert_array_equal(L.relu_backward(np.ones(4), cache), [0.0, 0.0, 1.0, 1.0])


# self_attention with a head mask: each head's context is scaled by its entry (after
# dropout), and the backward follows finite differences through it
def test_attention_head_mask_scales_each_head_and_its_gradient_checks(rng):
    x, ws = attention_inputs(rng)
    head_mask = np.array([0.5, 0.0, 2.0])
    ctx, _ = L.self_attention_forward(x, *ws, None, NH, head_mask=head_mask)
    plain, _ = L.self_attention_forward(x, *ws, None, NH)
    expected = (plain.reshape(B, T, NH, HS) * head_mask[:, None]).reshape(B, T, H)
    np.testing.assert_allclose(ctx, expected, rtol=1e-13, atol=1e-15)
    results = gradcheck.check_layer(
        lambda x_, qw: L.self_attention_forward(x_, qw, *ws[1:], None, NH, head_mask=head_mask),
        lambda d, c: L.self_attention_backward(d, c)[:2], [x, ws[0]], names=["x", "q_weight"],
        layer="self_attention (head_mask)")
    assert all(r.rel_error <= 1e-7 for r in results), gradcheck.format_report(results)


# self_attention_backward's activation_grads, each against finite differences of
# L = sum(dcontext * context): "scores" through a full additive mask (scores + mask, so
# dL/dmask = dL/dscores), "head_mask" through the head mask (at all ones without one), and
# "probs" = dL/dprobs, which without dropout is dcontext @ v^T per head
@pytest.mark.parametrize("with_head_mask", [False, True])
def test_attention_activation_grads_follow_finite_differences(rng, with_head_mask):
    x, ws = attention_inputs(rng)
    mask = rng.standard_normal((B, NH, T, T))
    head_mask = np.array([0.5, 1.5, 2.0]) if with_head_mask else None
    dcontext = rng.standard_normal((B, T, H))

    def loss(mask_=mask, head_mask_=head_mask):
        return float(np.sum(dcontext * L.self_attention_forward(x, *ws, mask_, NH, head_mask=head_mask_)[0]))

    _, cache = L.self_attention_forward(x, *ws, mask, NH, head_mask=head_mask)
    grads = {}
    L.self_attention_backward(dcontext, cache, activation_grads=grads)
    h = 1e-6
    # centred differences: rounding error about eps |L| / h per difference, truncation O(h^2)
    atol = 10 * np.finfo(np.float64).eps * abs(loss()) / h
    for index in [(0, 0, 0, 0), (1, 2, 4, 1), (0, 1, 3, 3), (1, 0, 2, 4)]:
        up, down = mask.copy(), mask.copy()
        up[index] += h
        down[index] -= h
        assert grads["scores"][index] == pytest.approx((loss(mask_=up) - loss(mask_=down)) / (2 * h),
                                                    rel=1e-6, abs=atol)
    at = np.ones(NH) if head_mask is None else head_mask
    for head in range(NH):
        up, down = at.copy(), at.copy()
        up[head] += h
        down[head] -= h
        numeric = (loss(head_mask_=up) - loss(head_mask_=down)) / (2 * h)
        assert grads["head_mask"][head] == pytest.approx(numeric, rel=1e-6, abs=atol)
    dctx = dcontext.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)
    expected = dctx @ cache["v"].swapaxes(-1, -2) * at[:, None, None]
    np.testing.assert_allclose(grads["probs"], expected, rtol=1e-12, atol=1e-14)


# erf: a scalar gives a NumPy scalar (as np.exp does), an array an array, a 1-element array too
def test_erf_of_a_scalar_is_a_scalar_and_of_an_array_an_array():
    for value, dtype in ((0.5, np.float64), (np.float32(0.5), np.float32), (2, np.float64)):
        out = erf(value)
        assert not isinstance(out, np.ndarray) and type(out) is dtype
        assert out == pytest.approx(math.erf(value), rel=1e-6)
    out = erf(np.array([0.5]))
    assert isinstance(out, np.ndarray) and out.shape == (1,)
