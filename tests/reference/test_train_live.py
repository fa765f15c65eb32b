"""A checkpoint written by ``numpy-bert pretrain`` loads in transformers and gives numpy_bert's outputs."""

import numpy as np
import torch
import transformers

from numpy_bert.model import BertForPreTraining
from numpy_bert.tokenization import BertTokenizer
from numpy_bert.train import pretrain
from tests.test_train import write_corpus


def test_pretrain_checkpoint_loads_in_transformers(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    pretrain(tmp_path / "run", corpus=str(corpus), preset="micro", steps=8, quiet=True)
    ckpt = tmp_path / "run" / "checkpoint"

    ours = BertForPreTraining.from_pretrained(ckpt)
    tokenizer = BertTokenizer.from_pretrained(ckpt)
    hf_tokenizer = transformers.BertTokenizer.from_pretrained(str(ckpt))
    text_a, text_b = "The river boat sank near the bridge.", "A comet crossed the night sky."
    enc = tokenizer(text_a, text_b, return_tensors="np")
    hf_enc = hf_tokenizer(text_a, text_b, return_tensors="pt")
    np.testing.assert_array_equal(enc["input_ids"], hf_enc["input_ids"].numpy())

    theirs = transformers.BertForPreTraining.from_pretrained(str(ckpt), attn_implementation="eager").eval()
    with torch.no_grad():
        out_t = theirs(**hf_enc)
    out = ours(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    np.testing.assert_allclose(out["prediction_logits"], out_t.prediction_logits.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out["seq_relationship_logits"], out_t.seq_relationship_logits.numpy(),
                               atol=1e-4, rtol=1e-4)
