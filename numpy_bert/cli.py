"""The ``numpy-bert`` command line.

For the command ``fill-mask`` the module named in ``COMMANDS`` defines

    add_fill_mask_arguments(parser)   # adds its options to an argparse parser
    run_fill_mask(args) -> int        # does the work, returns the exit code

and this file wires them together (for ``pretrain`` that module is this one:
its section is at the end). Bad input raises ``ValueError``,
``TypeError`` or ``OSError`` with a message meant for a person; ``main`` prints
that message and exits non-zero instead of showing a traceback (set
``NUMPY_BERT_DEBUG=1`` to see the traceback anyway).
"""

import argparse
import importlib
import os
import sys

# (command, module, one-line help, example)
COMMANDS = [
    ("fill-mask", "numpy_bert.pipelines", "predict the [MASK] token(s) of a text",
     'numpy-bert fill-mask "Hello I\'m a [MASK] model." --top-k 5'),
    ("embed", "numpy_bert.pipelines", "sentence features (hidden states) of a text",
     'numpy-bert embed "Replace me by any text you\'d like."'),
    ("nsp", "numpy_bert.pipelines", "probability that sentence B follows sentence A",
     'numpy-bert nsp "The sky is blue." "It rarely rains here."'),
    ("tokenize", "numpy_bert.tokenization", "show WordPiece tokens and ids of a text",
     'numpy-bert tokenize "UNwant\u00e9d,running"'),
    ("train-vocab", "numpy_bert.tokenization", "learn a WordPiece vocab.txt from text files",
     "numpy-bert train-vocab corpus.txt --vocab-size 8000 --out vocab.txt"),
    ("download", "numpy_bert.hub", "download a checkpoint (bert-base-cased) into the cache",
     "numpy-bert download bert-base-cased"),
    ("gradcheck", "numpy_bert.gradcheck", "check every layer's backward against finite differences",
     "numpy-bert gradcheck"),
    ("pretrain", "numpy_bert.cli", "pretrain a small BERT with MLM + NSP",
     "numpy-bert pretrain --out runs/tiny --preset tiny --steps 2000"),
]


def _fn_name(prefix, command):
    return prefix + command.replace("-", "_")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="numpy-bert",
        description="BERT in plain NumPy. Examples:\n"
        + "\n".join(f"  {example}" for _, _, _, example in COMMANDS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from numpy_bert import __version__

    parser.add_argument("--version", action="version", version=f"numpy_bert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name, help_line, example in COMMANDS:
        try:
            module = importlib.import_module(module_name)
            add_arguments = getattr(module, _fn_name("add_", command) + "_arguments")
            run = getattr(module, _fn_name("run_", command))
        except (ImportError, AttributeError):
            continue  # not built yet: leave it out of the parser
        p = sub.add_parser(
            command,
            help=help_line,
            description=f"{help_line[0].upper()}{help_line[1:]}.\n\nexample:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, KeyError) as exc:
        if os.environ.get("NUMPY_BERT_DEBUG"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"numpy-bert {args.command}: error: {message}", file=sys.stderr)
        return 1


# ---------------------------------------------------------------------------------------
# numpy-bert pretrain: options and entry point (the run itself is numpy_bert.train.pretrain)
# ---------------------------------------------------------------------------------------

def add_pretrain_arguments(parser):
    """Options of ``numpy-bert pretrain``."""
    from numpy_bert.train import CALIBRATION_STEPS, PRESETS

    parser.add_argument("--corpus", metavar="FILE",
                        help="text file: one sentence per line, a blank line between documents "
                             "(default: the built-in corpus of Python/NumPy/matplotlib docstrings)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="run directory: metrics.jsonl, curves.png, checkpoint/")
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                        help="model size and training settings (default tiny; micro is for tests)")
    parser.add_argument("--steps", type=int,
                        help="number of optimizer steps (default: the preset's; without --steps the "
                             "preset's time budget applies too)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--vocab", metavar="FILE",
                        help="vocab.txt to use (default: train a WordPiece vocab on the corpus)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint, bit for bit")
    parser.add_argument("--batch-size", type=int, help="sentence pairs per step")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--warmup-steps", type=int, help="linear warmup steps")
    parser.add_argument("--seq-len", type=int, help="tokens per sequence (max_seq_length)")
    parser.add_argument("--eval-every", type=int, help="evaluate on held-out documents every N steps")
    parser.add_argument("--save-every", type=int, help="write the checkpoint every N steps")
    parser.add_argument("--log-every", type=int, help="progress line + metrics.jsonl record every N steps")
    parser.add_argument("--time-budget", type=float, metavar="MINUTES",
                        help="wall-clock budget in minutes, vocab and data included: from step "
                             f"{CALIBRATION_STEPS} on, the step count (and so the learning-rate decay) is set "
                             "to what fits, re-estimated at every log line (0 = no budget)")
    parser.add_argument("--optimizer", default="adamweightdecay", choices=["adamweightdecay", "adamw"],
                        help="BERT's AdamWeightDecay (default) or PyTorch's AdamW")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads for training (default 1: numpy_bert's own threads, "
                             "NUMPY_BERT_NUM_THREADS, then run independent products side by side, which is "
                             "faster at these matrix sizes; 0 = leave NumPy's setting)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run_pretrain(args):
    """Entry point of ``numpy-bert pretrain``; returns the exit code."""
    from numpy_bert.layers import set_blas_threads
    from numpy_bert.train import pretrain
    from numpy_bert.utils import keep_freed_memory

    if args.threads and args.threads > 0:
        set_blas_threads(args.threads)
    keep_freed_memory()  # no page faults for the arrays each step frees and allocates again
    pretrain(out=args.out, corpus=args.corpus, preset=args.preset, steps=args.steps, seed=args.seed,
             vocab=args.vocab, resume=args.resume, batch_size=args.batch_size, lr=args.lr,
             warmup_steps=args.warmup_steps, seq_len=args.seq_len, eval_every=args.eval_every,
             save_every=args.save_every, log_every=args.log_every, time_budget=args.time_budget,
             optimizer=args.optimizer, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
