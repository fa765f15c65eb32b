"""The README's command opens the notebooks in JupyterLab.

Starts ``jupyter lab notebooks/`` (as ``python -m jupyterlab``, the interpreter running the
tests) headless on 127.0.0.1 with a free port and a random token, and over HTTP checks that
the server answers only with the token, that the JupyterLab page is served, that the seven
notebooks are listed and that one of them opens as a notebook with its cells; then shuts it
down through its API. (As root, as in CI's containers, the server also needs --allow-root.)

Needs the optional extra (pip install -e ".[notebooks]", which installs JupyterLab); skipped
without it. Nothing leaves the machine: the server listens on 127.0.0.1 only and its check for
updates is off. Its config and runtime files go to the test's own $HOME (tests/conftest.py).
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab", reason="the JupyterLab test needs jupyterlab: pip install -e '.[notebooks]'")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(path.name for path in (REPO / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
START_TIMEOUT_S = 120      # a cold start on 2 busy cores imports a great deal
REQUEST_TIMEOUT_S = 30


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, token=None, method="GET"):
    """(status, body) of one HTTP request; errors are answers too."""
    headers = {"Authorization": f"token {token}"} if token else {}
    req = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


@pytest.fixture
def jupyterlab(tmp_path):
    """(base URL, token) of a JupyterLab serving notebooks/, started as the README says."""
    port, token = free_port(), secrets.token_hex(16)
    log = open(tmp_path / "jupyterlab.log", "w+", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "notebooks/", "--no-browser",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if os.geteuid() == 0 else []),           # CI runs as root
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read()[-3000:]}")
            try:
                if request(f"{base}/api/status", token)[0] == 200:
                    break
            except OSError:
                pass                            # not listening yet
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        if server.poll() is None:
            try:
                request(f"{base}/api/shutdown", token, method="POST")
                server.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                server.kill()
                server.wait()
        log.close()


def test_jupyterlab_lists_opens_and_shuts_down(jupyterlab):
    base, token = jupyterlab
    # without the token the API refuses
    assert request(f"{base}/api/contents")[0] == 403
    # the JupyterLab application itself, not only the bare server
    status, page = request(f"{base}/lab", token)
    assert status == 200 and "JupyterLab" in page
    # the notebook list: notebooks/ is the root, so every notebook is at the top
    status, body = request(f"{base}/api/contents?content=1", token)
    assert status == 200, body
    listed = {item["name"]: item["type"] for item in json.loads(body)["content"]}
    expected = [Path(name).stem + ".ipynb" for name in NOTEBOOKS]
    # every committed notebook (one per source in notebooks/src/) is listed
    assert expected and expected == sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert all(listed.get(name) == "notebook" for name in expected), (expected, listed)
    # one of them opens as a notebook, cells and committed outputs included
    status, body = request(f"{base}/api/contents/{expected[0]}?content=1", token)
    assert status == 200, body
    notebook = json.loads(body)["content"]
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(cell["execution_count"] is not None for cell in code)
    # and it shuts down when asked: nothing listens on the port afterwards
    assert request(f"{base}/api/shutdown", token, method="POST")[0] == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            request(f"{base}/api/status", token)
        except OSError:
            return
        time.sleep(0.5)
    pytest.fail("the server still answers 30 s after /api/shutdown")
