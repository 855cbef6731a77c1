"""Models behind an HTTP server: the OpenAI-compatible chat API and the servers that extend it.

Each server takes a constraint its own way, so each has a module overriding only what differs
(sqlglot-style flags on :class:`ChatServer`): ``vllm`` (``structured_outputs``), ``sglang``
(``ebnf``), ``llamacpp`` (GBNF ``grammar``), ``responses`` (OpenAI's Responses API, a custom
tool whose input is a Lark grammar), ``ollama``; ``openai`` is the plain chat API. A server
that cannot take the target's grammar decodes unconstrained, and the compiler says so.

A spec names one: ``PROVIDER:MODEL@BASE_URL`` (``vllm:Qwen/Qwen2.5-7B-Instruct@http://gpu:8000/v1``);
the key comes from the environment (``NL2Q_API_KEY``, or the provider's own variable).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from ...errors import GrammarRejected, ModelError, require
from ...types import Constraint, ConstraintKind, Messages
from ...watch import checkpoint
from .. import Compiled, Finish, Generation, Guide, Model, Sampling

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_SPEC = re.compile(r"^(?P<model>.*?)(?:@(?P<url>https?://\S+))?$")


@dataclass(frozen=True)
class Endpoint:
    """Where a server is and how patiently to talk to it."""

    base_url: str
    model: str = ""
    api_key: str | None = None
    key_env: str = "NL2Q_API_KEY"
    timeout: float = 120.0  # seconds to wait for a response to start, and between streamed chunks
    max_retries: int = 3  # on connection errors, timeouts, 429 and 5xx, with exponential backoff
    backoff: float = 0.5


@dataclass
class Reply:
    """What a server answered, before it becomes a :class:`Generation`."""

    text: str = ""
    finish: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    first_token_ms: float = 0.0


class ChatServer(Model):
    """A server that speaks the OpenAI chat-completions API (``POST {base}/chat/completions``).

    Subclasses set the flags below and translate a compiled constraint into request fields.
    Requests stream, so the time to the first token is measured; usage is taken from the
    final chunk. Safe to share between threads: ``httpx.Client`` is.
    """

    provider: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    key_envs: ClassVar[tuple[str, ...]] = ("NL2Q_API_KEY", "OPENAI_API_KEY")
    continues_prefix: ClassVar[bool] = False  # the server continues a final assistant message (continue_final_message)
    repetition_penalty_field: ClassVar[str | None] = None  # the sampling field for a repetition penalty, if any
    grammar_words: ClassVar[tuple[str, ...]] = ("grammar", "schema", "regex", "structured")  # in a 400 about the constraint
    constraint_kinds: frozenset[ConstraintKind] = frozenset({"json_schema"})
    stream: bool = True

    def __init__(self, endpoint: Endpoint, *, defaults: Sampling | None = None, transport: Any = None) -> None:
        super().__init__()
        require("httpx", "remote", "a remote model")
        import httpx

        self.endpoint = endpoint
        self.name = f"{self.provider}:{endpoint.model}@{endpoint.base_url}"  # the spec that names it
        if defaults is not None:
            self.defaults = defaults
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._http = httpx.Client(base_url=endpoint.base_url.rstrip("/") + "/", headers=headers, transport=transport,
                                  timeout=httpx.Timeout(endpoint.timeout, connect=min(endpoint.timeout, 10.0)))
        self._sleep = time.sleep
        self._rejected: dict[str, str] = {}
        self._rejected_lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> "ChatServer":
        """``MODEL@BASE_URL``, ``MODEL`` (the provider's default URL) or ``@BASE_URL`` (the server's one model)."""
        m = _SPEC.match(spec.strip())
        assert m is not None
        base_url = m.group("url") or cls.default_base_url
        if not base_url:
            raise ModelError(f"{cls.provider}: no server URL in {spec!r}",
                             f"write --model {cls.provider}:MODEL@http://HOST:PORT/v1")
        key_env = options.pop("key_env", None)
        envs = (key_env,) if key_env else cls.key_envs
        key = next((os.environ[e] for e in envs if os.environ.get(e)), None)
        endpoint = Endpoint(base_url=base_url, model=m.group("model") or "", api_key=key, key_env=envs[0],
                            **{k: options.pop(k) for k in ("timeout", "max_retries") if k in options})
        return cls(endpoint, **options)

    # ------------------------------------------------------------------ constraints

    def _compile(self, constraint: Constraint) -> Compiled:
        return Compiled(constraint, self.constraint_fields(constraint))

    def constraint_fields(self, constraint: Constraint) -> dict[str, Any]:
        """The request fields that carry ``constraint`` (translated once, then shared by every request)."""
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "output", "schema": json.loads(constraint.text), "strict": True}}}

    # ------------------------------------------------------------------ requests

    def request(self, messages: Messages, prefix: str, constraint: Compiled | None, max_new_tokens: int,
                sampling: Sampling) -> tuple[str, dict[str, Any]]:
        """The path and JSON body of one generation request."""
        chat = [dict(m) for m in messages]
        body: dict[str, Any] = {"messages": chat, "max_tokens": max_new_tokens, **self.sampling_fields(sampling)}
        if self.endpoint.model:
            body["model"] = self.endpoint.model
        if prefix and self.continues_prefix:
            chat.append({"role": "assistant", "content": prefix})
            body |= {"continue_final_message": True, "add_generation_prompt": False}
        if self.stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        if constraint is not None:
            body |= constraint.handle
        return "chat/completions", body

    def sampling_fields(self, sampling: Sampling) -> dict[str, Any]:
        fields: dict[str, Any] = {"temperature": sampling.temperature, "seed": sampling.seed}
        if sampling.temperature > 0 and sampling.top_p < 1:
            fields["top_p"] = sampling.top_p
        if self.repetition_penalty_field and sampling.repetition_penalty != 1.0:
            fields[self.repetition_penalty_field] = sampling.repetition_penalty
        return fields

    def parse(self, data: dict[str, Any], reply: Reply) -> None:
        """Fold one response object (or streamed chunk) into ``reply``."""
        for choice in data.get("choices") or ():
            part = choice.get("delta") or choice.get("message") or {}
            reply.text += part.get("content") or ""
            reply.finish = choice.get("finish_reason") or reply.finish
        usage = data.get("usage") or {}
        reply.prompt_tokens = usage.get("prompt_tokens", reply.prompt_tokens)
        reply.output_tokens = usage.get("completion_tokens", reply.output_tokens)

    def finish(self, reply: Reply) -> Finish:
        return "length" if reply.finish in ("length", "max_tokens", "max_output_tokens") else "eos"

    # ------------------------------------------------------------------ generate

    def generate(self, messages: Messages, *, prefix: str = "", constraint: Compiled | None = None,
                 max_new_tokens: int = 256, sampling: Sampling | None = None, guide: Guide | None = None) -> Generation:
        if constraint is not None:
            with self._rejected_lock:
                refused = self._rejected.get(constraint.constraint.key)
            if refused:
                raise GrammarRejected(refused, "decoded without it; the output is checked afterwards")
        path, body = self.request(messages, prefix, constraint, max_new_tokens, sampling or self.defaults)
        t0 = time.perf_counter()
        reply = self._send(path, body, constraint, t0)
        elapsed = (time.perf_counter() - t0) * 1000
        finish = self.finish(reply)
        return Generation(
            text=continuation(prefix, reply.text, reopened=not self.continues_prefix),
            finish=finish, prompt_tokens=reply.prompt_tokens, output_tokens=reply.output_tokens,
            elapsed_ms=elapsed, constrained=constraint is not None,
            accepting=finish != "length",  # the server does not say whether its grammar had ended: assume not
            prefill_ms=reply.first_token_ms,
        )

    def _send(self, path: str, body: dict[str, Any], constraint: Compiled | None, t0: float) -> Reply:
        import httpx

        url = f"{self.endpoint.base_url.rstrip('/')}/{path}"
        for attempt in range(self.endpoint.max_retries + 1):
            last = attempt == self.endpoint.max_retries
            try:
                with self._http.stream("POST", path, json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                        wait = self._refusal(response, url, constraint, last)
                    else:
                        return self._read(response, t0)
            except httpx.TimeoutException:
                if last:
                    raise ModelError(f"{url} did not answer within {self.endpoint.timeout:g} s "
                                     f"({attempt + 1} tries)", "raise --timeout, or check the server's load") from None
                wait = self.endpoint.backoff * 2 ** attempt
            except httpx.TransportError as e:
                if last:
                    raise ModelError(f"cannot reach {url}: {e}",
                                     "is the server running? check the URL in --model") from None
                wait = self.endpoint.backoff * 2 ** attempt
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _refusal(self, response: Any, url: str, constraint: Compiled | None, last: bool) -> float:
        """Raise the error a refused request means, or return how long to wait before retrying it."""
        status = response.status_code
        message = _error_message(response)
        if status in (401, 403):
            raise ModelError(f"{url} refused the credentials (HTTP {status}): {message}",
                             f"set {self.endpoint.key_env} to a valid key for this server")
        if status in RETRY_STATUS and not last:
            after = response.headers.get("retry-after", "")
            return min(float(after), 30.0) if after.replace(".", "", 1).isdigit() else self.endpoint.backoff * 2
        if status in (400, 422) and constraint is not None and any(w in message.lower() for w in self.grammar_words):
            text = f"{self.provider} server rejected the {constraint.constraint.kind} constraint: {message}"
            with self._rejected_lock:
                self._rejected[constraint.constraint.key] = text
            raise GrammarRejected(text, "decoded without it; the output is checked afterwards")
        if status == 404:
            raise ModelError(f"{url} not found (HTTP 404): {message}",
                             "check the base URL (it usually ends in /v1) and the model name")
        raise ModelError(f"{url} answered HTTP {status}: {message}",
                         "the server refused the request; see its log" if status < 500 else "the server failed; retry later")

    def _read(self, response: Any, t0: float) -> Reply:
        reply = Reply()
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()
            self.parse(response.json(), reply)
            return reply
        for event in _events(response.iter_lines()):
            checkpoint()
            if not reply.first_token_ms and _has_text(event):
                reply.first_token_ms = (time.perf_counter() - t0) * 1000
            self.parse(event, reply)
        return reply


def _has_text(event: dict[str, Any]) -> bool:
    return any((c.get("delta") or {}).get("content") for c in event.get("choices") or ())


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, up to ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if data:
            event = json.loads(data)
            if "error" in event:
                raise ModelError(f"the server failed mid-answer: {_message_of(event)}", "retry, or see the server's log")
            yield event


def _message_of(payload: Any) -> str:
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or error)
    return str(error)


def _error_message(response: Any) -> str:
    try:
        return _message_of(response.json())[:500]
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase


_OPENING_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n")


def continuation(prefix: str, reply: str, reopened: bool = True) -> str:
    """What a server wrote after ``prefix``.

    Some servers echo a continued message's prefix (llama-server does, unless streaming). One that
    could not continue it (``reopened``) and was meant to start inside a code fence opens its own,
    or none: keep what follows.
    """
    if prefix and reply.startswith(prefix):
        return reply[len(prefix):]
    if reopened and prefix.startswith("```"):
        m = _OPENING_FENCE.search(reply)
        if m:
            return reply[m.end():]
    return reply


__all__ = ["ChatServer", "Endpoint", "Reply", "continuation"]
