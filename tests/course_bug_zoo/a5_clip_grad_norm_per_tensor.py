"""Each gradient tensor clipped to max_norm on its own."""

EXERCISE = "a5.clip_grad_norm"
EXPECTED = "each tensor was clipped on its own: the norm is that of all the gradients together"


def clip_grad_norm(grads, max_norm):
    total = 0.0
    for g in grads.values():
        norm = float(np.sqrt(np.sum(g * g)))
        total += norm * norm
        if norm > max_norm:
            g *= max_norm / (norm + 1e-6)
    return float(np.sqrt(total))
