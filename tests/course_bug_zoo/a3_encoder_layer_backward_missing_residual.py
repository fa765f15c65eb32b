"""The encoder layer's backward without the first residual's gradient (dx += dh)."""

EXERCISE = "a3.encoder_layer_backward"
EXPECTED = "dx misses the residual"


def encoder_layer_backward(dy, cache):
    grads = {}

    def add(module, dweight, dbias):
        grads[module + ".weight"] = dweight
        grads[module + ".bias"] = dbias

    ds, dw, db = layer_norm_backward(dy, cache["output_layer_norm"])
    add("output.LayerNorm", dw, db)
    di, dw, db = linear_backward(ds, cache["output"])
    add("output.dense", dw, db)
    di = gelu_backward(di, cache["activation"][1])
    da, dw, db = linear_backward(di, cache["intermediate"])
    add("intermediate.dense", dw, db)
    da = da + ds
    dh, dw, db = layer_norm_backward(da, cache["attention_layer_norm"])
    add("attention.output.LayerNorm", dw, db)
    dcontext, dw, db = linear_backward(dh, cache["attention_output"])
    add("attention.output.dense", dw, db)
    dx, dqw, dqb, dkw, dkb, dvw, dvb = self_attention_backward(dcontext, cache["self_attention"])
    add("attention.self.query", dqw, dqb)
    add("attention.self.key", dkw, dkb)
    add("attention.self.value", dvw, dvb)
    return dx, grads                                         # forgot dx + dh
