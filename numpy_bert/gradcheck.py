"""Check hand-written backward passes against centred finite differences.

The idea (CS231n's gradient check): pick a random upstream gradient ``dout`` and look
at the scalar ``f(x) = sum(dout * forward(x))``. Its gradient with respect to any input
is exactly what the backward computes from ``dout``; finite differences estimate the
same numbers one entry at a time::

    numeric[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)          # centred, error O(h^2)

A random ``dout`` matters: with ``dout = 1`` (the gradient of ``out.sum()``) some bugs
hide, e.g. softmax's gradient of a sum is exactly zero whatever the backward does.

The yardstick is the relative error of a whole tensor, relative to its largest entry::

    rel_error = max_i |a_i - n_i| / max(1e-8, max_i (|a_i| + |n_i|))

(``a`` analytic, ``n`` numeric, over the checked entries). Dividing by the largest
entry rather than entry by entry keeps a tiny entry, whose finite difference is mostly
rounding noise, from failing a correct backward. In float64 a correct backward gives
about 1e-9 or less; a wrong one gives something of order 1.

From a notebook::

    from numpy_bert import layers, gradcheck
    x, w, b = ...
    results = gradcheck.check_layer(layers.linear_forward, layers.linear_backward,
                                    [x, w, b], names=["x", "weight", "bias"])
    print(gradcheck.format_report(results))

From the shell, every layer of numpy_bert at small odd sizes: ``numpy-bert gradcheck``.
"""

from dataclasses import dataclass

import numpy as np

from numpy_bert import layers

__all__ = ["GradResult", "relative_error", "numerical_gradient", "check_layer",
           "layer_checks", "run_layer_checks", "format_report"]


@dataclass
class GradResult:
    """The outcome of checking one gradient tensor."""

    layer: str            # e.g. "layer_norm"
    name: str             # the forward's argument, e.g. "weight"
    shape: tuple          # shape of that argument
    rel_error: float      # max|a - n| / max(1e-8, max(|a| + |n|)) over the checked entries
    #                       (for a zero_grad argument: max|a - n| / the layer's largest entry)
    max_abs_error: float  # max|a - n|
    checked: int          # number of entries checked (all, or a random sample)
    tol: float            # the pass threshold for rel_error
    note: str = ""        # e.g. "0 in exact arithmetic" (error relative to the layer's scale)

    @property
    def passed(self):
        return bool(self.rel_error <= self.tol)


def relative_error(analytic, numeric):
    """``max|a - n| / max(1e-8, max(|a| + |n|))``: the largest difference relative to the
    largest entry (of |a| + |n|), one number per tensor. 0 for empty inputs."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} vs {n.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n)) / max(1e-8, float(np.max(np.abs(a) + np.abs(n)))))


def numerical_gradient(f, x, indices, dout, h=1e-6):
    """Centred differences of ``sum(dout * f())`` with respect to entries of ``x``.

    ``f()`` returns the forward's output; ``x`` is modified in place (and restored) at
    each flat index in ``indices``. Returns, as float64, for each index i::

        sum(dout * (f(x + h e_i) - f(x - h e_i))) / (2h)

    (the outputs are subtracted before the sum, which loses less to rounding than
    subtracting two sums).
    """
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient: x must be contiguous (it is perturbed in place)")
    dout = np.asarray(dout, np.float64)
    grads = np.empty(len(indices))
    for j, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + h
        out_plus = np.asarray(f(), np.float64)
        flat[i] = old - h
        out_minus = np.asarray(f(), np.float64)
        flat[i] = old
        grads[j] = np.sum(dout * (out_plus - out_minus)) / (2.0 * h)
    return grads


def check_layer(forward, backward, args, names=None, wrt=None, kwargs=None, layer="layer",
                h=1e-6, max_entries=40, tol=1e-7, seed=0, zero_grad=()):
    """Check ``backward`` against finite differences of ``forward``.

    forward(*args, **kwargs) -> (out, cache) and backward(dout, cache) -> the gradients of
    the arguments listed in ``wrt`` (indices into ``args``; default: every floating-point
    array argument), in that order (a single array if there is one).
    Arguments that are not arrays, or not in ``wrt`` (ids, labels, masks), are held fixed.
    A forward that draws random numbers (dropout) must be given a fresh Generator with the
    same seed on every call, e.g. a lambda that builds it, so that every call draws the
    same mask.

    Each argument in ``wrt`` is checked at every entry, or at ``max_entries`` entries
    drawn at random (without repetition) when it has more. Returns a list of GradResult,
    one per argument in ``wrt``.

    ``zero_grad`` lists arguments (indices) whose gradient is zero in exact arithmetic,
    such as the attention's key bias (it adds the same ``q . b_k`` to every score of a
    query, and softmax ignores such shifts). Their error is measured relative to the
    largest gradient entry of the layer's other arguments instead of their own.
    """
    kwargs = dict(kwargs or {})
    args = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    if wrt is None:
        wrt = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    if names is None:
        names = [f"arg{i}" for i in range(len(args))]
    for i in wrt:
        if not (isinstance(args[i], np.ndarray) and args[i].dtype == np.float64):
            raise TypeError(f"check_layer({layer}): {names[i]} must be a float64 array (finite "
                            f"differences in float32 are mostly rounding noise); got "
                            f"{getattr(args[i], 'dtype', type(args[i]).__name__)}. "
                            f"Convert it with .astype(np.float64)")
    rng = np.random.default_rng(seed)

    out, cache = forward(*args, **kwargs)
    out_is_scalar = np.ndim(out) == 0
    dout = np.asarray(rng.standard_normal(np.shape(out)), dtype=np.result_type(out))
    if out_is_scalar:
        dout = np.asarray(1.5)  # a scalar loss: any non-trivial upstream value
    grads = backward(dout if not out_is_scalar else float(dout), cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    # copies: the checks below perturb the inputs in place, which a view could see
    grads = tuple(None if g is None else np.array(g, dtype=np.float64) for g in grads)
    if len(grads) != len(wrt):
        raise ValueError(f"check_layer({layer}): backward returned {len(grads)} gradients for "
                         f"{len(wrt)} arguments in wrt")

    def f():
        return forward(*args, **kwargs)[0]

    checked = []  # (argument index, analytic, numeric) on the checked entries
    for i, g in zip(wrt, grads):
        x = args[i]
        if g is None or np.shape(g) != x.shape:
            raise ValueError(f"check_layer({layer}): gradient of {names[i]} has shape "
                             f"{None if g is None else np.shape(g)}, expected {x.shape}")
        if x.size <= max_entries:
            idx = np.arange(x.size)
        else:
            idx = np.sort(rng.choice(x.size, size=max_entries, replace=False))
        numeric = numerical_gradient(f, x, idx, dout, h=h)
        analytic = np.asarray(g, np.float64).reshape(-1)[idx]
        checked.append((i, analytic, numeric))

    # Gradients that are exactly zero in theory are measured against the layer's scale:
    # their finite differences are pure rounding noise, relative to nothing.
    layer_scale = max([float(np.max(np.abs(a) + np.abs(n), initial=0.0))
                       for i, a, n in checked if i not in zero_grad] or [0.0])
    results = []
    for i, analytic, numeric in checked:
        max_abs = float(np.max(np.abs(analytic - numeric), initial=0.0))
        if i in zero_grad:
            rel, note = max_abs / max(1e-8, layer_scale), "0 in exact arithmetic"
        else:
            rel, note = relative_error(analytic, numeric), ""
        results.append(GradResult(layer, names[i], tuple(args[i].shape), rel, max_abs,
                                  int(analytic.size), tol, note))
    return results


def layer_checks(seed=0):
    """The per-layer checks at small odd sizes, in float64: a list of
    ``(layer, forward, backward, args, names, wrt, zero_grad)`` (see check_layer).

    Sizes: B=2, T=5, H=12, NH=3 (HS=4), I=7, V=11, the second sequence padded (its last
    two tokens masked out), dropout p=0.3 with a fixed seed.
    """
    rng = np.random.default_rng(seed)
    B, T, H, NH, I, V = 2, 5, 12, 3, 7, 11

    def randn(*shape):
        return rng.standard_normal(shape)

    ids = rng.integers(0, V, size=(B, T))
    ids[1, 3:] = 0                                          # padding tokens (id 0)
    attention_mask = np.ones((B, T), np.int64)
    attention_mask[1, 3:] = 0
    mask = layers.additive_attention_mask(attention_mask, np.float64)  # (B, 1, 1, T)
    labels = rng.integers(0, V, size=B * T)
    labels[::3] = -100                                      # some ignored positions
    # inputs kept away from ReLU's kink at 0
    x_relu = randn(B, T, I)
    x_relu += np.where(x_relu >= 0, 0.1, -0.1)

    def dropout_fresh(x):                                   # the same mask on every call
        return layers.dropout_forward(x, 0.3, np.random.default_rng(seed + 1), True)

    def attention_dropout(x, qw, qb, kw, kb, vw, vb):
        return layers.self_attention_forward(x, qw, qb, kw, kb, vw, vb, mask, NH, dropout_p=0.3,
                                             rng=np.random.default_rng(seed + 2), training=True)

    def attention(x, qw, qb, kw, kb, vw, vb):
        return layers.self_attention_forward(x, qw, qb, kw, kb, vw, vb, mask, NH)

    qkv = [randn(B, T, H), randn(H, H) * 0.5, randn(H), randn(H, H) * 0.5, randn(H),
           randn(H, H) * 0.5, randn(H)]
    qkv_names = ["x", "q_weight", "q_bias", "k_weight", "k_bias", "v_weight", "v_bias"]
    return [
        ("linear", layers.linear_forward, layers.linear_backward,
         [randn(B, T, H), randn(I, H), randn(I)], ["x", "weight", "bias"], None, ()),
        ("linear (no bias)", lambda x, w: layers.linear_forward(x, w, None),
         lambda d, c: layers.linear_backward(d, c)[:2],
         [randn(B, T, H), randn(I, H)], ["x", "weight"], None, ()),
        ("gelu", layers.gelu_forward, layers.gelu_backward, [randn(B, T, I) * 2], ["x"], None, ()),
        ("gelu_tanh", layers.gelu_tanh_forward, layers.gelu_tanh_backward,
         [randn(B, T, I) * 2], ["x"], None, ()),
        ("relu", layers.relu_forward, layers.relu_backward, [x_relu], ["x"], None, ()),
        ("tanh", layers.tanh_forward, layers.tanh_backward, [randn(B, H)], ["x"], None, ()),
        ("layer_norm", lambda x, w, b: layers.layer_norm_forward(x, w, b, 1e-12),
         layers.layer_norm_backward, [randn(B, T, H) * 3 + 1, randn(H), randn(H)],
         ["x", "weight", "bias"], None, ()),
        ("softmax", layers.softmax_forward, layers.softmax_backward,
         [randn(B, NH, T, T)], ["x"], None, ()),
        ("softmax (axis=1)", lambda x: layers.softmax_forward(x, axis=1), layers.softmax_backward,
         [randn(B, T, I)], ["x"], None, ()),
        # no padding_idx here: the padding row is used by the forward but, by design,
        # never trained, so finite differences cannot agree on it (tested separately)
        ("embedding", layers.embedding_forward, layers.embedding_backward,
         [ids, randn(V, H)], ["ids", "weight"], [1], ()),
        ("dropout", dropout_fresh, layers.dropout_backward, [randn(B, T, H)], ["x"], None, ()),
        ("self_attention (mask)", attention, layers.self_attention_backward,
         [a.copy() for a in qkv], qkv_names, None, (4,)),
        ("self_attention (mask, dropout)", attention_dropout, layers.self_attention_backward,
         [a.copy() for a in qkv], qkv_names, None, (4,)),
        ("cross_entropy", layers.cross_entropy_forward, layers.cross_entropy_backward,
         [randn(B * T, V) * 2, labels], ["logits", "labels"], [0], ()),
        ("mse_loss", layers.mse_loss_forward, layers.mse_loss_backward,
         [randn(B, 3), randn(B, 3)], ["predictions", "targets"], [0], ()),
        # logits up to |z| ~ 10 (the sigmoid's two branches), soft and hard targets
        ("bce_with_logits", layers.bce_with_logits_forward, layers.bce_with_logits_backward,
         [randn(B, 7) * 4, np.r_[rng.uniform(size=7), rng.integers(0, 2, 7)].reshape(B, 7)],
         ["logits", "targets"], [0], ()),
    ]


def run_layer_checks(seed=0, tol=1e-7, max_entries=40, only=None):
    """Run every check of ``layer_checks`` (or those whose name contains ``only``);
    returns the list of GradResult."""
    results = []
    for layer, forward, backward, args, names, wrt, zero_grad in layer_checks(seed):
        if only and only not in layer:
            continue
        results += check_layer(forward, backward, args, names=names, wrt=wrt, layer=layer,
                               max_entries=max_entries, tol=tol, seed=seed, zero_grad=zero_grad)
    return results


def format_report(results):
    """A plain-text table: layer, argument, shape, entries checked, rel error, pass/FAIL,
    and a note where there is one."""
    header = ("layer", "argument", "shape", "checked", "rel error", "result", "note")
    rows = [(r.layer, r.name, "x".join(map(str, r.shape)) or "scalar", str(r.checked),
             f"{r.rel_error:.2e}", "pass" if r.passed else "FAIL",
             f"({r.note})" if r.note else "") for r in results]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    failed = sum(not r.passed for r in results)
    tols = sorted({r.tol for r in results})
    lines.append("")
    lines.append(f"{len(results) - failed} of {len(results)} gradients pass "
                 f"(rel error <= {', '.join(f'{t:g}' for t in tols)}); "
                 + ("all good." if not failed else f"{failed} FAILED."))
    return "\n".join(lines)
