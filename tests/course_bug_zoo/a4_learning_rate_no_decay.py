"""Warmup, then a constant learning rate."""

EXERCISE = "a4.learning_rate"
EXPECTED = "lr stays at the peak after the warmup: it must fall linearly to 0 at total_steps"


def learning_rate(step, peak_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr
