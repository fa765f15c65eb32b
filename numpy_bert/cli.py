"""The ``numpy-bert`` command line.

Every sub-command lives next to the code it drives: for the command
``fill-mask`` the module named in ``COMMANDS`` defines

    add_fill_mask_arguments(parser)   # adds its options to an argparse parser
    run_fill_mask(args) -> int        # does the work, returns the exit code

and this file only wires them together. Bad input raises ``ValueError``,
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
    ("pretrain", "numpy_bert.train", "pretrain a small BERT with MLM + NSP",
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


if __name__ == "__main__":
    sys.exit(main())
