"""What the hidden checks share: comparisons that say how an answer is wrong, gradient checks,
and the message that names the wrong outputs and the right ones.

A check is ``check_<function>(fn, rng) -> (fraction, message)``; most are written as::

    x = rng.standard_normal((odd(rng), odd(rng), 7))            # random odd sizes, float64
    out, cache = layers.linear_forward(x, w, b)                 # the reference forward
    dout = rng.standard_normal(out.shape)                       # a random upstream gradient
    expected = layers.linear_backward(dout, cache)              # the reference backward
    got = outputs(fn(dout, copy.deepcopy(cache)), 3, "(dx, dweight, dbias)")
    return score(backward_items(("dx", "dweight", "dbias"), got, expected, forward, inputs, dout, rng))

``compare`` returns None when an array matches the reference and otherwise a diagnosis:
"dk is off by a factor of 8.0 (too large): is the 1/sqrt(HS) in the backward?", "dweight is
transposed", "dx has shape (3, 5), expected (5, 3)". ``score`` turns a list of
``(name, problem)`` items into the fraction of right items and one message: "dx is wrong
(...); dweight and dbias are right".

A check raises ``CheckFailure(message)`` to give 0 points at once (the answer returned
something unusable); the grader turns any other exception raised by the student's function
into 0 points and a message naming it.

A check module may define ``RIGHT_HELPERS`` (exercise function name -> a right function):
while one exercise is graded, the grader puts these in place of the student's other
functions (``helpers_replaced``), so that an exercise that calls them is graded on its own
steps, and a bug costs only the exercise where it is.
"""

import contextlib
import math
import sys

import numpy as np

from numpy_bert.gradcheck import numerical_gradient, relative_error

__all__ = ["CheckFailure", "helpers_replaced", "trusted", "odd", "outputs", "as_array", "compare", "factor_of", "gradient_error",
           "backward_items", "score", "join_names", "FLOAT64_TOL", "GRADCHECK_TOL"]

# A float64 answer computed in a different order than the reference differs from it by a few
# ulps of the largest entry per term summed; the check sizes stay under 100 terms per sum, so
# 100 * 2.2e-16 * (a few) is far below this, and any real bug is far above it.
FLOAT64_TOL = 1e-8
# Centred differences with h = 1e-6 in float64: truncation error O(h^2) ~ 1e-12 times the
# third derivative, rounding error ~ eps / h ~ 2e-10 relative to the output's scale.
GRADCHECK_TOL = 1e-6


class CheckFailure(Exception):
    """Raised by a check to give the exercise 0 points with this message."""


def _right_helper(helper):
    """``helper`` wrapped so that it runs with the grader's tripwire (a profile hook) off: the
    check, not the student, chose to run numpy_bert's code here."""
    def right_helper(*args, **kwargs):
        hook = sys.getprofile()
        sys.setprofile(None)
        try:
            return helper(*args, **kwargs)
        finally:
            sys.setprofile(hook)
    right_helper.__name__ = getattr(helper, "__name__", "right_helper")
    return right_helper


# the one numpy_bert function a student's code may enter under the tripwire: a right helper
# (it turns the tripwire off for what it runs)
RIGHT_HELPER_CODE = _right_helper(len).__code__


def trusted(fn):
    """``fn`` run with the tripwire off: for the callables a check hands to the student's code
    (a model's loss_and_grads, a predict function), whose calls are the check's, not the student's."""
    return _right_helper(fn)


@contextlib.contextmanager
def helpers_replaced(fn, helpers, own=None):
    """While the block runs, the student's module (the one defining ``fn``, seen through the
    grader's tripwire) has right functions in place of its own of the same names (``helpers``
    maps name -> function; ``own``, the exercise's function name, default ``fn.__name__``, is
    skipped), so that a composite exercise (the
    encoder layer calls the student's layer norm) is graded on its own steps only: a bug in
    a helper costs the helper's exercise, not every caller's as well."""
    inner = getattr(fn, "fn", fn)
    namespace = getattr(inner, "__globals__", None)
    own = own or getattr(inner, "__name__", None)
    helpers = {name: h for name, h in helpers.items() if name != own}
    if namespace is None:
        yield
        return
    saved = {name: namespace[name] for name in helpers if name in namespace}
    for name, helper in helpers.items():
        namespace[name] = _right_helper(helper)
    try:
        yield
    finally:
        for name in helpers:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)


def odd(rng, low=3, high=9):
    """A random odd size in [low, high] (odd sizes catch transposes and mixed-up axes)."""
    choices = [n for n in range(low, high + 1) if n % 2]
    return int(rng.choice(choices))


def join_names(names):
    """["dx"] -> "dx"; ["dx", "dw", "db"] -> "dx, dw and db"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def outputs(result, count, spelled):
    """The student's return value as a tuple of ``count`` values, or CheckFailure saying
    what was expected, e.g. ``outputs(got, 3, "(dx, dweight, dbias)")``."""
    if count == 1:
        return (result,)
    if not isinstance(result, (tuple, list)) or len(result) != count:
        what = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        raise CheckFailure(f"returned {what}; expected a tuple of {count}: {spelled}")
    return tuple(result)


def as_array(value):
    """np.asarray(value) if that is an array of numbers, else None."""
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - any object a student returns
        return None
    if array.dtype.kind not in "biuf":
        return None
    return array


def factor_of(got, expected, tol=FLOAT64_TOL):
    """The number r with ``got == r * expected`` (within tol), or None if there is none.

    r is the least-squares factor ``<got, expected> / <expected, expected>``; it counts only
    if ``got - r * expected`` is as small as a rounding error (relative to got).
    """
    g = np.asarray(got, np.float64).reshape(-1)
    e = np.asarray(expected, np.float64).reshape(-1)
    ee = float(e @ e)
    if ee == 0.0 or not np.isfinite(g).all():
        return None
    r = float(g @ e) / ee
    if r == 0.0 or math.isclose(r, 1.0, rel_tol=1e-6) or relative_error(g, r * e) > tol * 10:
        return None
    return r


def _factor_text(name, r, factor_hints):
    size = abs(r) if abs(r) >= 1 else 1.0 / abs(r)
    hint = ""
    for value, text in (factor_hints or {}).items():
        if math.isclose(abs(r), value, rel_tol=1e-6):
            hint = f": {text}"
    if math.isclose(r, -1.0, rel_tol=1e-6):
        return f"{name} has the wrong sign{hint}"
    direction = "too large" if abs(r) > 1 else "too small"
    sign = " and the wrong sign" if r < 0 else ""
    return f"{name} is off by a factor of {size:.1f} ({direction}{sign}){hint}"


def _error(got, expected, scale):
    """relative_error, or, with a scale, max|got - expected| / max(scale, largest entry)."""
    if scale is None:
        return relative_error(got, expected)
    largest = float(np.max(np.abs(got) + np.abs(expected), initial=0.0))
    return float(np.max(np.abs(np.asarray(got, np.float64) - expected), initial=0.0)) / max(scale, largest, 1e-300)


def compare(name, got, expected, tol=FLOAT64_TOL, factor_hints=None, hints=None, mistakes=(), scale=None):
    """None if ``got`` equals ``expected`` within ``tol`` (relative to the largest entry), else
    a sentence saying how it differs: None returned, shape, NaN, float32, one of the known
    ``mistakes`` (pairs ``(what that mistake gives, sentence)``: the sentence is the message),
    transposed, wrong sign, off by a factor (with ``factor_hints[factor]`` appended when the
    factor is one of its keys), all zeros, or the relative error. ``hints`` may map "zeros" /
    "wrong" to a hint appended to that diagnosis. ``scale``: measure the error relative to
    this (for a gradient that is 0 in exact arithmetic, the scale of the layer's others)."""
    hints = hints or {}
    expected = np.asarray(expected)
    if got is None:
        return f"{name} is None (return an array of shape {expected.shape})"
    array = as_array(got)
    if array is None:
        return f"{name} is a {type(got).__name__}, not an array of numbers"
    if array.shape != expected.shape:
        if array.ndim == 2 and array.T.shape == expected.shape and relative_error(array.T, expected) <= tol:
            return f"{name} is transposed: it has shape {array.shape}, expected {expected.shape}"
        return f"{name} has shape {array.shape}, expected {expected.shape}"
    if not np.isfinite(array).all():
        return f"{name} contains NaN or inf"
    error = _error(array, expected, scale)
    if error <= tol:
        if expected.dtype == np.float64 and array.dtype != np.float64:
            return f"{name} is {array.dtype} for float64 inputs: keep the inputs' dtype"
        return None
    if expected.dtype == np.float64 and array.dtype.kind == "f" and array.dtype.itemsize < 8 and \
            error <= 10 * float(np.finfo(array.dtype).eps):
        return f"{name} is {array.dtype} for float64 inputs: keep the inputs' dtype"
    for wrong, sentence in mistakes:
        if np.shape(wrong) == array.shape and _error(array, np.asarray(wrong), scale) <= tol:
            return sentence
    if scale is not None:
        return f"{name} is wrong (error {error:.1e} relative to the other gradients)" + \
            (f": {hints['wrong']}" if "wrong" in hints else "")
    if array.ndim >= 2 and array.shape[-1] == array.shape[-2] and \
            relative_error(array.swapaxes(-1, -2), expected) <= tol:
        return f"{name} is transposed (its last two axes are swapped)"
    r = factor_of(array, expected, tol)
    if r is not None:
        return _factor_text(name, r, factor_hints)
    if not array.any():
        return f"{name} is all zeros" + (f": {hints['zeros']}" if "zeros" in hints else "")
    return f"{name} is wrong (relative error {error:.1e})" + (f": {hints['wrong']}" if "wrong" in hints else "")


def gradient_error(forward, inputs, name, grad, dout, rng, max_entries=12, h=1e-6):
    """Relative error of ``grad`` against centred differences of ``sum(dout * forward(**inputs))``
    with respect to ``inputs[name]``, at up to ``max_entries`` random entries (float64)."""
    arrays = {k: np.array(v, dtype=np.float64, copy=True) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
              else v for k, v in inputs.items()}
    x = arrays[name]
    idx = np.arange(x.size) if x.size <= max_entries else np.sort(rng.choice(x.size, max_entries, replace=False))
    numeric = numerical_gradient(lambda: forward(**arrays), x, idx, dout, h=h)
    analytic = np.asarray(grad, np.float64).reshape(-1)[idx]
    return relative_error(analytic, numeric)


def backward_items(names, got, expected, forward=None, inputs=None, dout=None, rng=None,
                   factor_hints=None, hints=None, wrt=None, mistakes=None, scales=None):
    """One ``(name, problem)`` item per gradient: compared with the reference gradient and,
    where it matches, gradient-checked against ``forward`` (``inputs`` maps the forward's
    argument names to arrays; ``wrt`` maps each gradient's name to its argument, default
    the name without its leading "d"). ``factor_hints`` and ``hints`` are keyed by gradient
    name: ``{"dk": {8.0: "is the 1/sqrt(HS) in the backward?"}}``, and so are ``mistakes``
    and ``scales`` (see compare). A gradient with a scale is not gradient-checked (its finite
    differences are rounding noise)."""
    items = []
    for name, g, e in zip(names, got, expected):
        scale = (scales or {}).get(name)
        problem = compare(name, g, e, factor_hints=(factor_hints or {}).get(name), hints=(hints or {}).get(name),
                          mistakes=(mistakes or {}).get(name, ()), scale=scale)
        if problem is None and forward is not None and scale is None:
            argument = (wrt or {}).get(name, name[1:] if name.startswith("d") else name)
            error = gradient_error(forward, inputs, argument, g, dout, rng)
            if error > GRADCHECK_TOL:
                problem = f"{name} fails the gradient check (relative error {error:.1e})"
        items.append((name, problem))
    return items


def score(items, right="right", weights=None):
    """``(fraction, message)`` from ``(name, problem-or-None)`` items: the fraction of items
    without a problem (each weighing ``weights.get(name, 1)``); the message lists the problems,
    then which items are right::

        "dx is off by a factor of 2.0 (too large); dweight and dbias are right"
    """
    if not items:
        raise ValueError("score: no items")
    problems = [p for _, p in items if p]
    good = [name for name, p in items if not p]
    if not problems:
        return 1.0, "correct"
    weight = lambda name: (weights or {}).get(name, 1.0)  # noqa: E731
    fraction = sum(weight(name) for name in good) / sum(weight(name) for name, _ in items)
    message = "; ".join(problems)
    if len(good) > 4:
        message += f"; the other {len(good)} are {right}"
    elif good:
        message += f"; {join_names(good)} {'is' if len(good) == 1 else 'are'} {right}"
    return fraction, message
