"""The real-Splunk side of SPL: configuration, connecting, the schema and dry runs.

Plumbing runs against a fake service shaped like ``splunklib`` 2.1.1 (``parse`` raises ``HTTPError``,
``jobs.oneshot`` returns the response body and refuses ``exec_mode``), and against a stub splunkd on localhost so
the SDK's own requests are checked too. The last tests need a real server (``NL2Q_SPLUNK_URL`` and a token).
"""

from __future__ import annotations

import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("splunklib")

from splunklib.binding import HTTPError  # noqa: E402
from splunklib.data import record  # noqa: E402

from nl2q.errors import Nl2qError, SchemaError  # noqa: E402
from nl2q.policy import Policy  # noqa: E402
from nl2q.targets.spl.splunk import (  # noqa: E402
    SplunkConfig, SplunkExecutor, connect, names_time_range, schema_from_splunk, splunk_search)

NO_SERVER = "no Splunk server configured (set NL2Q_SPLUNK_URL and NL2Q_SPLUNK_TOKEN)"


def http_error(status: int, body: str, reason: str = "Bad Request") -> HTTPError:
    """An ``HTTPError`` built the way ``splunklib.binding.HttpLib.request`` builds it."""
    return HTTPError(record({"status": status, "reason": reason, "headers": [],
                             "body": io.BytesIO(body.encode())}))


def xml_error(text: str, status: int = 400) -> HTTPError:
    return http_error(status, f'<?xml version="1.0" encoding="UTF-8"?>\n<response><messages><msg type="FATAL">{text}'
                              "</msg></messages></response>")


def results(fields: list[str], rows: list[dict[str, Any]], messages: list[dict[str, str]] | None = None) -> dict:
    """A oneshot ``output_mode=json`` body as splunkd writes it."""
    return {"preview": False, "init_offset": 0, "messages": messages or [], "fields": [{"name": f} for f in fields],
            "results": rows, "highlighted": {}}


class FakeJobs:
    def __init__(self, service: FakeService) -> None:
        self.service = service

    def oneshot(self, query: str, **params: Any) -> io.BytesIO:
        if "exec_mode" in params:  # what splunklib 2.1.1 does: it adds exec_mode=oneshot itself
            raise TypeError("Cannot specify an exec_mode to oneshot.")
        self.service.sent.append((query, params))
        reply = self.service.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return io.BytesIO(reply if isinstance(reply, bytes) else json.dumps(reply).encode())


class FakeIndex:
    def __init__(self, name: str, disabled: bool = False) -> None:
        self.name = name
        self.content = {"disabled": "1" if disabled else "0"}


class FakeService:
    """What nl2q uses of ``splunklib.client.Service``: parse, jobs.oneshot, indexes.list, get."""

    def __init__(self, replies: list[Any] | None = None, parse_error: BaseException | None = None,
                 indexes: list[FakeIndex] | BaseException | None = None,
                 rest: dict[str, list[str]] | None = None) -> None:
        self.replies = list(replies or [])
        self.parse_error = parse_error
        self.parsed: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._indexes = indexes or []
        self.rest = rest or {}

    def parse(self, query: str, **kwargs: Any) -> Any:
        self.parsed.append((query, kwargs))
        if self.parse_error is not None:
            raise self.parse_error
        return record({"status": 200, "reason": "OK", "headers": [], "body": io.BytesIO(b"{}")})

    @property
    def jobs(self) -> FakeJobs:
        return FakeJobs(self)

    @property
    def indexes(self) -> Any:
        def listed(**kwargs: Any) -> list[FakeIndex]:
            if isinstance(self._indexes, BaseException):
                raise self._indexes
            return list(self._indexes)

        return record({"list": listed})

    def get(self, path: str, **query: Any) -> Any:
        if path not in self.rest:
            raise xml_error(f"Not found: {path}", 404)
        body = {"entry": [{"name": n, "content": {}} for n in self.rest[path]]}
        return record({"status": 200, "reason": "OK", "headers": [], "body": io.BytesIO(json.dumps(body).encode())})


STATS = results(["sourcetype", "count"], [{"sourcetype": "splunkd", "count": "120"},
                                          {"sourcetype": "splunkd_access", "count": "7"}])


# --- the search sent ---------------------------------------------------------------------------------------------

def test_search_gets_the_search_command_head_and_bounds_but_no_time_of_its_own():
    svc = FakeService([STATS])
    dry = SplunkExecutor(svc, earliest="-24h").run("index=_internal earliest=-15m | stats count by sourcetype",
                                                   Policy(max_rows=1000, timeout_s=4.5))
    assert svc.parsed == [("search index=_internal earliest=-15m | stats count by sourcetype", {"parse_only": True})]
    [(query, params)] = svc.sent
    assert query == "search index=_internal earliest=-15m | stats count by sourcetype | head 1001"
    assert params == {"output_mode": "json", "count": 0, "max_time": 5}
    assert dry.plan == query and dry.engine == "splunk"


def test_generating_search_is_sent_as_written_and_gets_the_default_range_when_it_names_none():
    svc = FakeService([STATS])
    SplunkExecutor(svc, earliest="-24h", latest="now").run("| tstats count where index=web by host",
                                                           Policy(max_rows=10))
    [(query, params)] = svc.sent
    assert query == "| tstats count where index=web by host | head 11"
    assert params["earliest_time"] == "-24h" and params["latest_time"] == "now"


def test_search_already_starting_with_search_is_not_prefixed_twice():
    assert splunk_search("  search index=web earliest=-1h") == "search index=web earliest=-1h"
    assert splunk_search("index=web search_id=3") == "search index=web search_id=3"
    assert splunk_search("`web_logs` earliest=-1h") == "search `web_logs` earliest=-1h"


@pytest.mark.parametrize("text, named", [("index=web earliest=-1h", True), ("index=web latest = now", True),
                                         ("index=web _index_earliest=-1h", True), ("index=web starttimeu=0", True),
                                         ("index=web my_earliest=-1h", False), ("index=web | eval x=1", False)])
def test_time_range_detection(text, named):
    assert names_time_range(text) is named


def test_executor_refuses_a_default_time_that_could_end_the_search():
    with pytest.raises(Nl2qError, match="not a Splunk time"):
        SplunkExecutor(FakeService(), earliest="-1h | delete")


# --- results -----------------------------------------------------------------------------------------------------

def test_results_become_columns_and_rows_in_splunk_order_without_internal_fields():
    body = results(["_time", "host", "count", "_bkt"],
                   [{"_time": "2024-05-01T10:00:00.000+00:00", "host": "web1", "count": "3", "_bkt": "main~1",
                     "_cd": "1:2"},
                    {"_time": "2024-05-01T11:00:00.000+00:00", "host": ["web2", "web3"], "extra": "x"}])
    dry = SplunkExecutor(FakeService([body])).run("index=web earliest=-1d | stats count by host", Policy())
    assert dry.ok and dry.mode == "run"
    assert dry.columns == ["_time", "host", "count", "extra"]
    assert dry.rows == [["2024-05-01T10:00:00.000+00:00", "web1", "3", None],
                        ["2024-05-01T11:00:00.000+00:00", ["web2", "web3"], None, "x"]]
    assert dry.row_count == 2 and not dry.capped and dry.has_rows


@pytest.mark.parametrize("returned, capped, count", [(4, True, 3), (3, False, 3)])
def test_capping_and_preview(returned, capped, count):
    body = results(["n"], [{"n": str(i)} for i in range(returned)])
    dry = SplunkExecutor(FakeService([body])).run("index=web earliest=-1h", Policy(max_rows=3, preview_rows=2))
    assert dry.ok and dry.capped is capped and dry.row_count == count
    assert dry.rows == [["0"], ["1"]]


def test_empty_body_is_no_rows():
    dry = SplunkExecutor(FakeService([b""])).run("index=web earliest=-1h status=999", Policy())
    assert dry.ok and dry.row_count == 0 and dry.rows == [] and dry.columns == []


# --- errors ------------------------------------------------------------------------------------------------------

def test_parse_error_is_an_explain_failure_with_splunks_message_and_nothing_runs():
    svc = FakeService([STATS], parse_error=xml_error("Unknown search command 'xyzzy'."))
    dry = SplunkExecutor(svc).run("index=web earliest=-1h | xyzzy", Policy())
    assert not dry.ok and dry.mode == "explain" and dry.engine == "splunk"
    assert dry.error == "Unknown search command 'xyzzy'."
    assert svc.sent == []


def test_http_error_from_the_search_is_a_failed_run():
    err = http_error(400, json.dumps({"messages": [{"type": "FATAL", "text": "Error in 'lookup' command: "
                                                    "Could not construct lookup 'nosuch'."}]}))
    dry = SplunkExecutor(FakeService([err])).run("index=web earliest=-1h | lookup nosuch ip", Policy())
    assert not dry.ok and dry.mode == "run"
    assert dry.error == "Error in 'lookup' command: Could not construct lookup 'nosuch'."
    assert dry.plan.endswith("| head 1001")


def test_fatal_message_in_a_200_answer_is_a_failed_run():
    body = results([], [], [{"type": "FATAL", "text": "Error in 'eval' command: bad"}, {"type": "WARN", "text": "w"}])
    dry = SplunkExecutor(FakeService([body])).run("index=web earliest=-1h | eval x=", Policy())
    assert not dry.ok and dry.error == "Error in 'eval' command: bad"


def test_read_timeout_is_a_failed_run_not_an_exception():
    dry = SplunkExecutor(FakeService([TimeoutError("timed out")])).run("index=web earliest=-1h", Policy())
    assert not dry.ok and "timed out" in dry.error


@pytest.mark.parametrize("failure, words", [(xml_error("call not properly authenticated", 401), "NL2Q_SPLUNK_TOKEN"),
                                            (ConnectionRefusedError(111, "Connection refused"), "NL2Q_SPLUNK_URL")])
def test_lost_credentials_or_server_raise_instead_of_blaming_the_search(failure, words):
    with pytest.raises(Nl2qError) as info:
        SplunkExecutor(FakeService([failure])).run("index=web earliest=-1h", Policy())
    assert words in info.value.hint


# --- configuration -----------------------------------------------------------------------------------------------

def test_no_url_means_no_server():
    assert SplunkConfig.from_env({"NL2Q_SPLUNK_TOKEN": "t"}) is None
    assert SplunkConfig.from_env({"NL2Q_SPLUNK_URL": "  "}) is None


def test_env_with_token():
    cfg = SplunkConfig.from_env({"NL2Q_SPLUNK_URL": "https://splunk.example.com:8089", "NL2Q_SPLUNK_TOKEN": "abc"})
    assert (cfg.scheme, cfg.host, cfg.port, cfg.token, cfg.username, cfg.verify) == (
        "https", "splunk.example.com", 8089, "abc", "", True)
    assert "abc" not in repr(cfg)


def test_env_with_user_password_and_verify_off():
    cfg = SplunkConfig.from_env({"NL2Q_SPLUNK_URL": "https://10.0.0.5", "NL2Q_SPLUNK_USER": "ro",
                                 "NL2Q_SPLUNK_PASSWORD": "pw", "NL2Q_SPLUNK_VERIFY": "false"})
    assert (cfg.url, cfg.username, cfg.password, cfg.token, cfg.verify) == ("https://10.0.0.5:8089", "ro", "pw", "",
                                                                          False)
    assert "pw" not in repr(cfg)


def test_splunk_url_carries_credentials_and_options():
    cfg = SplunkConfig.from_url("splunk://ro%40corp:p%40ss@splunk.example.com?verify=0&app=search",
                                {"NL2Q_SPLUNK_TOKEN": "ignored"})
    assert (cfg.url, cfg.username, cfg.password, cfg.token, cfg.verify, cfg.app) == (
        "https://splunk.example.com:8089", "ro@corp", "p@ss", "", False, "search")


def test_https_url_takes_its_token_from_env():
    cfg = SplunkConfig.from_url("http://[::1]:18089", {"NL2Q_SPLUNK_TOKEN": "t"})
    assert (cfg.url, cfg.host, cfg.port, cfg.token) == ("http://[::1]:18089", "::1", 18089, "t")


@pytest.mark.parametrize("env, named", [
    ({"NL2Q_SPLUNK_URL": "https://h:8089"}, "NL2Q_SPLUNK_TOKEN"),
    ({"NL2Q_SPLUNK_URL": "https://h:8089", "NL2Q_SPLUNK_USER": "ro"}, "NL2Q_SPLUNK_PASSWORD"),
    ({"NL2Q_SPLUNK_URL": "https://h:8089", "NL2Q_SPLUNK_TOKEN": "t", "NL2Q_SPLUNK_VERIFY": "maybe"},
     "NL2Q_SPLUNK_VERIFY"),
    ({"NL2Q_SPLUNK_URL": "ftp://h:8089", "NL2Q_SPLUNK_TOKEN": "t"}, "NL2Q_SPLUNK_URL"),
])
def test_missing_or_bad_setting_names_the_variable(env, named):
    with pytest.raises(Nl2qError) as info:
        SplunkConfig.from_env(env)
    assert named in info.value.hint


def test_direct_construction_without_credentials_fails():
    with pytest.raises(Nl2qError, match="no credentials"):
        SplunkConfig("https://h:8089")


# --- connect -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg, auth", [
    (SplunkConfig("https://h:8089", token="t"), {"splunkToken": "t"}),
    (SplunkConfig("https://h:9089", username="u", password="p", verify=False, app="search", owner="nobody"),
     {"username": "u", "password": "p"}),
])
def test_connect_passes_token_or_login(monkeypatch, cfg, auth):
    import splunklib.client

    seen: dict[str, Any] = {}

    class Service:
        def get(self, path: str, **query: Any) -> None:
            seen["checked"] = path

    def fake_connect(**kwargs: Any) -> Service:
        seen.update(kwargs)
        return Service()

    monkeypatch.setattr(splunklib.client, "connect", fake_connect)
    connect(cfg)
    assert {k: seen.get(k) for k in ("splunkToken", "username", "password") if k in seen} == auth
    assert (seen["scheme"], seen["host"], seen["port"], seen["verify"], seen["app"], seen["owner"]) == (
        cfg.scheme, cfg.host, cfg.port, cfg.verify, cfg.app, cfg.owner)
    assert seen["checked"] == "/services/authentication/current-context" and callable(seen["handler"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_says_which_port_to_check():
    with pytest.raises(Nl2qError) as info:
        connect(SplunkConfig(f"http://127.0.0.1:{_free_port()}", token="t", timeout_s=2))
    assert "connection refused" in info.value.message and "8089" in info.value.hint


# --- the SDK's own requests, against a stub splunkd ---------------------------------------------------------------

SERVER_INFO = ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
               'xmlns:s="http://dev.splunk.com/ns/rest"><title>server-info</title><entry><title>server-info</title>'
               '<content type="text/xml"><s:dict><s:key name="version">9.1.2</s:key>'
               '<s:key name="instance_type">download</s:key></s:dict></content></entry></feed>')


class StubSplunkd(BaseHTTPRequestHandler):
    """Answers the few REST calls nl2q makes, records each, and fails where the test says."""

    calls: list[tuple[str, str, dict[str, str], str]] = []
    token_ok = True
    parse_fails = False

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: str, kind: str = "text/xml") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        type(self).calls.append((self.command, path, form, self.headers.get("Authorization", "")))
        if path == "/services/server/info":
            return self._reply(200, SERVER_INFO)
        if not type(self).token_ok:
            return self._reply(401, "<response><messages><msg type=\"WARN\">call not properly authenticated</msg>"
                                    "</messages></response>")
        if path == "/services/authentication/current-context":
            return self._reply(200, SERVER_INFO)
        if path == "/services/search/v2/parser":
            if type(self).parse_fails:
                return self._reply(400, "<response><messages><msg type=\"FATAL\">Unknown search command 'xyzzy'."
                                        "</msg></messages></response>")
            return self._reply(200, "<response/>")
        if path.rstrip("/") == "/services/search/v2/jobs":
            return self._reply(200, json.dumps(STATS), "application/json")
        return self._reply(404, "<response><messages><msg type=\"ERROR\">Not Found</msg></messages></response>")

    do_GET = do_POST = _handle


@pytest.fixture
def splunkd():
    StubSplunkd.calls, StubSplunkd.token_ok, StubSplunkd.parse_fails = [], True, False
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubSplunkd)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield SplunkConfig(f"http://127.0.0.1:{server.server_address[1]}", token="tok", timeout_s=5)
    server.shutdown()
    server.server_close()


def test_sdk_sends_bearer_token_parse_and_oneshot_as_nl2q_means(splunkd):
    dry = SplunkExecutor(connect(splunkd)).run("index=_internal earliest=-15m | stats count by sourcetype",
                                               Policy(max_rows=50, timeout_s=3))
    assert dry.ok and dry.columns == ["sourcetype", "count"] and dry.rows[0] == ["splunkd", "120"]
    assert all(auth == "Bearer tok" for method, path, _, auth in StubSplunkd.calls if "server/info" not in path)
    parse = [form for _, path, form, _ in StubSplunkd.calls if path == "/services/search/v2/parser"]
    assert parse == [{"q": "search index=_internal earliest=-15m | stats count by sourcetype", "parse_only": "True"}]
    [job] = [form for _, path, form, _ in StubSplunkd.calls if path.startswith("/services/search/v2/jobs")]
    assert job == {"search": "search index=_internal earliest=-15m | stats count by sourcetype | head 51",
                   "exec_mode": "oneshot", "output_mode": "json", "count": "0", "max_time": "3",
                   "segmentation": "none"}


def test_sdk_parse_error_comes_back_as_splunks_words(splunkd):
    StubSplunkd.parse_fails = True
    dry = SplunkExecutor(connect(splunkd)).run("index=_internal earliest=-15m | xyzzy", Policy())
    assert not dry.ok and dry.mode == "explain" and dry.error == "Unknown search command 'xyzzy'."


def test_sdk_bad_token_fails_at_connect_with_what_to_fix(splunkd):
    StubSplunkd.token_ok = False
    with pytest.raises(Nl2qError) as info:
        connect(splunkd)
    assert "refused the token" in info.value.message and "NL2Q_SPLUNK_TOKEN" in info.value.hint


# --- schema ------------------------------------------------------------------------------------------------------

def test_schema_from_indexes_tstats_and_fieldsummary():
    tstats = results(["index", "sourcetype", "count"],
                     [{"index": "web", "sourcetype": "access_combined", "count": "900"},
                      {"index": "auth", "sourcetype": "linux_secure", "count": "40"}])
    summary = results(["field", "count", "numeric_count", "min", "max", "values"], [
        {"field": "status", "count": "900", "numeric_count": "900", "min": "200", "max": "503",
         "values": json.dumps([{"value": "200", "count": 800}])},
        {"field": "latency", "count": "900", "numeric_count": "900", "min": "0.5", "max": "12"},
        {"field": "bytes", "count": "900", "numeric_count": "850", "min": "0", "max": "9"},
        {"field": "user", "count": "40", "numeric_count": "0"},
        {"field": "_si", "count": "940", "numeric_count": "0"},
    ])
    places = results(["field", "places"], [
        {"field": "status", "places": ["web|access_combined"]},
        {"field": "user", "places": "auth|linux_secure"},
        {"field": "host", "places": ["auth|linux_secure", "web|access_combined"]},
    ])
    svc = FakeService([tstats, summary, places],
                      indexes=[FakeIndex("web"), FakeIndex("auth"), FakeIndex("_internal"), FakeIndex("old", True),
                               FakeIndex("quiet")],
                      rest={"datamodel/model": ["Web"], "data/transforms/lookups": ["bad_hosts"],
                            "data/lookup-table-files": ["assets.csv", "bad_hosts"]})
    schema = schema_from_splunk(svc, earliest="-4h", max_fields=3)
    assert schema.store is None
    assert schema.indexes == ["auth", "quiet", "web"]
    assert schema.by_index == {"auth": ["linux_secure"], "quiet": [], "web": ["access_combined"]}
    assert schema.sourcetypes == ["access_combined", "linux_secure"]
    assert {n: f.type for n, f in schema.fields.items() if n in ("status", "latency", "bytes", "user")} == {
        "status": "BIGINT", "latency": "DOUBLE", "bytes": "VARCHAR"}  # user is past max_fields
    assert schema.fields["status"].indexes == ("web",) and schema.fields["status"].sourcetypes == ("access_combined",)
    assert schema.fields["_time"].type == "TIMESTAMP" and "_si" not in schema.fields
    assert schema.datamodels == ["Web"] and schema.lookups == ["assets.csv", "bad_hosts"]
    searches = [q for q, _ in svc.sent]
    assert searches[0] == "| tstats count where index=* earliest=-4h by index sourcetype"
    assert searches[1] == "search index=* earliest=-4h | head 10000 | fieldsummary maxvals=10"
    assert all(p["count"] == 0 and p["output_mode"] == "json" for _, p in svc.sent)


def test_schema_survives_a_failed_places_search_and_unlistable_indexes():
    tstats = results(["index", "sourcetype", "count"], [{"index": "web", "sourcetype": "access", "count": "9"}])
    summary = results(["field", "count", "numeric_count"], [{"field": "status", "count": "9", "numeric_count": "9"}])
    svc = FakeService([tstats, summary, xml_error("Error in 'untable' command")],
                      indexes=xml_error("You do not have permission", 403))
    schema = schema_from_splunk(svc)
    assert schema.indexes == ["web"] and schema.fields["status"].indexes == ()
    assert schema.lookups == [] and schema.datamodels == []


def test_schema_search_refused_is_a_schema_error():
    with pytest.raises(SchemaError, match="tstats"):
        schema_from_splunk(FakeService([xml_error("You do not have permission")]))


# --- a real server -----------------------------------------------------------------------------------------------

def _no_server() -> bool:
    try:
        return SplunkConfig.from_env() is None
    except Nl2qError:
        return False  # configured but wrong: the fixture raises the error that says what to fix


real = pytest.mark.skipif(_no_server(), reason=NO_SERVER)


@pytest.fixture(scope="module")
def service():
    cfg = SplunkConfig.from_env()
    if cfg is None:
        pytest.skip(NO_SERVER)
    return connect(cfg)


@real
def test_real_schema_has_indexes(service):
    schema = schema_from_splunk(service, earliest="-1h", sample=1000)
    assert schema.indexes and schema.store is None
    assert not any(i.startswith("_") for i in schema.indexes)
    assert all(f.type in ("VARCHAR", "BIGINT", "DOUBLE", "TIMESTAMP") for f in schema.fields.values())


@real
def test_real_dry_run_returns_rows(service):
    dry = SplunkExecutor(service).run("index=_internal earliest=-15m | stats count by sourcetype", Policy())
    assert dry.ok and dry.mode == "run", dry.error
    assert dry.columns == ["sourcetype", "count"] and dry.row_count and dry.row_count > 0
    assert dry.plan == "search index=_internal earliest=-15m | stats count by sourcetype | head 1001"


@real
def test_real_syntax_error_is_a_parse_error(service):
    dry = SplunkExecutor(service).run("index=_internal earliest=-15m | nl2qnosuchcommand", Policy())
    assert not dry.ok and dry.mode == "explain" and "nl2qnosuchcommand" in dry.error.lower()
