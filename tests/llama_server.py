"""llama.cpp's OpenAI-compatible server (llama-cpp-python's ``python -m llama_cpp.server``) serving one GGUF file on
127.0.0.1, started and stopped here: the real server the suite's ``openai:MODEL@BASE_URL`` embedder is tested and
timed against (tests/test_llama_server.py, bench/server_vs_transformers.py)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from embedders.threads import cpu_share

# llama_cpp itself, then what its server imports (the `server` extra of llama-cpp-python)
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
INSTALL = (
    "pip install 'embedding-claims[server]' (compiles llama.cpp, about 3 min on 2 cores; "
    "scripts/setup compiles it once and keeps the wheel)"
)
MEAN_POOLING = 1  # llama.cpp's LLAMA_POOLING_TYPE_MEAN
LAST_POOLING = 3  # LLAMA_POOLING_TYPE_LAST: the same weights answering otherwise, under the same model name
LOG_TAIL = 3000
STOP_SECONDS = 10.0


def server_problem() -> str | None:
    """Why the server cannot start here, or None."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"llama.cpp's server is not installed (no {', '.join(missing)}): {INSTALL}"
    return None


@dataclass(frozen=True)
class RunningServer:
    """A started server: where it answers and the model id it serves."""

    base_url: str  # http://127.0.0.1:PORT/v1
    model: str  # as GET /v1/models names it
    log: Path  # the server's stdout and stderr
    pid: int  # for what only the process can say, e.g. the CPU time it used

    @property
    def spec(self) -> str:
        """The suite's --embedder spec for this server's model."""
        return f"openai:{self.model}@{self.base_url}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-LOG_TAIL:]


def gguf_architecture(gguf: Path) -> str:
    """The file's ``general.architecture`` (llama for SmolLM2): its metadata keys are named after it."""
    from gguf import GGUFReader

    return str(GGUFReader(gguf).fields["general.architecture"].contents())


def free_port() -> int:
    """A port nothing listens on now; the server binds it a moment later (a rare race fails the start, with the
    server's own message in the error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def llama_server(
    gguf: Path, log: Path, *, threads: int | None = None, timeout: float = 120.0, pooling: int = MEAN_POOLING
) -> Iterator[RunningServer]:
    """Serves ``gguf`` with /v1/embeddings on a free port of 127.0.0.1 until the block ends, whatever ends it.

    The model is named by its file's stem, so the served id (part of the embedder's identity, hence of its cache
    keys) does not depend on where the file is installed."""
    port = free_port()
    threads = threads or cpu_share()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        gguf.stem,
        "--embedding",
        "true",
        # A causal LM's GGUF names no pooling, and llama.cpp then pools nothing: /v1/embeddings answers one vector
        # per token (SmolLM2: "king" 1x576, "hello world" 2x576), which no OpenAI client takes for an embedding.
        # 0.3.36's server has no pooling option, so the file's pooling key is overridden: mean by default, as
        # the suite's default LLM strategy pools (over the last layer after the final norm, as llama.cpp's are).
        "--kv_overrides",
        f"{gguf_architecture(gguf)}.pooling_type=int:{pooling}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # embeddings run as batches, on the batch threads; both set so that the server takes this process's share
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        # locking the weights in RAM is for a long-lived server; here it would only warn under a low RLIMIT_MEMLOCK
        "--use_mlock",
        "false",
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        # a file, not a pipe: a pipe nobody reads fills up and blocks the server mid-request
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        model = _wait_until_serving(process, base_url, log, timeout)
        yield RunningServer(base_url=base_url, model=model, log=log, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(process: subprocess.Popen, base_url: str, log: Path, timeout: float) -> str:
    """The served model's id, once GET /v1/models answers; RuntimeError with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama.cpp's server exited with {process.returncode} before serving {base_url}; its log:\n"
                f"{log.read_text(errors='replace')[-LOG_TAIL:]}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                models = json.loads(response.read())["data"]
            if len(models) != 1:
                raise RuntimeError(f"{base_url}/models lists {len(models)} models, expected the one it was given")
            return str(models[0]["id"])
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            problem = str(error)
        time.sleep(0.2)
    raise RuntimeError(
        f"llama.cpp's server did not answer {base_url}/models within {timeout:g} s (last: {problem}); its log:\n"
        f"{log.read_text(errors='replace')[-LOG_TAIL:]}"
    )
