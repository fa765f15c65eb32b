"""Replay the training run of weights/numpy-bert-tiny and keep snapshots along it.

    python weights/numpy-bert-tiny/replay_run.py --out runs/replay [--stop 3000]

The shipped run was ``numpy-bert pretrain --preset tiny --time-budget 30``: its step
count, and so its learning-rate decay, was re-estimated from the machine's speed at
every log line (every 10 steps). Everything else in a run is fixed by the seed. Its
metrics.jsonl logs the learning rate of the last step of each 10-step window, and
from that lr the step count in force during the window follows exactly:

    lr = peak * (T - k) / (T - warmup)   =>   T = (peak * k - lr * warmup) / (peak - lr)

(checked: ``learning_rate(k, peak, warmup, T)`` gives the logged lr back, bit for
bit). This script runs ``numpy_bert.train.pretrain`` with that schedule in place of
the time budget, so it retraces the shipped run step for step, and at every
``--save-every`` step it copies the checkpoint's weights to
``OUT/snapshots/step-NNNNN.safetensors``. At the end it compares its metrics.jsonl
with the shipped one (every field but the wall clock's) up to the step it reached.

    python weights/numpy-bert-tiny/replay_run.py --out runs/replay --probes

then writes ``weights/numpy-bert-tiny/probes.json``: what the model predicts for each
of PROBES at initialisation (step 0: the seed's weights), at every snapshot in
``OUT/snapshots/`` and at the end (the shipped model.safetensors), the top 5 tokens and
the probability of the right answer. Notebook 04 reads it (a snapshot's weights are
6 MB, too many to commit).
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from numpy_bert import train  # noqa: E402
from numpy_bert.fast import set_blas_threads  # noqa: E402
from numpy_bert.optim import learning_rate  # noqa: E402
from numpy_bert.utils import keep_freed_memory  # noqa: E402


def logged_schedule(records, peak, warmup, log_every):
    """{count c (a multiple of log_every): the step count T in force for updates c .. c+log_every-1},
    read back from the lr of each log record (that of update number record["step"] - 1)."""
    schedule = {}
    for record in records:
        k = record["step"] - 1
        if k < warmup or "mlm_loss" not in record:
            continue  # warmup: the lr does not depend on T
        lr = record["lr"]
        guess = round((peak * k - lr * warmup) / (peak - lr))
        exact = [t for t in range(guess - 3, guess + 4) if learning_rate(k, peak, warmup, t) == lr]
        if len(exact) != 1:
            raise ValueError(f"step {record['step']}: no unique step count gives lr {lr}")
        schedule[k - k % log_every] = exact[0]
    return schedule


class StopReplay(Exception):
    pass


def replay(out, records, preset="tiny", stop=None, save_every=100, quiet=True, **pretrain_options):
    """Run ``train.pretrain`` in ``out`` with the step counts of the run that logged ``records``
    (in place of its time budget) up to step ``stop`` (default: its end), copying the weights of
    every saved checkpoint to ``out/snapshots/step-NNNNN.safetensors``. Returns the replayed records."""
    settings = train.make_settings(preset)
    schedule = logged_schedule(records, settings["lr"], settings["warmup_steps"], settings["log_every"])
    final = records[-1]["step"]
    stop = min(stop or final, final)
    out = Path(out)

    def fit_logged_schedule(step, total_steps, settings, clock, say):
        if step > stop:  # the checkpoint of step `stop` is saved by then
            raise StopReplay
        return schedule.get(step, total_steps) if step % settings["log_every"] == 0 else total_steps

    def save_and_snapshot(out_, model, tokenizer, optimizer, state, records_):
        save_run(out_, model, tokenizer, optimizer, state, records_)
        (out / "snapshots").mkdir(exist_ok=True)
        shutil.copyfile(out / train.CHECKPOINT / "model.safetensors",
                        out / "snapshots" / f"step-{state['step']:05d}.safetensors")

    fit_time_budget, save_run = train.fit_time_budget, train.save_run
    train.fit_time_budget, train.save_run = fit_logged_schedule, save_and_snapshot
    try:
        train.pretrain(out, preset=preset, steps=final, save_every=save_every, quiet=quiet, **pretrain_options)
    except StopReplay:
        pass
    finally:
        train.fit_time_budget, train.save_run = fit_time_budget, save_run
    return train.read_metrics(out / "metrics.jsonl")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop", type=int, default=None, help="stop after this step (default: the whole run)")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--probes", action="store_true",
                        help="write probes.json from the snapshots in --out instead of training")
    args = parser.parse_args(argv)
    if args.probes:
        write_probes(args.out)
        return
    set_blas_threads(1)  # as numpy-bert pretrain runs by default (--threads 1): the same sums, bit for bit
    keep_freed_memory()
    shipped = train.read_metrics(HERE / "metrics.jsonl")
    replayed = replay(args.out, shipped, stop=args.stop, save_every=args.save_every, quiet=False)
    print(compare(replayed, shipped))


# (text, right answer): pairs in which one word of context decides the answer
PROBES = [
    ("Return the natural [MASK] of x.", "logarithm"),
    ("Return the inner [MASK] of two arrays.", "product"),
    ("Acquire the [MASK].", "lock"),
    ("Send data to the [MASK].", "socket"),
    ("Raise an [MASK] if the key is not found.", "exception"),
    ("Return [MASK] if the key is found.", "true"),
    ("The file is opened for writing and [MASK].", "reading"),
]


def probe_predictions(model, tokenizer, top_k=5):
    """[{"top": [[token, p], ...], "answer_p": p}] for each probe."""
    from numpy_bert import pipeline

    unmasker = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    found = []
    for text, answer in PROBES:
        top = [[r["token_str"], round(float(r["score"]), 6)] for r in unmasker(text, top_k=top_k)]
        answer_p = unmasker(text, targets=[answer])[0]["score"]
        found.append({"top": top, "answer_p": round(float(answer_p), 6)})
    return found


def heldout_unigram_loss(tokenizer):
    """The held-out MLM loss of the unigram model (each token's training frequency, add-one
    smoothed) on the run's own held-out masked tokens: what word frequencies alone are worth."""
    import numpy as np

    from numpy_bert.data import Masking, tokenize_documents

    settings = train.make_settings("tiny")
    train_docs, heldout_docs = train.split_documents(train.load_documents(None), settings["heldout_fraction"],
                                                     settings["seed"])
    train_ids = tokenize_documents(train_docs, tokenizer)
    masking = Masking(tokenizer, max_predictions_per_seq=settings["max_predictions_per_seq"])
    batches = train.heldout_batches(tokenize_documents(heldout_docs, tokenizer), tokenizer, masking, settings)
    counts = np.bincount(np.concatenate([s for d in train_ids for s in d]), minlength=len(tokenizer.vocab)) + 1.0
    targets = np.concatenate([b["labels"][b["labels"] != -100] for b in batches])
    return float(-np.log(counts[targets] / counts.sum()).mean())


def write_probes(out):
    """probes.json from the snapshots in OUT/snapshots, step 0 and the shipped model."""
    import tempfile

    from numpy_bert import BertConfig, BertForPreTraining, BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(str(HERE))
    config = BertConfig.from_pretrained(str(HERE))
    models = {0: BertForPreTraining(config, seed=0)}  # pretrain's initialisation (seed 0)
    final = json.loads((HERE / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    predictions = {0: probe_predictions(models[0].eval(), tokenizer)}
    with tempfile.TemporaryDirectory() as tmp:
        for snapshot in sorted((Path(out) / "snapshots").glob("step-*.safetensors")):
            step = int(snapshot.stem.split("-")[1])
            if step < final:  # a directory of its own: the weights may be memory-mapped
                model_dir = Path(tmp) / snapshot.stem
                model_dir.mkdir()
                shutil.copyfile(HERE / "config.json", model_dir / "config.json")
                shutil.copyfile(snapshot, model_dir / "model.safetensors")
                model = BertForPreTraining.from_pretrained(model_dir).eval()
                predictions[step] = probe_predictions(model, tokenizer)
        predictions[final] = probe_predictions(BertForPreTraining.from_pretrained(str(HERE)).eval(), tokenizer)
    steps = sorted(predictions)
    record = {
        "what": "fill-mask predictions of numpy-bert-tiny along its training run (replay_run.py --probes)",
        "heldout_unigram_mlm_loss": round(heldout_unigram_loss(tokenizer), 4),
        "probes": [{"text": text, "answer": answer} for text, answer in PROBES],
        "steps": steps,
        "top": [[predictions[step][i]["top"] for step in steps] for i in range(len(PROBES))],
        "answer_p": [[predictions[step][i]["answer_p"] for step in steps] for i in range(len(PROBES))],
    }
    path = HERE / "probes.json"
    from numpy_bert.utils import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"{path}: {len(PROBES)} probes at steps {steps}")


def compare(replayed, shipped):
    """Whether every replayed record equals the shipped one, wall clock aside (a line of text)."""
    by_step = {r["step"]: r for r in shipped}
    differ = []
    for record in replayed:
        other = by_step.get(record["step"])
        keys = [k for k in record if k not in train.WALL_CLOCK_FIELDS]
        if other is None or any(record[k] != other.get(k) for k in keys):
            differ.append(record["step"])
    last = replayed[-1]["step"] if replayed else 0
    return (f"replayed {len(replayed)} records up to step {last}: "
            + ("all equal to the shipped run's" if not differ else f"differ at steps {differ[:10]}"))


if __name__ == "__main__":
    main()
