"""A real Splunk server, through ``splunk-sdk`` (``splunklib``): the schema from what the server holds, and dry runs
that Splunk itself parses and runs, bounded.

Imported only when a server is used; ``splunklib`` is imported inside the functions, so a missing extra fails with one
line naming it. The executor runs the text it is given: the caller checks it first (nl2q's checker refuses commands
that write, send or run scripts), and nothing here rewrites, filters or retries a search.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree.ElementTree import ParseError, fromstring

from ...errors import Nl2qError, SchemaError, require
from ...policy import Policy
from ...types import DryRun
from .schema import BUILTIN_FIELDS, Field, SplSchema

ENV_URL, ENV_TOKEN, ENV_USER, ENV_PASSWORD, ENV_VERIFY = (
    "NL2Q_SPLUNK_URL", "NL2Q_SPLUNK_TOKEN", "NL2Q_SPLUNK_USER", "NL2Q_SPLUNK_PASSWORD", "NL2Q_SPLUNK_VERIFY")
DEFAULT_PORT = 8089
_CREDENTIALS_HINT = (f"set {ENV_TOKEN} to a Splunk authentication token (Settings > Tokens), or {ENV_USER} and "
                     f"{ENV_PASSWORD}")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# what a search may name to set its own time range; when it names one, no default range is sent beside it
_TIME_TERM = re.compile(r"(?<![\w.])(?:earliest|latest|_index_earliest|_index_latest|starttimeu?|endtimeu?)\s*=",
                        re.IGNORECASE)
_TIME_VALUE = re.compile(r"[\w@+\-:./]+")  # a relative (-24h@h) or absolute time, nothing that could end the search


@dataclass(frozen=True)
class SplunkConfig:
    """How to reach splunkd's REST API (the management port, 8089 by default, not the web port).

    ``token`` is a Splunk authentication token, sent as ``Authorization: Bearer``; otherwise ``username`` and
    ``password`` log in for a session. ``verify`` checks the server's TLS certificate (turn it off only for a
    self-signed certificate on a network you trust). ``timeout_s`` bounds each HTTP read: keep it above the policy's
    ``timeout_s``, which bounds the search itself.
    """

    url: str  # scheme://host:port
    token: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    verify: bool = True
    app: str | None = None
    owner: str | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise Nl2qError(f"not a Splunk management URL: {self.url!r}",
                            "give https://host:8089 (or splunk://user:password@host:8089)")
        if not self.token and not (self.username and self.password):
            raise Nl2qError(f"no credentials for Splunk at {self.url}",
                            "pass token= (a Splunk authentication token), or username= and password=")

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or DEFAULT_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SplunkConfig | None:
        """The server named by ``NL2Q_SPLUNK_URL`` with its credentials from the environment; None when no URL is
        set, so callers and tests can tell "no server" from "a server misconfigured"."""
        env = os.environ if env is None else env
        url = env.get(ENV_URL, "").strip()
        return cls.from_url(url, env) if url else None

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] | None = None) -> SplunkConfig:
        """``https://host:8089``, ``http://...`` or ``splunk://user:password@host:8089`` (``splunk`` means https).
        Credentials in the URL win; otherwise they come from ``NL2Q_SPLUNK_TOKEN``, or ``NL2Q_SPLUNK_USER`` and
        ``NL2Q_SPLUNK_PASSWORD``. Query options: ``verify=0``, ``app=``, ``owner=``."""
        env = os.environ if env is None else env
        parts = urlsplit(url.strip())
        scheme = {"splunk": "https", "https": "https", "http": "http"}.get(parts.scheme.lower())
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise Nl2qError(f"bad port in Splunk URL {url!r}: {exc}", "give https://host:8089") from exc
        if scheme is None or not parts.hostname:
            raise Nl2qError(f"not a Splunk management URL: {url!r}",
                            f"set {ENV_URL} to https://host:8089 (or splunk://user:password@host:8089)")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        username = unquote(parts.username) if parts.username else ""
        password = unquote(parts.password) if parts.password else ""
        token = ""
        if not username:
            token = env.get(ENV_TOKEN, "").strip()
            username, password = env.get(ENV_USER, "").strip(), env.get(ENV_PASSWORD, "")
        elif not password:
            password = env.get(ENV_PASSWORD, "")
        if not token:
            if username and not password:
                raise Nl2qError(f"no password for Splunk user {username!r} at {host}:{port}",
                                f"set {ENV_PASSWORD}, or use {ENV_TOKEN} instead")
            if not username:
                raise Nl2qError(f"no credentials for Splunk at {host}:{port}", _CREDENTIALS_HINT)
        verify = _flag(options["verify"], "verify= in the Splunk URL") if "verify" in options else (
            _flag(env[ENV_VERIFY], ENV_VERIFY) if env.get(ENV_VERIFY, "").strip() else True)
        return cls(f"{scheme}://{host}:{port}", token=token, username="" if token else username,
                   password="" if token else password, verify=verify, app=options.get("app") or None,
                   owner=options.get("owner") or None)


def _flag(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE or v in _FALSE:
        return v in _TRUE
    raise Nl2qError(f"{name} is {value!r}, not a yes/no value", f"set {name} to 1 or 0 (true/false)")


def connect(config: SplunkConfig) -> Any:
    """A logged-in ``splunklib.client.Service``, its credentials tried once here so a wrong token or an unreachable
    port fails now with what to fix, not at the first dry run."""
    require("splunklib", "splunk", "a Splunk server")
    from splunklib import binding, client

    auth = {"splunkToken": config.token} if config.token else {"username": config.username,
                                                                "password": config.password}
    try:
        service = client.connect(scheme=config.scheme, host=config.host, port=config.port,
                                 verify=config.verify, app=config.app, owner=config.owner,
                                 handler=binding.handler(timeout=config.timeout_s, verify=config.verify), **auth)
        service.get("/services/authentication/current-context")  # server/info answers anyone; this needs a login
    except binding.HTTPError as exc:
        raise _refused(config, exc) if exc.status == 401 else Nl2qError(
            f"Splunk at {config.url} answered {exc.status}: {http_message(exc)}",
            "check the URL is splunkd's management port and the account may use the REST API") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _unreachable(config, exc) from exc
    return service


def _refused(config: SplunkConfig, exc: BaseException) -> Nl2qError:
    if config.token:
        return Nl2qError(f"Splunk at {config.url} refused the token: {http_message(exc)}",
                         f"check {ENV_TOKEN}: an enabled, unexpired token (Settings > Tokens), with token "
                         "authentication turned on")
    return Nl2qError(f"Splunk at {config.url} refused the login of {config.username!r}: {http_message(exc)}",
                     f"check {ENV_USER} and {ENV_PASSWORD}, or use {ENV_TOKEN}")


def _unreachable(config: SplunkConfig, exc: BaseException) -> Nl2qError:
    where = f"{config.host}:{config.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Nl2qError(f"cannot verify the TLS certificate of Splunk at {where}: {exc.verify_message}",
                         f"trust its CA, or set {ENV_VERIFY}=0 for a self-signed certificate on a network you trust")
    if isinstance(exc, ssl.SSLError):
        return Nl2qError(f"TLS with Splunk at {where} failed: {exc}",
                         f"splunkd speaks https unless SSL is off in its server.conf; then use http:// in {ENV_URL}")
    if isinstance(exc, ConnectionRefusedError):
        return Nl2qError(f"nothing accepts connections at {where} (connection refused)",
                         f"check {ENV_URL}: splunkd's management port (8089 by default, not the web port 8000)")
    if isinstance(exc, socket.gaierror):
        return Nl2qError(f"unknown host {config.host!r}: {exc}", f"check the host name in {ENV_URL}")
    if isinstance(exc, TimeoutError):
        return Nl2qError(f"Splunk at {where} did not answer within {config.timeout_s:g} s",
                         f"check {ENV_URL} and that a firewall lets the management port through")
    return Nl2qError(f"cannot reach Splunk at {where}: {exc}", f"check {ENV_URL} and that splunkd is running")


def http_message(exc: BaseException) -> str:
    """Splunk's own words from an error response (XML ``<msg>`` or JSON ``messages``), without the HTTP status line
    ``splunklib`` prefixes, or a JSON body it could not read."""
    body = getattr(exc, "body", b"")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    found: list[str] = []
    if text.lstrip().startswith("<"):
        try:
            found = [m.text.strip() for m in fromstring(text).iter("msg") if m.text and m.text.strip()]
        except ParseError:
            pass
    elif text.strip():
        try:
            found = [str(m.get("text", "")).strip() for m in json.loads(text).get("messages", [])
                     if isinstance(m, dict) and m.get("text")]
        except (ValueError, AttributeError):
            pass
    return "; ".join(found) if found else str(exc)


def splunk_search(text: str) -> str:
    """The search as the REST API takes it: a generating search (``| tstats ...``) as written, any other with the
    ``search`` command Splunk Web adds in front."""
    text = text.strip()
    if text.startswith("|") or re.match(r"search\s", text, re.IGNORECASE):
        return text
    return f"search {text}"


def names_time_range(text: str) -> bool:
    """Whether the search sets its own time range (``earliest=``, ``latest=`` and kin). A search that does gets
    no default range sent beside it."""
    return _TIME_TERM.search(text) is not None


def read_results(body: Any) -> dict[str, Any]:
    """A oneshot JSON response (``{"fields": [...], "results": [...], "messages": [...]}``) as one document;
    also takes the one-document-per-line form of an export stream, and an empty body (no results)."""
    raw = body.read() if hasattr(body, "read") else body
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    if not text.strip():
        return {"fields": [], "results": [], "messages": []}
    try:
        docs = [json.loads(text)]
    except ValueError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not all(isinstance(d, dict) for d in docs):
        raise ValueError("expected JSON objects with fields and results")
    out: dict[str, Any] = {"fields": [], "results": [], "messages": []}
    for doc in docs:
        out["fields"] += doc.get("fields") or []
        out["results"] += doc.get("results") or ([doc["result"]] if "result" in doc else [])
        out["messages"] += doc.get("messages") or []
    return out


def _columns(doc: dict[str, Any]) -> list[str]:
    """Splunk's field order, then any key only a row has; internal fields dropped but ``_time`` and ``_raw``."""
    names = [f.get("name", "") if isinstance(f, dict) else str(f) for f in doc["fields"]]
    for row in doc["results"]:
        names += list(row)
    return [n for n in dict.fromkeys(names) if n and (not n.startswith("_") or n in ("_time", "_raw"))]


def _errors(doc: dict[str, Any]) -> list[str]:
    return [str(m.get("text", "")) for m in doc["messages"]
            if isinstance(m, dict) and str(m.get("type", "")).upper() in ("FATAL", "ERROR")]


class SplunkExecutor:
    """Dry runs on a real Splunk server: Splunk's parser first (``mode="explain"`` on a parse error), then one oneshot
    search with ``| head`` appended, ``count=0`` and ``max_time`` from the policy.

    Values come back as Splunk gives them: strings, or lists for multivalue fields. The caller must check the search
    first: this runs what it is given.
    """

    engine = "splunk"

    def __init__(self, service: Any, *, earliest: str | None = None, latest: str | None = None) -> None:
        """``service``: a ``splunklib.client.Service`` (see :func:`connect`). ``earliest``/``latest``: a default time
        range, sent only with a search that names none (nl2q's checker already asks every search for one)."""
        require("splunklib", "splunk", "a Splunk server")
        for value in (earliest, latest):
            if value is not None and not _TIME_VALUE.fullmatch(value):
                raise Nl2qError(f"not a Splunk time: {value!r}", "give a relative time like -24h@h or an epoch")
        self.service = service
        self.earliest = earliest
        self.latest = latest

    def run(self, text: str, policy: Policy) -> DryRun:
        from splunklib.binding import HTTPError

        t0 = time.perf_counter()

        def ms() -> float:
            return (time.perf_counter() - t0) * 1000

        search = splunk_search(text)
        try:
            self.service.parse(search, parse_only=True)
        except HTTPError as exc:
            if exc.status == 401:
                raise _session_lost(exc) from exc
            return DryRun(ok=False, engine=self.engine, mode="explain", error=http_message(exc), elapsed_ms=ms())
        except (OSError, http.client.HTTPException) as exc:
            raise _lost(exc) from exc
        sent = f"{search} | head {policy.max_rows + 1}"
        params: dict[str, Any] = {"output_mode": "json", "count": 0, "max_time": max(1, math.ceil(policy.timeout_s))}
        if not names_time_range(text):
            params.update({k: v for k, v in (("earliest_time", self.earliest), ("latest_time", self.latest)) if v})
        try:
            doc = read_results(self.service.jobs.oneshot(sent, **params))
        except HTTPError as exc:
            if exc.status == 401:
                raise _session_lost(exc) from exc
            return DryRun(ok=False, engine=self.engine, mode="run", error=http_message(exc), plan=sent,
                          elapsed_ms=ms())
        except TimeoutError:
            return DryRun(ok=False, engine=self.engine, mode="run", plan=sent, elapsed_ms=ms(),
                          error="timed out: Splunk sent no results before the connection's read timeout")
        except (OSError, http.client.HTTPException) as exc:
            raise _lost(exc) from exc
        except ValueError as exc:
            return DryRun(ok=False, engine=self.engine, mode="run", plan=sent, elapsed_ms=ms(),
                          error=f"Splunk's response is not JSON results: {exc}")
        if errors := _errors(doc):
            return DryRun(ok=False, engine=self.engine, mode="run", error="; ".join(errors), plan=sent,
                          elapsed_ms=ms())
        if ms() >= policy.timeout_s * 1000:
            return DryRun(ok=False, engine=self.engine, mode="run", plan=sent, elapsed_ms=ms(),
                          error=f"timed out: the search ran past {policy.timeout_s:g} s, where Splunk finalizes it "
                                "(max_time) and returns partial results")
        columns = _columns(doc)
        rows = [[r.get(c) for c in columns] for r in doc["results"]]
        capped = len(rows) > policy.max_rows
        rows = rows[: policy.max_rows]
        return DryRun(ok=True, engine=self.engine, mode="run", columns=columns, rows=rows[: policy.preview_rows],
                      row_count=len(rows), capped=capped, plan=sent, elapsed_ms=ms())

    def close(self) -> None:
        """Nothing to release: ``splunklib`` opens and closes a connection per request."""


def _session_lost(exc: BaseException) -> Nl2qError:
    return Nl2qError(f"Splunk no longer accepts the credentials: {exc}",
                     f"the token or session expired or was revoked: renew {ENV_TOKEN} (or log in again) and reconnect")


def _lost(exc: BaseException) -> Nl2qError:
    return Nl2qError(f"lost the connection to Splunk: {exc}", f"check that splunkd is up and reachable at {ENV_URL}")


def schema_from_splunk(service: Any, *, earliest: str = "-24h", max_fields: int = 400, sample: int = 10_000,
                       include_internal: bool = False, timeout_s: float = 30.0) -> SplSchema:
    """What searches on this server may name, from what the account can see: its indexes, the sourcetypes each
    received since ``earliest`` (``| tstats``), the fields of the newest ``sample`` events with their types
    (``| fieldsummary``) and where each occurs, its data models and lookups. ``store`` is None: dry runs go to the
    server. A busy index dominates the sample, so fields only a quiet index has may be missing."""
    require("splunklib", "splunk", "a Splunk server")
    if not _TIME_VALUE.fullmatch(earliest):
        raise SchemaError(f"not a Splunk time: {earliest!r}", "give a relative time like -24h or -7d@d")
    where = "(index=* OR index=_*)" if include_internal else "index=*"
    by_index: dict[str, set[str]] = {name: set() for name in _indexes(service, include_internal)}
    for row in _search(service, f"| tstats count where {where} earliest={earliest} by index sourcetype", timeout_s):
        if row.get("index"):
            by_index.setdefault(str(row["index"]), set()).update(_values(row.get("sourcetype")))
    head = f"search {where} earliest={earliest} | head {sample}"
    summary = _search(service, f"{head} | fieldsummary maxvals=10", timeout_s)
    places = _field_places(service, head, timeout_s)
    sampled = {i for pairs in places.values() for i, _ in pairs}
    sampled_types = {s for pairs in places.values() for _, s in pairs}
    summary.sort(key=lambda r: -_number(r.get("count")))
    fields: dict[str, Field] = {}
    for row in summary:
        name = str(row.get("field") or "")
        if not name or name.startswith("_") or name in fields:
            continue
        if len(fields) >= max_fields:
            break
        seen = places.get(name, set())
        indexes, sourcetypes = {i for i, _ in seen}, {s for _, s in seen}
        fields[name] = Field(name, _field_type(row), name, tuple(sorted(indexes)) if indexes != sampled else (),
                             tuple(sorted(sourcetypes)) if sourcetypes != sampled_types else ())
    for name in BUILTIN_FIELDS:
        fields.setdefault(name, Field(name, "TIMESTAMP" if name == "_time" else "VARCHAR", name))
    return SplSchema(sorted(by_index), sorted({s for v in by_index.values() for s in v}), fields, store=None,
                     by_index={i: sorted(v) for i, v in sorted(by_index.items())},
                     datamodels=_datamodels(service), lookups=_lookups(service))


def _search(service: Any, search: str, timeout_s: float) -> list[dict[str, Any]]:
    from splunklib.binding import HTTPError

    try:
        doc = read_results(service.jobs.oneshot(search, output_mode="json", count=0,
                                                max_time=max(1, math.ceil(timeout_s))))
    except HTTPError as exc:
        if exc.status == 401:
            raise _session_lost(exc) from exc
        raise SchemaError(f"Splunk refused the schema search `{search}`: {http_message(exc)}",
                          "the account needs the search capability and read access to the indexes") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(exc) from exc
    except ValueError as exc:
        raise SchemaError(f"Splunk's answer to the schema search `{search}` is not JSON results: {exc}",
                          "check the URL is splunkd's management port") from exc
    if errors := _errors(doc):
        raise SchemaError(f"the schema search `{search}` failed: {'; '.join(errors)}",
                          "the account needs the search capability and read access to the indexes")
    return list(doc["results"])


def _indexes(service: Any, include_internal: bool) -> list[str]:
    """The enabled indexes ``data/indexes`` lists; none when the account may not list them (``| tstats`` still
    names those with recent data)."""
    entities = _listing(lambda: service.indexes.list())
    names = []
    for entity in entities:
        content = getattr(entity, "content", None) or {}
        if str(content.get("disabled", "0")).lower() in _TRUE:
            continue
        if include_internal or not entity.name.startswith("_"):
            names.append(entity.name)
    return names


def _field_places(service: Any, head: str, timeout_s: float) -> dict[str, set[tuple[str, str]]]:
    """Each field's (index, sourcetype) pairs in the sample; empty when the search fails (the schema still holds
    the fields, only without where they occur)."""
    search = (f'{head} | eval nl2q_at=index."|".sourcetype | table nl2q_at * | untable nl2q_at field value '
              '| where isnotnull(value) AND value!="" | stats values(nl2q_at) as places by field')
    try:
        rows = _search(service, search, timeout_s)
    except SchemaError:
        return {}
    out: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        for at in _values(row.get("places")):
            index, _, sourcetype = at.partition("|")
            out.setdefault(str(row.get("field")), set()).add((index, sourcetype))
    return out


def _field_type(row: dict[str, Any]) -> str:
    """BIGINT or DOUBLE when every value in the sample was a number (``numeric_count == count``), else VARCHAR."""
    count, numeric = _number(row.get("count")), _number(row.get("numeric_count"))
    if count <= 0 or numeric < count:
        return "VARCHAR"
    try:
        shown = [v.get("value") for v in json.loads(row.get("values") or "[]") if isinstance(v, dict)]
    except ValueError:
        shown = []
    samples = [str(s) for s in [row.get("min"), row.get("max"), *shown] if s not in (None, "")]
    return "BIGINT" if all(re.fullmatch(r"[+-]?\d+", s) for s in samples) else "DOUBLE"


def _rest_names(service: Any, path: str) -> list[str]:
    """Entry names of a REST collection across every app the account sees; none when it may not read it."""
    def entries() -> list[Any]:
        try:
            body = service.get(path, owner="-", app="-", count=-1, output_mode="json").body.read()
            return json.loads(body).get("entry") or []
        except (ValueError, AttributeError):
            return []

    return [str(e["name"]) for e in _listing(entries) if isinstance(e, dict) and e.get("name")]


def _listing(read: Callable[[], list[Any]]) -> list[Any]:
    """A REST listing; empty when the account may not read it, an error when the session or server is lost."""
    from splunklib.binding import HTTPError

    try:
        return list(read())
    except HTTPError as exc:
        if exc.status == 401:
            raise _session_lost(exc) from exc
        return []
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(exc) from exc


def _datamodels(service: Any) -> list[str]:
    return sorted(set(_rest_names(service, "datamodel/model")))


def _lookups(service: Any) -> list[str]:
    """Lookup definitions and lookup table files: ``| lookup`` and ``| inputlookup`` take either."""
    return sorted(set(_rest_names(service, "data/transforms/lookups")) | set(_rest_names(service,
                                                                                      "data/lookup-table-files")))


def _values(value: Any) -> list[str]:
    """A Splunk field value as a list: multivalue fields come as JSON lists, single values as strings."""
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
