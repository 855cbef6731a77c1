"""``nl2q serve`` as a real process with the real default model: many users at once, clients that go
away, and a kill in the middle of writing confirmations."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import sys
import threading
import time

import pytest

from serve_support import ROOT, serving

httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.model


def _perf_serve():
    spec = importlib.util.spec_from_file_location("perf_serve", ROOT / "eval" / "perf_serve.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while it loads
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_twenty_users_at_once_are_each_answered_or_refused_none_lost_or_hung(ops_kg, tmp_path):
    perf = _perf_serve()
    with serving("--graph", str(ops_kg), "--workers", "1", "--queue", "3", "--rate", "0",
                 store=tmp_path / "store.sqlite3") as served:
        questions = perf.info(served.url)["sources"][0]["examples"]
        outcomes = perf.load(served.url, 20, questions, "graph", timeout=240)
        kinds = [o.kind for o in outcomes]
        assert set(kinds) <= {"answered", "failed", "refused"}, kinds
        answered = [o for o in outcomes if o.kind != "refused"]
        refused = [o for o in outcomes if o.kind == "refused"]
        assert len(answered) >= 4 and refused  # one running and three waiting at least; the rest turned away
        assert all(o.retry_after and o.retry_after >= 1 for o in refused)
        assert max(o.seconds for o in refused) < 5  # refused at once, not after waiting
        assert {o.queued_at for o in answered} >= {1, 2, 3}  # people in line were told their place
        stats = served.health()["model"]
        assert stats["running"] == 0 and stats["waiting"] == 0
        assert stats["refused"] == len(refused) and stats["finished"] == len(answered)


def test_a_client_that_goes_away_is_cancelled_mid_decode(ops_kg, tmp_path):
    with serving("--graph", str(ops_kg), "--rate", "0", store=tmp_path / "store.sqlite3") as served:
        with httpx.Client(timeout=60) as client:
            with client.stream("POST", served.url + "api/ask",
                               json={"question": "List each host and the rack it is mounted in, with the datacenter "
                                                 "of the rack and every service running on the host.",
                                     "source": "graph"}) as r:
                for line in r.iter_lines():
                    if line.strip() and json.loads(line).get("stage") == "decode":
                        break  # decoding has begun: hang up
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            stats = served.health()["model"]
            if stats["running"] == 0:
                break
            time.sleep(0.1)
        assert stats["running"] == 0 and stats["cancelled"] == 1 and stats["finished"] == 0, stats


def test_confirmations_survive_a_kill_in_the_middle_of_writing(ops_kg, tmp_path):
    store = tmp_path / "store.sqlite3"
    acknowledged: list[int] = []
    with serving("--graph", str(ops_kg), "--rate", "0", store=store) as served:
        client = httpx.Client(base_url=served.url, timeout=30)
        ids = []
        for i in range(40):
            with client.stream("POST", "api/run", json={"query": "MATCH (h:Host) RETURN h.hostname LIMIT 1",
                                                        "source": "graph", "question": f"question {i} about hosts"}) as r:
                events = [json.loads(x) for x in r.iter_lines() if x.strip()]
            ids.append(next(e["result"]["id"] for e in events if e["event"] == "result"))
        todo = list(ids)
        lock = threading.Lock()

        def confirm() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    item = todo.pop()
                try:
                    if client.post("api/confirm", json={"id": item}).json().get("ok"):
                        with lock:
                            acknowledged.append(item)
                except (httpx.HTTPError, ValueError):
                    return  # the server is gone

        threads = [threading.Thread(target=confirm) for _ in range(4)]
        for t in threads:
            t.start()
        while len(acknowledged) < 10:
            time.sleep(0.001)
        os.kill(served.process.pid, signal.SIGKILL)
        for t in threads:
            t.join()
    assert 10 <= len(acknowledged) < len(ids)

    with serving("--graph", str(ops_kg), "--rate", "0", store=store):
        con = sqlite3.connect(store)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.execute("INSERT INTO examples_fts(examples_fts) VALUES ('integrity-check')")
        confirmed = {r[0] for r in con.execute("SELECT id FROM history WHERE confirmed=1")}
        assert set(acknowledged) <= confirmed  # nothing acknowledged was lost
        questions = {r[0] for r in con.execute("SELECT question FROM history WHERE confirmed=1")}
        examples = {r[0] for r in con.execute("SELECT question FROM examples")}
        assert questions == examples  # each confirmation is whole: marked and stored as an example, or neither
        assert con.execute("SELECT count(*) FROM history").fetchone()[0] == len(ids)
        con.close()
