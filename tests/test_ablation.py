"""numpy_bert.ablation: masking each head in turn, the table and the plot."""

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from numpy_bert import BertConfig, BertForPreTraining, BertModel, BertTokenizer
from numpy_bert.ablation import contrastive_loss, format_ablation_table, head_ablation, mlm_loss, plot_head_ablation

matplotlib.use("Agg")

TINY = Path(__file__).resolve().parent.parent / "weights" / "numpy-bert-tiny"


def test_head_ablation_of_a_linear_loss_is_exact():
    config = BertConfig(vocab_size=11, hidden_size=12, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=7)
    weight = np.arange(6.0).reshape(3, 2) - 2.5
    result = head_ablation(lambda mask: float((weight * mask).sum()), config, gradient=weight)
    assert result["base"] == weight.sum()
    np.testing.assert_array_equal(result["change"], -weight)         # switching (l, h) off removes its term
    np.testing.assert_array_equal(result["estimate"], -weight)       # exact for a linear loss


def test_mlm_loss_ablation_on_the_shipped_model():
    tokenizer = BertTokenizer.from_pretrained(TINY)
    model = BertForPreTraining.from_pretrained(TINY, dtype=np.float64)
    texts = ["Return a new array of given shape and type, filled with zeros.", "The cat sat on the mat."]
    loss = mlm_loss(model, tokenizer, texts)
    result = head_ablation(loss, model.config, loss.gradient())
    L, NH = model.config.num_hidden_layers, model.config.num_attention_heads
    assert result["loss"].shape == result["change"].shape == result["estimate"].shape == (L, NH)
    # the base loss is the MLM loss with no head mask, and a cell is the loss with that head off
    masked_batch = loss(np.ones((L, NH)))
    assert result["base"] == masked_batch
    off = np.ones((L, NH))
    off[1, 0] = 0.0
    assert result["loss"][1, 0] == loss(off)
    assert np.all(result["change"] != 0)
    # the same masked tokens each call (the rng is seeded)
    assert mlm_loss(model, tokenizer, texts)(off) == loss(off)
    table = format_ablation_table(result)
    assert f"{result['change'][1, 0]:+.4f}" in table and f"{result['base']:.4f}" in table
    fig = plot_head_ablation(result)
    assert len(fig.axes) == 3                                        # masked, estimate, colour bar
    with pytest.raises(TypeError, match="MLM head"):
        mlm_loss(BertModel(model.config), tokenizer, texts)


def test_contrastive_loss_is_in_batch_cross_entropy():
    tokenizer = BertTokenizer.from_pretrained(TINY)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=12, num_hidden_layers=2,
                        num_attention_heads=3, intermediate_size=7)
    model = BertModel(config, dtype=np.float64, seed=4)
    pairs = [("the cat sat", "a cat sits"), ("numbers add up", "sum of numbers"), ("an array", "arrays")]
    loss = contrastive_loss(model, tokenizer, pairs, scale=20.0)

    def embed(texts):
        rows = []
        for text in texts:
            ids = np.array([tokenizer.encode(text)])
            e = model(ids)["last_hidden_state"][0].mean(axis=0)
            rows.append(e / np.linalg.norm(e))
        return np.array(rows)

    s = 20.0 * embed([a for a, _ in pairs]) @ embed([b for _, b in pairs]).T
    expected = np.mean(np.log(np.exp(s).sum(axis=1)) - np.diag(s))
    assert abs(loss(np.ones((2, 3))) - expected) <= 1e-12
    result = head_ablation(loss, config)
    assert result["estimate"] is None and result["change"].shape == (2, 3)
    fig = plot_head_ablation(result)
    assert len(fig.axes) == 2
