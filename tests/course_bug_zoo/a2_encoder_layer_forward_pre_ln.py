"""A pre-LN encoder layer (GPT-2's arrangement) where BERT is post-LN."""

EXERCISE = "a2.encoder_layer_forward"
EXPECTED = "pre-LN"


def encoder_layer_forward(x, params, mask, num_heads, eps):
    p = params.__getitem__
    ln1 = layer_norm_forward(x, p("attention.output.LayerNorm.weight"), p("attention.output.LayerNorm.bias"), eps)
    context = self_attention_forward(
        ln1, p("attention.self.query.weight"), p("attention.self.query.bias"),
        p("attention.self.key.weight"), p("attention.self.key.bias"),
        p("attention.self.value.weight"), p("attention.self.value.bias"), mask, num_heads)
    a = x + context @ p("attention.output.dense.weight").T + p("attention.output.dense.bias")
    ln2 = layer_norm_forward(a, p("output.LayerNorm.weight"), p("output.LayerNorm.bias"), eps)
    i = gelu_forward(ln2 @ p("intermediate.dense.weight").T + p("intermediate.dense.bias"))
    return a + i @ p("output.dense.weight").T + p("output.dense.bias")
