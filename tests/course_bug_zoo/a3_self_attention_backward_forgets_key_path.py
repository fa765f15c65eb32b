"""Self-attention's backward whose dx forgets the path through the keys."""

EXERCISE = "a3.self_attention_backward"
EXPECTED = "dx is wrong"


def self_attention_backward(dcontext, cache):
    q, k, v, probs = cache["q"], cache["k"], cache["v"], cache["probs"]
    B, NH, T, HS = q.shape
    dcontext = dcontext.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)
    dq, dk, dv = scaled_dot_product_attention_backward(dcontext, (q, k, v, probs))
    merge = lambda a: a.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)  # noqa: E731
    q_cache, k_cache, v_cache = cache["linear"]
    dx_q, dq_weight, dq_bias = linear_backward(merge(dq), q_cache)
    dx_k, dk_weight, dk_bias = linear_backward(merge(dk), k_cache)
    dx_v, dv_weight, dv_bias = linear_backward(merge(dv), v_cache)
    dx = dx_q + dx_v                                         # forgot dx_k
    return dx, dq_weight, dq_bias, dk_weight, dk_bias, dv_weight, dv_bias
