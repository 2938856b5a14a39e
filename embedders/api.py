"""OpenAI-compatible embeddings endpoints (``POST {base_url}/embeddings``), on the standard library only.

The key comes from the environment at each request and is kept nowhere else: not on the object, not in its
info or fingerprint, not in messages or logs. Servers that echo the key in an error body get it redacted.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from urllib.parse import urlsplit

import numpy as np

from embedders.base import EmbedderInfo, Embeddings, Extraction, Family, LoadOptions, WordInContext
from embedders.registry import SPEC_FORMS, EmbedderEntry, register_embedder

log = logging.getLogger(__name__)

KEY_VARIABLE = "OPENAI_API_KEY"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"  # trusted, as before, to keep one model behind each name (see EmbedderEntry.served)
RETRIED_STATUSES = {408, 409, 429, 500, 502, 503, 504}
BODY_EXCERPT = 300
DIMENSION_PROBE = "dimension"  # the text embedded once to learn an undeclared model's dimension


def effective_base_url(base_url: str | None = None) -> str:
    """The base URL requests go to: the one given, else $OPENAI_BASE_URL, else OpenAI's."""
    return base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL


def key_may_travel(base_url: str) -> bool:
    """The key goes only where nobody on the way can read it: over https, or over http to this machine. A server
    elsewhere on plain http (a colleague's vLLM) gets no key, whatever is set."""
    parts = urlsplit(base_url)
    return parts.scheme == "https" or (parts.hostname or "") in LOOPBACK


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the request, key included, to wherever the server says: an embeddings endpoint has
    no reason to redirect, so the 3xx is an error (naming where it pointed) and nothing is sent further."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


NO_REDIRECTS = urllib.request.build_opener(RefuseRedirects)


class ApiError(RuntimeError):
    """The endpoint refused or kept failing; the message never carries the key."""


class EmbeddingsApi:
    """One model behind an OpenAI-compatible endpoint: batched, retried with exponential back-off."""

    def __init__(
        self,
        name: str,
        model: str,
        *,
        dimension: int | None,
        base_url: str | None = None,
        key_variable: str = KEY_VARIABLE,
        batch_size: int = 256,
        max_attempts: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        key_required: bool = True,
    ) -> None:
        self.model = model
        self.base_url = effective_base_url(base_url).rstrip("/")
        self.key_variable = key_variable  # the variable's name, never its value
        # a local server (Ollama, llama.cpp, vLLM without --api-key) takes requests without a key
        self.key_required = key_required
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._sleep = sleep
        self._dimension = dimension
        endpoint = urlsplit(self.base_url)
        # Scheme, host and path only: user:password@ or a query string must not reach records or messages.
        self._endpoint = f"{endpoint.scheme}://{endpoint.hostname or ''}{f':{endpoint.port}' if endpoint.port else ''}"
        self._endpoint += endpoint.path
        self.info = EmbedderInfo(
            name=name,
            family=Family.API,
            parameters=None,
            dimension=dimension,
            extraction=Extraction(
                pooling="service-side; word = the word's text; in-context: whole sentence (no token access)",
                layer="service output",
                prompt=None,
                normalisation="as returned (OpenAI's are unit length)",
                casing="case-sensitive (text passed as given)",
                oov="none: sub-word tokenizer",
            ),
            # The served weights are whatever that provider calls `model` today: named, not pinned. By the host
            # alone, as in the identity: the same server's vectors keep their key space on another port or path.
            weights=f"api:{endpoint.hostname or '?'} model={model} (not pinned)",
        )

    def __repr__(self) -> str:
        return f"EmbeddingsApi({self.info.name!r}, model={self.model!r}, endpoint={self._endpoint!r})"

    # ------------------------------------------------------------ protocol

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return self._embed(words)

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return self._embed(sentences)

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        # The service returns one pooled vector per text: the sentence stands for the word.
        return self._embed([item.sentence for item in items])

    def close(self) -> None:
        """Nothing is held between requests."""

    def discover_dimension(self) -> int:
        """The dimension, asked of the server with one short text when it was not declared: known before any input
        is embedded, so the info (and its fingerprint) describes the model the same way on every call."""
        if self._dimension is None:
            (vector,) = self._request([DIMENSION_PROBE])
            self._dimension = len(vector)
            self.info = replace(self.info, dimension=self._dimension)
        return self._dimension

    # ------------------------------------------------------------ requests

    def _embed(self, texts: Sequence[str]) -> Embeddings:
        # The API rejects empty strings; they are reported missing instead of failing the whole batch.
        found = np.fromiter((bool(text.strip()) for text in texts), dtype=bool, count=len(texts))
        distinct = list(dict.fromkeys(text for text in texts if text.strip()))
        rows: list[np.ndarray] = []
        for start in range(0, len(distinct), self.batch_size):
            rows.extend(self._request(distinct[start : start + self.batch_size]))
        dimension = len(rows[0]) if rows else (self._dimension or 0)
        if any(len(row) != dimension for row in rows):  # batches answered with different sizes
            raise ApiError(f"{self.info.name}: the endpoint returned embeddings of different lengths")
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        position = {text: index for index, text in enumerate(distinct)}
        for row, text in enumerate(texts):
            if found[row]:
                vectors[row] = rows[position[text]]
        return Embeddings(vectors, found)

    def _request(self, batch: list[str]) -> list[np.ndarray]:
        key = os.environ.get(self.key_variable, "")
        if not key and self.key_required:
            raise ApiError(f"{self.info.name}: set {self.key_variable} to use {self._endpoint}")
        url = f"{self.base_url}/embeddings"
        shown = f"{self._endpoint}/embeddings"
        payload = json.dumps({"model": self.model, "input": batch}).encode()
        headers = {"Content-Type": "application/json"}
        if key and key_may_travel(self.base_url):
            headers["Authorization"] = f"Bearer {key}"
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
                with NO_REDIRECTS.open(request, timeout=self.timeout) as response:
                    return self._parse(response.read(), len(batch))
            except urllib.error.HTTPError as error:
                status = error.code
                body = _redact(_read_body(error), key)[:BODY_EXCERPT]  # cut after redacting: no key halves
                if status in (401, 403) and key and "Authorization" not in headers:
                    raise ApiError(
                        f"{self.info.name}: {shown} answered {status}: it wants a key, which is sent only over https "
                        "or to this machine (never in clear text across a network)"
                    ) from None
                if status in (401, 403) and not key:
                    raise ApiError(
                        f"{self.info.name}: {shown} answered {status}: it wants a key; set {self.key_variable}"
                    ) from None
                if status in (401, 403):
                    raise ApiError(
                        f"{self.info.name}: {shown} answered {status} "
                        f"({'the key was rejected' if status == 401 else 'the key may not use this model'}); "
                        f"check {self.key_variable} and {BASE_URL_VARIABLE}"
                    ) from None
                if 300 <= status < 400:
                    raise ApiError(
                        f"{self.info.name}: {shown} answered {status}, a redirect to {error.headers.get('Location')}: "
                        "refused, since it would carry the request and key elsewhere; give the final URL"
                    ) from None
                if status not in RETRIED_STATUSES:
                    raise ApiError(f"{self.info.name}: {shown} answered {status}: {body}") from None
                problem = f"HTTP {status}: {body}"
                retry_after = _retry_after(error.headers.get("Retry-After"))
            except TimeoutError:
                problem = f"no answer within {self.timeout:g} s"
            except urllib.error.URLError as error:
                reason = error.reason
                timed_out = isinstance(reason, TimeoutError)
                problem = f"no answer within {self.timeout:g} s" if timed_out else f"connection failed: {reason}"
            except (ConnectionError, http.client.HTTPException) as error:
                problem = f"connection failed: {type(error).__name__}"
            if attempt == self.max_attempts:
                break
            delay = self._delay(attempt, retry_after)
            log.warning("%s: %s; retry %d/%d in %.2f s", self.info.name, problem, attempt, self.max_attempts - 1, delay)
            self._sleep(delay)
        raise ApiError(f"{self.info.name}: {shown} failed {self.max_attempts} times; last: {problem}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        backoff = self.base_delay * 2 ** (attempt - 1)
        return min(backoff * (1 + 0.25 * random.random()), self.max_delay)  # jitter spreads parallel clients

    def _parse(self, raw: bytes, expected: int) -> list[np.ndarray]:
        try:
            data = json.loads(raw)["data"]
            ordered = sorted(data, key=lambda item: item["index"])
            vectors = [np.asarray(item["embedding"], dtype=np.float32) for item in ordered]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ApiError(f"{self.info.name}: unexpected response ({type(error).__name__}: {error})") from None
        if [item["index"] for item in ordered] != list(range(expected)):
            raise ApiError(f"{self.info.name}: asked for {expected} embeddings, got indices of {len(ordered)}")
        lengths = sorted({vector.shape[0] if vector.ndim == 1 else -1 for vector in vectors})
        if len(lengths) != 1 or lengths[0] < 1:
            shown = ", ".join("not a list of numbers" if n < 0 else str(n) for n in lengths)
            raise ApiError(f"{self.info.name}: unexpected response (embedding lengths {shown})")
        return vectors


def _read_body(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read().decode("utf-8", "replace")
    except OSError:
        return ""
    try:
        message = json.loads(text)["error"]["message"]
        text = str(message)
    except (ValueError, KeyError, TypeError):
        pass
    return text


def _redact(text: str, key: str) -> str:
    if not key:
        return text
    text = text.replace(key, "[key]")
    # OpenAI's own messages quote a masked key whose visible ends are still parts of it.
    for size in range(len(key) - 1, 3, -1):
        for start in (0, len(key) - size):
            text = text.replace(key[start : start + size], "[key]")
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the other form the header may take: an HTTP date
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError):
        return None


def key_problem() -> str | None:
    if os.environ.get(KEY_VARIABLE):
        return None
    return f"set {KEY_VARIABLE} (and {BASE_URL_VARIABLE} for another OpenAI-compatible server)"


OPENAI_MODELS = {  # name: (served model, dimension, summary, the paper's model it is)
    "openai-ada-002": ("text-embedding-ada-002", 1536, "OpenAI text-embedding-ada-002, the paper's ADA", "ADA"),
    "openai-3-small": ("text-embedding-3-small", 1536, "OpenAI text-embedding-3-small", None),
    "openai-3-large": ("text-embedding-3-large", 3072, "OpenAI text-embedding-3-large", None),
}


def provider_stamp(model: str, base_url: str | None = None) -> str:
    """The provider, as the base URL's host without scheme or port, and the model asked for: the same server's
    vectors share the cache from any machine, and two hosts never share theirs. On any host but OpenAI's, the model
    behind the name is checked too (runtime/served.py)."""
    return f"{urlsplit(effective_base_url(base_url)).hostname or '?'}:{model}"


def served_elsewhere(base_url: str | None = None) -> bool:
    """Whether the model is served by another host than OpenAI's."""
    return urlsplit(effective_base_url(base_url)).hostname != OPENAI_HOST


def _opener(name: str, model: str, dimension: int) -> Callable[[LoadOptions], EmbeddingsApi]:
    def open_api(options: LoadOptions) -> EmbeddingsApi:
        return EmbeddingsApi(name, model, dimension=dimension)

    return open_api


for _name, (_model, _dimension, _summary, _paper_model) in OPENAI_MODELS.items():
    register_embedder(
        _name,
        family=Family.API,
        parameters=None,
        dimension=_dimension,
        summary=f"{_summary} (paid API; needs {KEY_VARIABLE})",
        how_to_get=f"set {KEY_VARIABLE}",
        check=key_problem,
        stamp=partial(provider_stamp, _model),
        served=served_elsewhere,
        paper_model=_paper_model,
    )(_opener(_name, _model, _dimension))


# ---------------------------------------------------------------- openai:MODEL[@BASE_URL], any served model

BASE_URL_SHAPE = "http(s)://HOST[:PORT][/PATH]"
# a host name (letters, digits, '-', '_', dots between labels) or an IPv6 address as urlsplit gives it, unbracketed
HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?|[0-9a-f:.]*:[0-9a-f:.]*")


def check_base_url(url: str) -> str:
    """The base URL given after '@', checked to be http(s)://HOST[:PORT][/PATH]; ValueError naming the part that is
    not. A credential in the URL is refused: it would be recorded and sent as part of the URL."""
    if not url:
        raise ValueError(f"nothing after '@'; give the server's base URL, {BASE_URL_SHAPE}")
    if "://" not in url:
        raise ValueError(f"base URL {url!r} has no scheme; give {BASE_URL_SHAPE}, e.g. http://{url}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base URL {url!r}: scheme {parts.scheme!r} is neither http nor https")
    if "@" in parts.netloc:
        raise ValueError(f"base URL: a user or password before the host is refused; put a key in {KEY_VARIABLE}")
    if not parts.hostname or not HOST.fullmatch(parts.hostname):
        raise ValueError(f"base URL {url!r}: host {parts.hostname or ''!r} is not a host name; give {BASE_URL_SHAPE}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        shown = parts.netloc.rpartition(":")[2]
        raise ValueError(f"base URL {url!r}: port {shown!r} is not a number from 1 to 65535")
    if parts.query or parts.fragment:
        extra = f"?{parts.query}" if parts.query else f"#{parts.fragment}"
        raise ValueError(f"base URL {url!r}: {extra!r} has no place in it; give {BASE_URL_SHAPE}")
    return url.rstrip("/")


def open_served(name: str, model: str, base_url: str | None, options: LoadOptions) -> EmbeddingsApi:
    """A client of the model, its dimension learnt from the server. A key is needed only for the default server
    (OPENAI_BASE_URL, else OpenAI's): a BASE_URL given in the spec may be a local server that takes none."""
    client = EmbeddingsApi(name, model, dimension=None, base_url=base_url, key_required=base_url is None)
    client.discover_dimension()
    return client


@dataclass(frozen=True)
class ServedModelForm:
    """``openai:MODEL[@BASE_URL]``: any embedding model on an OpenAI-compatible server."""

    name: str = "openai"
    family: Family = Family.API
    argument: str = "MODEL[@BASE_URL]"
    summary: str = (
        "any model on an OpenAI-compatible server (OpenAI, Ollama, vLLM, text-embeddings-inference, Infinity, "
        f"llama.cpp's server, LM Studio); BASE_URL defaults to ${BASE_URL_VARIABLE}, else OpenAI; the key, if the "
        f"server wants one, from ${KEY_VARIABLE}; the dimension is asked of the server"
    )

    def resolve(self, spec: str, argument: str) -> EmbedderEntry:
        # the model ends at the first '@': a BASE_URL may hold more, model names do not
        model, at, raw_url = argument.partition("@")
        model = model.strip()
        if not model:
            raise ValueError(f"the model is empty; give openai:{self.argument}, e.g. openai:nomic-embed-text")
        base_url = check_base_url(raw_url.strip()) if at else None
        host = urlsplit(base_url).hostname if base_url else None
        # named by the served model and its host, never the scheme, port or path, which differ between runs and
        # machines: comparison names, recorded expectations and history stay the same, and so do identities
        name = spec if host is None else f"openai:{model}@{host}"
        return EmbedderEntry(
            name=name,
            family=Family.API,
            parameters=None,
            dimension=None,  # learnt from the server when the model is opened
            summary=f"{model} served at {base_url or 'the default endpoint'}",
            loader=partial(open_served, name, model, base_url),
            how_to_get=f"set {KEY_VARIABLE}" if base_url is None else f"start the server at {base_url}",
            check=key_problem if base_url is None else None,
            stamp=partial(provider_stamp, model, base_url),
            served=partial(served_elsewhere, base_url),
        )


SPEC_FORMS.register("openai", ServedModelForm())
