"""Each layer of numpy_bert.layers (the reference) against PyTorch (functional ops + autograd) and, for
attention, against transformers' own BertSelfAttention (eager) and mask builder.

float64: forward within 1e-12 and gradients within 1e-10 (relative to the largest entry);
float32: within 1e-5 of the same scale. numpy_bert.fast is checked against these layers by
tests/test_fast.py, and its erf against torch here too.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from numpy_bert import fast
from numpy_bert import layers as L
from numpy_bert.special import erf

B, T, H, NH, I, V = 3, 7, 48, 3, 37, 99
DTYPES = [(np.float64, torch.float64, 1e-12, 1e-10), (np.float32, torch.float32, 2e-6, 1e-5)]


@pytest.fixture(autouse=True)
def _torch_setup():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def close(ours, theirs, tol, what):
    """Max abs difference relative to the largest entry of the reference."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert np.shape(ours) == theirs.shape, what
    scale = max(1.0, float(np.max(np.abs(theirs), initial=0.0)))
    err = float(np.max(np.abs(np.asarray(ours, np.float64) - theirs), initial=0.0)) / scale
    assert err <= tol, f"{what}: max abs diff / scale = {err:.3e} > {tol:g}"


def leaf(a):
    return torch.tensor(a, requires_grad=True)


def rand(rng, *shape, dtype=np.float64, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_linear(np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(0)
    x, w, b = rand(rng, B, T, H, dtype=np_dtype), rand(rng, I, H, dtype=np_dtype), rand(rng, I, dtype=np_dtype)
    dout = rand(rng, B, T, I, dtype=np_dtype)
    out, cache = L.linear_forward(x, w, b)
    tx, tw, tb = leaf(x), leaf(w), leaf(b)
    tout = F.linear(tx, tw, tb)
    tout.backward(torch.tensor(dout))
    close(out, tout, ftol, "linear out")
    for g, t, n in zip(L.linear_backward(dout, cache), (tx, tw, tb), ("dx", "dweight", "dbias")):
        assert g.dtype == np_dtype
        close(g, t.grad, gtol, n)


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
@pytest.mark.parametrize("act,torch_fn", [
    ("gelu", lambda t: F.gelu(t)),
    ("gelu_new", lambda t: F.gelu(t, approximate="tanh")),
    ("gelu_pytorch_tanh", lambda t: F.gelu(t, approximate="tanh")),
    ("relu", F.relu),
])
def test_activations(act, torch_fn, np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(1)
    x = rand(rng, B, T, I, dtype=np_dtype, scale=3.0)
    dout = rand(rng, B, T, I, dtype=np_dtype)
    out, cache = L.activation_forward(x, act)
    tx = leaf(x)
    tout = torch_fn(tx)
    tout.backward(torch.tensor(dout))
    close(out, tout, ftol, f"{act} out")
    close(L.activation_backward(dout, cache), tx.grad, gtol, f"{act} dx")


def test_gelu_against_transformers_activations():
    from transformers.activations import ACT2FN
    x = np.linspace(-12, 12, 20_001)
    for act in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"):
        close(L.activation_forward(x, act)[0], ACT2FN[act](torch.tensor(x)), 1e-14, act)


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
@pytest.mark.parametrize("our_erf", [erf, fast.erf], ids=["special.erf", "fast.erf"])
def test_erf(our_erf, np_dtype, t_dtype, ftol, gtol):
    x = np.concatenate([np.linspace(-7, 7, 200_001), [0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0]]).astype(np_dtype)
    ours, theirs = our_erf(x), torch.erf(torch.tensor(x)).numpy()
    assert ours.dtype == np_dtype
    tol = 4 * np.finfo(np_dtype).eps
    assert np.all(np.abs(ours - theirs) <= tol * np.maximum(np.abs(theirs), np.finfo(np_dtype).tiny))


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_tanh(np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(2)
    x, dout = rand(rng, B, H, dtype=np_dtype, scale=2.0), rand(rng, B, H, dtype=np_dtype)
    out, cache = L.tanh_forward(x)
    tx = leaf(x)
    tout = torch.tanh(tx)
    tout.backward(torch.tensor(dout))
    close(out, tout, ftol, "tanh out")
    close(L.tanh_backward(dout, cache), tx.grad, gtol, "tanh dx")


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
@pytest.mark.parametrize("eps", [1e-12, 1e-5])
def test_layer_norm(np_dtype, t_dtype, ftol, gtol, eps):
    rng = np.random.default_rng(3)
    x = rand(rng, B, T, H, dtype=np_dtype, scale=2.0) + np_dtype(1.5)
    w, b = rand(rng, H, dtype=np_dtype), rand(rng, H, dtype=np_dtype)
    dout = rand(rng, B, T, H, dtype=np_dtype)
    out, cache = L.layer_norm_forward(x, w, b, eps)
    tx, tw, tb = leaf(x), leaf(w), leaf(b)
    tout = F.layer_norm(tx, (H,), tw, tb, eps)
    tout.backward(torch.tensor(dout))
    close(out, tout, ftol, "layer_norm out")
    for g, t, n in zip(L.layer_norm_backward(dout, cache), (tx, tw, tb), ("dx", "dweight", "dbias")):
        assert g.dtype == np_dtype
        close(g, t.grad, gtol, n)


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax(np_dtype, t_dtype, ftol, gtol, axis):
    rng = np.random.default_rng(4)
    x, dout = rand(rng, B, NH, T, T, dtype=np_dtype, scale=4.0), rand(rng, B, NH, T, T, dtype=np_dtype)
    out, cache = L.softmax_forward(x, axis=axis)
    tx = leaf(x)
    tout = torch.softmax(tx, dim=axis)
    tout.backward(torch.tensor(dout))
    close(out, tout, ftol, "softmax out")
    close(L.softmax_backward(dout, cache), tx.grad, gtol, "softmax dx")


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_embedding_with_padding_idx(np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, V, size=(B, T))
    ids[:, -2:] = 0
    ids[0, :3] = 7  # repeats
    w, dout = rand(rng, V, H, dtype=np_dtype), rand(rng, B, T, H, dtype=np_dtype)
    for padding_idx in (0, None):
        out, cache = L.embedding_forward(ids, w, padding_idx=padding_idx)
        tw = leaf(w)
        tout = F.embedding(torch.tensor(ids), tw, padding_idx=padding_idx)
        tout.backward(torch.tensor(dout))
        close(out, tout, 0.0, "embedding out")
        close(L.embedding_backward(dout, cache), tw.grad, gtol, f"embedding dweight padding_idx={padding_idx}")


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_dropout_backward_against_autograd_with_our_mask(np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(6)
    x, dout = rand(rng, B, T, H, dtype=np_dtype), rand(rng, B, T, H, dtype=np_dtype)
    out, cache = L.dropout_forward(x, 0.1, np.random.default_rng(0), True)
    mask = torch.tensor(cache[0])
    tx = leaf(x)
    tout = tx * mask / (1 - 0.1)    # torch's inverted dropout, with our mask
    tout.backward(torch.tensor(dout))
    close(out, tout, ftol, "dropout out")
    close(L.dropout_backward(dout, cache), tx.grad, gtol, "dropout dx")


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_cross_entropy(np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(7)
    logits = rand(rng, B * T, V, dtype=np_dtype, scale=3.0)
    labels = rng.integers(0, V, size=B * T)
    labels[rng.random(B * T) < 0.6] = -100
    loss, cache = L.cross_entropy_forward(logits, labels)
    tl = leaf(logits)
    tloss = F.cross_entropy(tl, torch.tensor(labels), ignore_index=-100)
    tloss.backward(torch.tensor(1.7, dtype=t_dtype))
    close(loss, tloss, ftol, "cross_entropy loss")
    close(L.cross_entropy_backward(1.7, cache), tl.grad, gtol, "cross_entropy dlogits")
    # every label ignored: torch gives NaN, numpy_bert defines 0 (documented)
    ignored = np.full(B * T, -100)
    assert torch.isnan(F.cross_entropy(torch.tensor(logits), torch.tensor(ignored)))
    assert L.cross_entropy_forward(logits, ignored)[0] == 0.0


def test_additive_mask_matches_transformers():
    from transformers import BertConfig
    from transformers.masking_utils import create_bidirectional_mask
    am = np.array([[1] * T, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    config = BertConfig(hidden_size=H, num_attention_heads=NH, attn_implementation="eager")
    for np_dtype, t_dtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        hf = create_bidirectional_mask(config=config, inputs_embeds=torch.zeros(B, T, H, dtype=t_dtype),
                                       attention_mask=torch.tensor(am))
        ours = L.additive_attention_mask(am, np_dtype)
        np.testing.assert_array_equal(np.broadcast_to(ours, hf.shape), hf.numpy())


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_self_attention_against_bert_self_attention(np_dtype, t_dtype, ftol, gtol):
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertSelfAttention
    rng = np.random.default_rng(8)
    config = BertConfig(hidden_size=H, num_attention_heads=NH, attention_probs_dropout_prob=0.0,
                        attn_implementation="eager")
    module = BertSelfAttention(config).to(t_dtype).eval()
    params = {}
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.tensor(rand(rng, *p.shape, dtype=np_dtype, scale=0.3)))
            params[name] = p.detach().numpy().copy()
    am = np.array([[1] * T, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    mask = L.additive_attention_mask(am, np_dtype)
    x, dctx = rand(rng, B, T, H, dtype=np_dtype), rand(rng, B, T, H, dtype=np_dtype)
    dctx[am == 0] = 0  # a loss on the real positions only
    ctx, cache = L.self_attention_forward(
        x, params["query.weight"], params["query.bias"], params["key.weight"], params["key.bias"],
        params["value.weight"], params["value.bias"], mask, NH)
    tx = leaf(x)
    tctx, tprobs = module(tx, attention_mask=torch.tensor(mask))
    tctx.backward(torch.tensor(dctx))
    close(ctx, tctx, ftol, "context")
    close(cache["probs"], tprobs, ftol, "attention probs")
    grads = L.self_attention_backward(dctx, cache)
    names = ["query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias"]
    close(grads[0], tx.grad, gtol, "dx")
    for g, name in zip(grads[1:], names):
        assert g.dtype == np_dtype
        close(g, dict(module.named_parameters())[name].grad, gtol, f"d{name}")


@pytest.mark.parametrize("np_dtype,t_dtype,ftol,gtol", DTYPES)
def test_self_attention_dropout_against_autograd_with_our_mask(np_dtype, t_dtype, ftol, gtol):
    rng = np.random.default_rng(9)
    x = rand(rng, B, T, H, dtype=np_dtype)
    ws = [rand(rng, *s, dtype=np_dtype, scale=0.3) for s in [(H, H), (H,)] * 3]
    am = np.array([[1] * T, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    mask = L.additive_attention_mask(am, np_dtype)
    dctx = rand(rng, B, T, H, dtype=np_dtype)
    ctx, cache = L.self_attention_forward(x, *ws, mask, NH, 0.2, np.random.default_rng(1), True)
    drop_mask = torch.tensor(cache["dropout"][0])

    tx, *tws = [leaf(a) for a in [x] + ws]
    HS = H // NH

    def heads(t):
        return t.view(B, T, NH, HS).transpose(1, 2)

    q, k, v = (heads(F.linear(tx, tws[i], tws[i + 1])) for i in (0, 2, 4))
    scores = q @ k.transpose(2, 3) * HS ** -0.5 + torch.tensor(mask)
    probs = torch.softmax(scores, -1)
    tctx = ((probs * drop_mask / 0.8) @ v).transpose(1, 2).reshape(B, T, H)
    tctx.backward(torch.tensor(dctx))
    close(ctx, tctx, ftol, "context with dropout")
    grads = L.self_attention_backward(dctx, cache)
    for g, t, n in zip(grads, [tx] + tws, ["dx", "dqw", "dqb", "dkw", "dkb", "dvw", "dvb"]):
        close(g, t.grad, gtol, n)
