"""The shuffle uses NumPy's global generator instead of the rng given."""

EXERCISE = "a5.epoch_batches"
EXPECTED = "draw the order from rng, not from np.random"


def epoch_batches(n, batch_size, rng):
    order = np.random.permutation(n)                        # not rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]
