"""Layer norm with numpy's sample variance (ddof=1) instead of the biased one."""

EXERCISE = "a2.layer_norm_forward"
EXPECTED = "unbiased variance"


def layer_norm_forward(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, ddof=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias
