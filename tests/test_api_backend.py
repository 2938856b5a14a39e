"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 serving deterministic embeddings."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedders import api
from embedders.base import Family, WordInContext
from embedders.registry import EMBEDDERS, SpecError, resolve

FAKE_KEY = "sk-test-Zq8vR2mK4pL9wX1nB7cD"
DIMENSION = 8


def vector_for(text: str) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIMENSION)
    return (vector / np.linalg.norm(vector)).tolist()


VECTOR_FOR = vector_for  # the server's model, kept while a test swaps another in


class FakeEndpoint:
    """Records each request; answers from a script of failures, then with embeddings in reversed order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[tuple[int, dict[str, str], bytes] | float] = deque()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(
                    {"path": self.path, "body": body, "authorization": self.headers.get("Authorization")}
                )
                step = endpoint.script.popleft() if endpoint.script else None
                if isinstance(step, float):
                    time.sleep(step)  # longer than the client waits: a timeout
                    return self._send(200, {}, b"{}")
                if step is not None:
                    return self._send(*step)
                data = [
                    {"object": "embedding", "index": index, "embedding": vector_for(text)}
                    for index, text in enumerate(body["input"])
                ]
                self._send(200, {}, json.dumps({"object": "list", "data": data[::-1]}).encode())

            def do_GET(self) -> None:  # what a followed redirect would send: recorded, so a test can see it came
                endpoint.requests.append(
                    {"path": self.path, "body": None, "authorization": self.headers.get("Authorization")}
                )
                self._send(405, {}, b"{}")

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def fail(self, status: int, body: dict[str, Any] | None = None, **headers: str) -> None:
        self.script.append((status, headers, json.dumps(body or {"error": {"message": "nope"}}).encode()))


@contextmanager
def serving() -> Iterator[FakeEndpoint]:
    server = FakeEndpoint()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with serving() as server:
        yield server


@pytest.fixture
def client(endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch) -> api.EmbeddingsApi:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", endpoint.url)
    return api.EmbeddingsApi(
        "openai-test", "text-embedding-test", dimension=DIMENSION, batch_size=3, base_delay=0.001, timeout=0.3
    )


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert FAKE_KEY not in str(text)
        assert FAKE_KEY[-6:] not in str(text) and FAKE_KEY[:10] not in str(text)


def test_batches_requests_and_restores_order(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    words = [f"word{index}" for index in range(7)]
    result = client.embed_words(words)
    assert [len(request["body"]["input"]) for request in endpoint.requests] == [3, 3, 1]
    assert all(request["path"] == "/v1/embeddings" for request in endpoint.requests)
    assert endpoint.requests[0]["body"]["model"] == "text-embedding-test"
    assert endpoint.requests[0]["authorization"] == f"Bearer {FAKE_KEY}"
    np.testing.assert_allclose(result.vectors, np.array([vector_for(word) for word in words]), atol=1e-6)
    assert result.found.all()


def test_duplicates_sent_once_empty_reported_missing(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    result = client.embed_sentences(["a cat", "", "a dog", "a cat"])
    assert endpoint.requests[0]["body"]["input"] == ["a cat", "a dog"]
    assert result.found.tolist() == [True, False, True, True]
    assert not result.vectors[1].any()
    np.testing.assert_array_equal(result.vectors[0], result.vectors[3])


def test_in_context_is_the_sentence(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    result = client.embed_in_context([WordInContext("the river bank", 10, 14)])
    assert endpoint.requests[0]["body"]["input"] == ["the river bank"]
    np.testing.assert_allclose(result.vectors[0], vector_for("the river bank"), atol=1e-6)
    assert "whole sentence (no token access)" in client.info.extraction.pooling


def test_429_retried_honouring_retry_after(
    client: api.EmbeddingsApi, endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(client, "_sleep", delays.append)
    endpoint.fail(429, **{"Retry-After": "0.02"})
    endpoint.fail(429)
    result = client.embed_words(["hello"])
    assert len(endpoint.requests) == 3
    assert delays[0] == pytest.approx(0.02)
    assert 0.002 <= delays[1] <= 0.0025  # exponential: second back-off doubles the base delay
    np.testing.assert_allclose(result.vectors[0], vector_for("hello"), atol=1e-6)


def test_500_retried_then_succeeds(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    endpoint.fail(500)
    endpoint.fail(503)
    assert client.embed_words(["hello"]).found.all()
    assert len(endpoint.requests) == 3


def test_persistent_5xx_gives_up_after_bounded_attempts(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    client.max_attempts = 3
    for _ in range(5):
        endpoint.fail(502, {"error": {"message": f"bad gateway for {FAKE_KEY}"}})
    with pytest.raises(api.ApiError, match="failed 3 times") as caught:
        client.embed_words(["hello"])
    assert len(endpoint.requests) == 3
    assert "502" in str(caught.value)
    assert_no_key(caught.value)


def test_401_is_clear_and_keyless(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    masked = f"{FAKE_KEY[:8]}****{FAKE_KEY[-4:]}"
    endpoint.fail(401, {"error": {"message": f"Incorrect API key provided: {FAKE_KEY} ({masked})"}})
    with pytest.raises(api.ApiError, match="401") as caught:
        client.embed_words(["hello"])
    assert "OPENAI_API_KEY" in str(caught.value) and "rejected" in str(caught.value)
    assert len(endpoint.requests) == 1  # never retried
    assert_no_key(caught.value, repr(caught.value), caught.value.__cause__, caught.value.__context__)
    assert caught.value.__suppress_context__


def test_other_client_errors_keep_the_message_without_the_key(
    client: api.EmbeddingsApi, endpoint: FakeEndpoint
) -> None:
    endpoint.fail(400, {"error": {"message": f"input too long (key {FAKE_KEY})"}})
    with pytest.raises(api.ApiError, match="input too long") as caught:
        client.embed_words(["hello"])
    assert_no_key(caught.value)


def test_timeouts_retried_then_fail_clearly(
    client: api.EmbeddingsApi, endpoint: FakeEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.script.append(1.0)
    assert client.embed_words(["slow"]).found.all()  # one timeout, then an answer
    assert len(endpoint.requests) == 2
    client.max_attempts = 2
    endpoint.script.extend([1.0, 1.0])
    with caplog.at_level(logging.DEBUG), pytest.raises(api.ApiError, match=r"no answer within 0\.3 s") as caught:
        client.embed_words(["slower"])
    assert "failed 2 times" in str(caught.value)
    assert "retry" in caplog.text
    assert_no_key(caught.value, caplog.text)


def test_malformed_response_is_an_error(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    endpoint.script.append((200, {}, b'{"data": [{"index": 0, "embedding": [1.0]}]}'))
    with pytest.raises(api.ApiError, match="asked for 2"):
        client.embed_words(["one", "two"])


def test_key_appears_nowhere(client: api.EmbeddingsApi, endpoint: FakeEndpoint) -> None:
    client.embed_words(["hello"])
    record = json.dumps(client.info.as_record(), default=str)
    assert_no_key(repr(client), str(client), client.info, record, client.info.fingerprint, vars(client))
    assert client.info.family is Family.API
    # the provider by its host, as in the identity: no scheme, port or path, so another port keeps the key space
    assert client.info.weights == "api:127.0.0.1 model=text-embedding-test (not pinned)"


def test_credentials_in_base_url_stay_out_of_records(monkeypatch: pytest.MonkeyPatch) -> None:
    client = api.EmbeddingsApi("x", "m", dimension=4, base_url="https://user:secret@example.invalid/v1")
    assert "secret" not in repr(client) and "secret" not in client.info.weights


def test_no_key_means_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for name, dimension in [("openai-ada-002", 1536), ("openai-3-small", 1536), ("openai-3-large", 3072)]:
        entry = EMBEDDERS[name]
        assert entry.family is Family.API and entry.dimension == dimension
        reason = entry.unavailable_reason()
        assert reason is not None and "OPENAI_API_KEY" in reason
    client = api.EmbeddingsApi("x", "m", dimension=4, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(api.ApiError, match="set OPENAI_API_KEY"):
        client.embed_words(["hello"])


def test_registered_entry_reads_key_and_base_url_from_environment(
    endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", endpoint.url)
    entry = EMBEDDERS["openai-ada-002"]
    assert entry.unavailable_reason() is None
    embedder = entry.load()
    assert embedder.info.name == "openai-ada-002"
    embedder.embed_words(["hello"])
    assert endpoint.requests[0]["body"]["model"] == "text-embedding-ada-002"
    assert_no_key(repr(embedder), embedder.info.as_record())


def test_retry_after_http_date() -> None:
    soon = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (api._retry_after(soon) or 0) <= 31
    assert api._retry_after("garbage") is None
    assert api._retry_after("2") == 2.0


# ---------------------------------------------------------------- openai:MODEL[@BASE_URL]


def test_openai_spec_learns_the_dimension_and_needs_no_key(
    endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    entry = resolve(f"openai:nomic-embed-text@{endpoint.url}")
    assert (entry.name, entry.family, entry.dimension) == ("openai:nomic-embed-text@127.0.0.1", Family.API, None)
    assert entry.unavailable_reason() is None  # a server named in the spec may take requests without a key
    embedder = entry.load()
    assert embedder.info.dimension == DIMENSION  # asked of the server once, before any input
    assert [request["body"]["input"] for request in endpoint.requests] == [[api.DIMENSION_PROBE]]
    result = embedder.embed_words(["cat", "dog"])
    np.testing.assert_allclose(result.vectors, [vector_for("cat"), vector_for("dog")], atol=1e-6)
    assert all(request["authorization"] is None for request in endpoint.requests)  # no key, no header
    assert {request["body"]["model"] for request in endpoint.requests} == {"nomic-embed-text"}
    assert embedder.info.weights == "api:127.0.0.1 model=nomic-embed-text (not pinned)"


def test_openai_spec_without_url_takes_base_url_and_key_from_the_environment(
    endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    entry = resolve("openai:text-embedding-3-small")
    reason = entry.unavailable_reason()
    assert reason is not None and "OPENAI_API_KEY" in reason  # the default server wants a key, as before
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", endpoint.url)
    assert entry.unavailable_reason() is None
    embedder = entry.load()
    embedder.embed_words(["hello"])
    assert all(request["authorization"] == f"Bearer {FAKE_KEY}" for request in endpoint.requests)
    assert embedder.info.dimension == DIMENSION
    assert entry.identity_parts()["stamp"] == "127.0.0.1:text-embedding-3-small"
    assert_no_key(repr(embedder), embedder.info.as_record(), entry.identity_parts())


def test_openai_spec_identity_is_the_host_and_the_model_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with serving() as first, serving() as second:
        assert first.url != second.url  # two ports of one host
        here, there = resolve(f"openai:m@{first.url}"), resolve(f"openai:m@{second.url}")
        assert here.name == there.name == "openai:m@127.0.0.1"  # no port: the same name in every run
        assert here.identity() == there.identity() and here.recipe() == there.recipe()
        assert here.load().info.fingerprint == there.load().info.fingerprint  # so the vectors share their key space
    parts = json.dumps({k: v for k, v in here.identity_parts().items() if k != "code"})  # digests hold digits
    assert "http" not in parts and "/v1" not in parts and first.url.split(":")[-1].split("/")[0] not in parts
    assert here.identity_parts()["stamp"] == "127.0.0.1:m"
    assert resolve("openai:m@https://127.0.0.1/other/v1").identity() == here.identity()  # scheme and path too
    others = {resolve(f"openai:n@{first.url}").identity(), resolve("openai:m@http://localhost:8080/v1").identity()}
    assert here.identity() not in others and len(others) == 2  # another model, another host


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("openai:", "the model is empty"),
        ("openai:@http://127.0.0.1:8080/v1", "the model is empty"),
        ("openai:m@", "nothing after '@'"),
        ("openai:m@localhost:8080/v1", "'localhost:8080/v1' has no scheme"),
        ("openai:m@ftp://example.com/v1", "scheme 'ftp' is neither http nor https"),
        ("openai:m@http:///v1", "host '' is not a host name"),
        ("openai:m@http://bad host/v1", "host 'bad host' is not a host name"),
        ("openai:m@http://127.0.0.1:99999/v1", "port '99999' is not a number"),
        ("openai:m@http://127.0.0.1:/v1", "port '' is not a number"),
        ("openai:m@http://user:pass@example.com/v1", "a user or password before the host is refused"),
        ("openai:m@http://example.com/v1?key=1", "'?key=1' has no place in it"),
        ("openai:m@http://example.com/v1#prompt", "'#prompt'"),  # a fragment, or a strategy an API takes none of
    ],
)
def test_openai_spec_errors_name_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=r"^--embedder ") as caught:
        resolve(spec)
    assert message in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_refused_and_the_key_goes_nowhere_else(
    client: api.EmbeddingsApi, endpoint: FakeEndpoint, status: int
) -> None:
    with serving() as elsewhere:
        endpoint.fail(status, Location=f"{elsewhere.url}/embeddings")
        with pytest.raises(api.ApiError, match=f"answered {status}, a redirect to {elsewhere.url}/embeddings: refused"):
            client.embed_words(["cat"])
        assert elsewhere.requests == []  # neither the request nor its key reached the other server


def test_one_model_served_at_two_ports_of_one_host_in_one_session_is_a_usage_error() -> None:
    specs = "openai:m@http://127.0.0.1:8080/v1,openai:m@http://127.0.0.1:8081/v1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "evals/",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--embedder",
            specs,
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 4 and "are both openai:m@127.0.0.1, one embedder to the cache" in done.stderr, done.stderr


# ---------------------------------------------------------------- a served model behind the cache (runtime/served.py)


def test_a_served_model_is_asked_the_probe_once_per_process_and_never_under_cache_off(
    endpoint: FakeEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.served import PROBE, ServedModelChanged, ServedModelUnchecked
    from runtime.session import Runtime

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    entry = resolve(f"openai:nomic-embed-text@{endpoint.url}")

    def session(mode: str, words: list[str]) -> list[list[str]]:
        """The inputs the server was sent by one session process that embeds ``words`` twice."""
        before = len(endpoint.requests)
        runtime = Runtime(mode, None if mode == "off" else tmp_path)
        try:
            cached = runtime.embedder(entry)
            for _ in range(2):
                result = cached.embed_words(words)
                np.testing.assert_allclose(result.vectors, [vector_for(w) for w in words], atol=1e-6)
            return [request["body"]["input"] for request in endpoint.requests[before:]]
        finally:
            runtime.close()

    def computations() -> list[object]:
        runtime = Runtime("ro", tmp_path)
        try:
            return list(runtime.storage.get_computations(recipe=entry.recipe()))
        finally:
            runtime.close()

    dimension = [api.DIMENSION_PROBE]
    assert session("rw", ["cat", "dog"]) == [dimension, [PROBE], ["cat", "dog"]]
    first = computations()
    assert session("rw", ["cat", "dog"]) == [dimension, [PROBE]]  # warm: the probe, nothing of the inputs
    assert computations() == first and len(first) == 1  # the probe wrote no computation record
    assert session("off", ["cat"]) == [dimension, ["cat"]]  # no earlier cache to check

    # the server's model changes under the same name: its answers are not those cached
    monkeypatch.setattr(sys.modules[__name__], "vector_for", lambda text: list(-np.asarray(VECTOR_FOR(text))))
    runtime = Runtime("rw", tmp_path)
    try:
        cached = runtime.embedder(entry)
        with pytest.raises(ServedModelChanged, match=r"\(cosine -1\.0000 "):
            cached.embed_words(["cat"])
        asked = len(endpoint.requests)
        for _ in range(2):  # not asked again in this process; a new error each time, carrying the first's message
            with pytest.raises(ServedModelUnchecked, match=r"ServedModelChanged: .*\(cosine -1\.0000 ") as raised:
                cached.embed_words(["cat"])
            assert raised.value.__traceback__ is not None and raised.value.__context__ is None
        assert len(endpoint.requests) == asked
    finally:
        runtime.close()
