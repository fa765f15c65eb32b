"""Getting checkpoints: download from the model hub, find them on disk.

Two jobs, both with the standard library only:

1. ``download("bert-base-cased")`` fetches the four files a BERT checkpoint needs
   (``config.json``, ``vocab.txt``, ``tokenizer_config.json``,
   ``model.safetensors``) from ``https://huggingface.co/<repo>/resolve/<revision>/<file>``
   into the cache (``$NUMPY_BERT_HOME``, default ``~/.cache/numpy_bert``). Each file
   is streamed into a temporary file in the target directory, checked (byte count
   against ``Content-Length``, size and SHA-256 against the known values), and only
   then moved into place with ``os.replace``. A download that is cut off or corrupt
   therefore never leaves a file under its final name. A small record
   (``.verified.json``) remembers what was checked, so a second run skips files that
   are already there and unchanged without asking the server again.

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
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from numpy_bert.utils import atomic_write

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
#   read, so none is recorded here (sha256 None). `download` then checks the
#   model.safetensors bytes against the LFS SHA-256 the hub sends with the file
#   (X-Linked-Etag / ETag headers, 64 hex digits for LFS files), checks every file
#   against Content-Length, checks that a .safetensors header accounts for every
#   byte of the file, and records the hash it saw on first download: later runs
#   re-verify against that record.
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
        if (path / name).is_dir():
            raise ValueError(f"model directory {path}: its {name} is a directory, not a file")
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
        if path.exists():
            raise ValueError(f"{text} is a file, not a model directory; give the directory that holds "
                             f"config.json, vocab.txt and model.safetensors")
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


def _file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _check_safetensors_layout(path):
    """A .safetensors file must end exactly where its header says its data ends.

    Format: 8-byte little-endian header length N, N bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, then the data.
    This catches a truncated file even when no hash is known.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DownloadError(f"{path.name}: only {size} bytes, too short for a safetensors file")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise DownloadError(f"{path.name}: header length {n} exceeds the file ({size} bytes)")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise DownloadError(f"{path.name}: the safetensors header is not valid JSON") from None
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise DownloadError(f"{path.name}: the safetensors header does not describe tensors") from None
    expected = 8 + n + max(ends, default=0)
    if expected != size:
        raise DownloadError(f"{path.name}: the header describes {expected} bytes but the file has {size}")


class _Progress:
    """A one-line progress bar on stderr: ``model.safetensors  42% 183.1/435.8 MB  21.4 MB/s``."""

    def __init__(self, label, total, enabled):
        self.label, self.total, self.enabled = label, total, enabled
        self.start = self.last = time.monotonic()

    def update(self, done, final=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9) / 1e6
        if self.total:
            bar = f"{100 * done / self.total:3.0f}% {done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        else:
            bar = f"{done / 1e6:.1f} MB"
        sys.stderr.write(f"\r  {self.label:<24} {bar}  {rate:.1f} MB/s ")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


class _RedirectRecorder(urllib.request.HTTPRedirectHandler):
    """Follows redirects as usual, remembering the hub's headers on the way.

    The hub answers a resolve URL for a large file with a redirect to its storage and
    sends ``X-Linked-Etag`` (the LFS SHA-256) and ``X-Linked-Size`` with that redirect,
    not with the final response.
    """

    def __init__(self):
        super().__init__()
        self.headers = {}
        self.redirected = False

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.redirected = True
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


def download_file(url, dest, expected_size=None, expected_sha256=None, progress=True, timeout=60):
    """Fetch ``url`` into ``dest`` through a temporary file; return ``(size, sha256, checked)``.

    ``checked`` says what the SHA-256 was compared with ("pinned", "hub" or
    "first download"). Raises DownloadError (an OSError) and leaves no file behind
    when the transfer fails, is cut short, or does not match.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    recorder = _RedirectRecorder()
    # build_opener keeps its default handlers, ProxyHandler (environment proxies)
    # included; ours replaces only the redirect handler.
    opener = urllib.request.build_opener(recorder)
    request = urllib.request.Request(url, headers={"User-Agent": "numpy_bert-download"})
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise DownloadError(
                f"could not reach {urllib.parse.urlsplit(url).netloc}: {exc.reason} "
                f"(behind a proxy? set HTTPS_PROXY)"
            ) from None
        with response, os.fdopen(fd, "wb") as out:
            fd = None
            header_length = response.headers.get("Content-Length")
            length = int(header_length) if header_length and header_length.isdigit() else None
            linked_size = recorder.headers.get("X-Linked-Size")
            total = length or (int(linked_size) if linked_size and linked_size.isdigit() else None)
            bar = _Progress(dest.name, total or expected_size, progress)
            digest, done = hashlib.sha256(), 0
            try:
                while True:
                    block = response.read(1 << 20)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    bar.update(done)
            except (OSError, ValueError) as exc:  # connection reset, http.client.IncompleteRead
                bar.update(done, final=True)
                raise DownloadError(f"download of {dest.name} failed after {done} bytes: {exc}") from None
            bar.update(done, final=True)
            out.flush()
            os.fsync(out.fileno())

        if length is not None and done != length:
            raise DownloadError(
                f"download of {dest.name} was cut off: got {done} of {length} bytes (run the command again)"
            )
        if linked_size and linked_size.isdigit() and done != int(linked_size):
            raise DownloadError(f"{dest.name} has {done} bytes, the hub announced {linked_size}")
        if expected_size is not None and done != expected_size:
            raise DownloadError(f"{dest.name} has {done} bytes, expected {expected_size}")
        sha256 = digest.hexdigest()
        # The hub's hash: X-Linked-Etag on its redirect to storage; or, when the hub
        # answered itself (no redirect), its ETag. A storage server's ETag is not trusted.
        if recorder.redirected:
            hub_hash = _hash_from_etag(recorder.headers.get("X-Linked-Etag"))
        else:
            hub_hash = _hash_from_etag(response.headers.get("ETag"))
        if expected_sha256 is not None:
            reference, checked = expected_sha256, "pinned"
        elif hub_hash is not None:
            reference, checked = hub_hash, "hub"
        else:
            reference, checked = sha256, "first download"
        if sha256 != reference:
            raise DownloadError(
                f"{dest.name} is corrupt: SHA-256 {sha256}, expected {reference} ({checked}); "
                f"nothing was kept, run the command again"
            )
        if dest.suffix == ".safetensors":
            _check_safetensors_layout(Path(tmp))
        os.replace(tmp, dest)
        return done, sha256, checked
    except BaseException:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def download(name=DEFAULT_MODEL, cache_dir=None, base_url=None, progress=True):
    """Download a known checkpoint into ``<cache_dir>/<name>/`` and return that directory.

    ``cache_dir`` defaults to :func:`cache_dir` (``$NUMPY_BERT_HOME`` or
    ``~/.cache/numpy_bert``); ``base_url`` to ``$NUMPY_BERT_HUB_URL`` or
    https://huggingface.co. Files already verified are skipped without a request.
    """
    if name not in KNOWN_MODELS:
        aliases = {entry["repo"]: key for key, entry in KNOWN_MODELS.items()}
        if name not in aliases:
            raise ValueError(f"unknown model {name!r}; numpy-bert can download: {', '.join(sorted(KNOWN_MODELS))}")
        name = aliases[name]
    entry = KNOWN_MODELS[name]
    root = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    target = root / name
    target.mkdir(parents=True, exist_ok=True)
    base = (base_url or os.environ.get("NUMPY_BERT_HUB_URL") or DEFAULT_HUB_URL).rstrip("/")

    record = _read_record(target)
    for filename, expected in entry["files"].items():
        dest = target / filename
        if _already_verified(dest, record.get(filename), expected):
            if progress:
                print(f"  {filename:<24} already downloaded and verified", file=sys.stderr)
            continue
        # a download killed outright (no chance to clean up) left its temporary file
        for stale in target.glob(f".{filename}.*.part"):
            with contextlib.suppress(OSError):
                stale.unlink()
        url = f"{base}/{entry['repo']}/resolve/{entry['revision']}/{filename}"
        size, sha256, checked = download_file(
            url, dest, expected_size=expected.get("size"), expected_sha256=expected.get("sha256"), progress=progress
        )
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
