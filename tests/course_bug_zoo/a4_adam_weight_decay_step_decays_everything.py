"""Weight decay on every parameter, LayerNorm and biases included."""

EXERCISE = "a4.adam_weight_decay_step"
EXPECTED = "every parameter got weight decay: LayerNorm and bias parameters get none"


def adam_weight_decay_step(params, grads, m, v, lr, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6):
    for name, p in params.items():
        g = grads[name]
        m[name] *= beta1
        m[name] += (1.0 - beta1) * g
        v[name] *= beta2
        v[name] += (1.0 - beta2) * g * g
        p -= lr * (m[name] / (np.sqrt(v[name]) + eps) + weight_decay * p)   # no use_weight_decay(name)
