"""The warmup counts from 1: the first update already has a non-zero learning rate."""

EXERCISE = "a4.learning_rate"
EXPECTED = "but with a warmup the first update has lr 0"


def learning_rate(step, peak_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
