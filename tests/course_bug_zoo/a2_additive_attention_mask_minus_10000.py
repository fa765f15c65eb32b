"""The original BERT's -10000 for padded keys, where HF (and the checkpoints' numbers) use finfo(dtype).min."""

EXERCISE = "a2.additive_attention_mask"
EXPECTED = "uses -10000 (the original BERT's)"


def additive_attention_mask(attention_mask, dtype=np.float32):
    mask = np.asarray(attention_mask).astype(dtype)
    return ((1.0 - mask) * -10000.0).astype(dtype)[:, None, None, :]
