"""numpy_bert.fast against numpy_bert.layers: every fast function computes what its
reference computes, forward and every gradient, in float32 and float64, at odd shapes,
with 1 to 3 of numpy_bert's threads and BLAS on its own threads or on one.

Fast and reference code round differently (other call shapes for BLAS, in-place chains,
a fitted erfc in float32), so they are compared within a tolerance that follows from the
dtype and the length of the sums involved, relative to the scale of the result:

    max |fast - reference| <= 64 * eps(dtype) * sqrt(k) * max |reference|

never bit for bit. Then the kernels' own claims: erf's and the float32 GELU's accuracy
against Python's math module, the erfc fit, the thread pool.
"""

import math
import threading

import numpy as np
import pytest

from numpy_bert import BertConfig, BertForPreTraining, fast
from numpy_bert import layers as ref
from numpy_bert import special as ref_special
from numpy_bert.fast import elementwise, erfc_fit, gelu, matmul, threads

NH = 3


def assert_close(got, want, k=1, scale=None, what=""):
    """|got - want| within 64 eps sqrt(k) of the scale (want's largest entry by default)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape, got.dtype)
    if scale is None:
        scale = float(np.abs(want).max()) if want.size else 0.0
    tol = 64 * np.finfo(want.dtype).eps * math.sqrt(k) * max(scale, np.finfo(want.dtype).tiny)
    err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if want.size else 0.0
    assert err <= tol, f"{what}: max |fast - reference| = {err:.3g} > {tol:.3g} (scale {scale:.3g})"


THREAD_SETTINGS = [(1, None), (2, None), (3, None), (1, 1), (2, 1), (3, 1)]


@pytest.fixture(params=THREAD_SETTINGS, ids=[f"threads{n}-blas{b or 'default'}" for n, b in THREAD_SETTINGS])
def thread_setting(request):
    """numpy_bert's thread count and BLAS's (None: as NumPy set it), restored afterwards."""
    n, blas = request.param
    before, blas_before = threads.get_num_threads(), threads.get_blas_threads()
    if blas is not None and blas_before is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS: its thread count cannot be set")
    threads.set_num_threads(n)
    if blas is not None:
        threads.set_blas_threads(blas)
    yield n, blas
    threads.set_num_threads(before)
    if blas is not None:
        threads.set_blas_threads(blas_before)


DTYPES = [np.float32, np.float64]


def randn(rng, dtype, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def check_pair(name, args, dout_scale=1.0, k=1, rng=None, forward_kwargs=None, group_scale=False):
    """Run ``name``_forward/_backward of both namespaces on ``args``, compare the outputs
    and, with one random upstream gradient, every gradient."""
    forward_kwargs = forward_kwargs or {}
    out_f, cache_f = getattr(fast, name + "_forward")(*args, **forward_kwargs)
    out_r, cache_r = getattr(ref, name + "_forward")(*args, **forward_kwargs)
    assert_close(out_f, out_r, k, what=f"{name} forward")
    dout = (rng.standard_normal(out_r.shape) * dout_scale).astype(out_r.dtype)
    grads_f = getattr(fast, name + "_backward")(dout.copy(), cache_f)
    grads_r = getattr(ref, name + "_backward")(dout.copy(), cache_r)
    grads_f = grads_f if isinstance(grads_f, tuple) else (grads_f,)
    grads_r = grads_r if isinstance(grads_r, tuple) else (grads_r,)
    scale = max(float(np.abs(g).max()) for g in grads_r if g is not None) if group_scale else None
    for i, (gf, gr) in enumerate(zip(grads_f, grads_r)):
        if gr is None:
            assert gf is None
            continue
        assert_close(gf, gr, k, scale=scale, what=f"{name} backward, gradient {i}")
    return out_f, out_r


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype, thread_setting):
    rng = np.random.default_rng(0)
    x, w, b = randn(rng, dtype, 3, 701, 97), randn(rng, dtype, 203, 97), randn(rng, dtype, 203)
    check_pair("linear", [x, w, b], k=3 * 701, rng=rng)       # dW sums over all 2103 rows
    check_pair("linear", [x[0, :5], w, None], k=97, rng=rng)   # small, no bias


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "relu", "tanh"])
def test_elementwise_activations(name, dtype, thread_setting):
    rng = np.random.default_rng(1)
    x = randn(rng, dtype, 5, 701, 301, scale=3.0)          # > 4 big blocks: split over threads
    x.flat[:7] = [0.0, -0.0, 8.5, -8.5, 25.0, -25.0, 1e-20]
    check_pair(name, [x], rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden_act", sorted(ref.ACTIVATIONS))
def test_activation_dispatch_and_kept_derivative(hidden_act, dtype, thread_setting):
    rng = np.random.default_rng(2)
    x = randn(rng, dtype, 3, 7, 37, scale=3.0)
    for keep_caches in (False, True):
        check_pair("activation", [x, hidden_act], rng=rng, forward_kwargs={"keep_caches": keep_caches})


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm(dtype, thread_setting):
    rng = np.random.default_rng(3)
    x = randn(rng, dtype, 3, 131, 97, scale=3.0) + dtype(2.0)
    w, b = randn(rng, dtype, 97), randn(rng, dtype, 97)
    check_pair("layer_norm", [x, w, b, 1e-12], k=3 * 131, rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(dtype, thread_setting):
    rng = np.random.default_rng(4)
    check_pair("softmax", [randn(rng, dtype, 3, 5, 7, 131, scale=4.0)], k=131, rng=rng)
    check_pair("softmax", [randn(rng, dtype, 3, 7, 11)], k=7, rng=rng, forward_kwargs={"axis": 1})


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(dtype, thread_setting):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 97, size=(3, 131))
    ids[1, 100:] = 0
    w = randn(rng, dtype, 97, 13)
    out_f, cache_f = fast.embedding_forward(ids, w, padding_idx=0)
    out_r, cache_r = ref.embedding_forward(ids, w, padding_idx=0)
    np.testing.assert_array_equal(out_f, out_r)             # a lookup: no arithmetic
    dout = randn(rng, dtype, 3, 131, 13)
    assert_close(fast.embedding_backward(dout, cache_f), ref.embedding_backward(dout, cache_r), k=3 * 131)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 6, 8), (3, 7, 11), (1, 1)])   # even, odd, a lone pair
def test_dropout_same_mask_and_generator_state(shape, dtype):
    x = randn(np.random.default_rng(6), dtype, *shape) + dtype(3.0)
    for p in (0.1, 0.5, 1.0):
        rng_f, rng_r = np.random.default_rng(7), np.random.default_rng(7)
        for _ in range(3):                                  # after odd draws the state holds a half
            out_f, cache_f = fast.dropout_forward(x, p, rng_f, True)
            out_r, cache_r = ref.dropout_forward(x, p, rng_r, True)
            np.testing.assert_array_equal(cache_f[0], cache_r[0])
            assert_close(out_f, out_r)
            state_f, state_r = rng_f.bit_generator.state, rng_r.bit_generator.state
            assert state_f["state"] == state_r["state"] and state_f["has_uint32"] == state_r["has_uint32"]
            if state_r["has_uint32"]:                       # else the stale half is never read
                assert state_f["uinteger"] == state_r["uinteger"]
        assert_close(fast.dropout_backward(x, cache_f), ref.dropout_backward(x, cache_r))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked,dropout", [(False, False), (True, False), (True, True)])
def test_self_attention(masked, dropout, dtype, thread_setting):
    rng = np.random.default_rng(8)
    B, T, H = 4, 71, 48
    x = randn(rng, dtype, B, T, H)
    ws = []
    for _ in range(3):
        ws += [randn(rng, dtype, H, H, scale=0.4), randn(rng, dtype, H)]
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, 50:] = 0
    mask = ref.additive_attention_mask(attention_mask, dtype) if masked else None
    args = [x, *ws, mask, NH]
    kwargs = {"dropout_p": 0.2, "rng": np.random.default_rng(9), "training": True} if dropout else {}
    ctx_f, cache_f = fast.self_attention_forward(*args, **kwargs)
    if dropout:
        kwargs["rng"] = np.random.default_rng(9)
    ctx_r, cache_r = ref.self_attention_forward(*args, **kwargs)
    assert_close(ctx_f, ctx_r, k=T, what="context")
    assert_close(cache_f["probs"], cache_r["probs"], k=T, what="probs")
    dctx = randn(rng, dtype, B, T, H)
    grads_f = fast.self_attention_backward(dctx, cache_f)
    grads_r = ref.self_attention_backward(dctx, cache_r)
    # relative to the gradients' scale: the key bias's gradient is 0 in exact arithmetic
    # (softmax is unchanged by adding a constant to every score), rounding noise here
    scale = max(float(np.abs(g).max()) for g in grads_r)
    for name, gf, gr in zip(["x", "q_weight", "q_bias", "k_weight", "k_bias", "v_weight", "v_bias"],
                            grads_f, grads_r):
        assert_close(gf, gr, k=B * T, scale=scale, what=f"attention d{name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy(dtype, thread_setting):
    rng = np.random.default_rng(10)
    logits = randn(rng, dtype, 301, 2003, scale=3.0)
    labels = rng.integers(0, 2003, 301)
    labels[::7] = -100
    loss_f, cache_f = fast.cross_entropy_forward(logits, labels)
    loss_r, cache_r = ref.cross_entropy_forward(logits, labels)
    assert loss_f.dtype == loss_r.dtype == dtype
    assert_close(loss_f, loss_r, k=2003 * 301)
    for dloss in (1.0, 2.5):
        assert_close(fast.cross_entropy_backward(dloss, cache_f), ref.cross_entropy_backward(dloss, cache_r),
                     k=2003)
    every = np.arange(301) % 2003                           # no ignored row
    assert_close(fast.cross_entropy_forward(logits, every)[0], ref.cross_entropy_forward(logits, every)[0],
                 k=2003 * 301)
    none = np.full(301, -100)                               # every row ignored: 0, no NaN
    loss0, cache0 = fast.cross_entropy_forward(logits, none)
    assert loss0 == 0.0 and loss0.dtype == dtype
    assert not fast.cross_entropy_backward(1.0, cache0).any()
    with pytest.raises(ValueError, match=r"label 2003 at position 0 is outside \[0, 2003\)"):
        fast.cross_entropy_forward(logits, np.r_[2003, labels[1:]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_erf(dtype, thread_setting):
    from numpy_bert.special import erf

    x = randn(np.random.default_rng(11), dtype, 3, 70_001, scale=3.0)
    assert_close(fast.erf(x), erf(x))


def test_every_reference_name_has_a_fast_one():
    for name in ref.__all__:
        assert callable(getattr(fast, name)) or name == "ACTIVATIONS", name
    assert fast.ACTIVATIONS is ref.ACTIVATIONS


# ---------------------------------------------------------------------------------------
# the whole model: the two namespaces agree
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [False, True])
def test_model_outputs_and_gradients_agree_between_namespaces(dtype, training):
    config = BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=37, max_position_embeddings=64)
    models = {name: BertForPreTraining(config, seed=3, dtype=dtype, layers=name) for name in ("fast", "reference")}
    assert models["fast"].layers is fast and models["reference"].layers is ref
    rng = np.random.default_rng(12)
    ids = rng.integers(1, 99, size=(3, 13))
    attention_mask = np.ones_like(ids)
    attention_mask[2, 9:] = 0
    labels = np.full_like(ids, -100)
    labels[:, [2, 5]] = ids[:, [2, 5]]
    outputs, results = {}, {}
    for name, model in models.items():
        model.train() if training else model.eval()
        outputs[name] = model(ids, attention_mask=attention_mask, output_hidden_states=True,
                              output_attentions=True)
        results[name] = model.loss_and_grads(ids, attention_mask=attention_mask, labels=labels,
                                             next_sentence_label=np.array([0, 1, 1]))
    for key in ("prediction_logits", "seq_relationship_logits", "last_hidden_state", "pooler_output"):
        assert_close(outputs["fast"][key], outputs["reference"][key], k=48, what=key)
    for a, b in zip(outputs["fast"]["attentions"], outputs["reference"]["attentions"]):
        assert_close(a, b, k=48, what="attentions")
    (loss_f, grads_f), (loss_r, grads_r) = results["fast"], results["reference"]
    assert loss_f == pytest.approx(loss_r, rel=64 * float(np.finfo(dtype).eps) * 48)
    assert grads_f.keys() == grads_r.keys()
    scale = max(float(np.abs(g).max()) for g in grads_r.values())
    for name in grads_r:
        assert_close(grads_f[name], grads_r[name], k=3 * 13 * 48, scale=scale, what=name)


def test_model_layers_argument():
    config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=9)
    assert BertForPreTraining(config).layers is fast                     # the default
    with pytest.raises(ValueError, match="layers must be one of"):
        BertForPreTraining(config, layers="quick")

    class Incomplete:
        linear_forward = staticmethod(ref.linear_forward)

    with pytest.raises(TypeError, match="lacks"):
        BertForPreTraining(config, layers=Incomplete())


# ---------------------------------------------------------------------------------------
# the kernels' own claims
# ---------------------------------------------------------------------------------------

def _math_erf(x):
    return np.array([math.erf(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def test_fast_erf_accuracy_in_float64_and_float32():
    x = np.concatenate([np.linspace(-10.0, 10.0, 100_001), [0.46875, 4.0, 6.0, -4.0, 30.0]])
    want = _math_erf(x)
    rel = np.abs(fast.erf(x) - want) / np.maximum(np.abs(want), np.finfo(float).tiny)
    assert rel.max() <= 1e-15
    x32 = x.astype(np.float32)
    got32 = fast.erf(x32)
    assert got32.dtype == np.float32
    assert np.abs(got32 - _math_erf(x32.astype(np.float64))).max() <= 2e-7    # about 1.5 ulp of 1
    special = fast.erf(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]))
    assert special[0] == 1 and special[1] == -1 and np.isnan(special[2]) and np.signbit(special[4])


def test_fast_erf_spans_several_blocks():
    x = np.random.default_rng(0).standard_normal(3 * elementwise.BLOCK + 17) * 3
    np.testing.assert_allclose(fast.erf(x), _math_erf(x), rtol=1e-15, atol=0)


def test_float32_gelu_fast_form_is_accurate():
    # max(x, 0) - 0.5 |x| erfc(|x| / sqrt 2) with the fitted erfc, against math.erfc in
    # float64; relative to the value, also in the negative tail, where the reference's
    # float32 1 + erf cancels
    x = np.concatenate([np.linspace(-12, 12, 100_001), np.geomspace(1e-30, 1, 500),
                        -np.geomspace(1e-30, 1, 500)]).astype(np.float32)
    xd = x.astype(np.float64)
    erfc = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in xd])
    want = np.maximum(xd, 0) - 0.5 * np.abs(xd) * erfc
    out, cache = fast.gelu_forward(x)
    assert out.dtype == np.float32
    assert np.all(np.abs(out - want) <= 5e-6 * np.abs(want))
    Phi = np.where(xd >= 0, 1 - 0.5 * erfc, 0.5 * erfc)
    dwant = Phi + xd * np.exp(-xd * xd / 2) / math.sqrt(2 * math.pi)
    for cache in (cache, fast.gelu_forward(x, keep_derivative=True)[1]):
        dx = fast.gelu_backward(np.ones_like(x), cache)
        assert dx.dtype == np.float32
        assert np.all(np.abs(dx - dwant) <= 3e-7 + 1e-6 * np.abs(dwant))
    special = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30], np.float32)
    out, cache = fast.gelu_forward(special)
    np.testing.assert_array_equal(out, np.array([np.inf, 0.0, np.nan, 1e30, 0.0], np.float32))
    np.testing.assert_array_equal(fast.gelu_backward(np.ones(5, np.float32), cache), [1, 0, np.nan, 1, 0])


def test_gelu_kept_derivative_equals_recomputed():
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.standard_normal(50_000) * 4, np.linspace(-25, 25, 20_001)]).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    out_plain, cache_plain = fast.gelu_forward(x)
    out_kept, cache_kept = fast.gelu_forward(x, keep_derivative=True)
    assert cache_kept[0] is None and cache_kept[1].shape == x.shape        # x itself is not kept
    assert_close(out_kept, out_plain)
    assert_close(fast.gelu_backward(dout, cache_kept), fast.gelu_backward(dout, cache_plain))
    # the model's training forward keeps it for exact GELU only
    assert fast.activation_forward(x, "gelu", keep_caches=True)[1][1][0] is None
    assert fast.activation_forward(x, "gelu_new", keep_caches=True)[1][1] is x


def test_float32_gelu_erfc_fit_is_what_it_claims():
    # the stored polynomial: relative error below 1e-7 against math.erfc on a grid the fit
    # did not use, over the whole range the float32 GELU evaluates (|x| <= 20)
    z = np.random.default_rng(5).uniform(0, erfc_fit.Z_MAX, 20_000)
    rel = np.abs(erfc_fit.erfcx_poly(z) / erfc_fit.erfcx_reference(z) - 1)
    assert rel.max() < 1e-7
    # and the fit, re-run, gives those coefficients (the constants in fast.gelu come from it)
    coefficients, max_error = erfc_fit.fit(iterations=60)
    assert max_error < 1e-7
    np.testing.assert_allclose(coefficients, gelu.ERFCX_POLY, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_matmul_in_slices_equals_matmul(dtype, thread_setting):
    rng = np.random.default_rng(14)
    a = randn(rng, dtype, 2, 3, 131, 64)                    # 131 rows: uneven slices
    b = randn(rng, dtype, 2, 3, 64, 129)
    want = np.matmul(a, b)
    out = np.empty_like(want)
    assert matmul.batched_matmul(a, b, out) is out
    assert_close(out, want, k=64)
    # transposed operands and an output that is a view, as in the attention
    out_t = np.empty((2, 131, 3, 129), dtype).transpose(0, 2, 1, 3)
    matmul.batched_matmul(a, b.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2), out_t)
    assert_close(out_t, want, k=64)
    x, w, bias = randn(rng, dtype, 1001, 96), randn(rng, dtype, 96, 203), randn(rng, dtype, 203)
    assert_close(matmul.matmul_row_blocks(x, w, bias), x @ w + bias, k=96)
    p1, p2 = matmul.matmuls_concurrently((x, w), (x.T, x))
    assert_close(p1, x @ w, k=96)
    assert_close(p2, x.T @ x, k=1001)


def test_default_thread_count_follows_the_environment(monkeypatch):
    monkeypatch.setenv("NUMPY_BERT_NUM_THREADS", "3")
    assert threads.default_num_threads() == 3
    monkeypatch.delenv("NUMPY_BERT_NUM_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.default_num_threads() == 2
    with pytest.raises(ValueError, match="at least 1 thread"):
        threads.set_num_threads(0)
    with pytest.raises(ValueError, match="at least 1 thread"):
        threads.set_blas_threads(0)


@pytest.mark.skipif(threads.get_blas_threads() is None, reason="NumPy's BLAS is not OpenBLAS")
def test_blas_thread_control(thread_setting):
    n, blas = thread_setting
    if blas is not None:
        assert threads.get_blas_threads() == blas
    assert threads.spread_products() == (n > 1 and threads.get_blas_threads() == 1)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_threads_work_in_a_forked_child():
    import multiprocessing

    before = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        x = np.linspace(-3, 3, 600_000)
        threads.parallel(lambda i: None, [0, 1, 2])         # the pool now exists in this process
        want = fast.erf(x)
        with multiprocessing.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(fast.erf, (x,)).get(timeout=60)
        assert_close(got, want)
    finally:
        threads.set_num_threads(before)


def test_parallel_runs_every_item_and_re_raises():
    before = threads.get_num_threads()
    threads.set_num_threads(3)
    try:
        seen = []
        threads.parallel(seen.append, list(range(50)))
        assert sorted(seen) == list(range(50))

        def fail(i):
            if i == 7:
                raise RuntimeError("item 7")

        with pytest.raises(RuntimeError, match="item 7"):
            threads.parallel(fail, list(range(20)))
    finally:
        threads.set_num_threads(before)


def test_parallel_inside_parallel_does_not_deadlock():
    # a job spread over the pool that itself spreads work runs the inner items in place
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    seen = []

    def outer(i):
        threads.parallel(lambda j: seen.append((i, j)), [0, 1, 2])

    try:
        done = threading.Event()
        worker = threading.Thread(target=lambda: (threads.parallel(outer, [0, 1, 2, 3]), done.set()),
                                  daemon=True)
        worker.start()
        assert done.wait(timeout=20), "nested parallel deadlocked"
        assert sorted(seen) == [(i, j) for i in range(4) for j in range(3)]
    finally:
        threads.set_num_threads(before)


@pytest.mark.skipif(threads.get_blas_threads() is None, reason="NumPy's BLAS is not OpenBLAS")
def test_the_model_leaves_blas_threads_as_they_are():
    # The forward and loss_and_grads run on BLAS's threads as the user set them: spreading
    # the forward over numpy_bert's threads with BLAS on one was slower on an Intel Xeon
    # (CONTRIBUTING.md, "The reference and the fast code"), so the model does not switch BLAS's count.
    before_n, before_blas = threads.get_num_threads(), threads.get_blas_threads()
    config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=9)
    model = BertForPreTraining(config)
    original = fast.linear_forward
    seen = []

    def spy(*args):
        seen.append(threads.get_blas_threads())
        return original(*args)

    try:
        threads.set_num_threads(2)
        for blas in (2, 1):
            threads.set_blas_threads(blas)
            seen.clear()
            fast.linear_forward = spy
            try:
                model(np.array([[1, 2, 3]]))
                model.loss_and_grads(np.array([[1, 2, 3]]), next_sentence_label=np.array([0]))
            finally:
                fast.linear_forward = original
            assert seen and set(seen) == {blas} and threads.get_blas_threads() == blas
    finally:
        threads.set_num_threads(before_n)
        threads.set_blas_threads(before_blas)


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# threads._openblas_function: finds the OpenBLAS that NumPy loaded. Looked up once per process
# (set_blas_threads/get_blas_threads keep the first answer), so only a direct call sees a change.
def test_the_openblas_numpy_loaded_is_found():
    with open("/proc/self/maps", encoding="utf-8") as f:
        if not any("openblas" in line.lower() for line in f):
            pytest.skip("NumPy's BLAS here is not an OpenBLAS")
    get = threads._openblas_function(("openblas_get_num_threads", "openblas_get_num_threads64_",
                                      "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads"))
    assert get is not None and int(get()) == threads.get_blas_threads()
    assert threads._openblas_function(("no_such_function_in_openblas",)) is None


# threads.set_blas_threads: without an OpenBLAS to call, threadpoolctl gets the count
def test_set_blas_threads_falls_back_to_threadpoolctl_with_the_count(monkeypatch):
    import sys
    import types
    calls = []
    fake = types.ModuleType("threadpoolctl")
    fake.threadpool_limits = lambda limits, user_api: calls.append((limits, user_api))
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    monkeypatch.setattr(threads, "_blas_set", [None])
    monkeypatch.setattr(threads, "_blas_threads", threads._blas_threads)
    assert threads.set_blas_threads(3) is True
    assert calls == [(3, "blas")]


# elementwise.const: the shared blocks of constants. mutmut fills _CONSTANTS in its first pass
# over the tests, so the building of a block runs in a mutant only where a test empties the cache.
def test_const_builds_one_read_only_block_per_value_and_dtype(monkeypatch):
    """const(): n read-only copies of the value in the asked dtype, from one block per (value, dtype)."""
    monkeypatch.setattr(elementwise, "_CONSTANTS", {})
    c32 = elementwise.const(0.5, np.float32, 10)
    assert c32.dtype == np.float32 and c32.shape == (10,) and np.all(c32 == 0.5)
    assert not c32.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        c32[0] = 1.0
    whole = elementwise.const(0.5, np.float32, elementwise.BIG_BLOCK)
    assert whole.shape == (elementwise.BIG_BLOCK,) and np.all(whole == 0.5)
    assert np.shares_memory(c32, whole)                     # built once, then shared
    c64 = elementwise.const(0.5, np.float64, 3)
    assert c64.dtype == np.float64 and np.all(c64 == 0.5) and not np.shares_memory(c64, c32)
    assert np.all(elementwise.const(-2.0, np.float32, 3) == -2.0)
    assert len(elementwise._CONSTANTS) == 3


def _serial_parallel(calls):
    """A stand-in for threads.parallel: records each call's items in ``calls``, runs them in order."""
    def serial_parallel(fn, items):
        calls.append(list(items))
        for item in items:
            fn(item)
    return serial_parallel


# elementwise.elementwise_blocks: which blocks, which path (threads or not), the scratch's dtype.
# parallel() is replaced by a serial spy so that the path shows; the block bounds follow from the
# first input, an index array.
@pytest.mark.parametrize("spread", [False, True])
@pytest.mark.parametrize("size", [7, 4 * elementwise.BIG_BLOCK - 1, 4 * elementwise.BIG_BLOCK])
def test_elementwise_blocks_blocks_and_threads(size, spread, monkeypatch):
    """elementwise_blocks: every element once, in blocks of BLOCK, or of BIG_BLOCK over the threads
    only when spread_products() and size >= 4 BIG_BLOCK; scratch of the first array's dtype."""
    n_threads = 3
    monkeypatch.setattr(elementwise, "spread_products", lambda: spread)
    monkeypatch.setattr(elementwise, "get_num_threads", lambda: n_threads)
    parallel_calls = []
    monkeypatch.setattr(elementwise, "parallel", _serial_parallel(parallel_calls))
    x = np.arange(size, dtype=np.float32)                   # exact indices (size < 2**24)
    out = np.empty(size, np.float64)
    seen = np.zeros(size, np.int8)
    calls = []

    def fn(xb, outb, s1, s2):
        start, n = int(xb[0]), xb.size
        assert outb.size == n and not seen[start:start + n].any(), "an element given twice"
        seen[start:start + n] = 1
        calls.append((start, n, s1.dtype, s2.dtype, s1.size, s2.size))
        np.multiply(xb, 2.0, out=s1)
        outb[:] = s1

    elementwise.elementwise_blocks(fn, x, out, n_scratch=2)
    threaded = spread and size >= 4 * elementwise.BIG_BLOCK
    block = elementwise.BIG_BLOCK if threaded else elementwise.BLOCK
    f32 = np.dtype(np.float32)
    assert calls == [(s, min(block, size - s), f32, f32, min(block, size - s), min(block, size - s))
                     for s in range(0, size, block)]
    assert parallel_calls == ([list(range(n_threads))] if threaded else [])
    np.testing.assert_array_equal(out, 2.0 * np.arange(size))   # float32 2 i is exact


def test_elementwise_blocks_with_the_output_alone():
    """elementwise_blocks with no input array: fn gets the output's blocks (and scratch) and fills it."""
    out = np.empty((3, elementwise.BLOCK + 5), np.float32)

    def fill(o, s):
        s[:] = 1.5
        o[:] = s

    elementwise.elementwise_blocks(fill, out, n_scratch=1)
    assert np.all(out == 1.5)


# erf._horner: monic or not is decided by the leading coefficient alone (the erf coefficients
# never have 1.0 or 2.0 elsewhere, so only other polynomials show it)
@pytest.mark.parametrize("coefficients", [(1.0, -3.0, 2.0), (2.0, 1.0, -5.0, 0.25), (-0.5, 3.0),
                                          ref_special._P2, ref_special._Q2])
def test_horner_evaluates_any_polynomial(coefficients):
    """erf._horner: the polynomial at z, highest power first (as np.polyval), monic or not."""
    from numpy_bert.fast.erf import _horner

    z = np.linspace(-3.0, 3.0, 101)
    out = np.empty_like(z)
    assert _horner(coefficients, z, out) is out
    assert_close(out, np.polyval(coefficients, z), k=len(coefficients), what=str(coefficients))


# erf.erf: the input's kind decides the dtype; a 0-d input gives a NumPy scalar
def test_fast_erf_input_kinds_and_scalars():
    """fast.erf: ints and bools in float64, float16 in float32, long double in float64, complex refused, 0-d gives a scalar."""
    ints = np.array([-2, 0, 1, 3])
    got = fast.erf(ints)
    assert got.dtype == np.float64
    assert_close(got, fast.erf(ints.astype(np.float64)))
    assert_close(fast.erf(np.array([True, False])), fast.erf(np.array([1.0, 0.0])))
    half = np.array([0.5, -1.25, 3.0], np.float16)
    got = fast.erf(half)
    assert got.dtype == np.float32
    assert_close(got, fast.erf(half.astype(np.float32)))
    if np.dtype(np.longdouble).itemsize > 8:                 # else long double is float64 itself
        got = fast.erf(np.array([0.5, -1.25, 5.0], np.longdouble))
        assert got.dtype == np.float64
        assert_close(got, fast.erf(np.array([0.5, -1.25, 5.0])))
    with pytest.raises(TypeError, match="erf: expected real numbers, got dtype complex128"):
        fast.erf(np.array([1 + 2j]))
    for value in (0.5, np.float32(0.5), np.array(-0.5)):
        got = fast.erf(value)
        assert isinstance(got, np.generic) and not isinstance(got, np.ndarray)
        assert got.dtype == np.asarray(value).dtype and got == pytest.approx(math.erf(value), rel=1e-6)
    got = fast.erf(np.array([0.5]))
    assert isinstance(got, np.ndarray) and got.shape == (1,)


# erf.erf_block: |x| > 4 is computed by the reference in float64 (erf rounds to ~1 there, so the
# values alone hardly show which formula ran)
def test_fast_erf_hands_the_large_range_to_the_reference_in_float64_only(monkeypatch):
    """erf_block: in float64 exactly the |x| > 4 elements go to numpy_bert.special.erf; float32 never calls it."""
    original = ref_special.erf
    seen = []

    def spy(v):
        seen.append(np.array(v))
        return original(v)

    monkeypatch.setattr(ref_special, "erf", spy)
    x = np.array([-7.5, -4.0, 0.3, 4.0, np.nextafter(4.0, 5.0), 5.0, np.inf, 3.9, -30.0])
    large = np.abs(x) > 4.0
    got = fast.erf(x)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], np.abs(x[large]))
    # the reference's own numbers there (the code promises it), with the sign of x
    np.testing.assert_array_equal(got[large], original(x[large]))
    seen.clear()
    got32 = fast.erf(x.astype(np.float32))
    assert seen == [] and got32.dtype == np.float32
    assert_close(got32, original(x.astype(np.float32)))


# erfc_fit.erfcx_reference / erfcx_poly: "in float64" also for float32 points
def test_erfc_fit_helpers_compute_in_float64_for_float32_points():
    """erfcx_reference and erfcx_poly: float32 points are evaluated in float64, as the same points in float64."""
    z32 = np.linspace(0.0, erfc_fit.Z_MAX, 201).astype(np.float32)
    z64 = z32.astype(np.float64)
    got = erfc_fit.erfcx_reference(z32)
    assert got.dtype == np.float64
    assert_close(got, erfc_fit.erfcx_reference(z64))
    assert_close(erfc_fit.erfcx_poly(z32), erfc_fit.erfcx_poly(z64))


# erfc_fit.fit: the weights are of the *relative* error (one pass: no re-weighting yet)
@pytest.mark.filterwarnings("error")
def test_erfc_fit_first_pass_is_the_least_squares_fit_of_the_relative_error():
    """fit(iterations=1): the least-squares fit of the relative error on fit_grid(), as a weighted polyfit finds it."""
    coefficients, max_error = erfc_fit.fit(iterations=1)
    z = erfc_fit.fit_grid()
    target = erfc_fit.erfcx_reference(z)
    t = 1.0 / (1.0 + erfc_fit.P * z)
    want = np.polynomial.polynomial.polyfit(t, target, erfc_fit.DEGREE, w=1.0 / target)
    got_rel = erfc_fit.erfcx_poly(z, coefficients) / target - 1
    want_rel = erfc_fit.erfcx_poly(z, want) / target - 1
    assert max_error == pytest.approx(np.abs(got_rel).max(), rel=1e-6)
    assert np.sum(got_rel ** 2) <= np.sum(want_rel ** 2) * (1 + 1e-6)        # least squares
    assert np.abs(got_rel - want_rel).max() <= 1e-3 * np.abs(want_rel).max()  # the same function


# erfc_fit.fit_grid: the two pieces join at 4.0 without a gap or a repeated point
def test_erfc_fit_grid_covers_the_range_without_gaps_or_repeats():
    """fit_grid: increasing from 0 to Z_MAX, 4.0 once, uniform steps on [0, 4] and on [4, Z_MAX], finer on [0, 4]."""
    z = erfc_fit.fit_grid()
    assert z[0] == 0.0 and z[-1] == erfc_fit.Z_MAX
    steps = np.diff(z)
    assert np.all(steps > 0)
    (k,) = np.flatnonzero(z == 4.0)
    fine, coarse = steps[:k], steps[k:]
    np.testing.assert_allclose(fine, fine.mean(), rtol=1e-6)
    np.testing.assert_allclose(coarse, coarse.mean(), rtol=1e-6)
    assert fine.mean() < coarse.mean()


# -- found by mutation testing, second part (numpy_bert/fast/gelu.py and layers.py): the
# -- comment above each test names the function(s) whose surviving mutants it kills

# gelu._gelu_f32_common / _gelu_f32_output / _gelu_f32_derivative: the constant blocks of the
# float32 chains are float32 (a float64 block gives the same numbers through out=, but makes each
# pass a mixed-dtype loop). The cache is emptied: mutmut's first pass has filled it already.
def test_float32_gelu_takes_float32_constant_blocks(monkeypatch):
    """float32 GELU (forward, kept derivative, backward) builds float32 const() blocks only; values as the reference's."""
    monkeypatch.setattr(elementwise, "_CONSTANTS", {})
    rng = np.random.default_rng(20)
    x = randn(rng, np.float32, 3, 1001, scale=4.0)
    dout = randn(rng, np.float32, 3, 1001)
    out, cache = gelu.gelu_forward(x)
    out_k, (_, derivative) = gelu.gelu_forward(x, keep_derivative=True)
    dx = gelu.gelu_backward(dout, cache)
    f32 = np.dtype(np.float32).str
    assert set(elementwise._CONSTANTS) == {(0.0, f32), (gelu._GELU_TAIL_CLIP, f32)}
    out_r, cache_r = ref.gelu_forward(x)
    dx_r = ref.gelu_backward(dout, cache_r)
    assert_close(out, out_r, what="forward")
    assert_close(out_k, out_r, what="forward with the derivative")
    assert_close(dx, dx_r, what="backward")
    assert_close(gelu.gelu_backward(dout, (None, derivative)), dx_r, what="backward from the kept derivative")


# gelu.gelu_forward, layers.activation_forward: the derivative is kept only when asked for
def test_gelu_keeps_x_unless_asked_for_the_derivative():
    """gelu_forward(x) and activation_forward(x, "gelu") cache x itself by default, in float32 too."""
    x = randn(np.random.default_rng(21), np.float32, 4, 9)
    _, cache = fast.gelu_forward(x)
    assert cache[0] is x and cache[1] is None
    _, (name, inner) = fast.activation_forward(x, "gelu")
    assert name == "gelu" and inner[0] is x and inner[1] is None
    _, (_, inner) = fast.activation_forward(x, "gelu", keep_caches=True)
    assert inner[0] is None and inner[1].shape == x.shape


# layers.activation_forward: the error for an unknown name
def test_activation_forward_refuses_an_unknown_name_as_the_reference_does():
    """activation_forward with an unknown hidden_act: ValueError with the reference's message (name and choices)."""
    x = np.zeros((2, 3))
    with pytest.raises(ValueError) as want:
        ref.activation_forward(x, "swish")
    with pytest.raises(ValueError, match="unknown hidden_act 'swish'; choose one of") as got:
        fast.activation_forward(x, "swish")
    assert str(got.value) == str(want.value)
    assert all(repr(name) in str(got.value) for name in ref.ACTIVATIONS)


# layers._row_blocks: cross-entropy's row slices
def test_cross_entropy_row_blocks(monkeypatch):
    """_row_blocks: 4 slices of ceil(n / 4) rows when spread_products() and size > 4 BLOCK, else one slice of all."""
    BLOCK = elementwise.BLOCK
    row_blocks = fast.layers._row_blocks
    monkeypatch.setattr(fast.layers, "spread_products", lambda: True)
    assert row_blocks(10, 4 * BLOCK + 1) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12)]
    assert row_blocks(8, 10 * BLOCK) == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    assert row_blocks(10, 4 * BLOCK) == [slice(0, 10)]
    assert row_blocks(10, 7) == [slice(0, 10)]
    monkeypatch.setattr(fast.layers, "spread_products", lambda: False)
    assert row_blocks(10, 100 * BLOCK) == [slice(0, 10)]


# layers.cross_entropy_forward: which labels take the fast path, and the reference's errors
# (with the caller's ignore_index) for the others. A spy on the reference shows the path.
def test_cross_entropy_fast_path_takes_exactly_the_valid_labels(monkeypatch):
    """cross_entropy_forward: valid integer labels stay on the fast path; any others get the reference's error."""
    original = ref.cross_entropy_forward
    calls = []

    def spy(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(ref, "cross_entropy_forward", spy)
    logits = randn(np.random.default_rng(22), np.float64, 6, 5, scale=2.0)
    for labels, ignore_index in [(np.array([0, 4, -100, 0, 2, -100]), -100),
                                 (np.array([0, 4, 1, 0, 2, 3], np.uint8), -100),
                                 (np.array([4, 0, -1, 2, 3, 0], np.int32), -1)]:
        loss, cache = fast.cross_entropy_forward(logits, labels, ignore_index)
        assert calls == [], (labels, "went to the reference")
        loss_r, cache_r = original(logits, labels, ignore_index)
        assert_close(loss, loss_r, k=30)
        assert_close(fast.cross_entropy_backward(1.5, cache), ref.cross_entropy_backward(1.5, cache_r), k=5)
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(6,\)"):
        fast.cross_entropy_forward(logits, np.array([0, 4, 1, 0, 2, 3])[:, None])
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(6,\)"):
        fast.cross_entropy_forward(logits, np.array([0.0, 4.0, 1.0, 0.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"label 5 at position 0 is outside \[0, 5\)"):
        fast.cross_entropy_forward(logits, np.array([5, 4, 1, 0, 2, 3]))
    with pytest.raises(ValueError, match=r"label 7 at position 1 is outside \[0, 5\) \(and is not ignore_index=-1\)"):
        fast.cross_entropy_forward(logits, np.array([-1, 7, 1, 0, 2, 3]), -1)
    assert len(calls) == 4


# layers.cross_entropy_backward: the zero gradient when every label is ignored
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_all_ignored_gradient_has_the_logits_dtype(dtype):
    """cross_entropy_backward with every label ignored: zeros of the logits' shape and dtype, as the reference."""
    logits = randn(np.random.default_rng(23), dtype, 4, 3)
    labels = np.full(4, -100)
    got = fast.cross_entropy_backward(1.0, fast.cross_entropy_forward(logits, labels)[1])
    want = ref.cross_entropy_backward(1.0, ref.cross_entropy_forward(logits, labels)[1])
    assert got.shape == want.shape == (4, 3) and got.dtype == want.dtype == dtype and not got.any()


# layers.dropout_forward: the fast path (raw 64-bit draws) runs exactly when it gives the
# reference's stream: training, 0 < p < 1, an even count, a Generator on PCG64 with no buffered
# half. A spy on the reference shows the path; the mask and the generator state are the
# reference's either way (the docstring promises the same mask from the same state).
def test_dropout_fast_path_runs_exactly_when_the_stream_allows(monkeypatch):
    """dropout_forward: fast only for PCG64, no buffered half, even size, 0 < p < 1, training; same mask and state."""
    original = ref.dropout_forward
    calls = []

    def spy(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(ref, "dropout_forward", spy)
    x = randn(np.random.default_rng(24), np.float32, 4, 6) + np.float32(3.0)

    def check(x, p, make_rng, training, warm_up=0, fast_path=False):
        rng_f, rng_r = make_rng(), make_rng()
        for rng in (rng_f, rng_r):
            rng.integers(0, 2 ** 32, size=warm_up, dtype=np.uint32)
        calls.clear()
        out_f, (mask_f, scale_f) = fast.dropout_forward(x, p, rng_f, training)
        assert len(calls) == (0 if fast_path else 1), (p, training, warm_up, x.shape)
        out_r, (mask_r, scale_r) = original(x, p, rng_r, training)
        assert (mask_f is None) == (mask_r is None) and scale_f == scale_r
        if mask_r is not None:
            np.testing.assert_array_equal(mask_f, mask_r)
        assert_close(out_f, out_r)
        state_f, state_r = rng_f.bit_generator.state, rng_r.bit_generator.state
        if state_r.get("has_uint32") == 0:                  # a stale half is never read
            state_f, state_r = dict(state_f, uinteger=0), dict(state_r, uinteger=0)
        np.testing.assert_equal(state_f, state_r)

    pcg = lambda: np.random.default_rng(25)                 # noqa: E731
    check(x, 0.3, pcg, True, fast_path=True)
    check(x, 0.3, pcg, True, warm_up=2, fast_path=True)     # an even number drawn: no half left
    check(x, 0.3, pcg, True, warm_up=1)                     # a buffered half
    check(x[:, :5], 0.3, pcg, True, fast_path=True)         # 20 elements: even
    check(x[:3, :5], 0.3, pcg, True)                        # 15 elements: odd
    check(x, 0.3, lambda: np.random.Generator(np.random.MT19937(25)), True)
    check(x, 0.3, lambda: np.random.Generator(np.random.Philox(25)), True)
    check(x, 0.3, pcg, False)
    check(x, 1.0, pcg, True)
    check(x, 0.0, pcg, True)
    assert calls and fast.dropout_forward(x, 0.0, pcg(), True)[0] is x


# layers.dropout_forward: the threshold, at its edges. A PCG64 state is built whose next 64-bit
# draw is a chosen pair of uint32 (low half first, as the reference reads them): the LCG step
# is state * M + inc, and with the high 64 bits of the new state 0 the XSL-RR output is its low
# 64 bits. The rule (reference docstring): kept where bits >= min(ceil(p 2^32), 2^32 - 1).
_PCG64_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341


def _pcg64_drawing_next(low, high, inc=194290289479364712180083596243593368443):
    bit_generator = np.random.PCG64()
    state = (((high << 32) | low) - inc) * pow(_PCG64_MULTIPLIER, -1, 1 << 128) % (1 << 128)
    bit_generator.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                           "has_uint32": 0, "uinteger": 0}
    return np.random.Generator(bit_generator)


@pytest.mark.parametrize("p,low,high,want", [
    (0.25, 2 ** 30, 2 ** 30 - 1, [True, False]),            # bits == ceil(p 2^32) is kept
    (1.0 - 2.0 ** -33, 2 ** 32 - 2, 2 ** 32 - 1, [False, True]),  # ceil(p 2^32) = 2^32: capped at 2^32 - 1
])
def test_dropout_mask_at_the_threshold_edges(p, low, high, want):
    """dropout fast path: a draw equal to the threshold is kept; p within 2^-32 of 1 caps it at 2^32 - 1, as the reference."""
    check = _pcg64_drawing_next(low, high).integers(0, 2 ** 32, size=2, dtype=np.uint32)
    assert check.tolist() == [low, high]                    # the state was built right
    x = np.array([1.0, 2.0], np.float32)
    _, (mask_f, _) = fast.dropout_forward(x, p, _pcg64_drawing_next(low, high), True)
    _, (mask_r, _) = ref.dropout_forward(x, p, _pcg64_drawing_next(low, high), True)
    assert mask_r.tolist() == want
    np.testing.assert_array_equal(mask_f, mask_r)


# layers.self_attention_forward / _backward: the head mask, and what activation_grads receives
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_head_mask", [False, True])
def test_self_attention_head_mask_and_activation_grads(with_head_mask, dtype):
    """self_attention with head mask, padding, dropout: context, gradients, the 3 activation_grads as the reference's."""
    rng = np.random.default_rng(26)
    B, T, H = 2, 7, 12
    x = randn(rng, dtype, B, T, H)
    ws = []
    for _ in range(3):
        ws += [randn(rng, dtype, H, H, scale=0.4), randn(rng, dtype, H)]
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, 5:] = 0
    mask = ref.additive_attention_mask(attention_mask, dtype)
    head_mask = np.array([0.5, 2.0, 0.0], dtype) if with_head_mask else None
    results = {}
    for name, layers in (("fast", fast), ("reference", ref)):
        ctx, cache = layers.self_attention_forward(x, *ws, mask, NH, dropout_p=0.2, rng=np.random.default_rng(27),
                                                   training=True, head_mask=head_mask)
        activation_grads = {}
        grads = layers.self_attention_backward(randn(np.random.default_rng(28), dtype, B, T, H), cache,
                                               activation_grads)
        results[name] = ctx, grads, activation_grads
    (ctx_f, grads_f, act_f), (ctx_r, grads_r, act_r) = results["fast"], results["reference"]
    assert_close(ctx_f, ctx_r, k=T, what="context")
    scale = max(float(np.abs(g).max()) for g in grads_r)
    for i, (gf, gr) in enumerate(zip(grads_f, grads_r)):
        assert_close(gf, gr, k=B * T, scale=scale, what=f"gradient {i}")
    assert set(act_f) == set(act_r) == {"scores", "probs", "head_mask"}
    assert act_f["head_mask"].shape == (NH,) and act_f["probs"].shape == act_f["scores"].shape == (B, NH, T, T)
    for key in act_r:
        assert_close(act_f[key], act_r[key], k=T * H, what=f'activation_grads["{key}"]')


# layers.self_attention_forward: the defaults and the error for a hidden size the heads do not divide
def test_self_attention_defaults_and_head_count_error():
    """self_attention_forward: dropout_p = 0 and training = False by default, as the reference; H % num_heads is refused."""
    rng = np.random.default_rng(29)
    x = randn(rng, np.float64, 2, 5, 12)
    ws = [randn(rng, np.float64, *shape) for shape in [(12, 12), (12,)] * 3]
    for kwargs in ({"rng": np.random.default_rng(30), "training": True},
                   {"rng": np.random.default_rng(30), "dropout_p": 0.5}):
        ctx_f, cache_f = fast.self_attention_forward(x, *ws, None, NH, **kwargs)
        ctx_r, cache_r = ref.self_attention_forward(x, *ws, None, NH, **kwargs)
        assert cache_f["dropout"] == cache_r["dropout"] == (None, 1.0), kwargs
        assert_close(ctx_f, ctx_r, k=5, what=str(kwargs))
    with pytest.raises(ValueError, match="hidden size 10 is not divisible by num_heads 3"):
        fast.self_attention_forward(x[..., :10], *ws, None, NH)


# layers.softmax_forward / softmax_backward: which axes the fast path takes (a spy on the
# reference shows it), the others' values
@pytest.mark.parametrize("axis", [-1, 2, -2, 1, 0, -3])
def test_softmax_fast_path_for_the_last_axis_only(axis, monkeypatch):
    """softmax forward, backward: the last axis (-1 or ndim - 1) on the fast path, other axes by the reference; same values."""
    originals = ref.softmax_forward, ref.softmax_backward
    calls = []
    monkeypatch.setattr(ref, "softmax_forward", lambda *a: calls.append("forward") or originals[0](*a))
    monkeypatch.setattr(ref, "softmax_backward", lambda *a: calls.append("backward") or originals[1](*a))
    rng = np.random.default_rng(31)
    x = randn(rng, np.float64, 3, 4, 5, scale=3.0)
    dout = randn(rng, np.float64, 3, 4, 5)
    out, cache = fast.softmax_forward(x, axis)
    dx = fast.softmax_backward(dout, cache)
    assert calls == ([] if axis in (-1, 2) else ["forward", "backward"])
    out_r, cache_r = originals[0](x, axis)
    assert_close(out, out_r, k=5)
    assert_close(dx, originals[1](dout, cache_r), k=5)


# layers.softmax_into: each row's own max (a shared max would underflow a row far below it),
# and the row max and sum it returns, in x's dtype
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_into_shifts_each_row_by_its_own_max(dtype):
    """softmax_into: each row shifted by its own max; returns out (may be x), row max and row sum, (..., 1), in x's dtype."""
    x = np.array([[[0.0, 1.0, 2.0], [1000.0, 1001.0, 1003.0]],
                  [[-5.0, 5.0, 0.0], [-2000.0, -2001.0, -2000.0]]], dtype)
    out, row_max, row_sum = fast.layers.softmax_into(x, np.empty_like(x))
    assert out.dtype == row_max.dtype == row_sum.dtype == dtype
    assert row_max.shape == row_sum.shape == (2, 2, 1)
    np.testing.assert_array_equal(row_max, x.max(axis=-1, keepdims=True))    # a max: exact
    assert_close(row_sum, np.exp(x - x.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True), k=3)
    assert_close(out, ref.softmax_forward(x)[0], k=3)
    assert_close(fast.softmax_forward(x)[0], ref.softmax_forward(x)[0], k=3)
    y = x.copy()
    assert fast.layers.softmax_into(y, y)[0] is y
    assert_close(y, out)


# -- found by mutation testing, third part (numpy_bert/fast/threads.py and matmul.py): the
# -- comment above each test names the function(s) whose surviving mutants it kills

# matmul.matmuls_concurrently / matmul_row_blocks / batched_matmul: which path runs and which
# pieces the products are split into cannot be seen in the numbers. The spies below replace the
# thread counts, parallel() (run serially, the items recorded) and matmul's np (each np.matmul
# call recorded); the results are still compared with np.matmul.
ONE = matmul.BLAS_ONE_THREAD_MNK
LARGE = matmul.BLAS_LARGE_MNK


class _RecordingNumpy:
    """numpy, except that np.matmul records its (a, b, out) before computing."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return getattr(np, name)

    def matmul(self, a, b, out=None):
        self.calls.append((a, b, out))
        return np.matmul(a, b, out=out)


def _matmul_spies(monkeypatch, num_threads=2, blas_threads=1, spread=None):
    """Thread counts as given, a serial parallel(), np.matmul recorded; returns (parallel items, np)."""
    spread = (num_threads > 1 and blas_threads == 1) if spread is None else spread
    monkeypatch.setattr(matmul, "get_num_threads", lambda: num_threads)
    monkeypatch.setattr(matmul, "get_blas_threads", lambda: blas_threads)
    monkeypatch.setattr(matmul, "spread_products", lambda: spread)
    items_seen = []
    monkeypatch.setattr(matmul, "parallel", _serial_parallel(items_seen))
    recording = _RecordingNumpy()
    monkeypatch.setattr(matmul, "np", recording)
    return items_seen, recording


def _same_view(x, y):
    """x and y are the same elements of the same memory (one view of the other's region)."""
    return (x.shape == y.shape and x.strides == y.strides
            and x.__array_interface__["data"][0] == y.__array_interface__["data"][0])


@pytest.mark.parametrize("spread", [False, True])
@pytest.mark.parametrize("shapes,large", [
    ([(128, 32, 64), (3, 5, 7)], True),           # m n k = BLAS_ONE_THREAD_MNK: on the threads
    ([(127, 32, 64), (3, 5, 7)], False),          # just below
    ([(3, 5, 7), (129, 64, 32)], True),           # the largest product decides
    ([(200, 64, 64)], False),                     # one product: nothing to run side by side
])
def test_matmuls_concurrently_spreads_exactly_large_groups(shapes, large, spread, monkeypatch):
    """matmuls_concurrently: one item per product on the threads iff spread_products(), >1 product, max m k n >= ONE."""
    items_seen, _ = _matmul_spies(monkeypatch, spread=spread)
    rng = np.random.default_rng(40)
    products = [(randn(rng, np.float64, m, k), randn(rng, np.float64, k, n)) for m, k, n in shapes]
    results = matmul.matmuls_concurrently(*products)
    assert items_seen == ([list(range(len(products)))] if spread and large else [])
    assert len(results) == len(products)
    for got, (a, b) in zip(results, products):
        assert_close(got, a @ b, k=a.shape[1])


@pytest.mark.parametrize("spread", [False, True])
@pytest.mark.parametrize("n,k,m,blocks", [
    (128, 64, 64, [(0, 32), (32, 64), (64, 96), (96, 128)]),   # n k m = 2 BLAS_ONE_THREAD_MNK
    (127, 64, 64, None),                                       # just below: one call
    (1001, 96, 8, [(0, 250), (250, 500), (500, 750), (750, 1001)]),
    (3, 1024, 200, [(0, 1), (1, 2), (2, 3)]),                  # fewer rows than blocks
])
def test_matmul_row_blocks_splits_large_products_into_row_blocks(n, k, m, blocks, spread, monkeypatch):
    """matmul_row_blocks: 4 row blocks (at most one per row) iff spread_products() and n k m >= 2 ONE; else one call."""
    items_seen, recording = _matmul_spies(monkeypatch, spread=spread)
    rng = np.random.default_rng(41)
    a, b, bias = randn(rng, np.float64, n, k), randn(rng, np.float64, k, m), randn(rng, np.float64, m)
    got = matmul.matmul_row_blocks(a, b, bias)
    assert_close(got, a @ b + bias, k=k)
    if not spread or blocks is None:
        assert items_seen == [] and recording.calls == []      # one plain a @ b
        return
    assert items_seen == [list(range(len(blocks)))]
    assert len(recording.calls) == len(blocks)
    for (a_part, b_part, _), (start, stop) in zip(recording.calls, blocks):
        assert _same_view(a_part, a[start:stop]) and b_part is b


@pytest.mark.parametrize("a_dtype,b_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_matmul_row_blocks_result_dtype_of_both_operands(a_dtype, b_dtype, monkeypatch):
    """matmul_row_blocks in row blocks: the result has a @ b's dtype (of both operands), not one operand's."""
    items_seen, _ = _matmul_spies(monkeypatch, spread=True)
    rng = np.random.default_rng(42)
    a, b = randn(rng, a_dtype, 256, 64), randn(rng, b_dtype, 64, 64)
    got = matmul.matmul_row_blocks(a, b)
    assert items_seen == [[0, 1, 2, 3]]
    assert_close(got, a @ b, k=64)                          # also checks the dtype: float64


# batched_matmul's cases: (a's shape, b's shape, numpy_bert threads, BLAS threads, the expected
# pieces of out as index tuples, in order; None: one np.matmul of the whole)
S = slice
_BATCHED_CASES = {
    "at one-thread size: one call": ((2, 64, 32), (2, 32, 64), 2, 1, None),
    "just above, blas 1: whole matrices": ((2, 65, 32), (2, 32, 64), 2, 1, [(S(0, 1),), (S(1, 2),)]),
    "just above, one numpy_bert thread": ((2, 65, 32), (2, 32, 64), 1, 1, None),
    "5 matrices, blas 1: groups of 2": ((5, 65, 32), (5, 32, 64), 3, 1, [(S(0, 2),), (S(2, 4),), (S(4, 5),)]),
    "longest stack axis, shared b": ((2, 5, 65, 32), (32, 64), 2, 1,
                                     [(S(None), S(0, 2)), (S(None), S(2, 4)), (S(None), S(4, 5))]),
    "one matrix, blas 1: row slices": ((1, 129, 32), (1, 32, 64), 2, 1,
                                       [(Ellipsis, S(0, 128), S(None)), (Ellipsis, S(128, 256), S(None))]),
    "2-D, one row per slice": ((4, 512), (512, 512), 2, 1,
                               [(Ellipsis, S(r, r + 1), S(None)) for r in range(4)]),
    "k n = 1: ONE rows per slice": ((ONE + 5, 1), (1, 1), 2, 2,
                                    [(Ellipsis, S(0, ONE), S(None)), (Ellipsis, S(ONE, 2 * ONE), S(None))]),
    "at the large size, blas 2: one call": ((2, 512, 64), (2, 64, 256), 2, 2, None),
    "just below large, blas 2: row slices": ((2, 511, 64), (2, 64, 256), 2, 2,
                                             [(Ellipsis, S(r, r + 16), S(None)) for r in range(0, 511, 16)]),
    "blas 2, small matrices, 4-D": ((2, 3, 131, 64), (2, 3, 64, 129), 3, 2,
                                    [(Ellipsis, S(r, r + 31), S(None)) for r in range(0, 131, 31)]),
}


@pytest.mark.parametrize("case", list(_BATCHED_CASES))
def test_batched_matmul_paths_and_pieces(case, monkeypatch):
    """batched_matmul: one call, ~4 groups along the longest stack axis, or row slices, by size and thread counts."""
    a_shape, b_shape, num_threads, blas_threads, pieces = _BATCHED_CASES[case]
    items_seen, recording = _matmul_spies(monkeypatch, num_threads, blas_threads)
    rng = np.random.default_rng(43)
    a, b = randn(rng, np.float64, *a_shape), randn(rng, np.float64, *b_shape)
    want = np.matmul(a, b)
    out = np.full_like(want, np.nan)
    assert matmul.batched_matmul(a, b, out) is out
    assert_close(out, want, k=a_shape[-1], what=case)
    got_pieces = [piece for _, _, piece in recording.calls]
    if pieces is None:
        assert items_seen == [] and len(got_pieces) == 1 and got_pieces[0] is out
        return
    assert len(items_seen) == 1 and len(items_seen[0]) == len(pieces)
    assert len(got_pieces) == len(pieces)
    for got, index in zip(got_pieces, pieces):
        assert _same_view(got, out[index]), (case, index)


# threads._openblas_function, get_blas_threads, set_blas_threads: a fake /proc/self/maps and a
# fake ctypes.CDLL stand for the libraries this process has loaded. The lookups are cached per
# process (mutmut's first pass has filled the caches), so each test empties them.
class _FakeLibrary:
    """A loaded library exporting the given functions (looked up as attributes, as ctypes.CDLL's)."""

    def __init__(self, **functions):
        self.__dict__.update(functions)


def _maps_line(path):
    return f"7f07d5a00000-7f07d5a29000 r-xp 00000000 08:01 1234                       {path}"


def _fake_loaded_libraries(monkeypatch, maps_lines, libraries):
    """/proc/self/maps with these lines (UTF-8 bytes, decoded as open() is asked to, the locale's
    encoding standing as Latin-1), ctypes.CDLL loading the paths in libraries only; returns the
    paths CDLL was asked to load."""
    import io

    data = "".join(line + "\n" for line in maps_lines).encode("utf-8")
    loaded = []

    def fake_open(path, mode="r", encoding=None):
        assert path == "/proc/self/maps" and mode == "r"
        return io.TextIOWrapper(io.BytesIO(data), encoding=encoding or "latin-1")

    def fake_cdll(path, *args, **kwargs):
        loaded.append(path)
        if path not in libraries:
            raise OSError(f"{path}: cannot open shared object file")
        return libraries[path]

    monkeypatch.setattr(threads, "open", fake_open, raising=False)
    monkeypatch.setattr(threads.ctypes, "CDLL", fake_cdll)
    monkeypatch.setattr(threads, "_blas_get", [])
    monkeypatch.setattr(threads, "_blas_set", [])
    monkeypatch.setattr(threads, "_blas_threads", None)
    return loaded


def test_openblas_function_tries_each_loaded_openblas_in_turn(monkeypatch):
    """_openblas_function: the OpenBLAS paths of /proc/self/maps (UTF-8) in sorted order, past one that fails to load."""
    wanted = lambda: 4                                      # noqa: E731
    libraries = {"/opt/blås/libopenblasp-r0.3.21.so": _FakeLibrary(openblas_get_num_threads=wanted),
                 "/usr/lib/libm.so.6": _FakeLibrary(openblas_get_num_threads=lambda: 99)}
    loaded = _fake_loaded_libraries(monkeypatch, [
        _maps_line("/usr/lib/libm.so.6"),
        _maps_line("/opt/blås/libopenblasp-r0.3.21.so"),
        _maps_line("/opt/a-stale/libOpenBLAS.so.0"),          # listed, but does not load
        _maps_line("/opt/blås/libopenblasp-r0.3.21.so"),      # a library is mapped several times
        "7ffd1c1f0000-7ffd1c211000 rw-p 00000000 00:00 0                          [stack]",
    ], libraries)
    assert threads._openblas_function(("no_such_name", "openblas_get_num_threads")) is wanted
    assert loaded == ["/opt/a-stale/libOpenBLAS.so.0", "/opt/blås/libopenblasp-r0.3.21.so"]
    assert threads._openblas_function(("no_such_name",)) is None


@pytest.mark.parametrize("prefix,suffix", [("openblas", ""), ("openblas", "64_"), ("scipy_openblas", "64_"),
                                           ("scipy_openblas", "")])
def test_blas_threads_found_under_each_openblas_build_name(prefix, suffix, monkeypatch):
    """get_blas_threads / set_blas_threads: OpenBLAS's functions under each build's names, each looked up once."""
    import sys

    path = f"/usr/lib/x86_64-linux-gnu/lib{prefix}{suffix}.so.0"
    count = {"n": 6}

    def set_fn(n):
        count["n"] = n.value

    library = _FakeLibrary(**{f"{prefix}_get_num_threads{suffix}": lambda: count["n"],
                              f"{prefix}_set_num_threads{suffix}": set_fn})
    loaded = _fake_loaded_libraries(monkeypatch, [_maps_line(path)], {path: library})
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # no fallback: only OpenBLAS can do it
    assert threads.get_blas_threads() == 6
    assert threads.set_blas_threads(3) is True and count["n"] == 3
    assert threads.get_blas_threads() == 3
    assert threads.set_blas_threads(2) is True and threads.get_blas_threads() == 2 == count["n"]
    assert loaded == [path, path]


def test_blas_threads_without_openblas(monkeypatch):
    """No OpenBLAS: set_blas_threads False without threadpoolctl, else through it; get_blas_threads the count set, or None."""
    import sys
    import types

    _fake_loaded_libraries(monkeypatch, [_maps_line("/usr/lib/libm.so.6")], {})
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    assert threads.get_blas_threads() is None
    assert threads.set_blas_threads(2) is False
    assert threads.get_blas_threads() is None
    calls = []
    fake = types.ModuleType("threadpoolctl")
    fake.threadpool_limits = lambda limits, user_api: calls.append((limits, user_api))
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    assert threads.set_blas_threads(3) is True and calls == [(3, "blas")]
    assert threads.get_blas_threads() == 3


# threads.default_num_threads: the variables' order and exact names, positive counts only, the cores
def test_default_thread_count_order_counts_and_cores(monkeypatch):
    """default_num_threads: first positive count of the 3 variables in order, else usable cores, else cpu_count(), >= 1."""
    import os

    names = ("NUMPY_BERT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    for name in names + tuple(n.lower() for n in names):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert threads.default_num_threads() == 7
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "5")
    assert threads.default_num_threads() == 5
    monkeypatch.setenv("omp_num_threads", "9")              # names are case-sensitive on POSIX
    monkeypatch.setenv("openblas_num_threads", "9")
    assert threads.default_num_threads() == 5
    monkeypatch.setenv("NUMPY_BERT_NUM_THREADS", " 1 ")
    assert threads.default_num_threads() == 1
    for value in ("0", "-2", "two", "", "1.5", "\u00b2"):             # not a positive count: the next variable
        monkeypatch.setenv("NUMPY_BERT_NUM_THREADS", value)
        assert threads.default_num_threads() == 5, value
    for name in names:
        monkeypatch.delenv(name)
    assert threads.default_num_threads() == 3               # the cores this process may use
    for cores, want in (({4}, 1), (set(), 1), (set(range(12)), 12)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, cores=cores: cores)
        assert threads.default_num_threads() == want
    monkeypatch.delattr(os, "sched_getaffinity")            # not on Linux
    for count, want in ((6, 6), (1, 1), (None, 1)):
        monkeypatch.setattr(os, "cpu_count", lambda count=count: count)
        assert threads.default_num_threads() == want


# threads.get_num_threads: the default is read once (mutmut's first pass has set _num_threads)
def test_get_num_threads_reads_the_default_once(monkeypatch):
    """get_num_threads before any set_num_threads: default_num_threads(), then that count kept."""
    monkeypatch.setattr(threads, "_num_threads", None)
    monkeypatch.setenv("NUMPY_BERT_NUM_THREADS", "3")
    assert threads.get_num_threads() == 3
    monkeypatch.setenv("NUMPY_BERT_NUM_THREADS", "2")
    assert threads.get_num_threads() == 3


# threads.parallel: as many threads at once as set, the pool's threads named so that a nested
# call recognises them, fn given each item once, nothing handed to the pool from a pool thread
@pytest.mark.parametrize("n_threads", [2, 3])
def test_parallel_runs_items_on_as_many_threads_at_once_as_set(n_threads):
    """parallel, n threads, n items: all at once, on the caller and n - 1 pool threads named with the pool's prefix."""
    before = threads.get_num_threads()
    threads.set_num_threads(n_threads)                      # a new pool
    barrier = threading.Barrier(n_threads, timeout=5)       # passes only with n items running at once
    names, lock = [], threading.Lock()

    def fn(i):
        with lock:
            assert len(names) < n_threads, "fn called more often than there are items"
            names.append(threading.current_thread().name)
        barrier.wait()

    try:
        threads.parallel(fn, list(range(n_threads)))
    finally:
        threads.set_num_threads(before)
    me = threading.current_thread().name
    others = [name for name in names if name != me]
    assert len(names) == n_threads and names.count(me) == 1
    assert len(set(others)) == n_threads - 1 and all(name.startswith(threads._POOL_PREFIX) for name in others)


def test_parallel_calls_fn_once_per_item_then_returns():
    """parallel on 3 threads: fn gets every item once (None and repeats are items too), and no more calls."""
    before = threads.get_num_threads()
    threads.set_num_threads(3)
    items = [None, 3, None, "x", 0] * 4
    seen, lock = [], threading.Lock()

    def fn(item):
        with lock:
            assert len(seen) < len(items), f"fn({item!r}) called after every item was given"
            seen.append(item)

    try:
        threads.parallel(fn, items)
    finally:
        threads.set_num_threads(before)
    assert sorted(map(repr, seen)) == sorted(map(repr, items))


def test_parallel_on_a_pool_thread_runs_the_items_in_place(monkeypatch):
    """parallel on a pool thread (known by its name): the items in order on that thread, nothing handed to the pool."""
    class RefusingPool:
        def submit(self, fn, *args):
            raise AssertionError("parallel on a pool thread handed work to the pool")

    monkeypatch.setattr(threads, "_pool", RefusingPool())
    monkeypatch.setattr(threads, "_num_threads", 3)
    result = {}

    def on_pool_thread():
        seen = []
        try:
            threads.parallel(lambda i: seen.append((i, threading.current_thread().name)), [0, 1, 2, 3])
        except BaseException as error:                      # noqa: BLE001 (reported below)
            result["error"] = error
        result["seen"] = seen

    worker = threading.Thread(target=on_pool_thread, name=threads._POOL_PREFIX + "_test", daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert "error" not in result, result.get("error")
    assert result["seen"] == [(i, worker.name) for i in range(4)]


# threads.set_num_threads: the old pool is shut down and waited for
def test_set_num_threads_waits_for_the_old_pools_work():
    """set_num_threads returns only once the old pool's threads have finished their items and ended."""
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    on_worker, release = threading.Event(), threading.Event()
    workers, finished = [], []

    def fn(i):
        if threading.current_thread().name.startswith(threads._POOL_PREFIX):
            workers.append(threading.current_thread())
            on_worker.set()
            release.wait(timeout=20)
            finished.append(i)
        else:
            on_worker.wait(timeout=20)                      # leave the other item to the pool

    caller = threading.Thread(target=threads.parallel, args=(fn, [0, 1]), daemon=True)
    caller.start()
    try:
        assert on_worker.wait(timeout=20)
        setter = threading.Thread(target=threads.set_num_threads, args=(before,), daemon=True)
        setter.start()
        setter.join(timeout=0.1)
        assert setter.is_alive() and finished == [], "set_num_threads returned while the old pool worked"
        release.set()
        setter.join(timeout=20)
        assert not setter.is_alive() and len(finished) == 1 and not workers[0].is_alive()
    finally:
        release.set()
        caller.join(timeout=20)
        threads.set_num_threads(before)


# threads._forget_pool: run in a forked child (os.register_at_fork), where the parent's pool
# threads do not exist; called directly too, as the child's calls are not seen by mutmut
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_starts_its_own_pool(monkeypatch):
    """_forget_pool leaves no pool: after a fork, parallel() starts a new pool in the child and runs on two threads."""
    import os

    monkeypatch.setattr(threads, "_pool", object())
    threads._forget_pool()
    assert threads._pool is None
    monkeypatch.undo()
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        threads.parallel(lambda i: None, [0, 1, 2])         # the parent's pool exists
        pid = os.fork()
        if pid == 0:                                        # the child: exit status 0 if it worked
            status = 1
            try:
                barrier = threading.Barrier(2, timeout=10)
                threads.parallel(lambda i: barrier.wait(), [0, 1])
                status = 0
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        threads.set_num_threads(before)
