"""numpy_bert's own threads and NumPy's BLAS threads: how the fast layers spread their work.

NumPy's BLAS calls release the GIL while they compute, so plain Python threads running
independent products (attention heads, a linear layer's dx and dW, row blocks) use
several cores. Two counts decide how work is spread:

- numpy_bert's threads (``set_num_threads``): NUMPY_BERT_NUM_THREADS, else
  OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (what NumPy's BLAS uses), else the cores this
  process may use. 1 turns them off.
- BLAS's own threads (``set_blas_threads``). With several, one large call lets BLAS
  split it; with one (what ``numpy-bert pretrain`` uses), numpy_bert's threads run
  independent one-thread calls side by side instead (``spread_products``).

Public API, used by the fast layers, ``numpy_bert.optim`` and ``numpy-bert pretrain``:
``set_num_threads``, ``get_num_threads``, ``set_blas_threads``, ``get_blas_threads``,
``spread_products`` and ``parallel``.
"""

import concurrent.futures
import ctypes
import os
import threading

__all__ = ["set_num_threads", "get_num_threads", "set_blas_threads", "get_blas_threads",
           "spread_products", "parallel"]

_num_threads = None
_pool = None
_POOL_PREFIX = "numpy_bert_pool"
_DONE = object()


def default_num_threads():
    """The thread count the environment asks for (see the module docstring)."""
    for name in ("NUMPY_BERT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isascii() and value.isdigit() and int(value) > 0:  # "²" is a digit int() refuses
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
    """The number of threads numpy_bert's fast layers use (see set_num_threads)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = default_num_threads()
    return _num_threads


def _forget_pool():
    global _pool
    _pool = None  # a forked child has none of the parent's threads: start a new pool


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def parallel(fn, items):
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


# ----------------------------------------------------------------------------------------
# BLAS's own threads
# ----------------------------------------------------------------------------------------

_blas_threads = None
_blas_get = []  # [the OpenBLAS function that reports its thread count, or None], once looked up
_blas_set = []  # [the OpenBLAS function that sets it, or None], once looked up


def _openblas_function(names):
    """The first of ``names`` found in an OpenBLAS library this process has loaded, or None."""
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
    if not _blas_set:
        _blas_set.append(_openblas_function(("openblas_set_num_threads", "openblas_set_num_threads64_",
                                             "scipy_openblas_set_num_threads64_",
                                             "scipy_openblas_set_num_threads")))
    fn = _blas_set[0]
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


def get_blas_threads():
    """How many threads NumPy's BLAS uses now (OpenBLAS's own count), or None if unknown."""
    if not _blas_get:
        _blas_get.append(_openblas_function(("openblas_get_num_threads", "openblas_get_num_threads64_",
                                             "scipy_openblas_get_num_threads64_",
                                             "scipy_openblas_get_num_threads")))
    if _blas_get[0] is not None:
        return int(_blas_get[0]())
    return _blas_threads


def spread_products():
    """Whether numpy_bert spreads work over its own threads (the linear layers' products,
    cross-entropy rows, long element-wise chains, the optimizer's update): only when BLAS
    itself runs on one thread (``numpy-bert pretrain``'s setting) and numpy_bert has more
    than one. With several BLAS threads, BLAS splits each product itself, its idle threads
    spin for a while after each call, and more threads of ours would compete for the same
    cores."""
    return get_num_threads() > 1 and get_blas_threads() == 1
