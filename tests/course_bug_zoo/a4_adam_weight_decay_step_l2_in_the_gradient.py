"""Weight decay as L2 regularisation: added to the gradient, so it goes through m and v."""

EXERCISE = "a4.adam_weight_decay_step"
EXPECTED = "the weight decay went into the gradient (L2 regularisation, through m and v)"


def adam_weight_decay_step(params, grads, m, v, lr, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6):
    for name, p in params.items():
        g = grads[name] + (weight_decay * p if use_weight_decay(name) else 0.0)   # coupled
        m[name] *= beta1
        m[name] += (1.0 - beta1) * g
        v[name] *= beta2
        v[name] += (1.0 - beta2) * g * g
        p -= lr * m[name] / (np.sqrt(v[name]) + eps)
