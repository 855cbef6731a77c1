"""The search box's HTTP side: one page and a JSON API over one shared :class:`~nl2q.compiler.Compiler`.

API (all JSON; ``POST`` bodies must be ``application/json``):

- ``GET /api/info``: the model, the sources (id, target, dialect, example questions), limits.
- ``GET /api/schema?source=ID``: the bound schema as data (:meth:`Bound.describe`).
- ``POST /api/ask {question, source}``: an NDJSON stream of ``queued`` (place in line), ``started``,
  ``stage`` (decode, check, dry_run, repair; 1-based round), ``round`` (each finished round),
  then ``result`` or ``error``. 503 with Retry-After when the line is full.
- ``POST /api/run {query, source, question}``: the same stream for a query a person edited: the same
  checks, read-only policy and dry run, no model.
- ``POST /api/expand {source, node}``: a node's neighbours through a checked query.
- ``POST /api/confirm {id}``; ``GET /api/history``; ``GET /api/history/ID``.

The policy is the server's, never the request's: every query is checked read-only and dry-run
with the server's limits whatever the page sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..compiler import Compiler
from ..errors import Nl2qError
from ..targets import Bound
from ..types import CompileResult
from ..watch import Cancelled, Watch
from .gate import Gate, RateLimit, Refused
from .jobs import Busy, Job, JobQueue
from .store import Store

log = logging.getLogger("nl2q.serve")
STATIC = Path(__file__).with_name("static")


@dataclass
class Source:
    """Something the page can ask of: a graph or a database, bound once at start-up."""

    id: str
    target: str
    source: Any
    dialect: str | None = None
    label: str = ""
    bound: Bound | None = None

    @property
    def scope(self) -> str:
        """Whose confirmed examples fit this source: the same target over the same data."""
        where = str(self.source)
        if isinstance(self.source, (str, Path)) and "://" not in where:
            where = str(Path(where).resolve())
        return f"{self.target}:{where}"


@dataclass
class Settings:
    sources: list[Source]
    store: Path
    token: str | None = None
    workers: int = 1
    max_waiting: int = 8
    max_body: int = 16_384
    max_question: int = 1_000
    max_query: int = 8_000
    rate_per_minute: float = 30.0
    examples: int = 3  # confirmed pairs retrieved per question
    check_workers: int = 2  # for model-free work: edited queries, neighbours


@dataclass
class Server:
    """The state every request shares."""

    settings: Settings
    compiler: Compiler
    store: Store
    model_queue: JobQueue
    check_queue: JobQueue
    rate: RateLimit
    sources: dict[str, Source] = field(default_factory=dict)

    def source(self, sid: Any) -> Source:
        if not isinstance(sid, str) or sid not in self.sources:
            raise Refused(400, f"unknown source {sid!r}", f"choose one of: {', '.join(self.sources)}")
        return self.sources[sid]


def create_app(settings: Settings, compiler: Compiler) -> Gate:
    """Bind every source (failing here, not at the first question), open the store, build the ASGI app."""
    server = Server(settings, compiler, Store(settings.store), JobQueue(settings.workers, settings.max_waiting),
                    JobQueue(settings.check_workers, 4 * settings.check_workers), RateLimit(settings.rate_per_minute))
    for src in settings.sources:
        src.bound = compiler.bind(src.source, src.target, src.dialect)
        src.label = src.label or f"{Path(str(src.source)).name} ({src.bound.target}, {src.bound.dialect.name})"
        server.sources[src.id] = src

    def api(handler: Callable[[Server, Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(server, request)
            except Refused as e:
                return e.response()
        return endpoint

    routes = [
        Route("/", index),
        Route("/api/info", api(info)),
        Route("/api/schema", api(schema)),
        Route("/api/ask", api(ask), methods=["POST"]),
        Route("/api/run", api(run), methods=["POST"]),
        Route("/api/expand", api(expand), methods=["POST"]),
        Route("/api/confirm", api(confirm), methods=["POST"]),
        Route("/api/history", api(history)),
        Route("/api/history/{item:int}", api(history_item)),
        Route("/api/health", api(health)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        server.model_queue.shutdown()
        server.check_queue.shutdown()
        server.store.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, Exception: _internal_error})
    app.state.server = server
    return Gate(app, token=settings.token, max_body=settings.max_body)


# ---------------------------------------------------------------------------------------------- pages


async def index(request: Request) -> Response:
    if "token" in request.query_params:  # the link carried the token: it now lives in a cookie, not the URL
        return RedirectResponse("/", status_code=303)
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def info(server: Server, request: Request) -> Response:
    s = server.settings
    return JSONResponse({
        "model": server.compiler.model.name,
        "sources": [{"id": src.id, "target": src.bound.target, "dialect": src.bound.dialect.name, "label": src.label,
                     "examples": src.bound.sample_questions()} for src in server.sources.values() if src.bound],
        "limits": {"max_question_chars": s.max_question, "max_query_chars": s.max_query,
                   "max_rows": server.compiler.policy.max_rows},
    })


async def schema(server: Server, request: Request) -> Response:
    src = server.source(request.query_params.get("source"))
    return JSONResponse(src.bound.describe())


async def health(server: Server, request: Request) -> Response:
    return JSONResponse({"ok": True, "model": server.model_queue.stats(), "check": server.check_queue.stats()})


async def history(server: Server, request: Request) -> Response:
    items = await asyncio.to_thread(server.store.history, _session(request))
    return JSONResponse({"items": items})


async def history_item(server: Server, request: Request) -> Response:
    found = await asyncio.to_thread(server.store.get, _session(request), request.path_params["item"])
    if found is None:
        raise Refused(404, "no such answer in this session's history")
    return JSONResponse(found)


async def confirm(server: Server, request: Request) -> Response:
    body = await _json(request)
    item = body.get("id")
    if not isinstance(item, int) or isinstance(item, bool):
        raise Refused(400, "say which answer is right", 'send {"id": <the answer\'s id>}')
    try:
        example = await asyncio.to_thread(server.store.confirm, _session(request), item)
    except LookupError:
        raise Refused(404, "no such answer in this session's history") from None
    except ValueError as e:
        raise Refused(400, str(e), "edit the query until it passes the checks, then confirm it") from None
    return JSONResponse({"ok": True, "id": example})


# ---------------------------------------------------------------------------------------------- work


async def ask(server: Server, request: Request) -> Response:
    body = await _json(request)
    src = server.source(body.get("source"))
    question = _text(body, "question", server.settings.max_question)
    server.rate.take(_client(request))
    session, k = _session(request), server.settings.examples

    def work(watch: Watch) -> dict[str, Any]:
        examples = server.store.examples.similar(src.scope, question, k)
        result = server.compiler.compile(question, schema=src.source, target=src.target, dialect=src.dialect,
                                         examples=examples, watch=watch)
        return _keep(server, session, src, _present(result, src, examples))

    return _stream(request, server.model_queue, work)


async def run(server: Server, request: Request) -> Response:
    body = await _json(request)
    src = server.source(body.get("source"))
    query = _text(body, "query", server.settings.max_query)
    question = body.get("question") if isinstance(body.get("question"), str) else ""
    question = question[: server.settings.max_question]
    server.rate.take(_client(request))
    session = _session(request)

    def work(watch: Watch) -> dict[str, Any]:
        result = server.compiler.run(query, schema=src.source, target=src.target, dialect=src.dialect,
                                     question=question, watch=watch)
        return _keep(server, session, src, _present(result, src, []))

    return _stream(request, server.check_queue, work)


async def expand(server: Server, request: Request) -> Response:
    body = await _json(request)
    src = server.source(body.get("source"))
    node = body.get("node")
    if not isinstance(node, dict):
        raise Refused(400, "say which node to expand", 'send {"source": ..., "node": {"label": ..., "properties": {...}}}')
    server.rate.take(_client(request))
    try:
        query = src.bound.neighbours(node)
    except Nl2qError as e:
        raise Refused(400, e.message, e.hint) from None
    if query is None:
        raise Refused(400, f"{src.bound.target} results have no graph to expand")

    def work(watch: Watch) -> dict[str, Any]:
        result = server.compiler.run(query, schema=src.source, target=src.target, dialect=src.dialect, watch=watch)
        return {"query": result.query, "valid": result.valid, "diagnostics": [d.to_dict() for d in result.diagnostics],
                "graph": src.bound.graph(result.dry_run) if result.dry_run else None}

    job = _submit(server.check_queue, work)
    try:
        async for _ in server.check_queue.stream(job):
            pass
    finally:
        server.check_queue.cancel(job)
    if job.error is not None:
        return _failure(job.error).response()
    return JSONResponse(job.result)


def _present(result: CompileResult, src: Source, examples: list[tuple[str, str]]) -> dict[str, Any]:
    """The result as the page shows it: without the prompts, with the graph in the rows."""
    out = result.to_dict()
    for r in out["rounds"]:
        r.pop("prompt", None)
    out["graph"] = src.bound.graph(result.dry_run) if result.dry_run and result.valid else None
    out["examples_used"] = [{"question": q, "query": s} for q, s in examples]
    out["edited"] = bool(result.config.get("edited"))
    out["source"] = src.id
    out["confirmed"] = False
    return out


def _keep(server: Server, session: str, src: Source, payload: dict[str, Any]) -> dict[str, Any]:
    payload["id"] = server.store.record(session, src.id, src.scope, payload)
    return payload


def _submit(queue: JobQueue, work: Callable[[Watch], Any]) -> Job:
    try:
        return queue.submit(work)
    except Busy as e:
        raise Refused(503, "the server is busy", f"try again in {e.retry_after} s",
                      headers={"Retry-After": str(e.retry_after)}) from None


def _stream(request: Request, queue: JobQueue, work: Callable[[Watch], Any]) -> Response:
    job = _submit(queue, work)

    async def lines():
        last = None
        try:
            async for event in queue.stream(job):
                if event is None:
                    if await request.is_disconnected():
                        return
                    yield b"\n"  # keeps the connection honest: a client that went away is noticed here
                    continue
                event = _public(event)
                if event != last:  # the decoder's finish checks report "check" once per candidate output
                    yield _line(event)
                last = event
            if job.error is None:
                yield _line({"event": "result", "result": job.result})
            elif not isinstance(job.error, Cancelled):
                yield _line({"event": "error", **_failure(job.error).body})
        finally:
            queue.cancel(job)

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _public(event: dict[str, Any]) -> dict[str, Any]:
    """A pipeline event as the page reads it: stages as ``stage`` events, rounds without their prompts."""
    if event["event"] in STAGES:
        return {"event": "stage", "stage": event["event"], "round": event.get("round")}
    if event["event"] == "round":
        return {"event": "round", "round": {k: v for k, v in event["round"].items() if k != "prompt"}}
    return event


STAGES = ("decode", "check", "dry_run", "repair")


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, default=str) + "\n").encode()


def _failure(error: BaseException) -> Refused:
    """What the client may see of an error: an :class:`Nl2qError`'s own words, else an id to find it in the log."""
    if isinstance(error, Nl2qError):
        return Refused(400, error.message, error.hint)
    ref = uuid.uuid4().hex[:12]
    log.error("request failed (%s)", ref, exc_info=error)
    return Refused(500, "internal error", f"the server logged it as {ref}")


# ---------------------------------------------------------------------------------------------- input


async def _json(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused(415, "send JSON", "set Content-Type: application/json")
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, f"{key} is missing", f"send a non-empty {key}")
    if len(value) > limit:
        raise Refused(413, f"the {key} is {len(value)} characters long; at most {limit} are taken",
                      f"shorten the {key}")
    return value.strip()


def _session(request: Request) -> str:
    return request.scope["state"]["session"]


def _client(request: Request) -> str:
    return _session(request) + "@" + (request.client.host if request.client else "")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail or "error", "hint": ""}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _failure(exc).response()
