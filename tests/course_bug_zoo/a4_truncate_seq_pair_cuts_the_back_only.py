"""Truncation always cuts the end of the longer segment."""

EXERCISE = "a4.truncate_seq_pair"
EXPECTED = "removed tokens came from the front: remove each one from the front or the back with probability 1/2"


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    a, b = list(tokens_a), list(tokens_b)
    while len(a) + len(b) > max_num_tokens:
        longer = a if len(a) > len(b) else b
        longer.pop()                                        # always the back
    return np.array(a, dtype=np.asarray(tokens_a).dtype), np.array(b, dtype=np.asarray(tokens_b).dtype)
