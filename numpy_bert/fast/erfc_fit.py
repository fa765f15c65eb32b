"""Where the float32 GELU's erfc coefficients come from (numpy_bert.fast.gelu.ERFCX_POLY).

The float32 GELU needs ``erfc(z)`` for ``z = |x| / sqrt 2 >= 0`` with a small *relative*
error (the negative tail of GELU is ``-|x| erfc(z) / 2``, tiny numbers that should still
be right). It uses the form of Abramowitz & Stegun 7.1.26, with more terms::

    erfc(z) = exp(-z^2) * erfcx(z),   erfcx(z) ~= c0 + c1 t + ... + cn t^n,   t = 1 / (1 + p z)

``erfcx(z) = exp(z^2) erfc(z)`` is smooth and bounded (1 at z = 0, ~ 1 / (z sqrt(pi)) for
large z), so a polynomial in ``t`` (which maps [0, inf) onto (0, 1]) fits it well. The
coefficients minimise the largest relative error on [0, z_max] (Lawson's iteratively
re-weighted least squares, a standard route to a minimax fit), against ``math.erfc`` in
float64. Re-run with::

    python -m numpy_bert.fast.erfc_fit            # prints the coefficients and the error

The NumPy cost is what decides the form: every coefficient costs two passes over the
array (Horner: ``p += c; p *= t``), and ``exp`` is the one expensive pass. Degree 8
with p = 0.43 gives a relative error below 1e-7 on [0, 14.2] (|x| <= 20), under one
float32 ulp; degree 9 of Numerical Recipes' ``erfcc`` needs a second ``exp``.
"""

import math

import numpy as np

DEGREE = 8
P = 0.43
Z_MAX = 14.2  # |x| = 20: beyond it x Phi(-|x|) underflows float32 (and float64's 1e-300s)


def erfcx_reference(z):
    """``exp(z^2) erfc(z)`` in float64 from ``math.erfc`` (accurate to about 1e-15 here)."""
    return np.array([math.erfc(v) * math.exp(v * v) for v in np.asarray(z, np.float64).ravel()])


def fit_grid():
    """The points the fit uses: dense where erfcx bends most."""
    return np.concatenate([np.linspace(0.0, 4.0, 40001), np.linspace(4.0, Z_MAX, 20001)[1:]])


def fit(degree=DEGREE, p=P, iterations=200):
    """Coefficients ``(c0, ..., c_degree)`` minimising the largest relative error of
    ``sum c_i t^i`` against erfcx on fit_grid(); returns ``(coefficients, max_rel_error)``."""
    z = fit_grid()
    target = erfcx_reference(z)
    t = 1.0 / (1.0 + p * z)
    A = np.vander(t, degree + 1, increasing=True)           # (n_points, degree + 1)
    weight = np.ones_like(z)
    for _ in range(iterations):
        w = weight / target                                  # relative error
        coefficients = np.linalg.lstsq(A * w[:, None], target * w, rcond=None)[0]
        error = (A @ coefficients - target) / target
        weight = weight * np.sqrt(np.abs(error)) + 1e-300    # Lawson's update
        weight /= weight.max()
    return coefficients, float(np.abs(error).max())


def erfcx_poly(z, coefficients=None, p=P):
    """Evaluate the fitted erfcx at ``z`` in float64 (for checks)."""
    if coefficients is None:
        from numpy_bert.fast.gelu import ERFCX_POLY as coefficients
    t = 1.0 / (1.0 + p * np.asarray(z, np.float64))
    return np.polynomial.polynomial.polyval(t, np.asarray(coefficients, np.float64))


if __name__ == "__main__":
    c, err = fit()
    print(f"degree {DEGREE}, p = {P}, z in [0, {Z_MAX}]: max relative error {err:.3g}")
    print("_ERFCX_POLY = (" + ", ".join(f"{v:.17g}" for v in c) + ")")
