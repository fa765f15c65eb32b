"""--log-norms: per-layer gradient norms and activation RMS in metrics.jsonl, and their plot."""

import matplotlib
import numpy as np
import pytest

from numpy_bert import BertConfig, BertForPreTraining, cli, train
from numpy_bert.norms import activation_rms, gradient_norms, plot_norms
from numpy_bert.train import read_metrics
from tests.test_finetune import TINY, sentiment  # noqa: F401  (a fixture)
from tests.test_train import write_corpus

matplotlib.use("Agg")


def test_gradient_norms_and_activation_rms_by_hand():
    config = BertConfig(vocab_size=19, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=7)
    model = BertForPreTraining(config, dtype=np.float64).train()
    ids = np.array([[2, 5, 7, 9, 3], [2, 4, 3, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    labels = np.where(ids == 5, 5, -100)
    _, grads = model.loss_and_grads(ids, attention_mask=mask, labels=labels)
    norms = gradient_norms(grads, config)
    layer1 = [g for name, g in grads.items() if name.startswith("bert.encoder.layer.1.")]
    assert len(norms) == 3
    assert norms[2] == pytest.approx(np.sqrt(sum(np.sum(g ** 2) for g in layer1)), rel=1e-12)
    state = model.rng.bit_generator.state
    rms = activation_rms(model, {"input_ids": ids, "attention_mask": mask})
    assert model.training and model.rng.bit_generator.state == state   # no dropout, no draws
    hidden = model.eval()(ids, attention_mask=mask, output_hidden_states=True)["hidden_states"]
    assert rms[1] == pytest.approx(np.sqrt(np.mean(hidden[1][mask == 1] ** 2)), rel=1e-12)
    assert len(rms) == 3


def test_pretrain_logs_norms_and_plots_them(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    plain, logged = tmp_path / "plain", tmp_path / "logged"
    train.pretrain(plain, corpus=str(corpus), preset="micro", steps=4, quiet=True, log_every=2)
    assert cli.main(["pretrain", "--corpus", str(corpus), "--out", str(logged), "--preset", "micro", "--steps",
                     "4", "--log-every", "2", "--quiet", "--log-norms"]) == 0
    records = [r for r in read_metrics(logged / "metrics.jsonl") if "mlm_loss" in r]
    L = train.PRESETS["micro"]["num_hidden_layers"]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert len(r["layer_grad_norms"]) == len(r["layer_activation_rms"]) == L + 1
        assert all(v > 0 and np.isfinite(v) for v in r["layer_grad_norms"] + r["layer_activation_rms"])
    assert (logged / "norms.png").is_file() and not (plain / "norms.png").exists()
    # logging the norms changes nothing else: the same losses as the run without
    same = [{k: v for k, v in r.items() if k in ("step", "mlm_loss", "nsp_loss", "grad_norm")}
            for r in read_metrics(plain / "metrics.jsonl") if "mlm_loss" in r]
    assert same == [{k: r[k] for k in ("step", "mlm_loss", "nsp_loss", "grad_norm")} for r in records]
    fig = plot_norms(records)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="--log-norms"):
        plot_norms(read_metrics(plain / "metrics.jsonl"))


def test_finetune_logs_norms(tmp_path, sentiment):  # noqa: F811
    out = tmp_path / "run"
    assert cli.main(["finetune", "--model", str(TINY), "--task", "text-classification", "--train",
                     str(sentiment[0]), "--eval", str(sentiment[1]), "--out", str(out), "--epochs", "1",
                     "--batch-size", "16", "--log-every", "2", "--quiet", "--log-norms"]) == 0
    records = [r for r in read_metrics(out / "metrics.jsonl") if "layer_grad_norms" in r]
    assert records and all(len(r["layer_activation_rms"]) == 3 for r in records)   # the tiny model: L = 2
    assert (out / "norms.png").is_file()
