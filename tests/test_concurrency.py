"""One Compiler, one model, one schema, several threads: each request has its own matcher state."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from nl2q import Compiler, ScriptedModel

QUESTIONS = [
    "List the hostname and datacenter of every host.",
    "How many hosts are there per datacenter?",
    "Which hosts have more than 16 CPUs?",
]


def _essence(r):
    return (r.output, r.valid, [(x.raw_output, [d.code for d in x.diagnostics]) for x in r.rounds],
            r.dry_run.rows if r.dry_run else None)


@pytest.mark.model
def test_concurrent_compiles_match_serial_ones_with_the_real_model(default_model, ops_duckdb):
    compiler = Compiler(default_model, max_repairs=1, max_new_tokens=64)
    serial = [_essence(compiler.compile(q, schema=ops_duckdb)) for q in QUESTIONS]
    fresh = Compiler(default_model, max_repairs=1, max_new_tokens=64)  # binds and compiles under contention too
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        parallel = list(pool.map(lambda q: _essence(fresh.compile(q, schema=ops_duckdb)), QUESTIONS))
    assert parallel == serial
    assert any(s[1] for s in serial)  # at least one valid query, so rows were compared too


def test_binding_happens_once_when_threads_ask_together(ops_duckdb, monkeypatch):
    from nl2q.targets import get_target

    target = get_target("sql")
    calls = []
    real = type(target).bind

    def counting(self, source, dialect=None):
        calls.append(source)
        return real(self, source, dialect)

    monkeypatch.setattr(type(target), "bind", counting)
    model = ScriptedModel(["SELECT hostname FROM hosts"] * 8)
    compiler = Compiler(model)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: compiler.compile("q", schema=ops_duckdb), range(8)))
    assert len(calls) == 1
    assert all(r.valid and r.dry_run.row_count for r in results)
