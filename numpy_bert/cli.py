"""The ``numpy-bert`` command line, all in this file.

Each sub-command is two functions here, which call numpy_bert's public functions:

    add_fill_mask_arguments(parser)   # adds its options to an argparse parser
    run_fill_mask(args) -> int        # does the work, prints, returns the exit code

``COMMANDS`` lists every sub-command with its one-line help and an example;
``build_parser`` wires each to its two functions. The library modules know nothing
of argparse or of the tables printed here.

Bad input raises ``ValueError``, ``TypeError`` or ``OSError`` with a message
meant for a person; ``main`` prints that message on one line of stderr and exits 1
(2 for a malformed data file, ``numpy_bert.finetune.DataError``) instead of showing a traceback (set ``NUMPY_BERT_DEBUG=1`` to see the traceback
anyway); Ctrl-C exits 130.
"""

import argparse
import json
import os
import sys
import time
import warnings

from numpy_bert import gradcheck, hub
from numpy_bert.finetune import DataError
from numpy_bert.pipelines import pipeline
from numpy_bert.tokenization import BertTokenizer, write_vocab
from numpy_bert.vocab_trainer import CRITERIA, train_wordpiece

# (command, one-line help, example); the command's two functions are add_<command>_arguments
# and run_<command> below (dashes as underscores)
COMMANDS = [
    ("fill-mask", "predict the [MASK] token(s) of a text",
     'numpy-bert fill-mask "Hello I\'m a [MASK] model." --top-k 5'),
    ("embed", "sentence features (hidden states) of a text",
     'numpy-bert embed "Replace me by any text you\'d like."'),
    ("nsp", "probability that sentence B follows sentence A",
     'numpy-bert nsp "The sky is blue." "It rarely rains here."'),
    ("classify", "label a text (or a pair) with a text-classification model",
     'numpy-bert classify "I loved this film!" --model runs/tweets/best --top-k 3'),
    ("ner", "tag the entities of a text with a token-classification model",
     'numpy-bert ner "Angela Merkel visited Reykjavik." --model DIR --aggregation-strategy simple'),
    ("qa", "find the answer to a question in a context (question answering)",
     'numpy-bert qa --question "Who designed it?" --context "It was designed by Gustave Eiffel." --model DIR'),
    ("tokenize", "show WordPiece tokens and ids of a text",
     'numpy-bert tokenize "UNwant\u00e9d,running"'),
    ("train-vocab", "learn a WordPiece vocab.txt from text files",
     "numpy-bert train-vocab corpus.txt --vocab-size 8000 --out vocab.txt"),
    ("download", "download a checkpoint (bert-base-cased) into the cache",
     "numpy-bert download bert-base-cased"),
    ("gradcheck", "check every layer's backward against finite differences",
     "numpy-bert gradcheck"),
    ("pretrain", "pretrain a small BERT with MLM + NSP",
     "numpy-bert pretrain --out runs/tiny --preset tiny --steps 2000"),
    ("finetune", "fine-tune BERT on text classification, token classification or question answering",
     "numpy-bert finetune --model numpy-bert-tiny --task text-classification --train train.csv "
     "--eval eval.csv --out runs/sst"),
    ("course", "the course kit: write the student version, or grade a student's directory",
     "numpy-bert course student handout/ && numpy-bert course grade handout/ --json"),
]


# --------------------------------------------------------------------------- fill-mask, embed, nsp


def _add_model_argument(parser):
    parser.add_argument("--model", default=None,
                        help="a directory in HuggingFace layout or a name (bert-base-cased, numpy-bert-tiny); "
                        "default: bert-base-cased if downloaded, else the small model shipped in weights/")


def add_fill_mask_arguments(parser):
    parser.add_argument("text", help="text with one or more [MASK] tokens")
    _add_model_argument(parser)
    parser.add_argument("--top-k", type=int, default=5, help="number of predictions per [MASK] (default 5)")
    parser.add_argument("--targets", nargs="+", default=None, help="only score these words")
    parser.add_argument("--json", action="store_true", help="print exactly what the Python pipeline returns, as JSON")


def _print_predictions(rows):
    """One [MASK]'s predictions as a table: score, token id, token, the filled-in text."""
    width = max([len(r["token_str"]) for r in rows] + [9])
    print(f"  {'score':>7}  {'token':>6}  {'token_str':<{width}}  sequence")
    for r in rows:
        print(f"  {r['score']:7.4f}  {r['token']:6d}  {r['token_str']:<{width}}  {r['sequence']}")


def run_fill_mask(args):
    unmasker = pipeline("fill-mask", model=args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = unmasker(args.text, top_k=args.top_k, targets=args.targets)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.json:
        print(unmasker.message, file=sys.stderr)
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(unmasker.message)
    if result and isinstance(result[0], dict):  # one [MASK]: one list of predictions
        _print_predictions(result)
    else:
        for i, rows in enumerate(result, 1):
            print(f"[MASK] {i} of {len(result)}:")
            _print_predictions(rows)
    return 0


def add_embed_arguments(parser):
    parser.add_argument("text", help="the text to embed")
    _add_model_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print the full (1, T, H) last hidden state as JSON (what the pipeline returns)")


def run_embed(args):
    extractor = pipeline("feature-extraction", model=args.model)
    features = extractor(args.text, return_tensors=True)  # (1, T, H)
    if args.json:
        print(extractor.message, file=sys.stderr)
        print(json.dumps(features.tolist()))
        return 0
    print(extractor.message)
    tokens = extractor.tokenizer.convert_ids_to_tokens(extractor.tokenizer.encode(args.text))
    _, T, H = features.shape
    print(f"last hidden state: shape (1, {T}, {H}); first 4 of {H} values per token:")
    width = max(len(t) for t in tokens)
    for t, row in zip(tokens, features[0]):
        print(f"  {t:<{width}}  " + "  ".join(f"{v:+.4f}" for v in row[:4]) + "  ...")
    return 0


def add_nsp_arguments(parser):
    parser.add_argument("a", help="sentence A")
    parser.add_argument("b", help="sentence B: does it follow A?")
    _add_model_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the pipeline's dict as JSON")


def run_nsp(args):
    nsp = pipeline("next-sentence", model=args.model)
    result = nsp(args.a, args.b)
    if args.json:
        print(nsp.message, file=sys.stderr)
        print(json.dumps(result))
        return 0
    print(nsp.message)
    print(f"P(IsNext) = {result['is_next']:.4f}: {result['label']}")
    return 0


# --------------------------------------------------------------------------- classify, ner, qa


def _print_json_or_table(pipe, result, args, columns):
    """``--json``: the pipeline's result as JSON (message on stderr); else a table of ``columns``."""
    if args.json:
        print(pipe.message, file=sys.stderr)
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(pipe.message)
    rows = result if isinstance(result, list) else [result]
    widths = [max([len(name)] + [len(_cell(r[name])) for r in rows]) for name in columns]
    print("  " + "  ".join(f"{name:<{w}}" for name, w in zip(columns, widths)))
    for r in rows:
        print("  " + "  ".join(f"{_cell(r[name]):<{w}}" for name, w in zip(columns, widths)))
    if not rows:
        print("  (nothing found)")
    return 0


def _cell(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def add_classify_arguments(parser):
    parser.add_argument("text", help="the text to classify")
    parser.add_argument("--pair", default=None, help="a second text (text_pair), for models trained on pairs")
    parser.add_argument("--model", required=True,
                        help="a BertForSequenceClassification directory in HuggingFace layout "
                        "(e.g. OUT/best/ of numpy-bert finetune)")
    parser.add_argument("--top-k", type=int, default=None,
                        help="show the k best labels (default: the best one; 0 = all labels)")
    parser.add_argument("--function-to-apply", default="default", choices=["default", "softmax", "sigmoid", "none"],
                        help="how logits become scores (default: sigmoid for multi-label or 1 label, else softmax)")
    parser.add_argument("--json", action="store_true", help="print exactly what the Python pipeline returns, as JSON")


def run_classify(args):
    classifier = pipeline("text-classification", model=args.model)
    inputs = args.text if args.pair is None else {"text": args.text, "text_pair": args.pair}
    kwargs = {"function_to_apply": args.function_to_apply}
    if args.top_k is not None:
        if args.top_k < 0:
            raise ValueError(f"--top-k must be 0 (all labels) or more, got {args.top_k}")
        kwargs["top_k"] = args.top_k or None
    result = classifier(inputs, **kwargs)
    return _print_json_or_table(classifier, result, args, ["label", "score"])


def add_ner_arguments(parser):
    parser.add_argument("text", help="the text to tag")
    parser.add_argument("--model", required=True, help="a BertForTokenClassification directory in HuggingFace layout")
    parser.add_argument("--aggregation-strategy", default="simple",
                        choices=["none", "simple", "first", "average", "max"],
                        help="none: one row per WordPiece; simple (default): adjacent B-/I- tags grouped into "
                        "entities; first/average/max: one tag per word first")
    parser.add_argument("--ignore-labels", nargs="*", default=None, metavar="LABEL",
                        help="labels not shown (default: O; give the option alone to show every label)")
    parser.add_argument("--json", action="store_true", help="print exactly what the Python pipeline returns, as JSON")


def run_ner(args):
    tagger = pipeline("token-classification", model=args.model)
    result = tagger(args.text, aggregation_strategy=args.aggregation_strategy, ignore_labels=args.ignore_labels)
    columns = (["entity", "score", "index", "word", "start", "end"] if args.aggregation_strategy == "none"
               else ["entity_group", "score", "word", "start", "end"])
    return _print_json_or_table(tagger, result, args, columns)


def add_qa_arguments(parser):
    parser.add_argument("--question", required=True, help="the question")
    context = parser.add_mutually_exclusive_group(required=True)
    context.add_argument("--context", help="the text that holds the answer")
    context.add_argument("--context-file", metavar="FILE", help="read the context from this UTF-8 file")
    parser.add_argument("--model", required=True, help="a BertForQuestionAnswering directory in HuggingFace layout")
    parser.add_argument("--top-k", type=int, default=1, help="number of answers (default 1)")
    parser.add_argument("--max-answer-len", type=int, default=15, help="longest answer in tokens (default 15)")
    parser.add_argument("--handle-impossible-answer", action="store_true",
                        help='allow "no answer" (an empty answer) when the model prefers it')
    parser.add_argument("--max-seq-len", type=int, default=None,
                        help="tokens per window of question + context (default min(384, model_max_length))")
    parser.add_argument("--doc-stride", type=int, default=None,
                        help="tokens by which the windows of a long context overlap (default min(max_seq_len/2, 128))")
    parser.add_argument("--json", action="store_true", help="print exactly what the Python pipeline returns, as JSON")


def run_qa(args):
    if args.context_file is not None:
        with open(args.context_file, encoding="utf-8") as f:
            context = f.read()
    else:
        context = args.context
    qa = pipeline("question-answering", model=args.model)
    result = qa(question=args.question, context=context, top_k=args.top_k, max_answer_len=args.max_answer_len,
                handle_impossible_answer=args.handle_impossible_answer, max_seq_len=args.max_seq_len,
                doc_stride=args.doc_stride)
    return _print_json_or_table(qa, result, args, ["score", "start", "end", "answer"])


# --------------------------------------------------------------------------- tokenize, train-vocab


def add_tokenize_arguments(parser):
    parser.add_argument("text", help="the text to tokenize")
    parser.add_argument("--pair", default=None, help="a second text (sentence B)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--vocab", default=None, help="a vocab.txt file")
    source.add_argument("--model", default=None, help="a model directory with vocab.txt (default: the "
                        "downloaded bert-base-cased, else the small model shipped in weights/)")
    case = parser.add_mutually_exclusive_group()
    case.add_argument("--lowercase", dest="do_lower_case", action="store_true", default=None,
                      help="lower-case and strip accents (default: as the model's tokenizer_config.json says)")
    case.add_argument("--cased", dest="do_lower_case", action="store_false", help="keep case and accents")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _tokenizer_from_args(args):
    """The tokenizer --vocab or --model names (else the default model's) and where it came from."""
    kwargs = {} if args.do_lower_case is None else {"do_lower_case": args.do_lower_case}
    if args.vocab:
        return BertTokenizer(args.vocab, **kwargs), f"vocab {args.vocab}"
    if args.model:
        return BertTokenizer.from_pretrained(args.model, **kwargs), f"model {args.model}"
    path, message = hub.resolve_model(None)
    return BertTokenizer.from_pretrained(path, **kwargs), message


def run_tokenize(args):
    tok, source = _tokenizer_from_args(args)
    enc = tok(args.text, args.pair, return_offsets_mapping=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    if args.json:
        print(json.dumps({"tokens": tokens, **{k: v for k, v in enc.items()}}, ensure_ascii=False))
        return 0
    print(source, file=sys.stderr)
    texts = [args.text, args.pair]
    width = max(len("token"), *(len(t) for t in tokens))
    print(f"{'#':>4}  {'token':<{width}}  {'id':>6}  {'type':>4}  {'offsets':<11}  text")
    for i, (token, id_, type_, (a, b)) in enumerate(zip(tokens, enc["input_ids"], enc["token_type_ids"],
                                                      enc["offset_mapping"])):
        piece = texts[type_][a:b] if b > a else ""
        print(f"{i:>4}  {token:<{width}}  {id_:>6}  {type_:>4}  {f'({a}, {b})':<11}  {piece!r}")
    print(f"{len(tokens)} tokens")
    return 0


def add_train_vocab_arguments(parser):
    parser.add_argument("files", nargs="+", help="UTF-8 text files to learn from (.gz allowed)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="number of tokens (default 8000)")
    parser.add_argument("--out", default="vocab.txt", help="where to write the vocab (default vocab.txt)")
    case = parser.add_mutually_exclusive_group()
    case.add_argument("--lowercase", dest="do_lower_case", action="store_true", default=True,
                      help="lower-case and strip accents first (default)")
    case.add_argument("--cased", dest="do_lower_case", action="store_false", help="keep case and accents")
    parser.add_argument("--min-frequency", type=int, default=2, help="stop when no pair occurs this often")
    parser.add_argument("--criterion", choices=CRITERIA, default="frequency",
                        help="which pair to merge: the most frequent (BPE, HF's trainer; default) or "
                        "WordPiece's likelihood score count(ab) / (count(a) count(b))")


def run_train_vocab(args):
    for name in args.files:
        if not os.path.isfile(name):
            raise FileNotFoundError(f"training file {name!r} not found")
    start = time.perf_counter()
    vocab = train_wordpiece(args.files, args.vocab_size, do_lower_case=args.do_lower_case,
                            min_frequency=args.min_frequency, criterion=args.criterion,
                            progress=lambda m: print(m, file=sys.stderr))
    write_vocab(vocab, args.out)
    print(f"wrote {len(vocab)} tokens to {args.out} in {time.perf_counter() - start:.1f} s "
          f"({'uncased' if args.do_lower_case else 'cased'}; load it with "
          f"BertTokenizer({args.out!r}, do_lower_case={args.do_lower_case}))")
    return 0


# --------------------------------------------------------------------------- download


def add_download_arguments(parser):
    parser.add_argument("name", nargs="?", default=hub.DEFAULT_MODEL,
                        help=f"model to download (default {hub.DEFAULT_MODEL})")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="directory to put <name>/ in (default $NUMPY_BERT_HOME or ~/.cache/numpy_bert; "
        "'weights' puts it in the source checkout)",
    )
    parser.add_argument("--hub-url", default=None, help="model hub base URL (default $NUMPY_BERT_HUB_URL or "
                        f"{hub.DEFAULT_HUB_URL})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--timeout", type=float, default=hub.DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="seconds to connect and for the server to start answering "
                        "(default %(default)g)")
    parser.add_argument("--stall-timeout", type=float, default=hub.DEFAULT_STALL_TIMEOUT, metavar="SECONDS",
                        help="give up on a file when no byte of it came for this long (default %(default)g)")
    parser.add_argument("--deadline", type=float, default=hub.DEFAULT_DEADLINE, metavar="SECONDS",
                        help="give up when the whole download takes longer (default %(default)g; 0: no limit)")


def run_download(args):
    path = hub.download(args.name, cache_dir=args.cache_dir, base_url=args.hub_url, progress=not args.quiet,
                        timeout=args.timeout, stall_timeout=args.stall_timeout, deadline=args.deadline)
    print(f"{args.name} is in {path}")
    return 0


# --------------------------------------------------------------------------- gradcheck


def add_gradcheck_arguments(parser):
    parser.add_argument("--layer", default=None,
                        help="only the layers whose name contains this text (e.g. attention)")
    parser.add_argument("--tol", type=float, default=1e-7,
                        help="largest relative error that passes (default 1e-7)")
    parser.add_argument("--entries", type=int, default=40,
                        help="entries checked per tensor; larger tensors are sampled (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for inputs and dout")


def run_gradcheck(args):
    """Exit code 0 when every gradient passes, 1 when one fails."""
    if args.entries < 1:
        raise ValueError(f"--entries must be at least 1, got {args.entries}")
    if not args.tol > 0:
        raise ValueError(f"--tol must be positive, got {args.tol}")
    results = gradcheck.run_layer_checks(seed=args.seed, tol=args.tol, max_entries=args.entries,
                                         only=args.layer)
    if not results:
        names = ", ".join(c[0] for c in gradcheck.layer_checks(args.seed))
        raise ValueError(f"no layer matches --layer {args.layer!r}; layers: {names}")
    print("Gradient check: hand-written backward vs centred finite differences (float64,")
    print("B=2 T=5 H=12 NH=3 I=7 V=11, random upstream gradient, padded second sequence)\n")
    print(gradcheck.format_report(results))
    return 0 if all(r.passed for r in results) else 1


# --------------------------------------------------------------------------- pretrain
# (the run itself is numpy_bert.train.pretrain)

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
    from numpy_bert.fast import set_blas_threads
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


# --------------------------------------------------------------------------- finetune
# (the run itself is numpy_bert.finetune.finetune)

def add_finetune_arguments(parser):
    """Options of ``numpy-bert finetune``: HF's names, and TrainingArguments' defaults."""
    from numpy_bert.finetune import DEFAULTS, MAX_LENGTH, TASKS

    _add_model_argument(parser)
    parser.add_argument("--task", required=True, choices=list(TASKS),
                        help="the head to train: " + ", ".join(f"{t} ({c})" for t, c in TASKS.items()))
    parser.add_argument("--train", required=True, metavar="FILE",
                        help="training data, CSV with a header or JSON Lines: text[, text_pair], label | "
                             "tokens, tags | question, context, answers (SQuAD's)")
    parser.add_argument("--eval", required=True, metavar="FILE", help="evaluation data, the same columns")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="run directory: metrics.jsonl, curves.png, best/ (the best model), checkpoint/")
    d = DEFAULTS
    parser.add_argument("--epochs", type=int, help=f"passes over the training data (default {d['epochs']})")
    parser.add_argument("--lr", type=float, help=f"peak learning rate of AdamW (default {d['lr']})")
    parser.add_argument("--batch-size", type=int, help=f"examples per step (default {d['batch_size']})")
    parser.add_argument("--max-length", type=int,
                        help="tokens per example, longer ones are truncated (QA: windows) (default "
                             + ", ".join(f"{v} for {t}" for t, v in MAX_LENGTH.items()) + ")")
    parser.add_argument("--seed", type=int, help=f"seed of the new head, dropout and shuffling (default {d['seed']})")
    parser.add_argument("--warmup-steps", type=float,
                        help="linear warmup: a number of steps, or below 1 a fraction of all steps, as in "
                             f"transformers 5 (default {d['warmup_steps']})")
    parser.add_argument("--weight-decay", type=float,
                        help=f"AdamW's decoupled weight decay, not on biases and LayerNorm (default {d['weight_decay']})")
    parser.add_argument("--max-grad-norm", type=float, help=f"gradient clipping (default {d['max_grad_norm']})")
    parser.add_argument("--doc-stride", type=int,
                        help="QA: tokens shared by consecutive windows of a long context (default min(max_length // 2, 128))")
    parser.add_argument("--max-answer-length", type=int,
                        help=f"QA: longest answer in tokens at evaluation (default {d['max_answer_length']})")
    parser.add_argument("--max-train-samples", type=int, help="use only the first N training examples")
    parser.add_argument("--max-eval-samples", type=int, help="use only the first N eval examples")
    parser.add_argument("--eval-batch-size", type=int, help="examples per evaluation batch (default --batch-size)")
    parser.add_argument("--log-every", type=int, help=f"progress line + metrics.jsonl record every N steps "
                        f"(default {d['log_every']})")
    parser.add_argument("--eval-every", type=int, help="evaluate every N steps too (default: at each epoch's end)")
    parser.add_argument("--save-every", type=int, help=f"write checkpoint/ every N steps too (default "
                        f"{d['save_every']}; always at each evaluation)")
    parser.add_argument("--time-budget", type=float, metavar="MINUTES",
                        help="stop when this much wall clock is spent, evaluate and save; --resume continues")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint, bit for bit")
    parser.add_argument("--ignore-mismatched-sizes", action="store_true",
                        help="replace a checkpoint's head whose num_labels differs from the data's by a new one")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: numpy_bert's own threads; 0 = leave NumPy's setting)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run_finetune(args):
    """Entry point of ``numpy-bert finetune``; returns the exit code."""
    from numpy_bert.fast import set_blas_threads
    from numpy_bert.finetune import DEFAULTS, finetune
    from numpy_bert.utils import keep_freed_memory

    if args.threads and args.threads > 0:
        set_blas_threads(args.threads)
    keep_freed_memory()
    overrides = {key: getattr(args, key, None) for key in DEFAULTS}   # None: the default (clipping has no option)
    with warnings.catch_warnings():  # e.g. the new head's "newly initialized": one line each, as they come
        warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)
        finetune(args.model, args.train, args.eval, args.out, task=args.task, resume=args.resume,
                 ignore_mismatched_sizes=args.ignore_mismatched_sizes, quiet=args.quiet, **overrides)
    return 0


# --------------------------------------------------------------------------- course


def add_course_arguments(parser):
    sub = parser.add_subparsers(dest="course_command", metavar="{student,grade}", required=True)
    student = sub.add_parser("student", help="write the student version (stubs, no solutions) into OUT")
    student.add_argument("out", metavar="OUT", help="a new (or empty) directory for the student version")
    student.add_argument("--course", default=None,
                         help="the solution version to strip (default: the repository's course/)")
    grade = sub.add_parser("grade", help="grade a student's course directory: points and a message per exercise")
    grade.add_argument("directory", metavar="DIR", help="the student's directory (as written by 'course student')")
    grade.add_argument("--json", action="store_true",
                       help='print {"exercises": [{"id", "points", "max_points", "message"}], "total", "max_total"}')
    grade.add_argument("--manifest", default=None,
                       help="the course's manifest.json (default: the repository's course/manifest.json)")
    grade.add_argument("--seed", type=int, default=None, help="seed of the checks' random sizes (default: fresh)")
    grade.add_argument("--timeout", type=float, default=None, help="seconds per exercise (default 10)")
    grade.add_argument("--only", nargs="+", default=None, help="grade only exercises whose id starts so (e.g. a3)")
    grade.add_argument("--jobs", type=int, default=2, help="exercises graded at once, each in its own process (default 2)")


def run_course(args):
    from numpy_bert.course import default_course_dir, grader, student

    if args.course_command == "student":
        course = args.course or default_course_dir()
        written = student.write_student_version(course, args.out)
        print(f"wrote the student version of {course} into {args.out}: {len(written)} files")
        return 0
    timeout = grader.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    if timeout <= 0:
        raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    report = grader.grade_directory(args.directory, manifest=args.manifest, seed=args.seed,
                                    timeout=timeout, only=args.only, jobs=args.jobs)
    print(json.dumps(report, ensure_ascii=False) if args.json else grader.format_report(report))
    return 0


# --------------------------------------------------------------------------- the parser and main


def _fn_name(prefix, command):
    return prefix + command.replace("-", "_")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="numpy-bert",
        description="BERT in plain NumPy. Examples:\n"
        + "\n".join(f"  {example}" for _, _, example in COMMANDS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from numpy_bert import __version__

    parser.add_argument("--version", action="version", version=f"numpy_bert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, help_line, example in COMMANDS:
        add_arguments = globals()[_fn_name("add_", command) + "_arguments"]
        run = globals()[_fn_name("run_", command)]
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
        return 2 if isinstance(exc, DataError) else 1


if __name__ == "__main__":
    sys.exit(main())
