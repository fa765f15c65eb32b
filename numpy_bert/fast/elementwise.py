"""Element-wise chains (erf, GELU) run block by block, so that their temporaries stay in
the CPU cache instead of streaming through memory.

An element-wise chain written as NumPy is a long run of short calls, each a full pass over
its arrays; on blocks of 32768 elements the few scratch blocks fit in the cache. Each
element gets the same operations whatever the blocks: the numbers do not depend on them.
"""

import numpy as np

from numpy_bert.fast.threads import get_num_threads, parallel, spread_products

__all__ = ["BLOCK", "BIG_BLOCK", "elementwise_blocks", "const", "flat"]

BLOCK = 32768
BIG_BLOCK = 4 * BLOCK  # for two threads at once (see elementwise_blocks)


def flat(a):
    """A 1-D view of ``a`` (a copy only if ``a`` is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1)


def elementwise_blocks(fn, *arrays, n_scratch):
    """Run ``fn(*blocks, *scratch)`` over blocks of the flattened ``arrays`` (all of one
    shape; the last one is the output, written in place), with ``n_scratch`` scratch
    blocks of the first array's dtype.

    Two Python threads running such chains on small blocks spend their time handing the
    GIL back and forth (measured here: a float32 GELU on (3500, 512) took 5.4 ms on one
    thread and 7.1 ms on two with 32768-element blocks). With blocks 4x larger each call
    is long enough that two threads gain (6.0 -> 4.0 ms), so large arrays are split in
    halves on numpy_bert's threads when BLAS runs on one thread (spread_products());
    otherwise (BLAS's idle threads spin for a while after each product) the chain runs on
    the calling thread.
    """
    flats = [flat(a) for a in arrays[:-1]] + [arrays[-1].reshape(-1)]
    size = flats[0].size
    dtype = arrays[0].dtype
    threaded = spread_products() and size >= 4 * BIG_BLOCK
    block = BIG_BLOCK if threaded else BLOCK

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
    parallel(lambda i: run(bounds[i], bounds[i + 1]), list(range(n)))


# np.maximum(x, 0.0) with a scalar takes NumPy's slow path (5x an array operand here), so
# the blocks use read-only arrays of constants.
_CONSTANTS = {}


def const(value, dtype, n):
    """A read-only array of ``n`` copies of ``value`` (n <= BIG_BLOCK), shared by all threads."""
    key = (float(value), np.dtype(dtype).str)
    block = _CONSTANTS.get(key)
    if block is None:
        block = np.full(BIG_BLOCK, value, dtype)
        block.flags.writeable = False
        _CONSTANTS[key] = block
    return block[:n]
