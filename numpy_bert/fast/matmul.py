"""Matrix products spread over numpy_bert's threads (see threads.py for when).

Each function computes exactly what its one-line NumPy form says; only how the work is
split into BLAS calls, and so the float rounding, differs. The splits depend on the
shapes and BLAS's thread count only, so any numpy_bert thread count >= 2 gives the same
numbers.
"""

import math

import numpy as np

from numpy_bert.fast.threads import get_blas_threads, get_num_threads, parallel, spread_products

__all__ = ["matmuls_concurrently", "matmul_row_blocks", "batched_matmul"]

# OpenBLAS runs a matrix product of m * n * k <= 4 * 65536 multiply-adds on one thread and
# wakes its other threads for anything larger. The attention's per-head products are just
# above that (T * T * HS = 128 * 128 * 64); waking threads 96 times per product costs more
# than it saves, and on a busy machine a product can take 100x longer. batched_matmul
# splits them below the threshold and spreads the pieces over numpy_bert's own threads.
BLAS_ONE_THREAD_MNK = 4 * 65536
# From about this size (e.g. 512 x 512 x 64, a head's product at T = 512) one product is
# large enough that BLAS's own threads split it efficiently.
BLAS_LARGE_MNK = 8 * 1024 * 1024


def matmuls_concurrently(*products):
    """``[a @ b for (a, b) in products]``, the products side by side on numpy_bert's
    threads when spread_products() and they are large enough to pay for it. Each product
    is one BLAS call either way: the numbers are the same as one after the other."""
    if not spread_products() or len(products) == 1 or max(
            a.shape[0] * a.shape[1] * b.shape[1] for a, b in products) < BLAS_ONE_THREAD_MNK:
        return [a @ b for a, b in products]
    results = [None] * len(products)

    def work(i):
        results[i] = products[i][0] @ products[i][1]

    parallel(work, list(range(len(products))))
    return results


def matmul_row_blocks(a, b, bias=None, n_blocks=4):
    """``a @ b (+ bias)`` for a 2-D ``a`` (N, K) and ``b`` (K, M), its rows split into
    ``n_blocks`` blocks on numpy_bert's threads when spread_products() and the product is
    large (each block adds the bias to its own rows). Rows of a product are independent;
    only the float rounding may differ from one plain call (BLAS picks its kernels by
    size), and it is the same for any thread count >= 2."""
    if not spread_products() or a.shape[0] * a.shape[1] * b.shape[1] < 2 * BLAS_ONE_THREAD_MNK:
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

    parallel(block, list(range(n)))
    return out


def batched_matmul(a, b, out):
    """``np.matmul(a, b, out=out)`` for stacks of matrices (the attention's
    (..., M, K) @ (..., K, N)), spread over threads in the way that suits the sizes:

    - small stacks, or one numpy_bert thread: one call;
    - BLAS with one thread (as in ``numpy-bert pretrain``): the stack's matrices in a few
      groups, each group one call, the groups on numpy_bert's threads;
    - BLAS with several threads and large matrices (e.g. T = 512): one call, BLAS splits
      each product;
    - BLAS with several threads and small matrices (e.g. T = 128): row slices small
      enough that each BLAS call stays on one thread, on numpy_bert's threads.

    Returns ``out`` (which may be a transposed view, as the attention's merged heads).
    """
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if out.size * K <= BLAS_ONE_THREAD_MNK or get_num_threads() == 1:
        return np.matmul(a, b, out=out)  # small enough, or nothing to spread: one call
    lead = out.shape[:-2]
    if get_blas_threads() == 1 and math.prod(lead) > 1:
        # whole matrices per call, in about 4 groups along the longest stack axis (the same
        # groups for 2 to 4 threads); BLAS keeps each call on its one thread
        a = np.broadcast_to(a, lead + a.shape[-2:])
        b = np.broadcast_to(b, lead + b.shape[-2:])
        axis = int(np.argmax(lead))
        step = -(-lead[axis] // 4)
        pre = (slice(None),) * axis

        def group(i):
            part = pre + (slice(i, i + step),)
            np.matmul(a[part], b[part], out=out[part])

        parallel(group, list(range(0, lead[axis], step)))
        return out
    if M * N * K >= BLAS_LARGE_MNK:
        return np.matmul(a, b, out=out)  # BLAS's threads split each (large) product
    rows = max(1, min(M, BLAS_ONE_THREAD_MNK // max(1, K * N)))
    parallel(lambda r: np.matmul(a[..., r:r + rows, :], b, out=out[..., r:r + rows, :]),
             list(range(0, M, rows)))
    return out
