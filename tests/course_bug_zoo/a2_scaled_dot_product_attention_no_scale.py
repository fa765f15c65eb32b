"""Attention whose scores are not divided by sqrt(HS)."""

EXERCISE = "a2.scaled_dot_product_attention"
EXPECTED = "does not divide the scores by sqrt(HS)"


def scaled_dot_product_attention(q, k, v, mask):
    scores = q @ k.swapaxes(-1, -2)
    if mask is not None:
        scores = scores + mask
    probs = softmax(scores, axis=-1)
    return probs @ v, probs
