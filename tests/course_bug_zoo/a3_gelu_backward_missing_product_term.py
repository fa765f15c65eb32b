"""GELU's backward with only half of the product rule: d/dx [x Phi(x)] taken as Phi(x)."""

EXERCISE = "a3.gelu_backward"
EXPECTED = "misses the product rule's second term"


def gelu_backward(dout, cache):
    x = cache
    return dout * 0.5 * (1.0 + erf(x / math.sqrt(2.0)))     # forgot + x * phi(x)
