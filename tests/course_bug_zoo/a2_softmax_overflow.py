"""Softmax without subtracting the max: exp overflows for large scores."""

EXERCISE = "a2.softmax"
EXPECTED = "exp overflows"


def softmax(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
