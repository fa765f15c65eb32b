"""The error function, which NumPy does not have (GELU needs it).

    erf(x) = 2 / sqrt(pi) * integral from 0 to x of exp(-t^2) dt

W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev approximations for
the error function", Math. Comp. 23 (1969) 631-637; coefficients from his SPECFUN
routine CALERF), one formula for each of three ranges of y = |x|:

    y <= 0.46875        erf(y)  = y * P1(y^2) / Q1(y^2)                 (degree 4 / 4)
    0.46875 < y <= 4    erfc(y) = exp(-y^2) * P2(y) / Q2(y)             (degree 8 / 8)
    y > 4               erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - s P3(s) / Q3(s)),  s = 1/y^2

with erf = 1 - erfc and erf(-x) = -erf(x). The relative error is a few float64 ulps
(about 1e-16). This is the reference, written to be read; ``numpy_bert.fast.erf`` is
the same approximation evaluated in place, block by block, for speed.
"""

import math

import numpy as np

__all__ = ["erf"]

# Polynomial coefficients, highest power first (as np.polyval takes them).
_P1 = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
       3.77485237685302021e02, 3.20937758913846947e03)
_Q1 = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
       2.84423683343917062e03)
_P2 = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
       6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
       1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_Q2 = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
       1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
       3.43936767414372164e03, 1.23033935480374942e03)
_P3 = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
       1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_Q3 = (1.0, 2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
       6.05183413124413191e-2, 2.33520497626869185e-3)

SMALL, MIDDLE = 0.46875, 4.0    # the ends of the first two ranges


def erf(x):
    """The error function, element-wise, by Cody's approximations (see the module).

    Computed in float64; the result has the input's float dtype (float32 stays float32),
    integers give float64; a scalar gives a NumPy scalar, an array an array of its shape
    (as ``np.exp`` does). ``erf(+-inf) = +-1``, ``erf(nan) = nan``, ``erf(-0.0) = -0.0``.

        >>> erf(np.array([0.0, 0.5, -1.0]))
        array([ 0.        ,  0.52049988, -0.84270079])
    """
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"erf: expected real numbers, got dtype {x.dtype}")
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    y = np.abs(x.astype(np.float64).reshape(-1))   # (N,) the ranges are selected on |x|
    out = y.copy()                       # NaN stays NaN (it is in none of the ranges)

    small = y <= SMALL
    z = y[small]
    out[small] = z * np.polyval(_P1, z * z) / np.polyval(_Q1, z * z)

    middle = (y > SMALL) & (y <= MIDDLE)
    z = y[middle]
    out[middle] = 1.0 - np.exp(-z * z) * np.polyval(_P2, z) / np.polyval(_Q2, z)

    large = y > MIDDLE
    z = np.minimum(y[large], 6.0)        # erfc(6) = 2e-17: erf is 1.0 in float64 from here
    s = 1.0 / (z * z)
    erfc = np.exp(-z * z) / z * (1.0 / math.sqrt(math.pi) - s * np.polyval(_P3, s) / np.polyval(_Q3, s))
    out[large] = 1.0 - erfc

    # erf(-x) = -erf(x); a ufunc of a 0-d array gives a NumPy scalar, so a scalar stays one
    return np.copysign(out.reshape(x.shape), x).astype(dtype)
