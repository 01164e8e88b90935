from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, input: str | None = None, cwd: Path | None = None,
            timeout: float = 300, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run the real `jinjian` command in a subprocess (a Scrapy reactor runs once per process)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("JINJIAN_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "jinjian.cli", *args], input=input, capture_output=True,
        text=True, cwd=cwd or REPO, timeout=timeout, env=full_env,
    )


@pytest.fixture
def cli():
    return run_cli


# --- stores: the embedded one, and search clusters on loopback ---------------------------------
#
# Elasticsearch: noida-db (serves the Elasticsearch 8 API), started once per session on a free
# loopback port in a temporary data dir, and killed at the end; each test gets its own index
# prefix. OpenSearch: osmem-server, started once per session; each test gets its own clone.
# With JINJIAN_TEST_ES_URL set, that real cluster joins in (each test under its own prefix).

STORE_BACKENDS = ["sqlite", "elasticsearch", "opensearch"] + (
    ["real-es"] if os.environ.get("JINJIAN_TEST_ES_URL") else [])
_prefixes = itertools.count(1)


def serve_html(route: Callable[[str], tuple[int, str]], host: str = "127.0.0.1"
               ) -> ThreadingHTTPServer:
    """A threaded loopback web server, started: every GET answered with ``route(path)`` →
    (status, HTML). Stop it with ``shutdown()`` and ``server_close()``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            status, html = route(self.path)
            data = html.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def noida_es(tmp_path_factory):
    """URL of a noida-db Elasticsearch on loopback, for the whole session."""
    from importlib.resources import files

    binary = files("noida_db").joinpath("noida-db")
    os.chmod(str(binary), 0o755)
    port = free_port()
    data = tmp_path_factory.mktemp("noida")
    log = open(data / "noida.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(binary), "start", "--only", "elasticsearch", "--elasticsearch-port", str(port),
         "--data-dir", str(data / "data"), "--host", "127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/", 30, proc)
    except RuntimeError as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"noida-db did not start: {exc}\n{(data / 'noida.log').read_text()[-2000:]}")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.fixture(scope="session")
def osmem_base():
    """An osmem-server (OpenSearch API) for the whole session; tests take clones of it."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


class StoreSpace:
    """Where one test keeps its stores on one backend: ``location()`` names a new empty store;
    stores opened through ``open()`` are closed, and cluster indices dropped, afterwards."""

    def __init__(self, backend: str, tmp_path: Path, base_url: str | None) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.base_url = base_url
        self.locations: list[str] = []
        self.opened: list = []

    def location(self) -> str:
        if self.backend == "sqlite":
            loc = str(self.tmp_path / f"store{len(self.locations) + 1}")
        else:
            loc = f"{self.base_url}/t{next(_prefixes)}-{uuid.uuid4().hex[:6]}"
        self.locations.append(loc)
        return loc

    def open(self, location: str | None = None, **options):
        from indexer import open_store

        options.setdefault("retries", 2)
        options.setdefault("backoff", 0.05)
        store = open_store(location or self.location(), **options)
        self.opened.append(store)
        return store

    def cleanup(self) -> None:
        from indexer import open_store

        for store in self.opened:
            try:
                store.close()
            except Exception:  # noqa: BLE001
                pass
        if self.backend in ("elasticsearch", "real-es"):
            for loc in self.locations:
                try:
                    with open_store(loc, create=False, retries=0) as store:
                        store.destroy()
                except Exception:  # noqa: BLE001 - never created, or already gone
                    pass


@pytest.fixture
def store_space(request, tmp_path):
    """A StoreSpace on the backend named by ``request.param`` (see STORE_BACKENDS)."""
    backend = request.param
    clone = None
    if backend == "sqlite":
        base = None
    elif backend == "elasticsearch":
        base = request.getfixturevalue("noida_es")
    elif backend == "opensearch":
        clone = request.getfixturevalue("osmem_base").clone()
        base = clone.url
    else:
        base = os.environ["JINJIAN_TEST_ES_URL"].rstrip("/")
    space = StoreSpace(backend, tmp_path, base)
    yield space
    space.cleanup()
    if clone is not None:
        clone.close()


class FlakyProxy:
    """A TCP forwarder on loopback that can be cut (connections dropped, port closed) and
    restored on the same port: a cluster that goes away and comes back."""

    def __init__(self, target: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.cut()
