"""Layer norm's backward that treats the mean and rstd as constants (only dx is wrong)."""

EXERCISE = "a3.layer_norm_backward"
EXPECTED = "dx treats mean and rstd as constants"


def layer_norm_backward(dout, cache):
    xhat, rstd, weight = cache
    H = xhat.shape[-1]
    dbias = dout.reshape(-1, H).sum(axis=0)
    dweight = (dout * xhat).reshape(-1, H).sum(axis=0)
    dx = rstd * dout * weight                                # as if mean and rstd did not depend on x
    return dx, dweight, dbias
