"""``evaluate``: sample a suite, run the configurations side by side, write rows, summary, report and charts."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..compiler import Stages
from ..errors import Nl2qError
from ..models import DEFAULT_MODEL, Model
from . import runner
from .charts import write_charts
from .constants import DEFAULT_CONFIGS, REPORT_FILE, RESULTS_FILE, SUMMARY_FILE
from .report import render_report
from .store import ResultStore, read_json, write_json
from .suites import get_suite
from .summary import summarise


def evaluate(suite: str, *, limit: int | None = None, model: Any = None,
             configs: str | Sequence[str] = DEFAULT_CONFIGS, out: str | Path, workers: int = 1, concurrency: int = 1,
             seed: int = 0,
             benchmarks: str | Path | None = None, max_repairs: int = 3, max_new_tokens: int = 256,
             few_shot: int = 0, few_shot_select: str = "random", progress: bool = True,
             options: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``configs`` side by side on a deterministic sample of ``suite``; write rows, summary, report, charts.

    Returns the summary (also written to ``out/summary.json``). Resumable: (item, configuration)
    pairs already in ``out/results.jsonl`` are skipped. ``model`` is a model name/directory or an
    ``nl2q.Model`` (``workers > 1`` needs a name: each worker process loads its own copy). ``concurrency``
    runs that many items at once in threads sharing one model: requests in flight to a server.
    ``few_shot`` examples per item come from outside the sample, drawn at random or the most similar
    (``few_shot_select``; see ``Suite.few_shot``).
    ``options`` are the suite's settings (e.g. text2cypher's ``graph_engine``, ``bolt_uri``); those not
    given are read here, once, from the environment variables the suite names (``Suite.env``).
    """
    t_start = time.perf_counter()
    config_list = _parse_configs(configs)
    if limit is not None and limit < 0:
        raise Nl2qError(f"--limit must be >= 0, got {limit}")
    if workers < 1:
        raise Nl2qError(f"--workers must be >= 1, got {workers}")
    if concurrency < 1:
        raise Nl2qError(f"--concurrency must be >= 1, got {concurrency}")
    if workers > 1 and concurrency > 1:
        raise Nl2qError("--workers and --concurrency are two ways to run items at once; choose one",
                        "--concurrency N for a model behind a server, --workers N for in-process models")
    if few_shot < 0:
        raise Nl2qError(f"--few-shot must be >= 0, got {few_shot}")
    s = get_suite(suite, benchmarks, options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        items = s.items(seed, limit)
        store = ResultStore(out / RESULTS_FILE)
        model_name = _model_name(model)
        _check_compatible(store, s.name, model_name, out, few_shot)
        shots = s.few_shot(items, few_shot, seed, few_shot_select)
        _check_examples(store, shots, out)
        pending = [(it, [c for c in config_list if (it.id, c) not in store]) for it in items]
        pending = [(it, cs) for it, cs in pending if cs]
        s.execution()  # opens the engine (loading graphs once, here) before any item or worker runs
        total_pairs = len(items) * len(config_list)
        done_before = total_pairs - sum(len(cs) for _, cs in pending)
        run_info: dict[str, Any] = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                    "pairs_run": 0, "model_load_s": None, "wall_s": None,
                                    "resumed_pairs": done_before, "dropped_partial_lines": store.dropped_partial}
        t_run = time.perf_counter()
        if pending:
            plan = runner.Plan(s, suite, model, pending, shots, store, max_repairs, max_new_tokens, total_pairs,
                               done_before, progress)
            run_info.update(runner.run_parallel(plan, workers) if workers > 1
                            else runner.run_concurrent(plan, concurrency) if concurrency > 1
                            else runner.run_serial(plan))
        run_info["wall_s"] = round(time.perf_counter() - t_run, 2)
        store.close()
        rows = [store.rows[(it.id, c)] for it in items for c in config_list if (it.id, c) in store]
        runs = _earlier_runs(out / SUMMARY_FILE) + ([run_info] if run_info["pairs_run"] else [])
        summary = summarise(rows, suite=s, suite_arg=suite, items=items, configs=config_list, seed=seed, limit=limit,
                            model=model_name, run=run_info, runs=runs, few_shot=few_shot,
                            few_shot_select=few_shot_select)
        summary["elapsed_s"] = round(time.perf_counter() - t_start, 2)
        write_json(out / SUMMARY_FILE, summary)
        summary["charts"] = write_charts(summary, out)
        write_json(out / SUMMARY_FILE, summary)
        (out / REPORT_FILE).write_text(render_report(summary), encoding="utf-8")
        return summary
    finally:
        s.close()


def _parse_configs(configs: str | Iterable[str]) -> list[str]:
    names = [c.strip() for c in (configs.split(",") if isinstance(configs, str) else configs) if c and c.strip()]
    if not names:
        raise Nl2qError("no configurations given", "pass e.g. --configs raw,constrained,repair")
    for n in names:
        Stages.named(n)  # raises Nl2qError for unknown names
    return list(dict.fromkeys(names))


def _model_name(model: Any) -> str:
    if isinstance(model, Model):
        return model.name
    from ..models import PROVIDERS, local_name
    from ..models.config import configured

    spec = str(model or DEFAULT_MODEL)
    entry = configured().get(spec)
    if entry is not None:
        spec = entry.spec
    return spec if spec.partition(":")[0] in PROVIDERS else local_name(spec)


def _earlier_runs(path: Path) -> list[dict[str, Any]]:
    """The runs an existing summary.json records, so a resumed run's summary keeps their timing."""
    data = read_json(path)
    timing = (data.get("timing") if isinstance(data, dict) else None) or {}
    return list(timing.get("runs") or [])


def _check_examples(store: ResultStore, shots: dict[str, list[Any]], out: Path) -> None:
    """Rows shown other examples than this run would show (another --few-shot-select) are another experiment."""
    for row in store.rows.values():
        ids = [e.id for e in shots.get(row.get("item_id"), [])]
        if row.get("item_id") in shots and not row.get("error") and list(row.get("few_shot") or []) != ids:
            raise Nl2qError(f"{out / RESULTS_FILE} holds results shown other few-shot examples than this run's",
                            "use another --out directory for each --few-shot-select")


def _check_compatible(store: ResultStore, suite_name: str, model: str, out: Path, few_shot: int) -> None:
    """Rows of another suite, model or few-shot setting in ``out`` would mix two experiments into one summary."""
    for row in store.rows.values():
        if row.get("suite") != suite_name:
            raise Nl2qError(f"{out / RESULTS_FILE} holds results of suite {row.get('suite')!r}, not {suite_name!r}",
                            "use another --out directory for each suite")
        if row.get("model") != model:
            raise Nl2qError(f"{out / RESULTS_FILE} holds results of model {row.get('model')!r}, not {model!r}",
                            "use another --out directory for each model")
        if len(row.get("few_shot") or []) != few_shot and not row.get("error"):
            raise Nl2qError(f"{out / RESULTS_FILE} holds results with {len(row.get('few_shot') or [])} few-shot "
                            f"example(s), not {few_shot}", "use another --out directory for each --few-shot")
