"""BERT's layers as pairs of plain NumPy functions: a forward and its hand-derived backward.

Every layer is written the same way (CS231n / llm.c style)::

    out, cache = linear_forward(x, weight, bias)         # forward: keep what the backward needs
    dx, dweight, dbias = linear_backward(dout, cache)    # backward: grads in the forward's argument order

``dout`` is the gradient of the loss with respect to ``out``; the backward returns the
gradient with respect to each array argument of the forward, in order (arguments that
cannot have a gradient, such as token ids, labels or the attention mask, are skipped).
Docstrings state the forward formula and the backward formula derived from it; comments
in each backward quote the forward line that a step undoes.

Dimension key (shape comments such as ``# (B, NH, T, HS)``)::

    B  batch size            T  tokens per sequence        H  hidden size
    NH attention heads       HS head size (H / NH)         I  intermediate size
    V  vocabulary (rows)     N  rows of a flattened batch  C  classes

Conventions (those of HuggingFace transformers' BERT):

- linear layers compute ``x @ W.T + b`` with ``W`` stored (out, in);
- layer norm uses the biased variance and puts eps inside the square root;
- GELU is exact, ``0.5 x (1 + erf(x / sqrt 2))`` (``hidden_act="gelu"``), or the tanh
  form (``"gelu_new"``, ``"gelu_pytorch_tanh"``);
- the attention mask is additive: 0 for a key to keep, ``finfo(dtype).min`` to drop it.

Speed and memory: float32 inputs give float32 outputs and gradients (nothing is upcast);
the element-wise layers work in place and, for the longer chains (erf, GELU), block by
block so that their temporaries stay in the CPU cache; independent matrix products run
on a few threads (see set_num_threads). The formulas in the docstrings are the textbook ones; where the code
takes a faster route, the tests check that it computes the same numbers.
"""

import concurrent.futures
import math
import os
import threading

import numpy as np

__all__ = [
    "erf",
    "linear_forward", "linear_backward",
    "gelu_forward", "gelu_backward",
    "gelu_tanh_forward", "gelu_tanh_backward",
    "relu_forward", "relu_backward",
    "activation_forward", "activation_backward", "ACTIVATIONS",
    "tanh_forward", "tanh_backward",
    "layer_norm_forward", "layer_norm_backward",
    "softmax_forward", "softmax_backward",
    "embedding_forward", "embedding_backward",
    "dropout_forward", "dropout_backward",
    "additive_attention_mask",
    "self_attention_forward", "self_attention_backward",
    "cross_entropy_forward", "cross_entropy_backward",
    "set_num_threads", "get_num_threads",
]

# Element-wise chains (erf, GELU) run over blocks of this many elements, so that their
# temporaries (a few blocks) stay in the CPU cache instead of streaming through memory.
_BLOCK = 32768
_BIG_BLOCK = 4 * _BLOCK  # for two threads at once (see _elementwise_blocks)

# OpenBLAS runs a matrix product of m * n * k <= 4 * 65536 multiply-adds on one thread and
# wakes its other threads for anything larger. The attention's per-head products are just
# above that (T * T * HS = 128 * 128 * 64); waking threads 96 times per product costs more
# than it saves, and on a busy machine a product can take 100x longer. _batched_matmul
# splits them below the threshold and spreads the pieces over numpy_bert's own threads.
_BLAS_ONE_THREAD_MNK = 4 * 65536
# From about this size (e.g. 512 x 512 x 64, a head's product at T = 512) one product is
# large enough that BLAS's own threads split it efficiently.
_BLAS_LARGE_MNK = 8 * 1024 * 1024


# ----------------------------------------------------------------------------------------
# small helpers: argument checks with messages meant for a person
# ----------------------------------------------------------------------------------------

def _as_float_array(name, a, fn):
    """``a`` as an ndarray of a floating dtype, else a TypeError naming the argument."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point array (float32 or float64), "
                        f"got dtype {a.dtype}; convert it with .astype(np.float32)")
    return a


def _check_same_dtype(fn, **arrays):
    """All given arrays (None skipped) share one dtype: mixing float32 and float64 would
    silently upcast the whole computation to float64."""
    named = [(name, a) for name, a in arrays.items() if a is not None]
    first_name, first = named[0]
    for name, a in named[1:]:
        if a.dtype != first.dtype:
            raise TypeError(f"{fn}: {name} is {a.dtype} but {first_name} is {first.dtype}; "
                            f"use one dtype for inputs and parameters (e.g. the model's dtype)")


def _check_dout(fn, dout, shape):
    """The upstream gradient must have the forward output's shape."""
    if np.shape(dout) != tuple(shape):
        raise ValueError(f"{fn}: dout has shape {np.shape(dout)} but the forward's output had "
                         f"shape {tuple(shape)}; pass the gradient of that output")


def _rowdot(a, b):
    """Dot product of ``a`` and ``b`` along the last axis, keeping it: (..., K) -> (..., 1).

    One pass over memory and no temporary, unlike ``(a * b).sum(-1)``.
    """
    if hasattr(np, "vecdot"):  # NumPy >= 2.0
        return np.vecdot(a, b)[..., None]
    return np.einsum("...k,...k->...", a, b)[..., None]


def _flat(a):
    """A 1-D view of ``a`` (a copy only if ``a`` is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1)


# ----------------------------------------------------------------------------------------
# speed helpers: a few threads for the matrix products
# ----------------------------------------------------------------------------------------
# NumPy's BLAS calls release the GIL while they compute, so plain Python threads running
# independent products (attention heads, a linear layer's dx and dW, row blocks) use
# several cores. Element-wise chains do not gain (see _elementwise_blocks). The thread
# count follows NUMPY_BERT_NUM_THREADS, else OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (what
# NumPy's BLAS uses), else the cores this process may use. set_num_threads(n) changes
# it; 1 turns the threads off.

_num_threads = None
_pool = None


def _default_num_threads():
    for name in ("NUMPY_BERT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_num_threads(n):
    """Use ``n`` threads for numpy_bert's independent matrix products (attention heads;
    with one BLAS thread also the linear layers'). BLAS's own threads are set with
    OPENBLAS_NUM_THREADS or set_blas_threads."""
    global _num_threads, _pool
    if int(n) < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    _num_threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def get_num_threads():
    """The number of threads numpy_bert's layers use (see set_num_threads)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_num_threads()
    return _num_threads


def _forget_pool():
    global _pool
    _pool = None  # a forked child has none of the parent's threads: start a new pool


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _parallel(fn, items):
    """``fn(item)`` for every item, on up to get_num_threads() threads: the calling thread
    and the pool's workers take items from a shared list until it is empty (in order on
    the calling thread alone when there is 1 thread). The caller working too saves a
    thread hand-off per call, which costs tens of microseconds on a busy machine."""
    n = min(get_num_threads(), len(items))
    if n <= 1 or threading.current_thread().name.startswith(_POOL_PREFIX):
        # one thread, or already on a pool worker (waiting there for helpers queued behind
        # this very worker could deadlock): the items in order on this thread
        for item in items:
            fn(item)
        return
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max(1, get_num_threads() - 1),
                                                      thread_name_prefix=_POOL_PREFIX)
    todo = iter(items)
    lock = threading.Lock()

    def drain():
        while True:
            with lock:
                item = next(todo, _DONE)
            if item is _DONE:
                return
            fn(item)

    helpers = [_pool.submit(drain) for _ in range(n - 1)]
    try:
        drain()
    finally:
        for f in helpers:  # wait for all (their items write into shared outputs)
            f.exception()
    for f in helpers:
        f.result()  # re-raises a helper's exception here


_DONE = object()
_POOL_PREFIX = "numpy_bert_pool"


# NumPy's BLAS (OpenBLAS) has threads of its own. How many decides how the products are
# best spread: with several, one large call lets BLAS split it; with one (what
# ``numpy-bert pretrain`` uses: see set_blas_threads), numpy_bert's threads run
# independent one-thread calls side by side.
_blas_threads = None


def _openblas_function(names):
    """The first of ``names`` found in an OpenBLAS library this process has loaded, or None."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                return fn
    return None


def set_blas_threads(n):
    """Set how many threads NumPy's BLAS (OpenBLAS) uses from now on; False if it cannot.

    Why training cares: at the tiny preset's sizes (128-wide matrices) two OpenBLAS
    threads gain little, and on a machine whose cores are busy with other work they wait
    for each other; measured here under load, a training step took 2.1 s with 2 threads
    and 0.57 s with 1. With one BLAS thread, numpy_bert's own threads (set_num_threads)
    run the products side by side instead. Calls OpenBLAS's ``openblas_set_num_threads``
    in the library NumPy loaded (found in /proc/self/maps), else ``threadpoolctl`` when
    installed.
    """
    global _blas_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"set_blas_threads: need at least 1 thread, got {n}")
    import ctypes

    fn = _openblas_function(("openblas_set_num_threads", "openblas_set_num_threads64_",
                             "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"))
    if fn is not None:
        fn(ctypes.c_int(n))
    else:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return False
        threadpool_limits(n, user_api="blas")
    _blas_threads = n
    return True


_blas_get = []  # [the OpenBLAS function that reports its thread count, or None], once looked up


def get_blas_threads():
    """How many threads NumPy's BLAS uses now (OpenBLAS's own count), or None if unknown."""
    if not _blas_get:
        _blas_get.append(_openblas_function(("openblas_get_num_threads", "openblas_get_num_threads64_",
                                             "scipy_openblas_get_num_threads64_",
                                             "scipy_openblas_get_num_threads")))
    if _blas_get[0] is not None:
        return int(_blas_get[0]())
    return _blas_threads


def _spread_products():
    """Whether numpy_bert spreads work over its own threads (the linear layers' products,
    cross-entropy rows, long element-wise chains): only when BLAS itself runs on one
    thread (``numpy-bert pretrain``'s setting) and numpy_bert has more than one. With
    several BLAS threads, BLAS splits each product itself, its idle threads spin for a
    while after each call, and more threads of ours would compete for the same cores."""
    return get_num_threads() > 1 and get_blas_threads() == 1


def _matmuls_concurrently(*products):
    """``[a @ b for (a, b) in products]``, the products side by side on numpy_bert's
    threads when _spread_products() and they are large enough to pay for it. Each product
    is one BLAS call either way: the numbers are the same as one after the other."""
    if not _spread_products() or len(products) == 1 or max(
            a.shape[0] * a.shape[1] * b.shape[1] for a, b in products) < _BLAS_ONE_THREAD_MNK:
        return [a @ b for a, b in products]
    results = [None] * len(products)

    def work(i):
        results[i] = products[i][0] @ products[i][1]

    _parallel(work, list(range(len(products))))
    return results


def _matmul_row_blocks(a, b, bias=None, n_blocks=4):
    """``a @ b (+ bias)`` for a 2-D ``a`` (N, K) and ``b`` (K, M), its rows split into
    ``n_blocks`` blocks on numpy_bert's threads when _spread_products() and the product is
    large (each block adds the bias to its own rows). Rows of a product are independent;
    only the float rounding may differ from one plain call (BLAS picks its kernels by
    size), and it is the same for any thread count >= 2."""
    if not _spread_products() or a.shape[0] * a.shape[1] * b.shape[1] < 2 * _BLAS_ONE_THREAD_MNK:
        out = a @ b
        if bias is not None:
            out += bias
        return out
    n = min(n_blocks, a.shape[0])
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    bounds = np.linspace(0, a.shape[0], n + 1).astype(int)

    def block(i):
        rows = slice(bounds[i], bounds[i + 1])
        np.matmul(a[rows], b, out=out[rows])
        if bias is not None:
            out[rows] += bias

    _parallel(block, list(range(n)))
    return out


def _elementwise_blocks(fn, *arrays, n_scratch):
    """Run ``fn(*blocks, *scratch)`` over blocks of the flattened ``arrays`` (all of one
    shape; the last one is the output), with scratch blocks that stay in the CPU cache.

    An element-wise chain is a long run of short NumPy calls, and two Python threads
    running such chains on small blocks spend their time handing the GIL back and forth
    (measured here: a float32 GELU on (3500, 512) took 5.4 ms on one thread and 7.1 ms on
    two with 32768-element blocks). With blocks 4x larger each call is long enough that
    two threads gain (6.0 -> 4.0 ms), so large arrays are split in halves on numpy_bert's
    threads when BLAS runs on one thread (_spread_products()); otherwise (BLAS's idle
    threads spin for a while after each product) the chain runs on the calling thread.
    Each element gets the same operations either way: the numbers do not change.
    """
    flats = [_flat(a) for a in arrays[:-1]] + [arrays[-1].reshape(-1)]
    size = flats[0].size
    dtype = arrays[0].dtype
    threaded = _spread_products() and size >= 4 * _BIG_BLOCK
    block = _BIG_BLOCK if threaded else _BLOCK

    def run(lo, hi):
        scratch = [np.empty(min(block, hi - lo), dtype) for _ in range(n_scratch)]
        for start in range(lo, hi, block):
            s = slice(start, min(start + block, hi))
            n = s.stop - s.start
            fn(*(f[s] for f in flats), *(w[:n] for w in scratch))

    if not threaded:
        run(0, size)
        return
    n = get_num_threads()
    bounds = [size * i // n // block * block for i in range(n)] + [size]
    _parallel(lambda i: run(bounds[i], bounds[i + 1]), list(range(n)))


def _batched_matmul(a, b, out):
    """``np.matmul(a, b, out=out)`` for stacks of matrices (the attention's
    (..., M, K) @ (..., K, N)), spread over threads in the way that suits the sizes:

    - small stacks, or one numpy_bert thread: one call;
    - BLAS with one thread (as in ``numpy-bert pretrain``): the stack's matrices in a few
      groups, each group one call, the groups on numpy_bert's threads;
    - BLAS with several threads and large matrices (e.g. T = 512): one call, BLAS splits
      each product;
    - BLAS with several threads and small matrices (e.g. T = 128): row slices small
      enough that each BLAS call stays on one thread, on numpy_bert's threads.

    Returns ``out``. Every row of a product is computed by the same kind of call in each
    case, and the split depends on the shapes and BLAS's thread count only: any
    numpy_bert thread count >= 2 gives the same numbers.
    """
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if out.size * K <= _BLAS_ONE_THREAD_MNK or get_num_threads() == 1:
        return np.matmul(a, b, out=out)  # small enough, or nothing to spread: one call
    blas = get_blas_threads()
    lead = out.shape[:-2]
    n_mats = math.prod(lead)
    if blas == 1 and n_mats > 1:
        # whole matrices per call, in about 4 groups along the longest stack axis (the same
        # groups for 2 to 4 threads); BLAS keeps each call on its one thread
        a = np.broadcast_to(a, lead + a.shape[-2:])
        b = np.broadcast_to(b, lead + b.shape[-2:])
        axis = int(np.argmax(lead))
        step = -(-lead[axis] // 4)
        pre = (slice(None),) * axis
        _parallel(lambda i: np.matmul(a[pre + (slice(i, i + step),)], b[pre + (slice(i, i + step),)],
                                      out=out[pre + (slice(i, i + step),)]),
                  list(range(0, lead[axis], step)))
        return out
    if M * N * K >= _BLAS_LARGE_MNK:
        return np.matmul(a, b, out=out)  # BLAS's threads split each (large) product
    # the slices depend on the shapes only: any thread count >= 2 gives the same numbers
    rows = max(1, min(M, _BLAS_ONE_THREAD_MNK // max(1, K * N)))
    _parallel(lambda r: np.matmul(a[..., r:r + rows, :], b, out=out[..., r:r + rows, :]),
              list(range(0, M, rows)))
    return out


# ----------------------------------------------------------------------------------------
# erf: NumPy has none, so here is W. J. Cody's
# ----------------------------------------------------------------------------------------

# W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969) 631-637; coefficients from his SPECFUN routine CALERF.
# |x| <= 0.46875:     erf(x)  = x R1(x^2),           R1 = P_A / Q_B (degree 4 / 4)
# 0.46875 < |x| <= 4: erfc(x) = exp(-x^2) R2(x),     R2 = P_C / Q_D (degree 8 / 8)
# |x| > 4:            erfc(x) = exp(-x^2) / x (1/sqrt(pi) + R3(1/x^2) / x^2)
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_ERF_SMALL = 0.46875
_INV_SQRT_PI = 0.56418958354775628695  # 1 / sqrt(pi)


def _erf_large(y):
    """erf(y) for y > 4 (Cody's third range), y a 1-D float array; rare, so not in place."""
    y = np.minimum(y, 6.0)  # erfc(6) = 2e-17: erf is 1.0 in float64 from here on
    s = 1.0 / (y * y)
    num = _ERF_P[5] * s
    den = s.copy()
    for i in range(4):
        num = (num + _ERF_P[i]) * s
        den = (den + _ERF_Q[i]) * s
    r = s * (num + _ERF_P[4]) / (den + _ERF_Q[4])
    erfc = np.exp(-y * y) * ((_INV_SQRT_PI - r) / y)
    return (0.5 - erfc) + 0.5


def _erf_block(x, out, y, z, a, num, den, nonnegative=False):
    """erf of the 1-D block ``x`` into ``out``; ``y, z, a, num, den`` are scratch arrays of
    the same length and dtype. With ``nonnegative=True`` the caller promises that ``x``
    holds no negative number (nor -0.0) and the sign steps are skipped. Works in the
    dtype of ``x`` (float32 or float64).

    Both rational forms are evaluated on every element, each on its input clipped into a
    safe range, and blended with a 0/1 weight: much faster in NumPy than selecting with a
    boolean mask (np.where or np.copyto(where=...) cost ~3 ns an element, 30 multiplies).
    """
    if nonnegative:
        y = x
    else:
        np.abs(x, out=y)                                   # y = |x|; erf is odd
    # Small range: erf(a) = a P_A(a^2) / Q_B(a^2), a = min(y, 0.46875).
    np.clip(y, 0.0, _ERF_SMALL, out=a)
    np.multiply(a, a, out=z)                               # z = a^2
    np.multiply(z, _ERF_A[4], out=num)
    np.add(z, _ERF_B[0], out=den)
    for i in range(3):
        num += _ERF_A[i]
        num *= z
        if i:
            den += _ERF_B[i]
        den *= z
    num += _ERF_A[3]
    den += _ERF_B[3]
    num /= den
    a *= num                                               # a = erf, small range
    # Middle range: erf(z) = 1 - exp(-z^2) P_C(z) / Q_D(z), z = min(y, 6): clipped so
    # that the powers of z stay finite (erfc(6) = 2e-17: erf(6) is 1.0 in float64).
    np.clip(y, 0.0, 6.0, out=z)
    np.multiply(z, _ERF_C[8], out=num)
    np.add(z, _ERF_D[0], out=den)
    for i in range(7):
        num += _ERF_C[i]
        num *= z
        if i:
            den += _ERF_D[i]
        den *= z
    num += _ERF_C[7]
    den += _ERF_D[7]
    num /= den                                             # R2(z)
    np.multiply(z, z, out=den)
    np.negative(den, out=den)
    np.exp(den, out=den)                                   # exp(-z^2)
    num *= den                                             # erfc(z)
    np.subtract(0.5, num, out=out)
    out += 0.5                                             # erf(z) = (0.5 - erfc) + 0.5
    # Blend: w = 1 where y <= 0.46875 (small range), else 0; out = w a + (1 - w) out.
    w = np.less_equal(y, _ERF_SMALL, out=z)                # 0.0 / 1.0 in x's dtype
    a *= w
    np.subtract(1.0, w, out=w)
    out *= w
    out += a
    # Large range (y > 4): only float64 can tell erf(y) from 1 there (erfc(4) = 1.5e-8 is
    # below float32's half-ulp of 1, and R2 above already rounds to 1.0 in float32).
    if x.dtype == np.float64:
        large = y > 4.0
        if large.any():
            out[large] = _erf_large(y[large])
    if not nonnegative:
        np.copysign(out, x, out=out)                       # erf(-x) = -erf(x); NaN stays NaN
    return out


def erf(x):
    """The error function ``erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt``, element-wise.

    W. J. Cody's rational Chebyshev approximations (the three ranges |x| <= 0.46875,
    0.46875 < |x| <= 4, |x| > 4), vectorised. In float64 the relative error is about
    1e-16 (a few ulp); float32 input is computed in float32 (about 1e-7, float32's own
    precision) for speed. Other real input is computed in float64. ``erf(+-inf) = +-1``,
    ``erf(nan) = nan``, ``erf(-0.0) = -0.0``.

        >>> erf(np.array([0.0, 0.5, -1.0]))
        array([ 0.        ,  0.52049988, -0.84270079])
    """
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    elif x.dtype.kind != "f":
        raise TypeError(f"erf: expected real numbers, got dtype {x.dtype}")
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32 if x.dtype.itemsize < 4 else np.float64)
    out = np.empty(x.shape, x.dtype)
    _elementwise_blocks(_erf_block, x, out, n_scratch=5)
    return out[()] if out.ndim == 0 else out


# ----------------------------------------------------------------------------------------
# linear
# ----------------------------------------------------------------------------------------

def linear_forward(x, weight, bias):
    """Affine layer in HuggingFace's layout: ``out = x @ W.T + b``.

    x (..., in), weight (out, in), bias (out,) or None -> out (..., out).

    Backward (with ``x`` and ``dout`` flattened to rows (N, in) and (N, out)):
    ``dx = dout @ W``, ``dW = dout.T @ x``, ``db = sum over rows of dout``.
    Cache: (x, weight, has_bias); nothing is copied.
    """
    fn = "linear_forward"
    x = _as_float_array("x", x, fn)
    weight = _as_float_array("weight", weight, fn)
    if bias is not None:
        bias = _as_float_array("bias", bias, fn)
    _check_same_dtype(fn, x=x, weight=weight, bias=bias)
    if weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be 2-D (out, in), got shape {weight.shape}")
    n_out, n_in = weight.shape
    if x.ndim < 1 or x.shape[-1] != n_in:
        raise ValueError(f"{fn}: x has shape {x.shape} but weight is {weight.shape} (out, in); "
                         f"x's last dimension must be {n_in}")
    if bias is not None and bias.shape != (n_out,):
        raise ValueError(f"{fn}: bias has shape {bias.shape}, expected ({n_out},) to match "
                         f"weight {weight.shape} (out, in)")
    x2 = x.reshape(-1, n_in)                                # (N, in)
    out = _matmul_row_blocks(x2, weight.T, bias)            # (N, out): BLAS gemm(s), + b
    out = out.reshape(x.shape[:-1] + (n_out,))              # (..., out)
    return out, (x, weight, bias is not None)


def linear_backward(dout, cache):
    """Backward of ``out = x @ W.T + b``: returns ``(dx, dweight, dbias)``.

    ``dx = dout @ W`` (..., in); ``dW = dout.T @ x`` summed over all rows (out, in);
    ``db = dout.sum(rows)`` (out,), or None when the forward had no bias.
    """
    x, weight, has_bias = cache
    n_out, n_in = weight.shape
    _check_dout("linear_backward", dout, x.shape[:-1] + (n_out,))
    dout2 = dout.reshape(-1, n_out)                         # (N, out)
    x2 = x.reshape(-1, n_in)                                # (N, in)
    # out = x @ W.T:  dx = dout @ W (N, in) and dW = dout.T @ x (out, in), two independent
    # products (side by side on numpy_bert's threads when BLAS has one thread)
    dx, dweight = _matmuls_concurrently((dout2, weight), (dout2.T, x2))
    dx = dx.reshape(x.shape)                                # (..., in)
    # out += b  (broadcast over rows)
    dbias = dout2.sum(axis=0) if has_bias else None         # (out,)
    return dx, dweight, dbias


# ----------------------------------------------------------------------------------------
# activations: GELU (exact and tanh form), ReLU, tanh
# ----------------------------------------------------------------------------------------

_SQRT_HALF = 0.70710678118654752440          # 1 / sqrt(2)
_INV_SQRT_2PI = 0.39894228040143267794       # 1 / sqrt(2 pi)
_SQRT_2_OVER_PI = 0.79788456080286535588     # sqrt(2 / pi)
_GELU_TANH_C = 0.044715


# float32 GELU: erfc(z) = exp(-z^2) erfcx(z), erfcx(z) ~= c0 + c1 t + ... + c8 t^8 with
# t = 1 / (1 + 0.43 z): a fit of the form of Abramowitz & Stegun 7.1.26 with more terms,
# relative error below 1e-7 for 0 <= z <= 14.2 (see numpy_bert/erfc_fit.py, which
# recomputes these). One exp and 16 cheap passes: what NumPy runs fast.
_ERFCX_POLY = (6.8857023595485535e-06, 0.24239087917908303, 0.2453011782751478, 0.20117697553599145,
               0.25603947482625328, -0.099477671182709504, 0.39607589504670448, -0.31651222127232764,
               0.074998697373567402)
_ERFCX_P = 0.43
# the same polynomial times 1/2: Phi(-a) = erfc(a / sqrt 2) / 2 = exp(-a^2 / 2) * this(t)
_HALF_ERFCX_POLY = tuple(0.5 * c for c in _ERFCX_POLY)
_GELU_TAIL_CLIP = 20.0  # beyond |x| = 20, x Phi(-|x|) and phi(x) are 0 even in float64

# Constant arrays for the element-wise blocks: np.maximum(x, 0.0) with a scalar takes
# NumPy's slow path (5x an array operand here), so the blocks use arrays of constants.
_CONSTANTS = {}


def _const(value, dtype, n):
    """A read-only array of ``n`` copies of ``value`` (n <= _BIG_BLOCK), shared by all threads."""
    key = (float(value), np.dtype(dtype).str)
    block = _CONSTANTS.get(key)
    if block is None:
        block = np.full(_BIG_BLOCK, value, dtype)
        block.flags.writeable = False
        _CONSTANTS[key] = block
    return block[:n]


def _half_erfc_block(a, t, p, e):
    """Into ``p``: Phi(-a) = erfc(a / sqrt 2) / 2 for the block ``0 <= a <= 20`` (NaN
    stays NaN), leaving ``e = exp(-a^2 / 2)`` (the GELU backward needs it too); ``t`` is
    scratch. Float32 only (relative error ~1e-7)."""
    # t = 1 / (1 + p z),  z = a / sqrt 2
    np.multiply(a, _ERFCX_P * _SQRT_HALF, out=t)
    t += 1.0
    np.divide(1.0, t, out=t)
    # p = erfcx(z) / 2 = c8/2 t^8 + ... + c0/2 (Horner)
    np.multiply(t, _HALF_ERFCX_POLY[8], out=p)
    for c in _HALF_ERFCX_POLY[7:0:-1]:
        p += c
        p *= t
    p += _HALF_ERFCX_POLY[0]
    np.square(a, out=e)
    e *= -0.5
    np.exp(e, out=e)                                    # exp(-z^2) = exp(-a^2 / 2)
    p *= e                                              # erfc(z) / 2 = exp(-z^2) erfcx(z) / 2
    return p


def _gelu_block(x, out, u, y, z, a, num, den):
    # out = 0.5 * x * (1 + erf(x / sqrt 2)) = 0.5 * (x + |x| erf(|x| / sqrt 2)), as erf
    # is odd: erf of a non-negative number needs no sign fix-up (np.copysign is slow).
    np.abs(x, out=u)
    np.multiply(u, _SQRT_HALF, out=y)
    _erf_block(y, out, None, z, a, num, den, nonnegative=True)
    out *= u
    out += x
    out *= 0.5


def _gelu_f32_common(x, a, t, p, e):
    # a = min(|x|, 20) (keeps inf * 0 out; NaN stays), p = h = Phi(-a), e = exp(-a^2 / 2)
    np.abs(x, out=a)
    np.minimum(a, _const(_GELU_TAIL_CLIP, x.dtype, x.size), out=a)
    _half_erfc_block(a, t, p, e)


def _gelu_f32_output(x, out, a, p):
    # out = x Phi(x) = max(x, 0) - |x| Phi(-|x|): for x >= 0 it is x - x Phi(-x), for
    # x < 0 it is -|x| Phi(-|x|); no cancellation in either tail. Overwrites p.
    p *= a                                              # |x| Phi(-|x|)
    np.maximum(x, _const(0.0, x.dtype, x.size), out=out)
    out -= p


def _gelu_f32_derivative(x, grad, a, t, p, e):
    # grad = Phi(x) + x phi(x) from h = p and e: Phi(x) = h + (x >= 0) (1 - 2h),
    # x phi(x) = sign(x) |x| phi(x). Overwrites t and e, keeps a and p.
    np.greater_equal(x, _const(0.0, x.dtype, x.size), out=t)  # 1.0 where x >= 0, else 0.0
    np.multiply(p, -2.0, out=grad)
    grad += 1.0
    grad *= t
    grad += p                                           # Phi(x)
    e *= a
    e *= _INV_SQRT_2PI                                  # |x| phi(x)
    t *= 2.0
    t -= 1.0                                            # sign(x), +1 at 0
    t *= e
    grad += t                                           # + x phi(x)


def _gelu_f32_block(x, out, a, t, p, e):
    _gelu_f32_common(x, a, t, p, e)
    _gelu_f32_output(x, out, a, p)


def _gelu_f32_fwd_grad_block(x, grad, out, a, t, p, e):
    # the output and the derivative from the same erfc and exp
    _gelu_f32_common(x, a, t, p, e)
    _gelu_f32_derivative(x, grad, a, t, p, e)
    _gelu_f32_output(x, out, a, p)


def gelu_forward(x, keep_grad=False):
    """Exact GELU (``hidden_act="gelu"``): ``out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``.

    Backward: ``dx = dout * (Phi(x) + x * phi(x))`` with the normal density
    ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``.
    Cache: ``(x, None)``; ``Phi(x)`` is recomputed in the backward instead of stored.
    With ``keep_grad=True`` (training, float32) the forward computes the derivative
    ``Phi(x) + x phi(x)`` along with the output, from the same erfc and exp, and the cache
    is ``(None, derivative)`` instead: the same memory, and the backward is one multiply.

    float64 uses Cody's erf (see erf). float32 uses the same function written as
    ``max(x, 0) - 0.5 |x| erfc(|x| / sqrt 2)`` with ``erfc(z) = exp(-z^2) erfcx(z)`` and
    a polynomial fit of erfcx (relative error < 1e-7, numpy_bert/erfc_fit.py): a third of
    the work, and within a few float32 ulps of the exact value (tested against math.erfc
    in float64), also for negative x where ``1 + erf`` cancels.
    """
    x = _as_float_array("x", x, "gelu_forward")
    out = np.empty(x.shape, x.dtype)
    if x.dtype == np.float32 and keep_grad:
        grad = np.empty(x.shape, x.dtype)                 # Phi(x) + x phi(x)
        _elementwise_blocks(_gelu_f32_fwd_grad_block, x, grad, out, n_scratch=4)
        return out, (None, grad)
    if x.dtype == np.float32:
        _elementwise_blocks(_gelu_f32_block, x, out, n_scratch=4)
    else:
        _elementwise_blocks(_gelu_block, x, out, n_scratch=6)
    return out, (x, None)


def _gelu_grad_block(x, dout, dx, z, y, w, a, num, den):
    # dx = dout * (Phi(x) + x * phi(x))
    np.multiply(x, _SQRT_HALF, out=z)
    _erf_block(z, dx, y, w, a, num, den)                # erf(x / sqrt 2)
    dx *= 0.5
    dx += 0.5                                           # Phi(x)
    np.multiply(x, x, out=z)
    z *= -0.5
    np.exp(z, out=z)
    z *= x
    z *= _INV_SQRT_2PI                                  # x * phi(x)
    dx += z
    dx *= dout


def _gelu_f32_grad_block(x, dout, dx, a, t, p, e):
    # dx = dout * (Phi(x) + x * phi(x))
    _gelu_f32_common(x, a, t, p, e)
    _gelu_f32_derivative(x, dx, a, t, p, e)
    dx *= dout


def gelu_backward(dout, cache):
    """Backward of exact GELU: ``dx = dout * (Phi(x) + x phi(x))`` (see gelu_forward)."""
    x, grad = cache if isinstance(cache, tuple) else (cache, None)
    if grad is not None:                                # kept by gelu_forward(keep_grad=True)
        _check_dout("gelu_backward", dout, grad.shape)
        return np.multiply(dout, grad)
    _check_dout("gelu_backward", dout, x.shape)
    dx = np.empty(x.shape, x.dtype)
    if x.dtype == np.float32:
        _elementwise_blocks(_gelu_f32_grad_block, x, dout, dx, n_scratch=4)
    else:
        _elementwise_blocks(_gelu_grad_block, x, dout, dx, n_scratch=6)
    return dx


def _gelu_tanh_block(x, out, u):
    # out = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    np.multiply(x, x, out=u)
    u *= _GELU_TANH_C
    u += 1.0
    u *= x
    u *= _SQRT_2_OVER_PI                                # u = sqrt(2/pi) (x + 0.044715 x^3)
    np.tanh(u, out=u)
    u += 1.0
    np.multiply(u, x, out=out)
    out *= 0.5


def gelu_tanh_forward(x):
    """GELU, tanh approximation (``"gelu_new"``, ``"gelu_pytorch_tanh"``):
    ``out = 0.5 x (1 + tanh(u))``, ``u = sqrt(2/pi) (x + 0.044715 x^3)``.

    Backward: with ``t = tanh(u)``,
    ``dx = dout * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))``.
    Cache: x only; ``t`` is recomputed in the backward.
    """
    x = _as_float_array("x", x, "gelu_tanh_forward")
    out = np.empty(x.shape, x.dtype)
    _elementwise_blocks(_gelu_tanh_block, x, out, n_scratch=1)
    return out, x


def _gelu_tanh_grad_block(x, dout, dx, u, t):
    np.multiply(x, x, out=u)                            # u = x^2 for now
    np.multiply(u, _GELU_TANH_C, out=t)
    t += 1.0
    t *= x
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)                                   # t = tanh(sqrt(2/pi) (x + c x^3))
    u *= 3.0 * _GELU_TANH_C
    u += 1.0
    u *= _SQRT_2_OVER_PI                                # du/dx = sqrt(2/pi) (1 + 3c x^2)
    np.multiply(t, t, out=dx)
    np.subtract(1.0, dx, out=dx)                        # 1 - t^2
    dx *= u
    dx *= x
    dx += t
    dx += 1.0
    dx *= 0.5                                           # 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx
    dx *= dout


def gelu_tanh_backward(dout, cache):
    """Backward of tanh-GELU (formula in gelu_tanh_forward)."""
    x = cache
    _check_dout("gelu_tanh_backward", dout, x.shape)
    dx = np.empty(x.shape, x.dtype)
    _elementwise_blocks(_gelu_tanh_grad_block, x, dout, dx, n_scratch=2)
    return dx


def relu_forward(x):
    """``out = max(x, 0)``. Backward: ``dx = dout * (x > 0)``. Cache: the mask ``x > 0`` (bool)."""
    x = _as_float_array("x", x, "relu_forward")
    mask = x > 0
    return x * mask, mask


def relu_backward(dout, cache):
    """Backward of ReLU: ``dx = dout * (x > 0)``."""
    mask = cache
    _check_dout("relu_backward", dout, mask.shape)
    return dout * mask


# hidden_act name in config.json -> (forward, backward)
ACTIVATIONS = {
    "gelu": (gelu_forward, gelu_backward),
    "gelu_new": (gelu_tanh_forward, gelu_tanh_backward),
    "gelu_pytorch_tanh": (gelu_tanh_forward, gelu_tanh_backward),
    "relu": (relu_forward, relu_backward),
}


def activation_forward(x, hidden_act, keep_grad=False):
    """The activation named by ``config.hidden_act``: "gelu" (exact, erf), "gelu_new" and
    "gelu_pytorch_tanh" (tanh form), "relu". Returns ``(out, cache)``. ``keep_grad=True``
    says a backward will follow (exact GELU then keeps its derivative: gelu_forward)."""
    if hidden_act not in ACTIVATIONS:
        raise ValueError(f"unknown hidden_act {hidden_act!r}; choose one of {sorted(ACTIVATIONS)}")
    forward, _ = ACTIVATIONS[hidden_act]
    out, cache = forward(x, keep_grad=True) if keep_grad and hidden_act == "gelu" else forward(x)
    return out, (hidden_act, cache)


def activation_backward(dout, cache):
    """Backward of activation_forward: dispatches on the name kept in the cache."""
    hidden_act, inner = cache
    _, backward = ACTIVATIONS[hidden_act]
    return backward(dout, inner)


def tanh_forward(x):
    """``out = tanh(x)`` (BERT's pooler). Backward: ``dx = dout * (1 - out^2)``. Cache: out."""
    x = _as_float_array("x", x, "tanh_forward")
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Backward of tanh: ``dx = dout * (1 - out^2)``."""
    out = cache
    _check_dout("tanh_backward", dout, out.shape)
    dx = np.multiply(out, out)
    np.subtract(1.0, dx, out=dx)
    dx *= dout
    return dx


# ----------------------------------------------------------------------------------------
# layer norm
# ----------------------------------------------------------------------------------------

def layer_norm_forward(x, weight, bias, eps):
    """Layer normalisation over the last axis (H), as torch.nn.LayerNorm::

        mean = x.mean(-1);  var = ((x - mean)^2).mean(-1)        # biased variance
        rstd = 1 / sqrt(var + eps)                               # eps inside the root
        xhat = (x - mean) * rstd;  out = xhat * weight + bias

    Backward (``dxhat = dout * weight``, means over the last axis)::

        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dweight = sum(dout * xhat) over all rows;   dbias = sum(dout) over all rows

    Cache: xhat (..., H), rstd (..., 1) and weight; x and mean are not kept.
    """
    fn = "layer_norm_forward"
    x = _as_float_array("x", x, fn)
    weight = _as_float_array("weight", weight, fn)
    bias = _as_float_array("bias", bias, fn)
    _check_same_dtype(fn, x=x, weight=weight, bias=bias)
    H = x.shape[-1] if x.ndim else 0
    if x.ndim < 1 or weight.shape != (H,) or bias.shape != (H,):
        raise ValueError(f"{fn}: x {x.shape}, weight {weight.shape}, bias {bias.shape}: weight and "
                         f"bias must both have shape (H,) with H = x.shape[-1]")
    if not eps > 0:
        raise ValueError(f"{fn}: eps must be > 0 (BERT uses 1e-12), got {eps}")
    mean = x.mean(axis=-1, keepdims=True)               # (..., 1)
    xhat = x - mean                                     # (..., H)
    var = _rowdot(xhat, xhat)                           # (..., 1) sum of squares
    var /= H                                            # biased variance
    var += eps
    rstd = np.sqrt(var, out=var)
    np.divide(1.0, rstd, out=rstd)                      # (..., 1) 1 / sqrt(var + eps)
    xhat *= rstd                                        # (..., H)
    out = xhat * weight                                 # (..., H)
    out += bias
    return out, (xhat, rstd, weight)


def layer_norm_backward(dout, cache):
    """Backward of layer norm: ``(dx, dweight, dbias)``, formulas in layer_norm_forward."""
    xhat, rstd, weight = cache
    _check_dout("layer_norm_backward", dout, xhat.shape)
    H = xhat.shape[-1]
    dout2 = dout.reshape(-1, H)                         # (N, H)
    xhat2 = xhat.reshape(-1, H)                         # (N, H)
    # out = xhat * weight + bias
    dbias = dout2.sum(axis=0)                           # (H,)
    dxhat = dout * weight                               # (..., H)
    dweight = np.multiply(dout2, xhat2).sum(axis=0)     # (H,)
    # xhat = (x - mean) * rstd, mean and rstd depending on x:
    # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    m_dxhat = dxhat.mean(axis=-1, keepdims=True)        # (..., 1)
    m_dxhat_xhat = _rowdot(dxhat, xhat)                 # (..., 1)
    m_dxhat_xhat /= H
    dx = xhat * m_dxhat_xhat                            # (..., H)
    dx += m_dxhat
    np.subtract(dxhat, dx, out=dx)
    dx *= rstd
    return dx, dweight, dbias


# ----------------------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------------------

def _softmax_inplace(a, axis=-1):
    """Overwrite ``a`` with softmax(a) along ``axis`` (max subtracted first: no overflow)."""
    # np.fmax.reduce is a row max that skips NaN checks (2-4x faster than a.max on short
    # rows); a NaN in a row still makes that row NaN through exp and the sum.
    a -= np.fmax.reduce(a, axis=axis, keepdims=True)
    np.exp(a, out=a)
    if axis in (-1, a.ndim - 1) and a.ndim >= 2 and a.shape[-1] > 1:
        # row sums as a matrix-vector product with ones: BLAS's gemv, ~7x faster than
        # a.sum(-1) on short rows (same sum, another order of the float additions)
        s = np.matmul(a, np.ones(a.shape[-1], a.dtype))[..., None]
    else:
        s = a.sum(axis=axis, keepdims=True)
    np.divide(1.0, s, out=s)
    a *= s
    return a


def softmax_forward(x, axis=-1):
    """``out = exp(x) / sum(exp(x), axis)``.

    Computed as ``e = exp(x - max(x))`` (no overflow) times ``1 / sum(e)`` (one division
    per row instead of one per element); the tests check it against the formula above.

    Backward: ``dx = out * (dout - sum(dout * out, axis))``.
    Cache: (out, axis).
    """
    x = _as_float_array("x", x, "softmax_forward")
    out = _softmax_inplace(np.array(x, copy=True), axis)
    return out, (out, axis)


def softmax_backward(dout, cache):
    """Backward of softmax: ``dx = out * (dout - sum(dout * out, axis))``."""
    out, axis = cache
    _check_dout("softmax_backward", dout, out.shape)
    if axis in (-1, out.ndim - 1):
        s = _rowdot(dout, out)                          # (..., 1)
    else:
        s = np.multiply(dout, out).sum(axis=axis, keepdims=True)
    dx = dout - s
    dx *= out
    return dx


# ----------------------------------------------------------------------------------------
# embedding lookup
# ----------------------------------------------------------------------------------------

def _check_ids(fn, ids, n_rows, what="ids"):
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {what} must be integers (token ids), got dtype {ids.dtype}")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= n_rows:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{fn}: {what} contain {bad}, outside [0, {n_rows}) for a table of "
                             f"{n_rows} rows; check the tokenizer's vocab matches the model")
    return ids


def embedding_forward(ids, weight, padding_idx=None):
    """Row lookup: ``out[...] = weight[ids[...]]``; ids (...) integers, weight (V, H) -> (..., H).

    Backward: a scatter-add, ``dweight[v] = sum of dout[i] over all positions i with
    ids[i] == v``; row ``padding_idx`` (if given) gets no gradient, as in
    ``torch.nn.Embedding(padding_idx=...)``.
    Cache: (ids, V, padding_idx).
    """
    fn = "embedding_forward"
    weight = _as_float_array("weight", weight, fn)
    if weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be 2-D (V, H), got shape {weight.shape}")
    ids = _check_ids(fn, ids, weight.shape[0])
    if padding_idx is not None and not (-weight.shape[0] <= padding_idx < weight.shape[0]):
        raise ValueError(f"{fn}: padding_idx {padding_idx} is outside the table of "
                         f"{weight.shape[0]} rows")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    out = np.take(weight, ids, axis=0)                  # (..., H)
    return out, (ids, weight.shape[0], padding_idx)


def embedding_backward(dout, cache):
    """Backward of the lookup: returns ``dweight`` (V, H), a scatter-add of dout's rows."""
    ids, V, padding_idx = cache
    if np.ndim(dout) != ids.ndim + 1 or np.shape(dout)[:-1] != ids.shape:
        raise ValueError(f"embedding_backward: dout has shape {np.shape(dout)}, expected "
                         f"{ids.shape + ('H',)} like the forward's output")
    H = dout.shape[-1]
    flat_ids = ids.reshape(-1)                          # (N,)
    dout2 = dout.reshape(-1, H)                         # (N, H)
    dweight = np.zeros((V, H), dout.dtype)              # (V, H)
    # out = weight[ids]: every position adds its gradient into its row (repeats add up).
    # Sorting groups equal ids; np.add.reduceat then sums each group in one pass.
    order = np.argsort(flat_ids, kind="stable")
    sorted_ids = flat_ids[order]
    if sorted_ids.size:
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        dweight[sorted_ids[starts]] = np.add.reduceat(dout2[order], starts, axis=0)
    if padding_idx is not None:
        dweight[padding_idx] = 0.0                      # the padding row is never trained
    return dweight


# ----------------------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------------------

def dropout_forward(x, p, rng, training):
    """Inverted dropout: ``out = x * mask / (1 - p)`` with ``mask = (u >= p)``, u uniform [0, 1)
    (in steps of 2^-32: 32 random bits per element).

    When not training (or p == 0) it is the identity and ``out`` is ``x`` itself (not a
    copy). ``rng`` is a ``numpy.random.Generator``: the same seed drops the same units
    (in float32 and float64 alike). ``p = 1`` drops everything (out = 0).

    Backward: ``dx = dout * mask / (1 - p)``, with the forward's mask.
    Cache: the mask as bool (1 byte per element) and the scale 1 / (1 - p).
    """
    fn = "dropout_forward"
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: dropout probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: training with p > 0 needs a numpy.random.Generator as rng "
                        f"(e.g. np.random.default_rng(0)), got {type(rng).__name__}")
    x = _as_float_array("x", x, fn)
    if p == 1.0:
        mask = np.zeros(x.shape, bool)                  # everything dropped
    else:
        # u = k / 2^32 with k 32 random bits; keep where u >= p, i.e. k >= ceil(p 2^32)
        # (the generator's raw bits, 2 per 64-bit draw: half the cost of rng.random)
        k = rng.bit_generator.random_raw((x.size + 1) // 2).view(np.uint32)[:x.size]
        mask = (k >= np.uint32(min(math.ceil(float(p) * 2.0 ** 32), 2 ** 32 - 1))).reshape(x.shape)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - float(p))
    return _dropout_apply(x, mask, scale), (mask, scale)


def _dropout_apply(x, mask, scale):
    """``x * mask * scale`` as a new array (also used to recompute dropped values)."""
    out = np.multiply(x, mask)
    out *= scale
    return out


def dropout_backward(dout, cache):
    """Backward of dropout: ``dx = dout * mask / (1 - p)`` (``dout`` itself when inactive)."""
    mask, scale = cache
    if mask is None:
        return dout
    _check_dout("dropout_backward", dout, mask.shape)
    dx = np.multiply(dout, mask)
    dx *= scale
    return dx


# ----------------------------------------------------------------------------------------
# multi-head self-attention
# ----------------------------------------------------------------------------------------

def additive_attention_mask(attention_mask, dtype=np.float32):
    """HuggingFace's additive mask from a (B, T) 0/1 mask: (B, 1, 1, T), 0.0 where
    ``attention_mask`` is 1 (attend) and ``finfo(dtype).min`` where it is 0 (padding).

    Added to the attention scores, it gives padded keys probability exactly 0 (their exp
    underflows) while staying finite, so a row whose keys are all masked stays uniform
    instead of NaN: ``(1 - attention_mask)[:, None, None, :] * finfo(dtype).min``.
    """
    m = np.asarray(attention_mask)
    if m.ndim != 2:
        raise ValueError(f"additive_attention_mask: attention_mask must be (B, T), got shape {m.shape}")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"additive_attention_mask: attention_mask must hold 0/1, got dtype {m.dtype}")
    if m.size and not np.isin(m, (0, 1)).all():
        raise ValueError("additive_attention_mask: attention_mask must hold only 0 (padding) and "
                         "1 (real token)")
    dtype = np.dtype(dtype)
    out = (1 - m.astype(dtype)) * np.finfo(dtype).min   # (B, T)
    return out[:, None, None, :]                        # (B, 1, 1, T)


def self_attention_forward(x, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, mask,
                           num_heads, dropout_p=0.0, rng=None, training=False):
    """BERT's multi-head self-attention (BertSelfAttention, eager), up to the context::

        q, k, v = x Wq.T + bq, x Wk.T + bk, x Wv.T + bv          # (B, T, H) each
        split heads: (B, T, H) -> (B, NH, T, HS)
        scores  = q k^T / sqrt(HS) + mask                        # (B, NH, T, T)
        probs   = softmax(scores) over the keys (last axis)
        context = dropout(probs) v                               # (B, NH, T, HS)
        merge heads: (B, NH, T, HS) -> (B, T, H)

    ``mask`` is additive, (B, 1, 1, T) from ``additive_attention_mask`` (or None): padded
    keys get probability exactly 0. The output projection (BertSelfOutput) is a separate
    linear layer. Returns ``(context (B, T, H), cache)``; ``cache["probs"]`` holds the
    attention probabilities (B, NH, T, T) before dropout (HF's ``output_attentions``).

    Backward, with ``P`` the probs and ``D`` the dropped probs ``dropout(P)``::

        dD = dcontext v^T;   dv = D^T dcontext
        dP = dropout_backward(dD)                       # same mask
        dscores = P * (dP - sum(dP * P, keys))          # softmax backward; mask gets none
        dq = dscores k / sqrt(HS);   dk = dscores^T q / sqrt(HS)
        then each linear's backward; dx = dx_q + dx_k + dx_v

    Fast form: q is scaled by 1/sqrt(HS) before the product instead of scaling the
    (B, NH, T, T) scores afterwards (equal in exact arithmetic; bit-identical when
    1/sqrt(HS) is a power of two, as for HS = 64). Cache: the scaled q, k, v, probs, the
    dropout mask and the linears' caches (x is shared); the dropped probs are recomputed.
    """
    fn = "self_attention_forward"
    x = _as_float_array("x", x, fn)
    if x.ndim != 3:
        raise ValueError(f"{fn}: x must be (B, T, H), got shape {x.shape}")
    B, T, H = x.shape
    NH = int(num_heads)
    if NH < 1 or H % NH:
        raise ValueError(f"{fn}: hidden size {H} is not divisible by num_heads {num_heads}")
    HS = H // NH
    for name, w, b in (("q", q_weight, q_bias), ("k", k_weight, k_bias), ("v", v_weight, v_bias)):
        if np.shape(w) != (H, H) or (b is not None and np.shape(b) != (H,)):
            raise ValueError(f"{fn}: {name}_weight {np.shape(w)} / {name}_bias "
                             f"{None if b is None else np.shape(b)} must be ({H}, {H}) / ({H},) "
                             f"for x of shape {x.shape}")
    if mask is not None:
        mask = _as_float_array("mask", mask, fn)
        _check_same_dtype(fn, x=x, mask=mask)
        try:
            np.broadcast_shapes(mask.shape, (B, NH, T, T))
        except ValueError:
            raise ValueError(f"{fn}: mask of shape {mask.shape} does not broadcast to the scores "
                             f"(B, NH, T, T) = {(B, NH, T, T)}; build it with "
                             f"additive_attention_mask(attention_mask) from a (B, T) mask") from None
        if mask.ndim != 4:
            raise ValueError(f"{fn}: mask must be 4-D, e.g. (B, 1, 1, T), got shape {mask.shape}")

    q, q_cache = linear_forward(x, q_weight, q_bias)    # (B, T, H)
    k, k_cache = linear_forward(x, k_weight, k_bias)    # (B, T, H)
    v, v_cache = linear_forward(x, v_weight, v_bias)    # (B, T, H)
    q = q.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)   # (B, NH, T, HS) view
    k = k.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)   # (B, NH, T, HS) view
    v = v.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)   # (B, NH, T, HS) view
    scale = 1.0 / math.sqrt(HS)
    q *= scale                                          # (B, NH, T, HS) q / sqrt(HS), in place
    scores = np.empty((B, NH, T, T), x.dtype)
    _batched_matmul(q, k.transpose(0, 1, 3, 2), scores)  # (B, NH, T, T) q k^T / sqrt(HS)
    if mask is not None:
        scores += mask                                  # (B, NH, T, T) padded keys -> finfo.min
    probs = _softmax_inplace(scores, axis=-1)           # (B, NH, T, T) over the keys
    dropped, drop_cache = dropout_forward(probs, dropout_p, rng, training)  # (B, NH, T, T)
    context = np.empty((B, T, H), x.dtype)              # (B, T, H)
    # context = dropped @ v, written straight into its merged-heads place
    _batched_matmul(dropped, v, context.reshape(B, T, NH, HS).transpose(0, 2, 1, 3))  # (B, NH, T, HS)
    cache = {"probs": probs, "q": q, "k": k, "v": v, "scale": scale, "dropout": drop_cache,
             "linear": (q_cache, k_cache, v_cache)}
    return context, cache


def self_attention_backward(dcontext, cache):
    """Backward of self_attention_forward (formulas in its docstring). Returns
    ``(dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias)``."""
    probs, q, k, v = cache["probs"], cache["q"], cache["k"], cache["v"]
    B, NH, T, HS = q.shape
    H = NH * HS
    _check_dout("self_attention_backward", dcontext, (B, T, H))
    # merge heads, (B, NH, T, HS) -> (B, T, H): split the gradient back into heads
    dctx = dcontext.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)       # (B, NH, T, HS) view
    mask, drop_scale = cache["dropout"]
    dropped = probs if mask is None else _dropout_apply(probs, mask, drop_scale)  # recomputed
    # context = dropped @ v
    dv = np.empty((B, T, H), q.dtype)
    _batched_matmul(dropped.transpose(0, 1, 3, 2), dctx,
                    dv.reshape(B, T, NH, HS).transpose(0, 2, 1, 3))  # (B, NH, T, HS)
    del dropped
    dprobs = np.empty((B, NH, T, T), q.dtype)
    _batched_matmul(dctx, v.transpose(0, 1, 3, 2), dprobs)            # (B, NH, T, T)
    # dropped = dropout(probs) = probs * mask * scale
    if mask is not None:
        dprobs *= mask
        dprobs *= drop_scale
    # probs = softmax(scores): dscores = probs * (dprobs - sum(dprobs * probs, keys))
    dprobs -= _rowdot(dprobs, probs)                                  # (B, NH, T, T)
    dscores = np.multiply(dprobs, probs, out=dprobs)                  # (B, NH, T, T)
    # scores += mask: the mask is a constant, no gradient
    # scores = q_scaled @ k^T
    dq = np.empty((B, T, H), q.dtype)
    _batched_matmul(dscores, k, dq.reshape(B, T, NH, HS).transpose(0, 2, 1, 3))  # (B, NH, T, HS)
    dk = np.empty((B, T, H), q.dtype)
    _batched_matmul(dscores.transpose(0, 1, 3, 2), q,
                    dk.reshape(B, T, NH, HS).transpose(0, 2, 1, 3))  # (B, NH, T, HS)
    del dscores, dprobs
    # q_scaled = q * scale
    dq *= cache["scale"]
    # q, k, v = linear(x) for each
    q_cache, k_cache, v_cache = cache["linear"]
    dx, dq_weight, dq_bias = linear_backward(dq, q_cache)
    dx_k, dk_weight, dk_bias = linear_backward(dk, k_cache)
    dx += dx_k
    del dx_k
    dx_v, dv_weight, dv_bias = linear_backward(dv, v_cache)
    dx += dx_v
    return dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias


# ----------------------------------------------------------------------------------------
# cross-entropy
# ----------------------------------------------------------------------------------------

def cross_entropy_forward(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the rows whose label is not ``ignore_index``
    (torch.nn.functional.cross_entropy with its defaults)::

        loss = mean over kept rows i of ( logsumexp(logits[i]) - logits[i, labels[i]] )

    logits (N, C) float, labels (N,) integers in [0, C) or ``ignore_index``.
    When every label is ``ignore_index`` (or N = 0) the loss is defined as 0.0 and the
    gradient as zero (torch returns NaN there); a batch without masked tokens then simply
    contributes nothing. A label outside [0, C) other than ``ignore_index`` is a ValueError.

    Backward: ``dlogits[i] = dloss * (softmax(logits[i]) - onehot(labels[i])) / n`` for
    kept rows (n of them), 0 for ignored rows.
    Cache: the softmax of the kept rows, their row indices and labels.
    Returns the loss as a NumPy scalar of the logits' dtype.
    """
    fn = "cross_entropy_forward"
    logits = _as_float_array("logits", logits, fn)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"{fn}: logits must be (N, C), got shape {logits.shape}")
    N, C = logits.shape
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must be integers (class ids or {ignore_index}), "
                        f"got dtype {labels.dtype}")
    if labels.shape != (N,):
        raise ValueError(f"{fn}: labels has shape {labels.shape}, expected ({N},) to match "
                         f"logits {logits.shape}")
    kept = labels != ignore_index                       # (N,)
    bad = kept & ((labels < 0) | (labels >= C))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{fn}: label {int(labels[i])} at position {i} is outside [0, {C}) "
                         f"(and is not ignore_index={ignore_index}); use {ignore_index} for "
                         f"positions without a target")
    rows = np.flatnonzero(kept)                         # (n,)
    n = rows.size
    if n == 0:
        return logits.dtype.type(0.0), (None, rows, None, N, C, logits.dtype)
    y = labels[rows]                                    # (n,)
    kept_logits = logits if n == N else logits[rows]    # (n, C)
    z = np.empty(kept_logits.shape, logits.dtype)       # (n, C) becomes the softmax
    picked = np.empty(n, logits.dtype)                  # (n,) shifted logit of the target
    s = np.empty(n, logits.dtype)                       # (n,) sum of exp
    ones = np.ones(C, logits.dtype)

    def softmax_rows(r):  # rows r of z become their softmax (rows are independent)
        zr = z[r]
        np.subtract(kept_logits[r], np.fmax.reduce(kept_logits[r], axis=1, keepdims=True),
                    out=zr)                             # shifted: no overflow in exp
        picked[r] = zr[np.arange(zr.shape[0]), y[r]]
        np.exp(zr, out=zr)
        s[r] = zr @ ones                                # row sums (BLAS gemv)
        zr *= (1.0 / s[r])[:, None]                     # softmax

    _parallel(softmax_rows, _row_blocks(n, z.size))
    loss = (np.log(s) - picked).sum() / n               # log-sum-exp minus the target logit
    return logits.dtype.type(loss), (z, rows, y, N, C, logits.dtype)


def _row_blocks(n, size):
    """Row slices for a row-wise job on numpy_bert's threads: 4 slices when
    _spread_products() and the job is large (the same slices for any thread count >= 2:
    BLAS's row sums may round a row differently in another slice), else one."""
    step = -(-n // 4) if _spread_products() and size > 4 * _BLOCK else n
    return [slice(i, i + step) for i in range(0, n, step)]


def cross_entropy_backward(dloss, cache):
    """Backward of the mean cross-entropy: ``dlogits`` (N, C) (formula in the forward)."""
    probs, rows, y, N, C, dtype = cache
    n = rows.size
    if n == 0:  # every label ignored: the loss is the constant 0
        return np.zeros((N, C), dtype)
    g = float(dloss) / n
    # loss = mean(logsumexp(logits) - logits[label]): d/dlogits = (softmax - onehot) / n
    dkept = np.empty_like(probs)                        # (n, C)
    _parallel(lambda r: np.multiply(probs[r], g, out=dkept[r]), _row_blocks(n, probs.size))
    dkept[np.arange(n), y] -= g
    if n == N:
        return dkept
    dlogits = np.zeros((N, C), probs.dtype)             # ignored rows get no gradient
    dlogits[rows] = dkept
    return dlogits
