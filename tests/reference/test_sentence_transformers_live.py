"""Mean-pooled, normalised numpy_bert embeddings equal sentence-transformers' own.

all-MiniLM-L6-v2 is a sentence-transformers model: BertModel, then mean pooling over the
attention mask, then L2 normalisation (its modules.json). Here numpy_bert computes that
recipe from its own tokenizer and encoder and the sentence-transformers library (the
reference extra installs it) encodes the same sentences from the same files.
"""

import numpy as np
import pytest

from numpy_bert import BertTokenizer
from numpy_bert.model import BertModel

from .make_model_fixtures import MINILM_SENTENCES

sentence_transformers = pytest.importorskip(
    "sentence_transformers", reason="needs sentence-transformers: pip install -e .[reference]")


def mean_pooled_normalised(model, tokenizer, sentences):
    enc = tokenizer(sentences, padding=True, return_tensors="np")
    hidden = model(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])["last_hidden_state"]  # (B, T, H)
    mask = enc["attention_mask"][:, :, None].astype(hidden.dtype)                                    # (B, T, 1)
    pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)                                          # (B, H)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minilm_sentence_embeddings_equal_sentence_transformers(minilm_path, dtype):
    reference = sentence_transformers.SentenceTransformer(str(minilm_path), device="cpu")
    expected = reference.encode(MINILM_SENTENCES, convert_to_numpy=True, normalize_embeddings=False)
    ours = mean_pooled_normalised(BertModel.from_pretrained(minilm_path, dtype=dtype),
                                  BertTokenizer.from_pretrained(minilm_path), MINILM_SENTENCES)
    assert ours.shape == expected.shape == (len(MINILM_SENTENCES), 384)
    # the library's pipeline ends in its Normalize module: unit vectors
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(ours - expected)) <= 1e-5
    # and the cosine-similarity matrix a user would compute agrees too
    assert np.max(np.abs(ours @ ours.T - expected @ expected.T)) <= 1e-5
