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

from numpy_bert.layers import (ACTIVATIONS, additive_attention_mask, dropout_backward,  # noqa: F401
                               embedding_forward, relu_backward, relu_forward, tanh_backward,
                               tanh_forward)
from numpy_bert.fast.erf import erf  # noqa: F401
from numpy_bert.fast.layers import (activation_backward, activation_forward,  # noqa: F401
                                    cross_entropy_backward, cross_entropy_forward, dropout_forward,
                                    embedding_backward, gelu_backward, gelu_forward,
                                    gelu_tanh_backward, gelu_tanh_forward, layer_norm_backward,
                                    layer_norm_forward, linear_backward, linear_forward,
                                    self_attention_backward, self_attention_forward, softmax_backward,
                                    softmax_forward)
from numpy_bert.fast.threads import (get_blas_threads, get_num_threads, parallel,  # noqa: F401
                                     set_blas_threads, set_num_threads, spread_products)
