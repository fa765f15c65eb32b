"""The attention backward without the 1/sqrt(HS) of the forward's scores."""

EXERCISE = "a3.scaled_dot_product_attention_backward"
EXPECTED = "(too large): is the 1/sqrt(HS) in the backward?"   # the factor is sqrt(HS): 3.0 or 5.0


def scaled_dot_product_attention_backward(dcontext, cache):
    q, k, v, probs = cache
    dprobs = dcontext @ v.swapaxes(-1, -2)
    dv = probs.swapaxes(-1, -2) @ dcontext
    dscores = probs * (dprobs - (dprobs * probs).sum(axis=-1, keepdims=True))
    dq = dscores @ k                                         # forgot / sqrt(HS)
    dk = dscores.swapaxes(-1, -2) @ q
    return dq, dk, dv
