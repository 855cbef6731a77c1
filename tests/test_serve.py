"""The search box's API in process: streams, policy, edits, neighbours, confirmations, sessions, limits.

The model here is scripted (this is plumbing); the engines and the store are real. The browser,
the real model and many clients at once are in test_serve_browser.py and test_serve_load.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from nl2q import Compiler, ScriptedModel  # noqa: E402
from nl2q.models import Generation, Model  # noqa: E402
from nl2q.serve.app import Settings, Source, create_app  # noqa: E402
from nl2q.serve.jobs import Busy, JobQueue  # noqa: E402
from nl2q.watch import checkpoint  # noqa: E402

GRAPH_QUERY = "MATCH (s:Service)-[r:DEPENDS_ON]->(t:Service) RETURN s, r, t LIMIT 5"


def app_for(tmp_path, ops_kg, model: Model, **settings):
    compiler = Compiler(model, max_repairs=1)
    return create_app(Settings(sources=[Source("graph", "cypher", ops_kg)], store=tmp_path / "store.sqlite3",
                               **settings), compiler)


def events(client: TestClient, path: str, body: dict) -> list[dict]:
    with client.stream("POST", path, json=body) as r:
        assert r.status_code == 200, r.read()
        return [json.loads(line) for line in r.iter_lines() if line.strip()]


def result_of(evs: list[dict]) -> dict:
    final = [e for e in evs if e["event"] in ("result", "error")]
    assert len(final) == 1 and final[0]["event"] == "result", evs
    return final[0]["result"]


def test_ask_streams_stages_rounds_and_a_result_with_its_graph(tmp_path, ops_kg):
    model = ScriptedModel([GRAPH_QUERY])
    with TestClient(app_for(tmp_path, ops_kg, model)) as client:
        evs = events(client, "/api/ask", {"question": "which services depend on which", "source": "graph"})
        kinds = [e["event"] if e["event"] != "stage" else e["stage"] for e in evs]
        assert kinds[0] == "started"
        assert kinds.index("decode") < kinds.index("check") < kinds.index("dry_run") < kinds.index("round") < kinds.index("result")
        rnd = next(e["round"] for e in evs if e["event"] == "round")
        assert "prompt" not in rnd and rnd["valid"]
        result = result_of(evs)
        assert result["valid"] and result["query"] == GRAPH_QUERY
        graph = result["graph"]
        ids = {n["id"] for n in graph["nodes"]}
        assert {n["label"] for n in graph["nodes"]} == {"Service"} and graph["edges"]
        assert all(e["type"] == "DEPENDS_ON" and e["source"] in ids and e["target"] in ids for e in graph["edges"])
        items = client.get("/api/history").json()["items"]
        assert [i["id"] for i in items] == [result["id"]]
        again = client.get(f"/api/history/{result['id']}").json()
        assert again["query"] == GRAPH_QUERY and again["graph"] == graph


def test_the_servers_read_only_policy_holds_whatever_is_sent(tmp_path, ops_kg):
    count = "MATCH (h:Host) RETURN count(h) AS n"
    model = ScriptedModel(["MATCH (h:Host) DETACH DELETE h"] * 4)
    with TestClient(app_for(tmp_path, ops_kg, model)) as client:
        before = result_of(events(client, "/api/run", {"query": count, "source": "graph"}))["dry_run"]["rows"]
        asked = result_of(events(client, "/api/ask", {"question": "delete every host", "source": "graph",
                                                       "policy": {"allow_writes": True}}))
        assert not asked["valid"] and any(d["code"].startswith("policy.") for d in asked["rounds"][0]["diagnostics"])
        for write in ("MATCH (h:Host) DETACH DELETE h", "CREATE (h:Host {id: 'x'})", "MATCH (h:Host) SET h.os = 'x'"):
            edited = result_of(events(client, "/api/run", {"query": write, "source": "graph", "allow_writes": True}))
            assert not edited["valid"] and edited["dry_run"] is None
            assert any(d["code"].startswith("policy.") for d in edited["diagnostics"])
        after = result_of(events(client, "/api/run", {"query": count, "source": "graph"}))["dry_run"]["rows"]
        assert before == after and before[0][0] > 0


def test_an_edited_query_gets_the_same_checks_with_spans(tmp_path, ops_kg):
    with TestClient(app_for(tmp_path, ops_kg, ScriptedModel([]))) as client:
        query = "MATCH (h:Hots) RETURN h.hostname"
        edited = result_of(events(client, "/api/run", {"query": query, "source": "graph", "question": "hosts?"}))
        assert not edited["valid"] and edited["edited"] and edited["rounds"][0]["kind"] == "edit"
        d = next(d for d in edited["diagnostics"] if d["code"] == "schema.unknown_label")
        assert query[d["start"]:d["end"]] == "Hots" and "Host" in d["hint"]


def test_a_node_expands_to_its_neighbours_through_a_checked_query(tmp_path, ops_kg):
    with TestClient(app_for(tmp_path, ops_kg, ScriptedModel([]))) as client:
        graph = result_of(events(client, "/api/run", {"query": "MATCH (h:Host) RETURN h LIMIT 1", "source": "graph"}))["graph"]
        node = graph["nodes"][0]
        out = client.post("/api/expand", json={"source": "graph", "node": node}).json()
        assert out["valid"] and out["query"].startswith("MATCH (n:Host)-[r]-(m)")
        labels = {n["label"] for n in out["graph"]["nodes"]}
        assert node["id"] in {n["id"] for n in out["graph"]["nodes"]} and len(labels) > 1
        assert out["graph"]["edges"]
        hostile = {"id": "x", "label": "Host) DETACH DELETE (n", "properties": {"id": "x"}}
        assert client.post("/api/expand", json={"source": "graph", "node": hostile}).status_code == 400
        sneaky = {"id": "x", "label": "Host", "properties": {"id": "x') DETACH DELETE n //"}}
        r = client.post("/api/expand", json={"source": "graph", "node": sneaky}).json()
        assert r["valid"] and r["graph"] is None  # a literal that matches nothing, not a statement


def test_confirmed_answers_come_back_as_examples_for_similar_questions(tmp_path, ops_kg):
    first = "MATCH (h:Host) WHERE h.status = 'degraded' RETURN h.hostname"
    model = ScriptedModel([first, "MATCH (h:Host) RETURN h.hostname",
                           "MATCH (t:Team) RETURN t.name"])
    with TestClient(app_for(tmp_path, ops_kg, model)) as client:
        r1 = result_of(events(client, "/api/ask", {"question": "Which hosts are degraded?", "source": "graph"}))
        assert r1["examples_used"] == []
        assert client.post("/api/confirm", json={"id": r1["id"]}).json()["ok"]
        r2 = result_of(events(client, "/api/ask", {"question": "which hosts are degraded in prod", "source": "graph"}))
        assert r2["examples_used"] == [{"question": "Which hosts are degraded?", "query": first}]
        prompt = "\n".join(m["content"] for m in model.calls[1])
        assert "Which hosts are degraded?" in prompt and first in prompt
        r3 = result_of(events(client, "/api/ask", {"question": "list the teams", "source": "graph"}))
        assert r3["examples_used"] == []
        assert client.get(f"/api/history/{r1['id']}").json()["confirmed"]


def test_only_valid_answers_of_ones_own_session_can_be_confirmed(tmp_path, ops_kg):
    with TestClient(app_for(tmp_path, ops_kg, ScriptedModel([]))) as alice, \
            TestClient(app_for(tmp_path / "b", ops_kg, ScriptedModel([]))) as _:
        bad = result_of(events(alice, "/api/run", {"query": "MATCH (h:Hots) RETURN h", "source": "graph",
                                                   "question": "q"}))
        assert alice.post("/api/confirm", json={"id": bad["id"]}).status_code == 400
        good = result_of(events(alice, "/api/run", {"query": "MATCH (h:Host) RETURN h.id", "source": "graph",
                                                    "question": "host ids"}))
        alice.cookies.clear()  # a new session
        assert alice.post("/api/confirm", json={"id": good["id"]}).status_code == 404
        assert alice.get(f"/api/history/{good['id']}").status_code == 404
        assert alice.get("/api/history").json()["items"] == []


def test_the_token_is_required_and_can_arrive_as_a_link(tmp_path, ops_kg):
    with TestClient(app_for(tmp_path, ops_kg, ScriptedModel([]), token="s3cret-token")) as client:
        r = client.get("/api/info")
        assert r.status_code == 401 and r.json()["error"] and "Traceback" not in r.text
        assert client.get("/api/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/info", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        r = client.get("/?token=s3cret-token", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "nl2q_token=s3cret-token" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert client.get("/api/info").status_code == 200  # the cookie now carries it


def test_bad_requests_get_clear_refusals(tmp_path, ops_kg):
    with TestClient(app_for(tmp_path, ops_kg, ScriptedModel([]), max_body=2048, max_question=100,
                            rate_per_minute=8)) as client:
        def post(body, **kw):
            return client.post("/api/ask", content=body if isinstance(body, (str, bytes)) else json.dumps(body),
                               headers={"content-type": "application/json", **kw.pop("headers", {})}, **kw)
        assert post("x" * 5000).status_code == 413
        assert post({"question": "q" * 101, "source": "graph"}).status_code == 413
        assert post("{not json").status_code == 400
        assert post({"question": "hosts", "source": "nope"}).json()["error"].startswith("unknown source")
        assert post({"question": "", "source": "graph"}).status_code == 400
        r = client.post("/api/ask", content=b"question=x", headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415
        r = post({"question": "hosts", "source": "graph"}, headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        for response in (client.get("/api/info"), client.get("/")):
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
        statuses = [client.post("/api/expand", json={"source": "graph", "node": {}}).status_code for _ in range(4)]
        assert statuses[-1] == 429
        r = client.post("/api/expand", json={"source": "graph", "node": {}})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


class Exploding(Model):
    name = "exploding"

    def _compile(self, constraint):
        from nl2q.models import Compiled

        return Compiled(constraint)

    def generate(self, messages, **kw) -> Generation:
        raise RuntimeError("secret detail at /srv/internal/path.py line 3")


def test_internal_errors_reach_the_client_without_details(tmp_path, ops_kg):
    with TestClient(app_for(tmp_path, ops_kg, Exploding())) as client:
        evs = events(client, "/api/ask", {"question": "hosts", "source": "graph"})
        err = [e for e in evs if e["event"] == "error"]
        assert err and err[0]["message"] == "internal error" and "logged" in err[0]["hint"]
        assert "secret" not in json.dumps(evs) and "Traceback" not in json.dumps(evs)


# ------------------------------------------------------------------------------------------ the queue


def run(coro):
    return asyncio.run(coro)


def test_a_full_line_refuses_with_an_estimate_and_places_move_up():
    async def main():
        release = threading.Event()
        q = JobQueue(workers=1, max_waiting=2)
        jobs = [q.submit(lambda w: release.wait(5)) for _ in range(3)]
        with pytest.raises(Busy) as busy:
            q.submit(lambda w: None)
        assert busy.value.retry_after >= 1
        await asyncio.sleep(0.05)
        assert [j.position for j in jobs[1:]] == [1, 2]
        q.cancel(jobs[1])  # the first in line goes away: the second moves up
        assert jobs[1].done and jobs[2].position == 1
        seen = []
        while not jobs[2].events.empty():
            seen.append(jobs[2].events.get_nowait())
        assert seen[-1] == {"event": "queued", "position": 1} and {"event": "queued", "position": 2} in seen
        release.set()
        for j in (jobs[0], jobs[2]):
            async for _ in q.stream(j, idle=0.05):
                pass
        assert q.stats()["finished"] == 2 and q.stats()["cancelled"] == 1 and q.stats()["refused"] == 1
        q.shutdown()

    run(main())


def test_a_running_job_stops_at_its_next_checkpoint_when_cancelled():
    async def main():
        q = JobQueue(workers=1, max_waiting=0)
        steps = []

        def work(watch):
            from nl2q.watch import watching

            with watching(watch):
                for i in range(1000):
                    checkpoint()
                    steps.append(i)
                    time.sleep(0.01)
            return "finished"

        job = q.submit(work)
        await asyncio.sleep(0.1)
        q.cancel(job)
        async for _ in q.stream(job, idle=0.05):
            pass
        assert job.result is None and type(job.error).__name__ == "Cancelled" and len(steps) < 100
        assert q.stats()["running"] == 0 and q.stats()["cancelled"] == 1
        q.shutdown()

    run(main())
