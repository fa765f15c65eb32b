"""Getting checkpoints: download from the model hub, find them on disk.

Two jobs, both with the standard library only:

1. ``download("bert-base-cased")`` fetches the four files a BERT checkpoint needs
   (``config.json``, ``vocab.txt``, ``tokenizer_config.json``,
   ``model.safetensors``) from ``https://huggingface.co/<repo>/resolve/<revision>/<file>``
   into the cache (``$NUMPY_BERT_HOME``, default ``~/.cache/numpy_bert``). Each file
   is streamed into a temporary file in the target directory, checked (byte count
   against ``Content-Length``, size and SHA-256 against the known values, and its
   content: config.json parsed and validated, vocab.txt's line count against its
   vocab_size, a safetensors header that accounts for every byte), and only then moved
   into place with ``os.replace``. A download that is cut off, corrupt, too slow or
   answered by a server that does not speak HTTP properly raises ``DownloadError``
   naming the URL, the file and what to do, and never leaves a file under its final
   name. A small record (``.verified.json``) remembers what was checked, so a second
   run skips files that are already there and unchanged without asking the server
   again. Which files are trusted on first download, and how the record is kept:
   "what a file is checked against" below.

2. ``resolve_model(name_or_path)`` turns what a user typed into a directory in
   HuggingFace layout, and says which model it picked:

       >>> path, message = resolve_model()         # bert-base-cased if downloaded,
       >>> print(message)                          # else the shipped small model
       using the small model shipped in weights/numpy-bert-tiny (bert-base-cased is not
       downloaded: numpy-bert download bert-base-cased)

Proxies from the environment (``HTTPS_PROXY``, ``NO_PROXY``...) are honoured:
``urllib.request.build_opener`` always installs a ``ProxyHandler`` that reads them.
"""

import contextlib
import functools
import hashlib
import http.client
import json
import math
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from numpy_bert.config import _INT_FIELDS as SIZE_FIELDS  # the sizes every BERT config.json gives
from numpy_bert.config import BertConfig
from numpy_bert.tokenization import load_vocab
from numpy_bert.utils import atomic_write, new_file_mode
from numpy_bert.weights import _no_duplicate_keys  # refuses a name given twice in one object
from numpy_bert.weights import read_safetensors_header

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = REPO_ROOT / "weights"
SHIPPED_MODEL_NAME = "numpy-bert-tiny"
SHIPPED_MODEL_DIR = WEIGHTS_DIR / SHIPPED_MODEL_NAME
DEFAULT_MODEL = "bert-base-cased"
DEFAULT_HUB_URL = "https://huggingface.co"

# Files a model directory must hold to be loaded, and the optional one.
REQUIRED_FILES = ("config.json", "vocab.txt", "model.safetensors")
OPTIONAL_FILES = ("tokenizer_config.json",)

# The record of verified files kept next to them.
RECORD_NAME = ".verified.json"

# Checkpoints `download` knows, pinned to one revision of their hub repository.
#
# Provenance (the hub itself cannot be reached from where this table was written):
# - revision cd5ef92a9fb2f889e972770a36d4ed042daf221e is the head of
#   google-bert/bert-base-cased ("Updates the tokenizer configuration file (#10)"),
#   from the hub's file listing https://huggingface.co/google-bert/bert-base-cased/tree/cd5ef92a9fb2f889e972770a36d4ed042daf221e
# - the same listing gives config.json = 570 bytes and tokenizer_config.json = 49
#   bytes exactly (files under 1 kB are listed in bytes); vocab.txt (213 kB) and
#   model.safetensors (436 MB) are listed rounded, so their exact size is not pinned.
# - No published SHA-256 of any of the four files could be found in a source we could
#   read (not in this repository, not in the model card), so none is pinned here
#   (sha256 None); we do not write down a hash we have not seen from a source. `download`
#   then checks the model.safetensors bytes against the LFS SHA-256 the hub sends with
#   the file (X-Linked-Etag / ETag headers, 64 hex digits for LFS files), checks every
#   file against Content-Length and its content, and records the hash it saw on first
#   download: later runs re-verify against that record (see "what a file is checked
#   against" below for which files that leaves trusted on first download).
KNOWN_MODELS = {
    "bert-base-cased": {
        "repo": "google-bert/bert-base-cased",
        "revision": "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
        "files": {
            "config.json": {"size": 570, "sha256": None},
            "vocab.txt": {"size": None, "sha256": None},
            "tokenizer_config.json": {"size": 49, "sha256": None},
            "model.safetensors": {"size": None, "sha256": None},
        },
    },
}

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(OSError):
    """A file could not be fetched or failed verification (nothing was kept)."""


# --------------------------------------------------------------------------- paths


def cache_dir():
    """Where downloaded checkpoints live: ``$NUMPY_BERT_HOME`` or ``~/.cache/numpy_bert``."""
    home = os.environ.get("NUMPY_BERT_HOME")
    if home:
        return Path(home).expanduser()
    return Path("~/.cache/numpy_bert").expanduser()


_default_cache_dir = cache_dir  # `download` has an argument of the same name


def _display(path):
    """A path relative to the source checkout when inside it (shorter messages)."""
    path = Path(path)
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(REPO_ROOT))
    return str(path)


def check_model_dir(path):
    """Raise ValueError naming the first required file missing from ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"model directory {path} does not exist")
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise ValueError(
                f"model directory {path} is missing {name} (a model directory in HuggingFace "
                f"layout needs {', '.join(REQUIRED_FILES)})"
            )
    return path


def _candidates(name):
    """Directories where a model called ``name`` may live, in lookup order."""
    if name == SHIPPED_MODEL_NAME:
        return [SHIPPED_MODEL_DIR]
    return [cache_dir() / name, WEIGHTS_DIR / name]


def _find_known(name):
    """The first candidate directory of ``name`` holding every required file, or None."""
    for candidate in _candidates(name):
        if all((candidate / f).is_file() for f in REQUIRED_FILES):
            return candidate
    return None


def resolve_model(name_or_path=None):
    """Turn a model name or directory into ``(path, message)``.

    - ``None``: bert-base-cased when downloaded, else the small model shipped in
      ``weights/numpy-bert-tiny``; ``message`` says which.
    - a directory: used as is, after checking it holds config.json, vocab.txt and
      model.safetensors.
    - a known name (``bert-base-cased``, ``google-bert/bert-base-cased``,
      ``numpy-bert-tiny``, or any directory name under the cache): looked up in
      ``$NUMPY_BERT_HOME`` (default ``~/.cache/numpy_bert``), then in ``weights/``.

    Unknown names raise ValueError listing the paths tried and the download command.
    """
    if name_or_path is None:
        found = _find_known(DEFAULT_MODEL)
        if found is not None:
            return found, f"using {DEFAULT_MODEL} from {_display(found)}"
        if SHIPPED_MODEL_DIR.is_dir():
            check_model_dir(SHIPPED_MODEL_DIR)
            return SHIPPED_MODEL_DIR, (
                f"using the small model shipped in {_display(SHIPPED_MODEL_DIR)} "
                f"({DEFAULT_MODEL} is not downloaded: numpy-bert download {DEFAULT_MODEL})"
            )
        tried = _candidates(DEFAULT_MODEL) + [SHIPPED_MODEL_DIR]
        raise ValueError(
            f"no model found (tried {', '.join(map(str, tried))}); "
            f"download one with: numpy-bert download {DEFAULT_MODEL}"
        )

    text = os.fspath(name_or_path)
    if not text.strip():
        raise ValueError("the model name is empty; give a directory or a name such as bert-base-cased")
    path = Path(text).expanduser()
    if path.is_dir():
        return check_model_dir(path), f"using the model in {_display(path)}"

    name = text
    for known, entry in KNOWN_MODELS.items():
        if text == entry["repo"]:
            name = known
    if name == text and (os.sep in text or "/" in text or text.startswith((".", "~"))):
        raise ValueError(
            f"model directory {text} does not exist; give a directory in HuggingFace layout "
            f"(config.json, vocab.txt, model.safetensors) or a name such as {DEFAULT_MODEL} "
            f"(download with: numpy-bert download {DEFAULT_MODEL})"
        )
    candidates = _candidates(name)
    for candidate in candidates:
        if candidate.is_dir():
            try:
                check_model_dir(candidate)
            except ValueError as exc:
                hint = f"; complete it with: numpy-bert download {name}" if name in KNOWN_MODELS else ""
                raise ValueError(f"{exc}{hint}") from None
            return candidate, f"using {name} from {_display(candidate)}"
    tried = ", ".join(str(c) for c in candidates)
    if name in KNOWN_MODELS:
        raise ValueError(f"{name} is not downloaded (tried {tried}); get it with: numpy-bert download {name}")
    known = ", ".join(sorted(KNOWN_MODELS) + [SHIPPED_MODEL_NAME])
    raise ValueError(
        f"unknown model {text!r}: not a directory, and not found under the names tried ({tried}). "
        f"Give a directory in HuggingFace layout, or one of: {known} "
        f"(download with: numpy-bert download {DEFAULT_MODEL})"
    )


# --------------------------------------------------------------------------- download
#
# Time limits (seconds). `download` and `download_file` take them as keyword arguments,
# `numpy-bert download` as --timeout, --stall-timeout and --deadline:
DEFAULT_TIMEOUT = 30  # to connect, and for the server to send its status and headers
DEFAULT_STALL_TIMEOUT = 60  # for the next byte of the file, once its body has started
DEFAULT_DEADLINE = 3600  # for the whole download (436 MB of bert-base-cased: at least 0.13 MB/s); 0 or None: none

# The most bytes a checkpoint's small files (config.json, vocab.txt, tokenizer_config.json)
# may have: they are read whole to be checked. bert-base-cased's vocab.txt has 213 kB; the
# largest BERT vocabularies (250,000 tokens) about 5 MB.
SMALL_FILE_MAX_BYTES = 16 * 2**20

# What each error message ends with: what is left on disk, and what to do.
_FIX_AGAIN = "nothing of it was kept; run the command again (files already verified are not fetched again)"
_FIX_LATER = "nothing of it was kept; the server failed: run the command again later (files already verified are kept)"
_FIX_SERVER = ("nothing of it was kept; the server does not answer as the model hub does: check --hub-url "
               "($NUMPY_BERT_HUB_URL) and any proxy ($HTTPS_PROXY), or try again later")
_FIX_CONTENT = ("nothing of it was kept; the server sent a damaged or wrong file: run the command again, and if "
                "it fails the same way check --hub-url ($NUMPY_BERT_HUB_URL) and any proxy ($HTTPS_PROXY)")
_FIX_NETWORK = ("nothing of it was kept; check the network and --hub-url ($NUMPY_BERT_HUB_URL), behind a proxy "
                "set HTTPS_PROXY, then run the command again")
_FIX_TLS = ("nothing of it was kept; check the system clock and CA certificates, or a proxy that intercepts "
            "TLS ($HTTPS_PROXY), then run the command again")


def _fix_time(option):
    return f"nothing of it was kept; run the command again, or allow more time with {option}"


def _one_line(text, limit=200):
    """Server-sent text made safe for a one-line message: no control characters, at most ``limit`` chars."""
    text = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failure(filename, url, what, fix):
    return DownloadError(f"could not download {filename} from {url}: {_one_line(what, 600)}; {fix}")


def _file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------- what a file is checked against
#
# The SHA-256 of every downloaded file is compared with the first of these that exists;
# the record (.verified.json, next to the files) keeps which one as "checked_against":
#
#   "pinned"    the sha256 written in KNOWN_MODELS, in this file.
#   "hub"       the SHA-256 the hub sends for a Git LFS file: X-Linked-Etag on its
#               redirect to storage, or the ETag of its own answer (64 hex digits). As
#               trustworthy as the TLS connection to the hub.
#   "recorded"  the SHA-256 in .verified.json from the file's first download: a file
#               fetched again (deleted or changed on disk) must be the very same bytes,
#               since the revision is a commit and a commit's files never change.
#   "first download"  nothing to compare with: the file is trusted on first download
#               (TOFU) once its content checks below pass, and its SHA-256 is recorded;
#               every later run and every later download of it is held to that record.
#
# For bert-base-cased no SHA-256 is pinned (see KNOWN_MODELS), so:
#   - model.safetensors is checked against the hub's LFS SHA-256 ("hub"), and its header
#     must account for every byte;
#   - config.json, vocab.txt and tokenizer_config.json are not LFS files, the hub sends no
#     SHA-256 for them: they are trusted on first download, after their size (config.json
#     570 bytes, tokenizer_config.json 49) and content checks.
#
# The record: {file: {"size", "sha256", "checked_against", "mtime_ns", "url"}}, written
# atomically after each file is in place. A later run trusts a file whose size and
# modification time match its record, re-hashes one whose do not, re-runs the content
# checks of every file (cheap: model.safetensors's check reads its header only), and fetches
# again whatever fails. A record entry whose file fails its content check is dropped:
# it was written by an older numpy_bert that did not check (a truncated vocab.txt was
# recorded so), and the file is fetched again as on a first download.


def _strict_json(path):
    """The JSON object in ``path``, read strictly (RFC 8259): UTF-8, no NaN or Infinity, no name twice.

    Python's json module accepts NaN, Infinity and -Infinity, which no other JSON parser
    does, and keeps the last of two equal names; a checkpoint file with either is refused.
    """

    def no_constant(name):
        raise ValueError(f"{name} is not JSON: strict JSON has no NaN or Infinity")

    raw = Path(path).read_bytes()
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=no_constant, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as exc:
        raise ValueError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the file is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the file is not strict JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"the file holds a JSON {type(value).__name__}, not an object")
    return value


def _check_config(path, learned):
    """config.json: a strict JSON object with every size field, that BertConfig accepts."""
    config = _strict_json(path)
    missing = [name for name in SIZE_FIELDS if name not in config]
    if missing:
        raise ValueError(f"the file lacks {', '.join(missing)} (not a BERT config.json)")
    try:
        BertConfig.from_dict(config)  # types and ranges of every field numpy_bert reads
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the file is not a usable BERT config ({exc})") from None
    learned["vocab_size"] = config["vocab_size"]


def _check_vocab(path, learned):
    """vocab.txt: what load_vocab accepts, with exactly config.json's vocab_size lines.

    Exactly: a checkpoint in KNOWN_MODELS has one line per row of its embedding matrix
    (bert-base-cased: 28996). Loading a model tolerates fewer lines, as transformers does
    (a matrix padded for speed); a download does not, since fewer lines is also what a
    vocab.txt cut short looks like.
    """
    try:
        vocab = load_vocab(path)  # UTF-8, no blank line, no token twice, [UNK] present
    except ValueError as exc:
        detail = str(exc).replace(f"{path}, ", "").replace(f"{path}: ", "")
        raise ValueError(f"the file is not a usable vocab.txt ({detail})") from None
    expected = learned.get("vocab_size")
    if expected is not None and len(vocab) != expected:
        raise ValueError(f"the file has {len(vocab)} tokens but config.json says vocab_size {expected} "
                         f"(cut short, or not this model's vocab)")


# tokenizer_config.json fields that BertTokenizer.from_pretrained reads, and their JSON types
_TOKENIZER_OPTIONS = {"do_lower_case": (bool,), "tokenize_chinese_chars": (bool,), "strip_accents": (bool, type(None))}
_SPECIAL_TOKENS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _check_tokenizer_config(path, learned):
    """tokenizer_config.json: a strict JSON object whose fields read by the tokenizer have their types."""
    config = _strict_json(path)
    for key, types in _TOKENIZER_OPTIONS.items():
        if key in config and not isinstance(config[key], types):
            kinds = " or ".join("null" if t is type(None) else "true/false" for t in types)
            raise ValueError(f"the file's {key} is {config[key]!r}, it must be {kinds}")
    length = config.get("model_max_length")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length <= 0):
        raise ValueError(f"the file's model_max_length is {length!r}, it must be a positive integer")
    for key in _SPECIAL_TOKENS:
        token = config.get(key)
        if isinstance(token, dict):  # {"content": "[UNK]", ...}, as transformers writes an AddedToken
            token = token.get("content")
        if key in config and not (isinstance(token, str) and token):
            raise ValueError(f"the file's {key} is {config[key]!r}, it must be a token (a non-empty string)")


def _check_safetensors(path, learned=None):
    """model.safetensors: a header that weights.read_safetensors_header accepts.

    That reader checks every entry (dtype, shape, offsets) and that the tensors tile the
    data exactly, up to the last byte of the file: a truncated file is caught even when
    no hash is known. It reads the header only, not the 436 MB of data.
    """
    try:
        read_safetensors_header(path)
    except ValueError as exc:
        detail = str(exc).replace(f"{path}: ", "")
        raise ValueError(f"the file is not a usable safetensors file ({detail})") from None


# The content check of each file a checkpoint has: check(path, learned) raises ValueError
# saying what is wrong; `learned` carries what one file tells about the next (config.json,
# downloaded first, gives vocab.txt its vocab_size).
CONTENT_CHECKS = {
    "config.json": _check_config,
    "vocab.txt": _check_vocab,
    "tokenizer_config.json": _check_tokenizer_config,
    "model.safetensors": _check_safetensors,
}


def _read_record(directory):
    try:
        with open(directory / RECORD_NAME, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(directory, record):
    with atomic_write(directory / RECORD_NAME, mode="w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")


def _already_verified(path, entry, expected):
    """True when ``path`` matches its record (and the pinned values, if any).

    Size and modification time unchanged since verification: trust the recorded
    hash; otherwise hash the file again.
    """
    if not path.is_file() or not isinstance(entry, dict):
        return False
    stat = path.stat()
    if expected.get("size") is not None and stat.st_size != expected["size"]:
        return False
    if entry.get("size") != stat.st_size:
        return False
    recorded = entry.get("sha256")
    if expected.get("sha256") is not None and recorded != expected["sha256"]:
        return False
    if entry.get("mtime_ns") == stat.st_mtime_ns:
        return True
    return _file_sha256(path) == recorded


# ------------------------------------------------------------------- the transfer itself


class _Limits:
    """The three time limits of one download; the deadline counts from the moment this is made."""

    def __init__(self, timeout=DEFAULT_TIMEOUT, stall_timeout=DEFAULT_STALL_TIMEOUT, deadline=DEFAULT_DEADLINE):
        for name, value in (("timeout", timeout), ("stall_timeout", stall_timeout), ("deadline", deadline)):
            if name == "deadline" and value is None:
                continue
            option = f"{name} (--{name.replace('_', '-')})"
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{option} must be a number of seconds, got {value!r}")
            if not (math.isfinite(value) and (value > 0 or (name == "deadline" and value == 0))):
                none = " (or 0 for no deadline)" if name == "deadline" else ""
                raise ValueError(f"{option} must be a positive number of seconds{none}, got {value:g}")
        self.timeout, self.stall_timeout = float(timeout), float(stall_timeout)
        self.deadline = float(deadline) if deadline else None
        self.deadline_at = None if self.deadline is None else time.monotonic() + self.deadline

    def left(self):
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline_at is None else self.deadline_at - time.monotonic()


def _size(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


class _Watch:
    """A second thread beside one file's transfer: the progress line on a timer, and the deadline.

    The transfer (main thread) only reads, writes and counts bytes. Every ``tick`` seconds
    this thread prints the progress line on stderr, ``vocab.txt  42% 89.6 kB of 213.5 kB
    12.0 kB/s``, with ``(no data for 7 s)`` during a silence, so a body that trickles or
    stops still shows where it is. Once the deadline has passed it shuts down the sockets
    of the transfer, which ends at once any read blocked on them, and sets ``expired``.
    The stall timeout needs no thread: it is the sockets' timeout once the body started.
    """

    def __init__(self, label, limits, progress):
        self.label, self.limits, self.progress = label, limits, progress
        self.sockets = []  # every socket opened for this file (each redirect opens one)
        self.total = None  # bytes expected, once known
        self.done = 0  # bytes of the body received
        self.body_started = False  # the status and headers came (then a silence is a stall)
        self.start = self.last_byte = time.monotonic()
        self.expired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"download {label}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        if self.progress:
            self._print(final=True)

    def connected(self, sock):
        """Called by the connection once its socket is connected (see _HandsOverItsSocket)."""
        self.sockets.append(sock)
        if self.expired:
            self._shut()

    def received(self, n):
        self.done += n
        self.last_byte = time.monotonic()

    def _run(self):
        tick = min(0.5, self.limits.stall_timeout / 4)
        while not self._stop.wait(tick):
            left = self.limits.left()
            if left is not None and left <= 0 and not self.expired:
                self.expired = True
                self._shut()
            if self.progress:
                self._print()

    def _shut(self):
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _print(self, final=False):
        now = time.monotonic()
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            bar = f"{100 * self.done / self.total:3.0f}% {_size(self.done)} of {_size(self.total)}"
        else:
            bar = _size(self.done)
        line = f"  {self.label:<24} {bar}  {_size(rate)}/s"
        silence = now - self.last_byte
        if not final and silence >= 1:
            line += f"  (no data for {silence:.0f} s)"
        sys.stderr.write(f"\r{line:<76}" + ("\n" if final else ""))
        sys.stderr.flush()


class _HandsOverItsSocket:
    """Mixin for http.client connections: give the connected socket to ``on_connect`` (a _Watch)."""

    def __init__(self, *args, on_connect, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_connect = on_connect

    def connect(self):
        super().connect()
        self._on_connect(self.sock)


class _HTTPConnection(_HandsOverItsSocket, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_HandsOverItsSocket, http.client.HTTPSConnection):
    pass


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch):
        super().__init__()
        self._watch = watch

    def http_open(self, req):
        return self.do_open(_HTTPConnection, req, on_connect=self._watch.connected)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch):
        super().__init__()
        self._watch = watch

    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context, on_connect=self._watch.connected)


class _RedirectRecorder(urllib.request.HTTPRedirectHandler):
    """Follows redirects as usual, remembering the hub's headers on the way.

    The hub answers a resolve URL for a large file with a redirect to its storage and
    sends ``X-Linked-Etag`` (the LFS SHA-256) and ``X-Linked-Size`` with that redirect,
    not with the final response. urllib gives up after 10 redirects, or on a loop.
    """

    def __init__(self, url):
        super().__init__()
        self.headers = {}
        self.redirected = False
        self.url = url  # where the last request went (errors name that host)

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.redirected = True
        self.url = newurl
        for key in ("X-Linked-Etag", "X-Linked-Size"):
            if headers.get(key) and key not in self.headers:
                self.headers[key] = headers[key]
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _hash_from_etag(value):
    value = (value or "").strip()
    if value.startswith("W/"):
        return None  # a weak ETag is no content hash
    value = value.strip('"').lower()
    return value if _SHA256_RE.match(value) else None


_DIGITS = re.compile(r"^[0-9]+$")


def _announced_length(response):
    """The body's length from Content-Length; None when chunked or not sent; ValueError when invalid.

    http.client ignores an invalid Content-Length ("abc", "-1", two different values) and
    reads until the connection closes; a download refuses it instead.
    """
    if response.chunked:
        return None
    values = response.headers.get_all("Content-Length") or []
    parts = [part.strip() for value in values for part in value.split(",")]
    if not parts:
        return None
    if not all(_DIGITS.match(part) for part in parts) or len({int(part) for part in parts}) != 1:
        raise ValueError(f"the server sent an invalid Content-Length ({', '.join(map(repr, values))})")
    return int(parts[0])


def _more_after_body(response, sock, wait):
    """True when the server sent bytes past its Content-Length (http.client would drop them silently).

    We asked for ``Connection: close``: after the body a server closes, and the read below
    sees the end at once. A server that keeps the connection open costs ``wait`` seconds.
    """
    if response.fp is None or sock is None:
        return False
    sock.settimeout(wait)
    try:
        return bool(response.fp.peek(1))
    except OSError:  # timeout, reset: nothing more came
        return False


def _explain(exc, watch, limits, netloc):
    """(what went wrong, what to do) for an exception of the HTTP exchange."""
    got = f"after {watch.done} byte{'s' if watch.done > 1 else ''}" if watch.done else "before any byte of the file"
    if watch.expired:
        return (f"the download did not finish within its deadline of {limits.deadline:g} s ({got})",
                _fix_time("--deadline SECONDS (0: no deadline)"))
    if isinstance(exc, urllib.error.HTTPError):
        reason = _one_line(exc.reason, 120)
        if 300 <= exc.code < 400:
            if "infinite loop" in str(exc.reason):
                return f"the server redirects in a loop, or more than {_RedirectRecorder.max_redirections} times " \
                       f"(HTTP {exc.code})", _FIX_SERVER
            return f"bad redirect (HTTP {exc.code}: {reason})", _FIX_SERVER
        if exc.code >= 500:
            return f"HTTP {exc.code} {reason}", _FIX_LATER
        return f"HTTP {exc.code} {reason}", _FIX_SERVER
    if isinstance(exc, urllib.error.URLError):  # raised while connecting and sending the request
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            return f"TLS error ({reason})", _FIX_TLS
        if isinstance(reason, TimeoutError):
            return f"could not connect to {netloc} within {limits.timeout:g} s", _fix_time("--timeout SECONDS")
        return f"could not reach {netloc} ({reason})", _FIX_NETWORK
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc}) {got}", _FIX_TLS
    if isinstance(exc, TimeoutError):
        if watch.body_started:
            return (f"no data for {limits.stall_timeout:g} s {got} (stall timeout)",
                    _fix_time("--stall-timeout SECONDS"))
        return f"no answer from {netloc} within {limits.timeout:g} s", _fix_time("--timeout SECONDS")
    if isinstance(exc, http.client.RemoteDisconnected):
        return f"{netloc} closed the connection without answering", _FIX_AGAIN
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed {got}, before the end of the file", _FIX_AGAIN
    if isinstance(exc, http.client.LineTooLong):
        return f"the server's answer is not HTTP as it should be: {exc}", _FIX_SERVER
    if isinstance(exc, http.client.BadStatusLine):
        first_line = _one_line(repr(str(exc.line).strip()), 80)
        return f"the server's answer is not HTTP (its first line is {first_line})", _FIX_SERVER
    if isinstance(exc, http.client.HTTPException):  # among them "got more than 100 headers"
        return f"the server's answer is not HTTP as it should be ({type(exc).__name__}: {exc})", _FIX_SERVER
    if isinstance(exc, ConnectionError):
        return f"the connection broke {got} ({exc.strerror or exc})", _FIX_AGAIN
    return f"{type(exc).__name__}: {exc} ({got})", _FIX_AGAIN


def _transfer(url, out, watch, limits, expected_size, max_size, fail):
    """Fetch ``url``, writing the body to ``out``; return ``(bytes, sha256, hash sent by the hub)``.

    Reading stops as soon as the body is longer than the file can be (``expected_size``,
    else the hub's X-Linked-Size, else ``max_size``): a server cannot fill the disk.
    """
    recorder = _RedirectRecorder(url)
    # build_opener keeps its default handlers, ProxyHandler (environment proxies)
    # included; ours replace the redirect, HTTP and HTTPS handlers.
    opener = urllib.request.build_opener(recorder, _WatchedHTTPHandler(watch), _WatchedHTTPSHandler(watch))
    request = urllib.request.Request(url, headers={"User-Agent": "numpy_bert-download",
                                                   "Accept-Encoding": "identity"})
    digest = hashlib.sha256()
    try:
        with opener.open(request, timeout=limits.timeout) as response:
            if response.status != 200:  # urllib passes any 2xx; we never asked for a part (206)
                raise fail(f"unexpected answer HTTP {response.status} {_one_line(response.reason, 80)}", _FIX_SERVER)
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise fail(f"the server sent the file encoded ({_one_line(encoding, 40)}) although asked "
                           f"not to", _FIX_SERVER)
            try:
                length = _announced_length(response)
            except ValueError as exc:
                raise fail(str(exc), _FIX_SERVER) from None
            linked = recorder.headers.get("X-Linked-Size", "")
            linked_size = int(linked) if _DIGITS.match(linked.strip()) else None
            name = Path(urllib.parse.urlsplit(url).path).name
            if length is not None and expected_size is not None and length != expected_size:
                raise fail(f"{name} has {length} bytes, expected {expected_size} (the server's Content-Length)",
                           _FIX_CONTENT)
            if length is not None and linked_size is not None and length != linked_size:
                raise fail(f"the storage server announces {length} bytes, the hub {linked_size}", _FIX_CONTENT)
            watch.total = length or linked_size or expected_size
            most = next((n for n in (expected_size, linked_size, max_size) if n is not None), None)
            if length is not None and most is not None and length > most:
                raise fail(f"the server announces {length} bytes, more than {name} can have ({most})", _FIX_CONTENT)
            sock = watch.sockets[-1] if watch.sockets else None
            if sock is not None:
                sock.settimeout(limits.stall_timeout)  # from now on a silence this long is a stall
            watch.body_started = True
            while not watch.expired:
                block = response.read1(1 << 16)
                if not block:
                    break
                out.write(block)
                digest.update(block)
                watch.received(len(block))
                if most is not None and watch.done > most:
                    raise fail(f"the server sent more than {most} bytes, more than {name} can have", _FIX_CONTENT)
            if watch.expired:
                raise OSError("deadline")  # explained by _explain
            done = watch.done
            if length is not None and done < length:
                raise fail(f"{name} was cut off: got {done} of {length} bytes", _FIX_AGAIN)
            if length is not None and _more_after_body(response, sock, min(1.0, limits.stall_timeout)):
                raise fail(f"the server sent more than the {length} bytes its Content-Length announced "
                           f"(the length is wrong, the file would be cut short)", _FIX_CONTENT)
            if linked_size is not None and done != linked_size:
                raise fail(f"{name} has {done} bytes, the hub announced {linked_size}", _FIX_CONTENT)
            if expected_size is not None and done != expected_size:
                raise fail(f"{name} has {done} bytes, expected {expected_size}", _FIX_CONTENT)
            # The hub's hash: X-Linked-Etag on its redirect to storage; or, when the hub
            # answered itself (no redirect), its ETag. A storage server's ETag is not trusted.
            etag = recorder.headers.get("X-Linked-Etag") if recorder.redirected else response.headers.get("ETag")
            return done, digest.hexdigest(), _hash_from_etag(etag)
    except DownloadError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError and HTTPError are OSErrors; so are timeouts, resets and ssl.SSLError
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()
        what, fix = _explain(exc, watch, limits, urllib.parse.urlsplit(recorder.url).netloc)
        raise fail(what, fix) from None


def _fetch(url, dest, limits, progress, expected_size=None, expected_sha256=None, expected_from="pinned",
           check=None, max_size=None):
    """Fetch ``url`` into ``dest`` through a temporary file; return ``(size, sha256, checked_against)``."""
    dest = Path(dest)
    fail = functools.partial(_failure, dest.name, url)
    left = limits.left()
    if left is not None and left <= 0:
        raise fail(f"the deadline of {limits.deadline:g} s passed before it started",
                   _fix_time("--deadline SECONDS (0: no deadline)"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        os.chmod(tmp, new_file_mode())  # as atomic_write does: mkstemp's 0600 -> what open() gives
        with os.fdopen(fd, "wb") as out:
            fd = None
            with _Watch(dest.name, limits, progress) as watch:
                size, sha256, hub_hash = _transfer(url, out, watch, limits, expected_size, max_size, fail)
            out.flush()
            os.fsync(out.fileno())
        if expected_sha256 is not None:
            reference, checked = expected_sha256, expected_from
        elif hub_hash is not None:
            reference, checked = hub_hash, "hub"
        else:
            reference, checked = sha256, "first download"
        if sha256 != reference:
            fix = _FIX_CONTENT
            if checked == "recorded":
                fix = (f"nothing of it was kept; for the same revision the server now sends other bytes than "
                       f"at the first download (recorded in {dest.parent / RECORD_NAME}): if you trust the new "
                       f"file, delete that record and run the command again")
            raise fail(f"{dest.name} is corrupt: SHA-256 {sha256}, expected {reference} ({checked})", fix)
        if check is not None:
            try:
                check(tmp)
            except ValueError as exc:
                raise fail(f"{dest.name} failed its check: {exc}", _FIX_CONTENT) from None
        os.replace(tmp, dest)
        return size, sha256, checked
    except BaseException:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def download_file(url, dest, expected_size=None, expected_sha256=None, progress=True, timeout=DEFAULT_TIMEOUT,
                  stall_timeout=DEFAULT_STALL_TIMEOUT, deadline=DEFAULT_DEADLINE, check=None, max_size=None):
    """Fetch ``url`` into ``dest`` through a temporary file; return ``(size, sha256, checked)``.

    ``checked`` says what the SHA-256 was compared with ("pinned", "hub" or "first
    download"). ``timeout``: seconds to connect and for the status and headers;
    ``stall_timeout``: seconds without a byte of the body; ``deadline``: seconds for the
    whole call (0 or None: none). ``check(path)`` may test the content before it is kept
    (raising ValueError); ``max_size`` bounds a body of unknown length. Every failure raises DownloadError (an OSError) naming the URL,
    the file and what to do, and leaves no file behind.
    """
    return _fetch(url, dest, _Limits(timeout, stall_timeout, deadline), progress, expected_size, expected_sha256,
                  check=check, max_size=max_size)


def _check_hub_url(base):
    parts = urllib.parse.urlsplit(base)
    try:
        valid = parts.scheme in ("https", "http") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number in 0..65535
        valid = False
    if not valid:
        raise ValueError(f"hub URL {base!r} is not an http(s) URL; give one such as {DEFAULT_HUB_URL} "
                         f"(--hub-url or $NUMPY_BERT_HUB_URL)")


def download(name=DEFAULT_MODEL, cache_dir=None, base_url=None, progress=True, timeout=DEFAULT_TIMEOUT,
             stall_timeout=DEFAULT_STALL_TIMEOUT, deadline=DEFAULT_DEADLINE):
    """Download a known checkpoint into ``<cache_dir>/<name>/`` and return that directory.

    ``cache_dir`` defaults to :func:`cache_dir` (``$NUMPY_BERT_HOME`` or
    ``~/.cache/numpy_bert``); ``base_url`` to ``$NUMPY_BERT_HUB_URL`` or
    https://huggingface.co. Files already verified are skipped without a request.

    Time limits, in seconds: ``timeout`` to connect and for the server's status and
    headers (default 30), ``stall_timeout`` without a byte of a file's body (60), and
    ``deadline`` for the whole call (3600; 0 or None: none). Every file is checked before
    it is kept (see "what a file is checked against" above): config.json first, so that
    vocab.txt can be held to its vocab_size. Failures raise DownloadError (an OSError)
    naming the URL, the file and what to do; files verified before it are kept.
    """
    if name not in KNOWN_MODELS:
        aliases = {entry["repo"]: key for key, entry in KNOWN_MODELS.items()}
        if name not in aliases:
            raise ValueError(f"unknown model {name!r}; numpy-bert can download: {', '.join(sorted(KNOWN_MODELS))}")
        name = aliases[name]
    limits = _Limits(timeout, stall_timeout, deadline)
    base = (base_url or os.environ.get("NUMPY_BERT_HUB_URL") or DEFAULT_HUB_URL).rstrip("/")
    _check_hub_url(base)
    entry = KNOWN_MODELS[name]
    root = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    target = root / name
    target.mkdir(parents=True, exist_ok=True)

    record = _read_record(target)
    learned = {}  # what checked files tell about the next ones (config.json's vocab_size)
    for filename, expected in entry["files"].items():
        dest = target / filename
        check = CONTENT_CHECKS.get(filename)
        check = functools.partial(check, learned=learned) if check is not None else None
        if _already_verified(dest, record.get(filename), expected):
            try:
                if check is not None:
                    check(dest)
            except ValueError as exc:
                # recorded as verified by a numpy_bert that did not check its content
                if progress:
                    print(f"  {filename:<24} is damaged ({_one_line(exc, 120)}): downloading it again",
                          file=sys.stderr)
                record.pop(filename)
            else:
                if progress:
                    print(f"  {filename:<24} already downloaded and verified", file=sys.stderr)
                continue
        # a download killed outright (no chance to clean up) left its temporary file
        for stale in target.glob(f".{filename}.*.part"):
            with contextlib.suppress(OSError):
                stale.unlink()
        url = f"{base}/{entry['repo']}/resolve/{entry['revision']}/{filename}"
        recorded = record.get(filename, {}).get("sha256") if isinstance(record.get(filename), dict) else None
        if expected.get("sha256") is not None:
            reference, source = expected["sha256"], "pinned"
        elif isinstance(recorded, str) and _SHA256_RE.match(recorded):
            reference, source = recorded, "recorded"
        else:
            reference, source = None, None
        most = None if filename.endswith(".safetensors") else SMALL_FILE_MAX_BYTES
        size, sha256, checked = _fetch(url, dest, limits, progress, expected.get("size"), reference, source,
                                       check=check, max_size=most)
        stat = dest.stat()
        record[filename] = {
            "size": size,
            "sha256": sha256,
            "checked_against": checked,
            "mtime_ns": stat.st_mtime_ns,
            "url": url,
        }
        _write_record(target, record)
    return target
