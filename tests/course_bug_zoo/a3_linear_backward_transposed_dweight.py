"""The linear backward with dweight in (in, out) instead of the weight's (out, in)."""

EXERCISE = "a3.linear_backward"
EXPECTED = "dweight is transposed"


def linear_backward(dout, cache):
    x, weight, has_bias = cache
    dout_rows = dout.reshape(-1, weight.shape[0])
    x_rows = x.reshape(-1, weight.shape[1])
    dx = (dout_rows @ weight).reshape(x.shape)
    dweight = x_rows.T @ dout_rows                           # (in, out): transposed
    dbias = dout_rows.sum(axis=0) if has_bias else None
    return dx, dweight, dbias
