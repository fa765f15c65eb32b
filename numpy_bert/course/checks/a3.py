"""Hidden checks of assignment 3 (backward passes): reference gradients from numpy_bert.layers
on fresh random float64 inputs at odd sizes, plus centred-difference gradient checks."""

import copy

from numpy_bert import layers
from numpy_bert.course.checks.common import backward_items, odd, outputs, score


def check_linear_backward(fn, rng):
    B, T, IN, OUT = odd(rng, 1, 3), odd(rng), odd(rng), odd(rng)
    x = rng.standard_normal((B, T, IN))
    weight, bias = rng.standard_normal((OUT, IN)), rng.standard_normal(OUT)
    out, cache = layers.linear_forward(x, weight, bias)
    dout = rng.standard_normal(out.shape)
    expected = layers.linear_backward(dout, cache)
    got = outputs(fn(dout, copy.deepcopy(cache)), 3, "(dx, dweight, dbias)")
    items = backward_items(("dx", "dweight", "dbias"), got, expected,
                           forward=lambda x, weight, bias: layers.linear_forward(x, weight, bias)[0],
                           inputs={"x": x, "weight": weight, "bias": bias}, dout=dout, rng=rng)
    return score(items)
