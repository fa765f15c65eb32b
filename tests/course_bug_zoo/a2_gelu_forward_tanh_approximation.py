"""GELU's tanh approximation where BERT's config asks for the exact erf form."""

EXERCISE = "a2.gelu_forward"
EXPECTED = "tanh approximation"


def gelu_forward(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
