"""The API backend against a real local HTTP server that misbehaves, and a whole pytest session that must not
write the API key anywhere (the cases test_api_backend.py already covers are not repeated here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from embedders import api
from evals.tasks.measurement import NonFiniteVectors
from evals.tasks.word_similarity import word_similarity
from fixtures import DatasetInfo, WordPairs
from runtime.store import DATABASE
from tests.test_api_backend import vector_for

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-leaktest-9fQ2xV7rT4mZ8kW1pL6n"

Step = Callable[[BaseHTTPRequestHandler, list[str]], None]


def answer(status: int, payload: bytes | str, **headers: str) -> Step:
    def step(handler: BaseHTTPRequestHandler, _: list[str]) -> None:
        body = payload.encode() if isinstance(payload, str) else payload
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return step


def embeddings(make: Callable[[int, str], object]) -> Step:
    def step(handler: BaseHTTPRequestHandler, texts: list[str]) -> None:
        data = [{"index": index, "embedding": make(index, text)} for index, text in enumerate(texts)]
        answer(200, json.dumps({"data": data}))(handler, texts)

    return step


def hang_up(handler: BaseHTTPRequestHandler, _: list[str]) -> None:
    handler.close_connection = True  # no status line at all: the client sees the connection drop


class Server:
    """127.0.0.1 on a free port; each request takes the next scripted step, then good embeddings."""

    def __init__(self) -> None:
        self.script: deque[Step] = deque()
        self.bodies: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                server.bodies.append(raw.decode() + str(self.headers))
                texts = json.loads(raw)["input"]
                step = server.script.popleft() if server.script else embeddings(lambda _, text: vector_for(text))
                try:
                    step(self, texts)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> api.EmbeddingsApi:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return api.EmbeddingsApi(
        "api-test", "m", dimension=8, base_url=server.url, batch_size=2, max_attempts=3, base_delay=0.001, timeout=2
    )


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([answer(403, '{"error": {"message": "no access"}}')], "answered 403 .*may not use this model"),
        ([answer(404, "<html>Not Found</html>")], "answered 404: <html>Not Found</html>"),
        ([answer(429, "{}", **{"Retry-After": "0"})] * 3, r"failed 3 times; last: HTTP 429"),
        ([answer(200, "<html>gateway</html>")], r"unexpected response \(JSONDecodeError"),
        ([answer(200, '{"object": "list"}')], r"unexpected response \(KeyError"),
        ([answer(200, '{"data": [{"index": 0, "embedding": [1.0]}]}')], "asked for 2 embeddings"),
        ([embeddings(lambda index, _: [1.0] * (3 + index))], "embedding lengths 3, 4"),
        ([embeddings(lambda index, _: "0.1 0.2")], r"unexpected response \(ValueError"),
        ([embeddings(lambda index, _: None)], "embedding lengths not a list of numbers"),
        ([embeddings(lambda index, _: [])], "embedding lengths 0"),
        ([hang_up] * 3, "failed 3 times; last: connection failed"),
    ],
    ids=[
        "403",
        "404-html",
        "429-persisting",
        "200-not-json",
        "200-no-data",
        "too-few-vectors",
        "ragged-vectors",
        "vector-is-a-string",
        "vector-is-null",
        "empty-vector",
        "connection-dropped",
    ],
)
def test_misbehaving_endpoint_is_a_clear_error(client, server: Server, steps: list[Step], message: str) -> None:
    server.script.extend(steps)
    with pytest.raises(api.ApiError, match=message) as caught:
        client.embed_words(["cat", "dog"])
    assert KEY not in str(caught.value) and KEY[-8:] not in str(caught.value)
    assert str(caught.value).startswith("api-test: ")


def test_batches_of_different_lengths_are_refused(client, server: Server) -> None:
    server.script.extend([embeddings(lambda index, _: [1.0] * 4), embeddings(lambda index, _: [1.0] * 5)])
    with pytest.raises(api.ApiError, match="different lengths"):
        client.embed_words(["a", "b", "c"])  # batch size 2: two requests


def test_server_gone_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    client = api.EmbeddingsApi("api-test", "m", dimension=8, base_url=f"http://127.0.0.1:{port}/v1", base_delay=0.001)
    client.max_attempts = 2
    with pytest.raises(api.ApiError, match="failed 2 times; last: connection failed"):
        client.embed_words(["cat"])


def test_nan_from_the_endpoint_is_counted_not_scored(client, server: Server) -> None:
    server.script.append(embeddings(lambda index, text: [float("nan")] * 8 if text == "dog" else vector_for(text)))
    pairs = [("cat", "dog"), ("car", "truck"), ("sun", "moon"), ("cat", "car"), ("dog", "sun")]
    dataset = WordPairs(DatasetInfo("toy", "-", "0", 5), pairs, np.arange(5.0))
    client.batch_size = 16
    with pytest.warns(NonFiniteVectors):
        measured = word_similarity(client, dataset)
    assert measured.protocol["inputs"]["non_finite"] == 1
    assert measured.metrics["items_scored"] == 3 and np.isnan(measured.items[[0, 4]]).all()


# -- a whole session with a fake key: the key must appear in no output and no file the session writes


def test_api_key_never_leaves_the_environment(tmp_path: Path, server: Server) -> None:
    # The endpoint answers 500 once and 401 once, both echoing the key: the first session fails on the 401 (its
    # embedder is not asked again in that process); a second session is served embeddings.
    echo = json.dumps({"error": {"message": f"bad key {KEY} ({KEY[:7]}...{KEY[-4:]})"}})
    server.script.extend([answer(500, echo), answer(401, echo)])

    def session(outputs: Path) -> subprocess.CompletedProcess[str]:
        outputs.mkdir()
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": server.url,
            "EMBEDDING_CLAIMS_CACHE": str(outputs / "cache"),
            "EMBEDDING_CLAIMS_CACHE_DIR": str(outputs / "embeddings"),
        }
        args = [
            "evals/test_word_similarity.py",
            "--embedder=openai-3-small",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-rA",
            "--log-level=DEBUG",
            f"--log-file={outputs / 'session.log'}",
            "--log-file-level=DEBUG",
            f"--junitxml={outputs / 'report.xml'}",
            f"--ledger-dir={outputs / 'ledger'}",
            f"--claims-report={outputs / 'dashboard'}",
            f"--basetemp={outputs / 'basetemp'}",
        ]
        command = [sys.executable, "-m", "pytest", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment, timeout=600)

    rejected = session(tmp_path / "rejected")
    assert "401" in rejected.stdout and "the key was rejected" in rejected.stdout  # the 401 reached the user
    served = session(tmp_path / "served")
    assert served.returncode in (0, 1), served.stdout[-3000:]  # 1: a measurement below its sanity bound
    assert len(server.bodies) >= 4, served.stdout[-3000:]  # the endpoint really was used, key and all
    assert all(f"Bearer {KEY}" in body for body in server.bodies)
    outputs = tmp_path / "served"
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert (outputs / "report.xml") in written and (outputs / "session.log") in written
    assert any(path.suffix == ".jsonl" for path in (outputs / "ledger").iterdir())  # the ledger was written
    assert (outputs / "embeddings" / DATABASE) in written  # and the vectors cached
    outputs_text = [("stdout", rejected.stdout + served.stdout), ("stderr", rejected.stderr + served.stderr)]
    for name, text in outputs_text + [(str(path), path.read_bytes().decode("utf-8", "replace")) for path in written]:
        for fragment in (KEY, KEY[-8:], KEY[3:15]):
            assert fragment not in text, f"{fragment!r} found in {name}"
