"""numpy_bert.hub against hostile and broken servers: every failure is a clear DownloadError.

http.server cannot misbehave enough (it always sends a proper status line and headers),
so the server here is a raw TCP server on 127.0.0.1: it reads the request head and hands
the socket to the script registered for the path, which writes whatever bytes it likes
(a bad status line, 101 headers, a body cut short, one byte a second...). The model is
test_hub's tiny one, with no hash pinned, so that the content checks are reached.

Each case asserts the error type (DownloadError, an OSError), that the message is one
line naming the file, its URL and what to do, and that nothing of the file is left in
the cache: no file under its final name, no temporary .part file, no record entry.
The time limits are fractions of a second, so the slow cases take about a second each.
"""

import contextlib
import json
import os
import re
import socket
import socketserver
import stat
import struct
import threading
import time

import pytest

from numpy_bert import cli, hub
from numpy_bert.utils import atomic_write
from tests.test_hub import FILES, PROXY_VARS, REVISION, leftovers, register_model

FAST = {"timeout": 5, "stall_timeout": 5, "deadline": 30}  # generous: for the cases that are not about time


class RawHub:
    """A TCP server on 127.0.0.1: ``routes[path] = script``; ``script(conn)`` writes the answer.

    ``greet``, when set, is called on each connection before anything is read (for a
    client that speaks TLS, which sends no HTTP request head). ``closing`` is set at
    teardown: scripts that hang wait on it, so no thread outlives the test.
    """

    def __init__(self):
        self.routes, self.requests, self.greet = {}, [], None
        self.closing = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                conn = self.request
                conn.settimeout(10)
                with contextlib.suppress(OSError):
                    if outer.greet is not None:
                        outer.greet(conn)
                        return
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        head += chunk
                    path = head.split(b" ", 2)[1].decode("latin-1")
                    outer.requests.append(path)
                    outer.routes.get(path, send(response(b"not found", status="404 Not Found")))(conn)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads, block_on_close, allow_reuse_address = True, False, True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def response(body, status="200 OK", headers=None, length=True):
    """The bytes of an HTTP/1.1 answer; ``length``: send Content-Length (True: the body's)."""
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    if length is True:
        lines.append(f"Content-Length: {len(body)}")
    elif length is not None and length is not False:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send(data):
    return lambda conn: conn.sendall(data)


def path_of(filename):
    return f"/org/tiny-test/resolve/{REVISION}/{filename}"


@pytest.fixture
def raw_hub(monkeypatch, tmp_path):
    for var in PROXY_VARS:  # a proxy in the environment must not catch 127.0.0.1 here
        monkeypatch.delenv(var, raising=False)
    register_model(monkeypatch, pinned=False)
    server = RawHub()
    for filename, data in FILES.items():
        server.routes[path_of(filename)] = send(response(data))
    yield server
    server.close()


def fetch(server, tmp_path, **limits):
    options = {**FAST, **limits}
    return hub.download("tiny-test", cache_dir=tmp_path, base_url=server.url, progress=False, **options)


def record_of(target):
    path = target / hub.RECORD_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def assert_refused(info, server, tmp_path, filename, what, fix):
    """The DownloadError names the file, its URL, ``what`` and ``fix``; nothing of the file is left."""
    error = info.value
    assert isinstance(error, hub.DownloadError) and isinstance(error, OSError)
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"could not download {filename} from {server.url}{path_of(filename)}: "), message
    assert re.search(what, message), message
    assert fix in message, message
    assert "nothing of it was kept" in message
    target = tmp_path / "tiny-test"
    assert not (target / filename).exists()
    assert not [p.name for p in target.iterdir() if p.name.endswith(".part")]
    assert filename not in record_of(target)
    return message


SERVER_FIX = "check --hub-url"
AGAIN_FIX = "run the command again"
CONTENT_FIX = "the server sent a damaged or wrong file"

vocab = FILES["vocab.txt"]
chunked = {"Transfer-Encoding": "chunked"}

# (case, script for vocab.txt, what the message says, the fix it gives)
BROKEN_EXCHANGES = [
    ("bad-status-line", send(b"HTTX/1.1 200 OK\r\n\r\n" + vocab),
     r"the server's answer is not HTTP \(its first line is 'HTTX/1.1 200 OK", SERVER_FIX),
    ("101-headers", send(response(vocab, headers={f"X-H{i}": "v" for i in range(101)})),
     r"not HTTP as it should be \(HTTPException: got more than 100 headers\)", SERVER_FIX),
    ("overlong-header-line", send(response(vocab, headers={"X-Long": "a" * 70000})),
     r"got more than 65536 bytes when reading header line", SERVER_FIX),
    ("overlong-chunk-size-line", send(response(b"1" * 70000, headers=chunked, length=None)),
     r"got more than 65536 bytes when reading chunk size", SERVER_FIX),
    ("chunked-body-cut-short", send(response(b"%x\r\n" % len(vocab) + vocab[:10], headers=chunked, length=None)),
     r"the connection closed after 10 bytes, before the end of the file", AGAIN_FIX),
    ("closed-without-answer", lambda conn: None,
     r"127\.0\.0\.1:\d+ closed the connection without answering", AGAIN_FIX),
    ("body-shorter-than-content-length", send(response(vocab[:10], length=len(vocab))),
     rf"vocab\.txt was cut off: got 10 of {len(vocab)} bytes", AGAIN_FIX),
    ("body-longer-than-content-length", send(response(vocab, length=len(vocab) // 2)),
     rf"the server sent more than the {len(vocab) // 2} bytes its Content-Length announced", CONTENT_FIX),
    ("content-length-not-a-number", send(response(vocab, headers={"Content-Length": "abc"}, length=None)),
     r"invalid Content-Length \('abc'\)", SERVER_FIX),
    ("content-length-negative", send(response(vocab, headers={"Content-Length": "-5"}, length=None)),
     r"invalid Content-Length \('-5'\)", SERVER_FIX),
    ("two-content-lengths", send(response(vocab, headers={"Content-Length": f"{len(vocab)}, {len(vocab) + 1}"},
                                          length=None)),
     r"invalid Content-Length", SERVER_FIX),
    ("redirect-loop", send(response(b"", status="302 Found", headers={"Location": path_of("vocab.txt")})),
     r"the server redirects in a loop, or more than 10 times \(HTTP 302\)", SERVER_FIX),
    ("partial-content", send(response(vocab, status="206 Partial Content")),
     r"unexpected answer HTTP 206 Partial Content", SERVER_FIX),
    ("compressed", send(response(vocab, headers={"Content-Encoding": "gzip"})),
     r"the server sent the file encoded \(gzip\)", SERVER_FIX),
    ("server-error", send(response(b"oops", status="503 Service Unavailable")),
     r"HTTP 503 Service Unavailable", "the server failed: run the command again later"),
    ("not-found", send(response(b"no", status="404 Not Found")), r"HTTP 404 Not Found", SERVER_FIX),
]


@pytest.mark.parametrize("script, what, fix", [case[1:] for case in BROKEN_EXCHANGES],
                         ids=[case[0] for case in BROKEN_EXCHANGES])
def test_a_broken_exchange_is_a_download_error(raw_hub, tmp_path, script, what, fix):
    raw_hub.routes[path_of("vocab.txt")] = script
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path)
    assert_refused(info, raw_hub, tmp_path, "vocab.txt", what, fix)
    assert (tmp_path / "tiny-test" / "config.json").read_bytes() == FILES["config.json"]  # kept: verified before


def test_connection_reset_mid_body(raw_hub, tmp_path):
    def reset(conn):
        conn.sendall(response(vocab, length=len(vocab) + 1000))
        time.sleep(0.2)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        conn.close()

    raw_hub.routes[path_of("vocab.txt")] = reset
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path)
    # the reset may discard bytes already received: the count is not part of the promise
    assert_refused(info, raw_hub, tmp_path, "vocab.txt", r"the connection broke .*\(Connection reset by peer\)|"
                   r"was cut off: got \d+ of", AGAIN_FIX)


def test_a_body_longer_than_the_file_can_be_is_cut_at_once(raw_hub, tmp_path, monkeypatch):
    """No length announced, no end: reading stops past the most a small file may have."""
    monkeypatch.setattr(hub, "SMALL_FILE_MAX_BYTES", 1000)

    def endless(conn):
        conn.sendall(response(b"", headers=chunked, length=None))
        while not raw_hub.closing.is_set():
            conn.sendall(b"400\r\n" + b"a" * 0x400 + b"\r\n")

    raw_hub.routes[path_of("vocab.txt")] = endless
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path)
    assert_refused(info, raw_hub, tmp_path, "vocab.txt", r"the server sent more than 1000 bytes, more than "
                   r"vocab\.txt can have", CONTENT_FIX)


def trickle(server, data, every=1.0):
    """A script that sends ``data`` one byte every ``every`` seconds (until teardown)."""
    def script(conn):
        for byte in data:
            if server.closing.wait(every):
                return
            conn.sendall(bytes([byte]))
    return script


def test_a_trickle_of_one_byte_a_second_meets_the_stall_timeout(raw_hub, tmp_path):
    raw_hub.routes[path_of("vocab.txt")] = lambda conn: (conn.sendall(response(vocab)[:-len(vocab)] + vocab[:3]),
                                                         trickle(raw_hub, vocab[3:])(conn))
    start = time.monotonic()
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path, stall_timeout=0.5)
    assert time.monotonic() - start < 5  # 0.5 s of silence, not the trickle's len(vocab) s
    assert_refused(info, raw_hub, tmp_path, "vocab.txt", r"no data for 0\.5 s after 3 bytes \(stall timeout\)",
                   "allow more time with --stall-timeout SECONDS")


def test_a_trickle_faster_than_the_stall_timeout_meets_the_deadline(raw_hub, tmp_path):
    raw_hub.routes[path_of("vocab.txt")] = lambda conn: (conn.sendall(response(vocab)[:-len(vocab)]),
                                                         trickle(raw_hub, vocab)(conn))
    start = time.monotonic()
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path, stall_timeout=2, deadline=1.2)
    assert time.monotonic() - start < 5  # the deadline, not the len(vocab) s of the trickle
    assert_refused(info, raw_hub, tmp_path, "vocab.txt",
                   r"the download did not finish within its deadline of 1\.2 s \((after [0-9]+ bytes?|before any)",
                   "allow more time with --deadline SECONDS (0: no deadline)")


def test_trickled_headers_meet_the_deadline(raw_hub, tmp_path):
    """Each byte of the status line comes within --timeout: only the deadline ends it."""
    raw_hub.routes[path_of("vocab.txt")] = trickle(raw_hub, response(vocab), every=0.2)
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path, timeout=1, deadline=0.8)
    assert_refused(info, raw_hub, tmp_path, "vocab.txt",
                   r"deadline of 0\.8 s \(before any byte of the file\)", "--deadline SECONDS")


def test_a_server_that_never_answers_meets_the_timeout(raw_hub, tmp_path):
    raw_hub.routes[path_of("vocab.txt")] = lambda conn: raw_hub.closing.wait(10)
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path, timeout=0.5)
    assert_refused(info, raw_hub, tmp_path, "vocab.txt", r"no answer from 127\.0\.0\.1:\d+ within 0\.5 s",
                   "allow more time with --timeout SECONDS")


def test_tls_with_a_server_that_does_not_speak_it(raw_hub, tmp_path):
    raw_hub.greet = send(response(b"plain HTTP, no TLS"))
    url = raw_hub.url.replace("http://", "https://")
    with pytest.raises(hub.DownloadError) as info:
        hub.download("tiny-test", cache_dir=tmp_path, base_url=url, progress=False, **FAST)
    message = str(info.value)
    assert message.startswith(f"could not download config.json from {url}{path_of('config.json')}: TLS error (")
    assert "CA certificates" in message and "\n" not in message
    assert not [p for p in (tmp_path / "tiny-test").iterdir()]


def test_progress_is_printed_on_a_timer_while_no_data_comes(raw_hub, tmp_path, capsys):
    def pause(conn):  # one byte, 1.6 s of silence (within the stall timeout), the rest
        conn.sendall(response(vocab)[:-len(vocab)] + vocab[:1])
        raw_hub.closing.wait(1.6)
        conn.sendall(vocab[1:])

    raw_hub.routes[path_of("vocab.txt")] = pause
    path = hub.download("tiny-test", cache_dir=tmp_path, base_url=raw_hub.url, **FAST)
    assert (path / "vocab.txt").read_bytes() == vocab
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.replace("\n", "\r").split("\r") if line.strip().startswith("vocab.txt")]
    # printed per chunk only, there would be no line during the silence, which is 1 byte in
    assert any(re.search(rf" 1 B of {len(vocab)} B .*\(no data for [12] s\)", line) for line in lines), lines
    assert re.search(rf"100% {len(vocab)} B of {len(vocab)} B", lines[-1]), lines


# ------------------------------------------------------------------------ the small files' content

config = json.loads(FILES["config.json"])


def config_with(**changes):
    return json.dumps({**config, **changes}).encode()


BAD_FILES = [
    ("config-nan", "config.json", config_with(hidden_dropout_prob=float("nan")), r"NaN is not JSON"),
    ("config-infinity", "config.json", config_with(layer_norm_eps=float("inf")), r"Infinity is not JSON"),
    ("config-wrong-type", "config.json", config_with(hidden_size="8"), r"hidden_size must be an integer, got '8'"),
    ("config-no-vocab-size", "config.json", json.dumps({k: v for k, v in config.items() if k != "vocab_size"}).encode(),
     r"the file lacks vocab_size \(not a BERT config\.json\)"),
    ("config-not-an-object", "config.json", b"[1, 2]", r"the file holds a JSON list, not an object"),
    ("config-name-twice", "config.json", FILES["config.json"].replace(b"{", b'{"hidden_size": 8, ', 1),
     r"names 'hidden_size' twice"),
    ("config-not-utf8", "config.json", b'{"model_type": "b\xffrt"}', r"the file is not UTF-8 text"),
    ("config-not-json", "config.json", b"<html>Service unavailable</html>", r"the file is not valid JSON"),
    ("tokenizer-config-string-bool", "tokenizer_config.json", b'{"do_lower_case": "false"}',
     r"the file's do_lower_case is 'false', it must be true/false"),
    ("tokenizer-config-nan", "tokenizer_config.json", b'{"model_max_length": NaN}', r"NaN is not JSON"),
    ("tokenizer-config-length", "tokenizer_config.json", b'{"model_max_length": -1}',
     r"model_max_length is -1, it must be a positive integer"),
    ("tokenizer-config-token", "tokenizer_config.json", b'{"unk_token": 7}', r"unk_token is 7, it must be a token"),
    ("vocab-cut-short", "vocab.txt", b"".join(vocab.splitlines(keepends=True)[:5]),
     r"the file has 5 tokens but config\.json says vocab_size 6 \(cut short, or not this model's vocab\)"),
    ("vocab-blank-line", "vocab.txt", vocab.replace(b"[CLS]\n", b"\n"), r"not a usable vocab\.txt \(line 3: empty line"),
]


@pytest.mark.parametrize("filename, body, what", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_small_file_that_fails_its_check_is_not_kept(raw_hub, tmp_path, filename, body, what):
    raw_hub.routes[path_of(filename)] = send(response(body))
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path)
    assert_refused(info, raw_hub, tmp_path, filename, rf"{re.escape(filename)} failed its check: .*{what}",
                   CONTENT_FIX)


def test_the_issues_truncated_vocab_is_never_recorded_as_verified(raw_hub, tmp_path, capsys):
    """A Content-Length of half the body: refused, and the next run fetches it instead of trusting it."""
    raw_hub.routes[path_of("vocab.txt")] = send(response(vocab, length=len(vocab) // 2))
    with pytest.raises(hub.DownloadError, match="more than the"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=raw_hub.url, **FAST)
    raw_hub.routes[path_of("vocab.txt")] = send(response(vocab))
    capsys.readouterr()
    path = hub.download("tiny-test", cache_dir=tmp_path, base_url=raw_hub.url, **FAST)
    err = capsys.readouterr().err
    assert "vocab.txt                already downloaded and verified" not in err
    assert "config.json              already downloaded and verified" in err
    assert (path / "vocab.txt").read_bytes() == vocab


def test_a_truncated_file_recorded_by_an_older_version_is_fetched_again(raw_hub, tmp_path, capsys):
    """Before the content checks, a truncated vocab.txt was recorded as verified: it is not trusted now."""
    path = fetch(raw_hub, tmp_path)
    short = b"".join(vocab.splitlines(keepends=True)[:3])
    (path / "vocab.txt").write_bytes(short)
    record = record_of(path)
    record["vocab.txt"].update(size=len(short), sha256=hub._file_sha256(path / "vocab.txt"),
                               mtime_ns=(path / "vocab.txt").stat().st_mtime_ns)
    (path / hub.RECORD_NAME).write_text(json.dumps(record))
    n = len(raw_hub.requests)
    hub.download("tiny-test", cache_dir=tmp_path, base_url=raw_hub.url, **FAST)
    err = capsys.readouterr().err
    assert "vocab.txt                is damaged (the file has 3 tokens but config.json says vocab_size 6" in err
    assert "vocab.txt                already downloaded and verified" not in err
    assert raw_hub.requests[n:] == [path_of("vocab.txt")]
    assert (path / "vocab.txt").read_bytes() == vocab
    assert record_of(path)["vocab.txt"]["sha256"] == hub._file_sha256(path / "vocab.txt")


def test_a_file_fetched_again_must_match_its_first_download(raw_hub, tmp_path):
    """Trust on first download: the recorded SHA-256 holds for every later download of that file."""
    path = fetch(raw_hub, tmp_path)
    assert record_of(path)["vocab.txt"]["checked_against"] == "first download"
    (path / "vocab.txt").unlink()
    other = vocab.replace(b"hello", b"world")  # a valid vocab, same size, other bytes
    raw_hub.routes[path_of("vocab.txt")] = send(response(other))
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path)
    message = str(info.value)
    assert "vocab.txt is corrupt: SHA-256" in message and "(recorded)" in message
    assert f"delete that record" in message and str(path / hub.RECORD_NAME) in message
    assert not (path / "vocab.txt").exists()
    raw_hub.routes[path_of("vocab.txt")] = send(response(vocab))
    fetch(raw_hub, tmp_path)
    assert (path / "vocab.txt").read_bytes() == vocab
    assert record_of(path)["vocab.txt"]["checked_against"] == "recorded"


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask-022", "umask-077"])
def test_downloaded_files_get_the_permissions_of_atomic_write(raw_hub, tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = fetch(raw_hub, tmp_path)
        with atomic_write(tmp_path / "written.txt", mode="w") as f:
            f.write("x")
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "written.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for filename in list(FILES) + [hub.RECORD_NAME]:
        assert stat.S_IMODE((path / filename).stat().st_mode) == expected, filename


# ------------------------------------------------------------------------ arguments and the CLI


@pytest.mark.parametrize("limits, error, what", [
    ({"timeout": 0}, ValueError, r"timeout \(--timeout\) must be a positive number of seconds, got 0$"),
    ({"stall_timeout": float("nan")}, ValueError,
     r"stall_timeout \(--stall-timeout\) must be a positive number of seconds, got nan"),
    ({"deadline": -1}, ValueError, r"deadline \(--deadline\) must be a positive number of seconds \(or 0 for no "
                                   r"deadline\), got -1"),
    ({"timeout": "5"}, TypeError, r"timeout \(--timeout\) must be a number of seconds, got '5'"),
])
def test_time_limits_are_checked(tmp_path, limits, error, what):
    with pytest.raises(error, match=what):
        hub.download("bert-base-cased", cache_dir=tmp_path, **limits)
    assert not (tmp_path / "bert-base-cased").exists()


@pytest.mark.parametrize("url", ["huggingface.co", "ftp://huggingface.co", "http://127.0.0.1:port", "https:///org"])
def test_a_hub_url_that_is_not_http_is_refused(tmp_path, url):
    with pytest.raises(ValueError, match=rf"hub URL {re.escape(repr(url))} is not an http\(s\) URL; give one such"):
        hub.download("bert-base-cased", cache_dir=tmp_path, base_url=url)


def test_a_redirect_to_an_unreachable_host_names_that_host(raw_hub, tmp_path):
    with socket.socket() as probe:  # a free port: nothing listens there once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raw_hub.routes[path_of("model.safetensors")] = send(response(b"", status="302 Found", headers={
        "Location": f"http://127.0.0.1:{port}/storage/model"}))
    with pytest.raises(hub.DownloadError) as info:
        fetch(raw_hub, tmp_path)
    assert_refused(info, raw_hub, tmp_path, "model.safetensors", rf"could not reach 127\.0\.0\.1:{port} \(",
                   "check the network and --hub-url")


def run_cli(server, tmp_path, capsys, *options):
    code = cli.main(["download", "tiny-test", "--cache-dir", str(tmp_path), "--hub-url", server.url, "--quiet",
                     *options])
    captured = capsys.readouterr()
    return code, captured.err


def test_cli_prints_one_line_for_a_broken_exchange(raw_hub, tmp_path, capsys):
    raw_hub.routes[path_of("model.safetensors")] = send(response(b"", headers={f"X-H{i}": "v" for i in range(101)}))
    code, err = run_cli(raw_hub, tmp_path, capsys)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"numpy-bert download: error: could not download model.safetensors from {raw_hub.url}")
    assert "got more than 100 headers" in err and "check --hub-url" in err


def test_cli_time_limits_reach_the_download(raw_hub, tmp_path, capsys):
    raw_hub.routes[path_of("config.json")] = lambda conn: (conn.sendall(response(FILES["config.json"])[:-5]),
                                                           trickle(raw_hub, b"12345", every=0.3)(conn))
    code, err = run_cli(raw_hub, tmp_path, capsys, "--timeout", "2", "--stall-timeout", "2", "--deadline", "0.6")
    assert code == 1 and err.count("\n") == 1
    assert "did not finish within its deadline of 0.6 s" in err
    code, err = run_cli(raw_hub, tmp_path, capsys, "--deadline", "nan")
    assert code == 1 and err == "numpy-bert download: error: deadline (--deadline) must be a positive number of " \
                                "seconds (or 0 for no deadline), got nan\n"
    code, err = run_cli(raw_hub, tmp_path, capsys, "--deadline", "0", "--stall-timeout", "0.2")
    assert code == 1 and "no data for 0.2 s after" in err  # deadline 0: none; the stall timeout still holds
