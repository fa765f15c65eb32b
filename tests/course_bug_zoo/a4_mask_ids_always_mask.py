"""Every picked token becomes [MASK]: the 10% random and 10% keep branches are missing."""

EXERCISE = "a4.mask_ids"
EXPECTED = "every picked token became [MASK]; 10% must get a random token and 10% stay as they are"


def mask_ids(ids, can_predict, random_ids, mask_token_id, rng, masked_lm_prob=0.15,
             max_predictions_per_seq=20, mask_prob=0.8, random_prob=0.1):
    ids = np.asarray(ids, dtype=np.int64)
    candidates = np.flatnonzero(can_predict[ids])
    k = min(max_predictions_per_seq, max(1, int(round(masked_lm_prob * len(ids)))), len(candidates))
    positions = np.sort(rng.permutation(candidates)[:k])
    masked = ids.copy()
    masked[positions] = mask_token_id                       # always [MASK]
    return masked, positions, ids[positions]
