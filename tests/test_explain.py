"""numpy-bert explain: the page's data and self-containment, the CLI, and the page in a real browser.

The browser test drives Debian's chromium, headless, over the DevTools protocol on
127.0.0.1 (a minimal websocket client below: no new dependency). It opens the page over
file://, fails on any console error or uncaught exception, clicks a head and picks a
layer, and checks that the lines drawn are then exactly that head's attention
probabilities. Where chromium is absent it is skipped, saying so (``.ci/run`` installs
it with ``apt-get install -y chromium`` when it can). It installs nothing itself.
"""

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from numpy_bert import BertTokenizer, cli
from numpy_bert.explain import explain, load_for_explain, render_html, write_html

TINY = Path(__file__).resolve().parent.parent / "weights" / "numpy-bert-tiny"
TEXT = "The cat sat on the mat."


@pytest.fixture(scope="module")
def tiny():
    return load_for_explain(TINY)


@pytest.fixture(scope="module")
def report(tiny):
    model, tokenizer, message = tiny
    return explain(TEXT, model, tokenizer, message=message)          # the default steps


def page_data(page):
    block = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    return json.loads(block)


def test_report_holds_every_layer_and_head(report, tiny):
    model, tokenizer, _ = tiny
    L, NH = model.config.num_hidden_layers, model.config.num_attention_heads
    T = len(report["tokens"])
    A = np.array(report["attentions"])
    assert A.shape == (L, NH, T, T)
    np.testing.assert_allclose(A.sum(-1), 1.0, atol=T * 0.5e-4)       # rounded to 4 decimals
    expected = model(np.array([tokenizer.encode(TEXT)]), output_attentions=True)["attentions"]
    np.testing.assert_allclose(A, np.array([a[0] for a in expected]), rtol=0, atol=0.5e-4 + 1e-12)
    a = report["attribution"]
    assert "'mat'" in a["what"] and a["tokens"].count("[MASK]") == 1
    assert abs(sum(a["values"]) - (a["score"] - a["baseline_score"])) <= 0.01 * abs(a["score"] - a["baseline_score"])


def test_page_is_self_contained_and_escapes_the_text(report):
    page = render_html({**report, "text": "</script><script>alert(1)</script>"})
    assert page_data(page)["text"] == "</script><script>alert(1)</script>"
    assert page.count("<script") == 2                                  # the data and the one inline script
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|url\(", page)
    # the only URL is the SVG namespace name, which is never fetched
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert page_data(render_html(report)) == json.loads(json.dumps(report))


def test_write_html_is_atomic(report, tmp_path):
    path = tmp_path / "page.html"
    write_html(report, path)
    assert path.read_text(encoding="utf-8") == render_html(report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_cli_writes_the_page(tmp_path, capsys):
    out = tmp_path / "cat.html"
    assert cli.main(["explain", "The [MASK] of the array is returned.", "--model", str(TINY), "--out", str(out),
                     "--steps", "8"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "completeness error" in printed
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["attribution"]["what"].endswith("at the first [MASK]")
    assert cli.main(["explain", "  ", "--model", str(TINY), "--out", str(out)]) == 1
    assert "give a text to explain" in capsys.readouterr().err


def test_encoder_only_checkpoint_gets_the_attention_views(minilm_path):
    model, tokenizer, message = load_for_explain(minilm_path)
    report = explain("The cat sat on the mat.", model, tokenizer, message=message)
    assert report["attribution"] is None and "encoder only" in report["model"]
    assert np.array(report["attentions"]).shape[:2] == (6, 12)


# ----------------------------------------------------------------------------- a real browser

def find_chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """The DevTools protocol over one websocket (RFC 6455: client frames masked, text only)."""

    def __init__(self, url, timeout=30):
        host, port, path = re.match(r"ws://([^:/]+):(\d+)(/.*)", url).groups()
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.stream = self.sock.makefile("rb")
        status = self.stream.readline()
        assert b" 101 " in status, status
        while self.stream.readline() not in (b"\r\n", b""):
            pass
        self.next_id, self.events = 0, []

    def _send(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                struct.pack(">BH", 0x80 | 126, n) if n < 65536 else struct.pack(">BQ", 0x80 | 127, n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _receive(self):
        message = b""
        while True:
            first, second = self.stream.read(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.stream.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.stream.read(8))[0]
            message += self.stream.read(n)
            if first & 0x80:                                        # FIN: the last fragment
                return json.loads(message)

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == method for e in self.events):
                return
            self.events.append(self._receive())
        raise TimeoutError(method)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def close(self):
        self.stream.close()
        self.sock.close()


@pytest.fixture
def browser(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("needs Debian's chromium for the browser test: apt-get install -y chromium")
    profile = tmp_path / "profile"
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()) and time.monotonic() < deadline:
            assert proc.poll() is None, "chromium exited before opening its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


DRAWN = """JSON.stringify([...document.querySelectorAll('#lines line')].map(l =>
  [+l.dataset.layer, +l.dataset.head, +l.dataset.from, +l.dataset.to, +l.getAttribute('stroke-opacity')]))"""


def test_page_in_a_real_browser(browser, report, tmp_path):
    path = tmp_path / "cat.html"
    write_html(report, path)
    for domain in ("Runtime", "Log", "Page"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=path.as_uri())
    browser.wait_for("Page.loadEventFired")
    A = np.array(report["attentions"])
    L, NH, T = A.shape[:3]
    assert NH >= 2 and L >= 2

    before = json.loads(browser.evaluate(DRAWN))
    assert len(before) == NH * T * T                                   # layer 0, every head
    assert {(l, h) for l, h, *_ in before} == {(0, h) for h in range(NH)}
    browser.evaluate("document.querySelector('#heads span[data-head=\"1\"]').click()")
    after = json.loads(browser.evaluate(DRAWN))
    assert after != before and len(after) == T * T
    drawn = np.zeros((T, T))
    for layer, head, i, j, weight in after:
        assert (layer, head) == (0, 1)
        drawn[i, j] = weight
    np.testing.assert_allclose(drawn, A[0, 1], rtol=0, atol=1e-12)    # the numbers of that head
    browser.evaluate("const s = document.getElementById('layer'); s.value = '1';"
                     "s.dispatchEvent(new Event('change'))")
    layer1 = json.loads(browser.evaluate(DRAWN))
    assert {(l, h) for l, h, *_ in layer1} == {(1, 1)}
    # the model view: L x NH heat maps, one selected; the attributions: one span per token
    assert browser.evaluate("document.querySelectorAll('#model svg').length") == L * NH
    assert browser.evaluate("document.querySelector('#model svg.sel').dataset.layer") == "1"
    assert browser.evaluate("document.querySelectorAll('#attr .tok').length") == len(report["attribution"]["tokens"])
    # hovering a query token keeps its lines only and writes the numbers beside the keys
    browser.evaluate("document.querySelector('#headview text.query').dispatchEvent(new MouseEvent('mouseenter'))")
    focused = json.loads(browser.evaluate(DRAWN))
    assert {i for _, _, i, _, _ in focused} == {0}
    assert browser.evaluate("document.querySelectorAll('#headview text.value').length") == T

    errors = [e for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors
