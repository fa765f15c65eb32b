"""GELU, fast: block-wise in-place kernels and, in float32, a fitted erfc.

The fast versions of ``numpy_bert.layers.gelu_forward`` / ``gelu_backward`` and
``gelu_tanh_forward`` / ``gelu_tanh_backward``, with the same results within float
rounding (tests/test_fast.py). What makes them faster:

- every chain runs over cache-sized blocks with scratch arrays (elementwise.py);
- float32 exact GELU writes ``x Phi(x)`` as ``max(x, 0) - |x| Phi(-|x|)`` with
  ``Phi(-a) = erfc(a / sqrt 2) / 2 = exp(-a^2 / 2) erfcx(a / sqrt 2) / 2`` and a polynomial
  fit of erfcx (ERFCX_POLY, from fast/erfc_fit.py): one exp and 16 cheap passes, a third
  of Cody's erf, and no cancellation in the negative tail;
- ``gelu_forward(x, keep_derivative=True)`` (training) computes the derivative
  ``Phi(x) + x phi(x)`` along with the output, from the same erfc and exp, and keeps it
  instead of x: the same memory, and the backward is one multiply.
"""

import numpy as np

from numpy_bert.fast.elementwise import BIG_BLOCK, const, elementwise_blocks
from numpy_bert.fast.erf import erf_block

__all__ = ["gelu_forward", "gelu_backward", "gelu_tanh_forward", "gelu_tanh_backward", "ERFCX_POLY"]

_SQRT_HALF = 0.70710678118654752440          # 1 / sqrt(2)
_INV_SQRT_2PI = 0.39894228040143267794       # 1 / sqrt(2 pi)
_SQRT_2_OVER_PI = 0.79788456080286535588     # sqrt(2 / pi)
_GELU_TANH_C = 0.044715


# float32 GELU: erfc(z) = exp(-z^2) erfcx(z), erfcx(z) ~= c0 + c1 t + ... + c8 t^8 with
# t = 1 / (1 + 0.43 z): a fit of the form of Abramowitz & Stegun 7.1.26 with more terms,
# relative error below 1e-7 for 0 <= z <= 14.2 (see numpy_bert/fast/erfc_fit.py, which
# recomputes these). One exp and 16 cheap passes: what NumPy runs fast.
ERFCX_POLY = (6.8857023595485535e-06, 0.24239087917908303, 0.2453011782751478, 0.20117697553599145,
              0.25603947482625328, -0.099477671182709504, 0.39607589504670448, -0.31651222127232764,
              0.074998697373567402)
ERFCX_P = 0.43
# the same polynomial times 1/2: Phi(-a) = erfc(a / sqrt 2) / 2 = exp(-a^2 / 2) * this(t)
HALF_ERFCX_POLY = tuple(0.5 * c for c in ERFCX_POLY)
_GELU_TAIL_CLIP = 20.0  # beyond |x| = 20, x Phi(-|x|) and phi(x) are 0 even in float64

def _half_erfc_block(a, t, p, e):
    """Into ``p``: Phi(-a) = erfc(a / sqrt 2) / 2 for the block ``0 <= a <= 20`` (NaN
    stays NaN), leaving ``e = exp(-a^2 / 2)`` (the GELU backward needs it too); ``t`` is
    scratch. Float32 only (relative error ~1e-7)."""
    # t = 1 / (1 + p z),  z = a / sqrt 2
    np.multiply(a, ERFCX_P * _SQRT_HALF, out=t)
    t += 1.0
    np.divide(1.0, t, out=t)
    # p = erfcx(z) / 2 = c8/2 t^8 + ... + c0/2 (Horner)
    np.multiply(t, HALF_ERFCX_POLY[8], out=p)
    for c in HALF_ERFCX_POLY[7:0:-1]:
        p += c
        p *= t
    p += HALF_ERFCX_POLY[0]
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
    erf_block(y, out, None, z, a, num, den, nonnegative=True)
    out *= u
    out += x
    out *= 0.5


def _gelu_f32_common(x, a, t, p, e):
    # a = min(|x|, 20) (keeps inf * 0 out; NaN stays), p = h = Phi(-a), e = exp(-a^2 / 2)
    np.abs(x, out=a)
    np.minimum(a, const(_GELU_TAIL_CLIP, x.dtype, x.size), out=a)
    _half_erfc_block(a, t, p, e)


def _gelu_f32_output(x, out, a, p):
    # out = x Phi(x) = max(x, 0) - |x| Phi(-|x|): for x >= 0 it is x - x Phi(-x), for
    # x < 0 it is -|x| Phi(-|x|); no cancellation in either tail. Overwrites p.
    p *= a                                              # |x| Phi(-|x|)
    np.maximum(x, const(0.0, x.dtype, x.size), out=out)
    out -= p


def _gelu_f32_derivative(x, grad, a, t, p, e):
    # grad = Phi(x) + x phi(x) from h = p and e: Phi(x) = h + (x >= 0) (1 - 2h),
    # x phi(x) = sign(x) |x| phi(x). Overwrites t and e, keeps a and p.
    np.greater_equal(x, const(0.0, x.dtype, x.size), out=t)  # 1.0 where x >= 0, else 0.0
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


def gelu_forward(x, keep_derivative=False):
    """Exact GELU, fast (reference: ``numpy_bert.layers.gelu_forward``):
    ``out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``.

    Backward: ``dx = dout * (Phi(x) + x * phi(x))`` with the normal density
    ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``.
    Cache: ``(x, None)``; ``Phi(x)`` is recomputed in the backward instead of stored.
    With ``keep_derivative=True`` (training, float32) the forward computes the derivative
    ``Phi(x) + x phi(x)`` along with the output, from the same erfc and exp, and the cache
    is ``(None, derivative)`` instead: the same memory, and the backward is one multiply.

    float64 uses Cody's erf (numpy_bert.fast.erf). float32 uses the same function written as
    ``max(x, 0) - 0.5 |x| erfc(|x| / sqrt 2)`` with ``erfc(z) = exp(-z^2) erfcx(z)`` and
    a polynomial fit of erfcx (relative error < 1e-7, numpy_bert/fast/erfc_fit.py): a third of
    the work, and within a few float32 ulps of the exact value (tested against math.erfc
    in float64), also for negative x where ``1 + erf`` cancels.
    """
    out = np.empty(x.shape, x.dtype)
    if x.dtype == np.float32 and keep_derivative:
        grad = np.empty(x.shape, x.dtype)                 # Phi(x) + x phi(x)
        elementwise_blocks(_gelu_f32_fwd_grad_block, x, grad, out, n_scratch=4)
        return out, (None, grad)
    if x.dtype == np.float32:
        elementwise_blocks(_gelu_f32_block, x, out, n_scratch=4)
    else:
        elementwise_blocks(_gelu_block, x, out, n_scratch=6)
    return out, (x, None)


def _gelu_grad_block(x, dout, dx, z, y, w, a, num, den):
    # dx = dout * (Phi(x) + x * phi(x))
    np.multiply(x, _SQRT_HALF, out=z)
    erf_block(z, dx, y, w, a, num, den)                # erf(x / sqrt 2)
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
    """Backward of exact GELU, fast (reference: ``numpy_bert.layers.gelu_backward``):
    ``dx = dout * (Phi(x) + x phi(x))``."""
    x, grad = cache
    if grad is not None:                                # kept by gelu_forward(keep_derivative=True)
        return np.multiply(dout, grad)
    dx = np.empty(x.shape, x.dtype)
    if x.dtype == np.float32:
        elementwise_blocks(_gelu_f32_grad_block, x, dout, dx, n_scratch=4)
    else:
        elementwise_blocks(_gelu_grad_block, x, dout, dx, n_scratch=6)
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
    """GELU, tanh approximation (``"gelu_new"``, ``"gelu_pytorch_tanh"``), fast (reference:
    ``numpy_bert.layers.gelu_tanh_forward``):
    ``out = 0.5 x (1 + tanh(u))``, ``u = sqrt(2/pi) (x + 0.044715 x^3)``.

    Backward: with ``t = tanh(u)``,
    ``dx = dout * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))``.
    Cache: x only; ``t`` is recomputed in the backward.
    """
    out = np.empty(x.shape, x.dtype)
    elementwise_blocks(_gelu_tanh_block, x, out, n_scratch=1)
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
    """Backward of tanh-GELU (formula in gelu_tanh_forward; reference:
    ``numpy_bert.layers.gelu_tanh_backward``)."""
    x = cache
    dx = np.empty(x.shape, x.dtype)
    elementwise_blocks(_gelu_tanh_grad_block, x, dout, dx, n_scratch=2)
    return dx
