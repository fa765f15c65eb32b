"""Softmax's backward through the diagonal of its Jacobian only, as for an element-wise sigmoid."""

EXERCISE = "a3.softmax_backward"
EXPECTED = "uses only the Jacobian's diagonal"


def softmax_backward(dout, cache):
    out, axis = cache
    return dout * out * (1.0 - out)
