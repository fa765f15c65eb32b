"""numpy_bert's fast layers: the same functions as ``numpy_bert.layers``, for speed.

``numpy_bert/layers.py`` is the reference, written to be read. This package holds
everything that exists only for speed, as karpathy/llm.c keeps ``train_gpt2.c`` apart
from its CUDA kernels:

- ``threads``: numpy_bert's thread pool and control of NumPy's BLAS threads;
- ``matmul``: products split into row blocks or groups of matrices over those threads;
- ``elementwise``: the block runner that keeps element-wise chains in the CPU cache;
- ``erf``: the reference's erf (``numpy_bert.special``) evaluated in place, block by block;
- ``gelu``: GELU kernels, float32 through a fitted erfc (``erfc_fit`` recomputes the fit);
- ``layers``: the fast layer functions themselves.

This namespace has every name of ``numpy_bert.layers`` (a fast version where one exists,
else the reference function itself), so the model can compose either:
``BertModel(config, layers="fast")`` (the default) or ``layers="reference"``. Each fast
function's docstring names the reference it replaces, and tests/test_fast.py checks that
it computes the same numbers (forward and every gradient, float32 and float64, 1 to 3
threads) before benchmarks/ time it.
"""

from numpy_bert.fast.erf import erf  # noqa: F401
from numpy_bert.fast.layers import *  # noqa: F401,F403  (every name of numpy_bert.layers)
from numpy_bert.fast.threads import (get_blas_threads, get_num_threads, parallel,  # noqa: F401
                                     set_blas_threads, set_num_threads, spread_products)
