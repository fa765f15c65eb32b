"""The labels are read after masking: the model would be asked to predict [MASK]."""

EXERCISE = "a4.mask_ids"
EXPECTED = "labels hold the masked ids; they must be the original ids"


def mask_ids(ids, can_predict, random_ids, mask_token_id, rng, masked_lm_prob=0.15,
             max_predictions_per_seq=20, mask_prob=0.8, random_prob=0.1):
    ids = np.asarray(ids, dtype=np.int64)
    candidates = np.flatnonzero(can_predict[ids])
    k = min(max_predictions_per_seq, max(1, int(round(masked_lm_prob * len(ids)))), len(candidates))
    positions = np.sort(rng.permutation(candidates)[:k])
    u = rng.random(k)
    masked = ids.copy()
    to_random = (u >= mask_prob) & (u < mask_prob + random_prob)
    masked[positions[u < mask_prob]] = mask_token_id
    masked[positions[to_random]] = rng.choice(random_ids, size=int(to_random.sum()))
    return masked, positions, masked[positions]             # should be ids[positions]
