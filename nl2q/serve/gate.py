"""What every request passes before the app sees it: the token, the session, the size limit, the headers.

A pure ASGI middleware, so streamed answers pass through untouched. The token is compared in
constant time and may come as ``Authorization: Bearer``, the ``nl2q_token`` cookie, or once as
``/?token=`` (which sets the cookie). Browsers never send the cookies cross-site (SameSite=Strict),
and requests whose Origin is another site are refused.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse, Response

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SESSION_COOKIE = "nl2q_session"
TOKEN_COOKIE = "nl2q_token"
_SESSION = re.compile(r"[A-Za-z0-9_-]{22,64}")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]


class Refused(Exception):
    """A request the server will not serve, with what to tell the client."""

    def __init__(self, status: int, error: str, hint: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.headers = status, headers or {}
        self.body = {"error": error, "hint": hint, "message": error}

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


class RateLimit:
    """A token bucket per client: ``per_minute`` requests a minute, bursts up to a quarter of that."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute / 4)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, client: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self.lock:
            tokens, then = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                wait = int((1 - tokens) / self.rate) + 1
                raise Refused(429, "too many requests", f"try again in {wait} s", headers={"Retry-After": str(wait)})
            self.buckets[client] = (tokens - 1, now)
            if len(self.buckets) > 10_000:  # forget the idle, so the table stays bounded
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 600}


class Gate:
    def __init__(self, app: Callable[..., Awaitable[None]], *, token: str | None, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token.encode() if token else None, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is as good as none
            cookies = SimpleCookie()
        set_cookies: list[str] = []

        refusal = self._refusal(scope, headers, cookies, set_cookies)
        if refusal is not None:
            return await self._send(refusal.response(), scope, receive, send)

        session = cookies[SESSION_COOKIE].value if SESSION_COOKIE in cookies else ""
        if not _SESSION.fullmatch(session):
            session = secrets.token_urlsafe(24)
            set_cookies.append(_cookie(SESSION_COOKIE, session))
        scope.setdefault("state", {})["session"] = session

        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await self._send(Refused(413, f"the request is larger than {self.max_body} bytes",
                                            "send a shorter question or query").response(), scope, receive, send)

        received = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:  # the app's handlers answer a Refused with its status
                    raise Refused(413, f"the request is larger than {self.max_body} bytes",
                                  "send a shorter question or query")
            return message

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = HEADERS + [(b"set-cookie", c.encode()) for c in set_cookies]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, bounded_receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: dict[str, str], cookies: SimpleCookie,
                 set_cookies: list[str]) -> Refused | None:
        origin = headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != headers.get("host", ""):
            return Refused(403, "cross-site requests are refused")
        if self.token is None:
            return None
        given = ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        elif TOKEN_COOKIE in cookies:
            given = cookies[TOKEN_COOKIE].value
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if scope["path"] == "/" and query.get("token"):
                given = query["token"][0]
                if hmac.compare_digest(given.encode(), self.token):
                    set_cookies.append(_cookie(TOKEN_COOKIE, given))
        if hmac.compare_digest(given.encode(), self.token):
            return None
        return Refused(401, "this server needs a token", "open the link with ?token=..., or send Authorization: Bearer",
                       headers={"WWW-Authenticate": "Bearer"})

    @staticmethod
    async def _send(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        response.raw_headers += HEADERS
        await response(scope, receive, send)


def _cookie(name: str, value: str) -> str:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict"
