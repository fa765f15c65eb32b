"""numpy_bert.hub: downloads end to end against a local HTTP server, and model lookup.

A small ``http.server`` on 127.0.0.1 (ephemeral port, in a thread) plays the model
hub. Each test registers what the server answers for each path; the server records
every request so a test can assert that a second run asks for nothing. No test
leaves 127.0.0.1.
"""

import hashlib
import http.server
import json
import os
import struct
import threading
from pathlib import Path

import pytest

from numpy_bert import hub

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tiny_safetensors():
    """A valid 3-element float32 safetensors file (header + data)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack("<3f", 1.0, 2.0, 3.0)


FILES = {
    # a complete config (download checks it), vocab_size = the 6 lines of vocab.txt
    "config.json": json.dumps({"model_type": "bert", "vocab_size": 6, "hidden_size": 8, "num_hidden_layers": 1,
                               "num_attention_heads": 2, "intermediate_size": 12, "max_position_embeddings": 16,
                               "type_vocab_size": 2}).encode() + b"\n",
    "vocab.txt": "".join(f"{t}\n" for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"]).encode(),
    "tokenizer_config.json": b'{"do_lower_case": false}\n',
    "model.safetensors": tiny_safetensors(),
}
REVISION = "0123456789abcdef0123456789abcdef01234567"


class Hub:
    """The fake hub: ``routes[path] = (status, headers, body, cut_at)``; ``requests`` lists paths asked."""

    def __init__(self):
        self.routes, self.requests = {}, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path
                if path.startswith("http://"):  # asked through a proxy: absolute URL
                    outer.requests.append(("proxy", path))
                    path = "/" + path.split("/", 3)[3]
                else:
                    outer.requests.append(("direct", path))
                status, headers, body, cut_at = outer.routes.get(path, (404, {}, b"not found", None))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if cut_at is None else body[:cut_at])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def serve(self, path, body, status=200, headers=None, cut_at=None):
        self.routes[path] = (status, dict(headers or {}), body, cut_at)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_hub(monkeypatch):
    for var in PROXY_VARS:  # a proxy in the environment must not catch 127.0.0.1 here
        monkeypatch.delenv(var, raising=False)
    server = Hub()
    yield server
    server.close()


def register_model(monkeypatch, pinned=True, name="tiny-test"):
    """Add a model called ``name`` to hub.KNOWN_MODELS; pinned=False leaves hashes unknown."""
    files = {
        f: {"size": len(data) if pinned else None, "sha256": sha256(data) if pinned else None}
        for f, data in FILES.items()
    }
    entry = {"repo": "org/tiny-test", "revision": REVISION, "files": files}
    monkeypatch.setitem(hub.KNOWN_MODELS, name, entry)
    return entry


def serve_all(server, files=FILES):
    for f, data in files.items():
        server.serve(f"/org/tiny-test/resolve/{REVISION}/{f}", data)


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".part") or p.name.startswith("."))


def test_download_success_then_second_run_asks_nothing(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch)
    serve_all(fake_hub)
    path = hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert path == tmp_path / "tiny-test"
    for f, data in FILES.items():
        assert (path / f).read_bytes() == data
    assert leftovers(path) == [hub.RECORD_NAME]  # only the record, no temporary file
    record = json.loads((path / hub.RECORD_NAME).read_text())
    assert record["model.safetensors"]["sha256"] == sha256(FILES["model.safetensors"])
    assert record["model.safetensors"]["checked_against"] == "pinned"
    assert len(fake_hub.requests) == 4

    hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert len(fake_hub.requests) == 4  # everything verified already: no request at all


def test_a_file_changed_after_verification_is_fetched_again(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch)
    serve_all(fake_hub)
    path = hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    (path / "vocab.txt").write_bytes(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhellp\n")  # same size, new bytes
    hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert [p for _, p in fake_hub.requests[4:]] == [f"/org/tiny-test/resolve/{REVISION}/vocab.txt"]
    assert (path / "vocab.txt").read_bytes() == FILES["vocab.txt"]


def test_connection_cut_mid_file_leaves_nothing(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch, pinned=False)
    serve_all(fake_hub)
    data = FILES["model.safetensors"]
    # the server promises len(data) bytes, sends half, and closes the connection
    fake_hub.serve(f"/org/tiny-test/resolve/{REVISION}/model.safetensors", data, cut_at=len(data) // 2)
    with pytest.raises(hub.DownloadError, match=rf"cut off: got {len(data) // 2} of {len(data)} bytes"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    target = tmp_path / "tiny-test"
    assert not (target / "model.safetensors").exists()
    assert not any(p.name.endswith(".part") for p in target.iterdir())
    # the files before it were verified and kept; a rerun fetches only the missing one
    fake_hub.serve(f"/org/tiny-test/resolve/{REVISION}/model.safetensors", data)
    n = len(fake_hub.requests)
    hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert [p for _, p in fake_hub.requests[n:]] == [f"/org/tiny-test/resolve/{REVISION}/model.safetensors"]
    assert (target / "model.safetensors").read_bytes() == data


def test_truncated_safetensors_without_length_is_caught_by_its_header(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch, pinned=False)
    serve_all(fake_hub)
    short = FILES["model.safetensors"][:-4]  # the server itself believes this is the whole file
    fake_hub.serve(f"/org/tiny-test/resolve/{REVISION}/model.safetensors", short)
    with pytest.raises(hub.DownloadError, match=r"model.safetensors failed its check: the file is not a usable "
                       r"safetensors file \(tensor 'w': data_offsets \[0, 12\] run past the end of the data buffer "
                       r"\(8 bytes\); the file is truncated or corrupt\)"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert not (tmp_path / "tiny-test" / "model.safetensors").exists()


def test_wrong_hash_is_rejected_and_nothing_kept(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch)
    serve_all(fake_hub)
    corrupt = bytearray(FILES["model.safetensors"])
    corrupt[-1] ^= 0xFF  # same size, one byte flipped
    fake_hub.serve(f"/org/tiny-test/resolve/{REVISION}/model.safetensors", bytes(corrupt))
    with pytest.raises(hub.DownloadError, match="corrupt: SHA-256"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    target = tmp_path / "tiny-test"
    assert not (target / "model.safetensors").exists()
    assert not any(p.name.endswith(".part") for p in target.iterdir())
    assert "model.safetensors" not in json.loads((target / hub.RECORD_NAME).read_text())


def test_wrong_size_is_rejected(fake_hub, monkeypatch, tmp_path):
    entry = register_model(monkeypatch)
    entry["files"]["config.json"]["sha256"] = None
    serve_all(fake_hub)
    fake_hub.serve(f"/org/tiny-test/resolve/{REVISION}/config.json", b"{}")
    with pytest.raises(hub.DownloadError, match=r"config.json has 2 bytes, expected"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert not (tmp_path / "tiny-test" / "config.json").exists()


def test_404_says_which_url(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch)
    # nothing served at all: every path is a 404
    with pytest.raises(hub.DownloadError, match=r"HTTP 404 .*config.json|config.json: HTTP 404"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert not (tmp_path / "tiny-test" / "config.json").exists()
    assert not any(p.name.endswith(".part") for p in (tmp_path / "tiny-test").iterdir())


def test_redirects_are_followed_and_the_hub_hash_is_checked(fake_hub, monkeypatch, tmp_path):
    """The hub redirects large files to storage and sends the LFS SHA-256 with the redirect."""
    register_model(monkeypatch, pinned=False)
    serve_all(fake_hub)
    data = FILES["model.safetensors"]
    resolve = f"/org/tiny-test/resolve/{REVISION}/model.safetensors"
    fake_hub.serve(resolve, b"", status=302, headers={
        "Location": "/storage/abc",  # relative, like the hub's
        "X-Linked-Etag": f'"{sha256(data)}"', "X-Linked-Size": str(len(data))})
    fake_hub.serve("/storage/abc", b"", status=307, headers={"Location": f"{fake_hub.url}/storage/final"})
    fake_hub.serve("/storage/final", data)
    path = hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert (path / "model.safetensors").read_bytes() == data
    assert [p for _, p in fake_hub.requests][-3:] == [resolve, "/storage/abc", "/storage/final"]
    record = json.loads((path / hub.RECORD_NAME).read_text())
    assert record["model.safetensors"]["checked_against"] == "hub"
    assert record["config.json"]["checked_against"] == "first download"


def test_hub_hash_mismatch_is_rejected(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch, pinned=False)
    serve_all(fake_hub)
    resolve = f"/org/tiny-test/resolve/{REVISION}/model.safetensors"
    fake_hub.serve(resolve, b"", status=302, headers={"Location": "/storage/x", "X-Linked-Etag": f'"{"0" * 64}"'})
    fake_hub.serve("/storage/x", FILES["model.safetensors"])
    with pytest.raises(hub.DownloadError, match=r"expected 0{64} \(hub\)"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert not (tmp_path / "tiny-test" / "model.safetensors").exists()


def test_proxy_from_the_environment_is_used(fake_hub, monkeypatch, tmp_path):
    """With http_proxy set, the request goes to the proxy with the absolute URL."""
    register_model(monkeypatch)
    serve_all(fake_hub)
    monkeypatch.setenv("http_proxy", fake_hub.url)  # the fake hub doubles as the proxy
    hub.download("tiny-test", cache_dir=tmp_path, base_url="http://hub.invalid", progress=False)
    assert len(fake_hub.requests) == 4
    assert all(kind == "proxy" and path.startswith("http://hub.invalid/") for kind, path in fake_hub.requests)


def test_unreachable_hub_is_a_clear_error(monkeypatch, tmp_path):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    register_model(monkeypatch)
    server = Hub()  # take a free port, then close it: nothing listens there
    url = server.url
    server.close()
    with pytest.raises(hub.DownloadError, match="could not reach 127.0.0.1"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=url, progress=False)


def test_base_url_from_the_environment_and_progress_on_stderr(fake_hub, monkeypatch, tmp_path, capsys):
    register_model(monkeypatch)
    serve_all(fake_hub)
    monkeypatch.setenv("NUMPY_BERT_HUB_URL", fake_hub.url)
    monkeypatch.setenv("NUMPY_BERT_HOME", str(tmp_path / "home"))
    path = hub.download("tiny-test")
    assert path == tmp_path / "home" / "tiny-test"
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "100%" in err


def test_download_of_an_unknown_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'no-such-bert'.*bert-base-cased"):
        hub.download("no-such-bert", cache_dir=tmp_path)


def test_cli_download(fake_hub, monkeypatch, tmp_path, capsys):
    from numpy_bert import cli

    register_model(monkeypatch)
    serve_all(fake_hub)
    code = cli.main(["download", "tiny-test", "--cache-dir", str(tmp_path), "--hub-url", fake_hub.url, "--quiet"])
    assert code == 0
    assert f"tiny-test is in {tmp_path / 'tiny-test'}" in capsys.readouterr().out
    fake_hub.routes.clear()  # now everything is a 404; the CLI prints one line, exit 1
    (tmp_path / "tiny-test" / hub.RECORD_NAME).unlink()
    code = cli.main(["download", "tiny-test", "--cache-dir", str(tmp_path), "--hub-url", fake_hub.url, "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "HTTP 404" in err and "Traceback" not in err


def test_known_model_table_is_well_formed():
    for name, entry in hub.KNOWN_MODELS.items():
        assert len(entry["revision"]) == 40
        assert set(entry["files"]) == {"config.json", "vocab.txt", "tokenizer_config.json", "model.safetensors"}
        for spec in entry["files"].values():
            assert spec["sha256"] is None or len(spec["sha256"]) == 64


# --------------------------------------------------------------------------- resolve_model


def make_model_dir(path, files=("config.json", "vocab.txt", "model.safetensors", "tokenizer_config.json")):
    path.mkdir(parents=True)
    for f in files:
        (path / f).write_bytes(FILES[f])
    return path


@pytest.fixture
def lookup(monkeypatch, tmp_path):
    """Point the cache, weights/ and the shipped model at empty temporary directories."""
    monkeypatch.setenv("NUMPY_BERT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(hub, "SHIPPED_MODEL_DIR", tmp_path / "weights" / "numpy-bert-tiny")
    return tmp_path


def test_resolve_none_prefers_bert_base_cased_then_the_shipped_model(lookup):
    with pytest.raises(ValueError, match="numpy-bert download bert-base-cased"):
        hub.resolve_model()
    shipped = make_model_dir(lookup / "weights" / "numpy-bert-tiny")
    path, message = hub.resolve_model()
    assert path == shipped
    assert "small model shipped in" in message and "bert-base-cased is not downloaded" in message
    assert "numpy-bert download bert-base-cased" in message
    real = make_model_dir(lookup / "home" / "bert-base-cased")
    path, message = hub.resolve_model()
    assert path == real and message.startswith("using bert-base-cased from")


def test_resolve_name_in_cache_then_weights(lookup):
    in_weights = make_model_dir(lookup / "weights" / "bert-base-cased")
    assert hub.resolve_model("bert-base-cased")[0] == in_weights
    assert hub.resolve_model("google-bert/bert-base-cased")[0] == in_weights
    in_cache = make_model_dir(lookup / "home" / "bert-base-cased")
    assert hub.resolve_model("bert-base-cased")[0] == in_cache


def test_resolve_directory(lookup):
    d = make_model_dir(lookup / "somewhere" / "my-bert")
    path, message = hub.resolve_model(str(d))
    assert path == d and str(d) in message
    # tokenizer_config.json is optional
    d2 = make_model_dir(lookup / "other", files=("config.json", "vocab.txt", "model.safetensors"))
    assert hub.resolve_model(d2)[0] == d2


def test_resolve_unknown_name_lists_paths_and_download_command(lookup):
    with pytest.raises(ValueError) as info:
        hub.resolve_model("bert-huge-nonexistent")
    message = str(info.value)
    assert "bert-huge-nonexistent" in message
    assert str(lookup / "home" / "bert-huge-nonexistent") in message
    assert str(lookup / "weights" / "bert-huge-nonexistent") in message
    assert "numpy-bert download bert-base-cased" in message


def test_resolve_known_but_not_downloaded(lookup):
    with pytest.raises(ValueError, match="bert-base-cased is not downloaded .*numpy-bert download bert-base-cased"):
        hub.resolve_model("bert-base-cased")


@pytest.mark.parametrize("missing", ["config.json", "vocab.txt", "model.safetensors"])
def test_resolve_directory_missing_a_file_names_it(lookup, missing):
    files = [f for f in ("config.json", "vocab.txt", "model.safetensors") if f != missing]
    d = make_model_dir(lookup / "partial", files=files)
    with pytest.raises(ValueError, match=f"missing {missing}"):
        hub.resolve_model(str(d))


def test_resolve_partial_download_says_how_to_complete(lookup):
    make_model_dir(lookup / "home" / "bert-base-cased", files=("config.json", "vocab.txt"))
    with pytest.raises(ValueError, match="missing model.safetensors.*numpy-bert download bert-base-cased"):
        hub.resolve_model("bert-base-cased")


def test_cache_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMPY_BERT_HOME", raising=False)
    assert hub.cache_dir() == Path(os.path.expanduser("~/.cache/numpy_bert"))
    monkeypatch.setenv("NUMPY_BERT_HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path
    assert hub.SHIPPED_MODEL_DIR.name == "numpy-bert-tiny"


def test_etag_of_the_hub_itself_is_checked_but_not_a_storage_servers(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch, pinned=False)
    serve_all(fake_hub)
    resolve = f"/org/tiny-test/resolve/{REVISION}/vocab.txt"
    # the hub answering directly with a SHA-256 ETag that does not match: rejected
    fake_hub.serve(resolve, FILES["vocab.txt"], headers={"ETag": f'"{"1" * 64}"'})
    with pytest.raises(hub.DownloadError, match="vocab.txt is corrupt"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    # behind a redirect, only the hub's X-Linked-Etag counts, not the storage server's ETag
    fake_hub.serve(resolve, b"", status=302, headers={"Location": "/storage/v"})
    fake_hub.serve("/storage/v", FILES["vocab.txt"], headers={"ETag": f'"{"1" * 64}"'})
    path = hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert (path / "vocab.txt").read_bytes() == FILES["vocab.txt"]


def test_resolve_a_path_that_does_not_exist(lookup):
    with pytest.raises(ValueError, match=r"model directory \./no/such/dir does not exist.*numpy-bert download"):
        hub.resolve_model("./no/such/dir")


def test_temporary_file_of_a_killed_download_is_removed(fake_hub, monkeypatch, tmp_path):
    register_model(monkeypatch)
    serve_all(fake_hub)
    target = tmp_path / "tiny-test"
    target.mkdir()
    stale = target / ".model.safetensors.abc123.part"  # what `kill -9` mid-download leaves
    stale.write_bytes(b"half a file")
    hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert not stale.exists()
    assert leftovers(target) == [hub.RECORD_NAME]


@pytest.mark.parametrize("body", [b"<html>Service unavailable</html>", struct.pack("<Q", 2) + b"[]"],
                         ids=["html-page", "not-tensors"])
def test_something_else_than_safetensors_is_rejected(fake_hub, monkeypatch, tmp_path, body):
    register_model(monkeypatch, pinned=False)
    serve_all(fake_hub)
    fake_hub.serve(f"/org/tiny-test/resolve/{REVISION}/model.safetensors", body)
    with pytest.raises(hub.DownloadError, match="model.safetensors"):
        hub.download("tiny-test", cache_dir=tmp_path, base_url=fake_hub.url, progress=False)
    assert not (tmp_path / "tiny-test" / "model.safetensors").exists()
