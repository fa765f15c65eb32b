"""PyTorch's Adam bias correction inside BERT's AdamWeightDecay."""

EXERCISE = "a4.adam_weight_decay_step"
EXPECTED = "this is Adam with bias correction (m / (1 - beta1^t), v / (1 - beta2^t)): BERT's AdamWeightDecay has none"

STEP = [0]  # the number of steps taken, t


def adam_weight_decay_step(params, grads, m, v, lr, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6):
    STEP[0] += 1
    t = STEP[0]
    for name, p in params.items():
        g = grads[name]
        m[name] *= beta1
        m[name] += (1.0 - beta1) * g
        v[name] *= beta2
        v[name] += (1.0 - beta2) * g * g
        update = (m[name] / (1 - beta1 ** t)) / (np.sqrt(v[name] / (1 - beta2 ** t)) + eps)
        if use_weight_decay(name):
            update = update + weight_decay * p
        p -= lr * update
