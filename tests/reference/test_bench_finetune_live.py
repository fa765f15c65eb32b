"""benchmarks/bench_finetune.py runs, and its two sides run the same recipe.

With dropout off, numpy_bert and PyTorch start from the same weights and see the same
batches, learning rates, clipping and AdamW updates, so their losses agree step by step
up to float32 rounding. A tiny synthetic split keeps it to seconds (plus loading MiniLM).
"""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_finetune.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_finetune", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_split(directory):
    words = {"negative": "awful delayed lost rude", "neutral": "flight today gate tomorrow",
             "positive": "great thanks lovely kind"}
    for name, n in (("train", 12), ("test", 6)):
        with open(directory / f"{name}.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            for i in range(n):
                label = ("negative", "neutral", "positive")[i % 3]
                writer.writerow([f"@airline {words[label]} number {i}" + " again" * (i % 4), label])


def test_bench_finetune_sides_agree_without_dropout(minilm_path, tmp_path, capsys):
    _write_split(tmp_path)
    out = tmp_path / "results.json"
    _bench().main(["--data", str(tmp_path), "--model", str(minilm_path), "--batch-size", "4", "--max-steps", "3",
                   "--round-steps", "2", "--dropout", "0", "--warmup-ratio", "0", "--json", str(out)])
    assert "tokens/s ratio numpy_bert / PyTorch" in capsys.readouterr().out
    results = json.loads(out.read_text(encoding="utf-8"))
    recipe, sides = results["recipe"], results["sides"]
    assert recipe["steps"] == 3 and recipe["train_tweets"] == 12 and recipe["test_tweets"] == 6
    assert recipe["dropout"] == 0.0 and recipe["labels"] == {"0": "negative", "1": "neutral", "2": "positive"}
    # the same schedule (numpy_bert.optim.learning_rate vs get_linear_schedule_with_warmup)
    assert results["check"]["lr_schedule_max_abs_diff"] < 1e-15
    # float32 forward of the same weights: logits of size ~1 agree to a few float32 ulps
    assert results["check"]["initial_logits_max_abs_diff"] < 1e-5
    # the first loss (~1.1) is a float32 mean of the same logits: a few ulps (1e-7) apart.
    # Each AdamW step moves a weight by at most about lr = 5e-5, and float32 rounding in the
    # gradients changes those moves by a small fraction of that, so after three steps the
    # losses still agree to 1e-5
    numpy_losses, torch_losses = sides["numpy_bert"]["losses"], sides["PyTorch"]["losses"]
    assert len(numpy_losses) == len(torch_losses) == 3
    assert numpy_losses[0] == pytest.approx(torch_losses[0], abs=1e-6)
    assert max(abs(a - b) for a, b in zip(numpy_losses, torch_losses)) < 1e-5
    for side in sides.values():
        assert 0 <= side["test_accuracy"] <= 1 and side["train_tokens_per_s"] > 0
        assert sum(map(sum, side["confusion_matrix"])) == 6
