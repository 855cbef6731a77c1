"""Running the pending (item, configuration) pairs: in this process, in threads sharing one model, or in worker processes."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..compiler import Compiler, Stages
from ..errors import Nl2qError
from ..models import Model, load_model
from .progress import Progress
from .replay import ReplayModel
from .scoring import failed_row, score
from .store import ResultStore
from .suites import Item, Suite, get_suite


class Runner:
    """One model and one suite: runs every pending configuration of an item."""

    def __init__(self, suite: Suite, model: Any, max_repairs: int, max_new_tokens: int) -> None:
        self.suite = suite
        self.model = ReplayModel(load_model(model))
        self.compiler = Compiler(self.model, policy=suite.policy, max_repairs=max_repairs, max_new_tokens=max_new_tokens)
        self.model_name = self.compiler.model.name

    def run(self, item: Item, configs: list[str], examples: Sequence[Item] = ()) -> Iterable[dict[str, Any]]:
        self.model.reset()
        shots = [(e.question, e.gold) for e in examples]
        few_shot = [e.id for e in examples]
        for config in configs:
            try:
                saved_before, replayed_before = self.model.saved_ms, self.model.replayed
                result = self.compiler.compile(item.question, schema=self.suite.schema_for(item), target=self.suite.target,
                                               dialect=self.suite.dialect, stages=Stages.named(config), examples=shots)
                replayed = self.model.replayed - replayed_before
                if replayed:
                    # Latency as if decoded here: the replayed generations' decode time is added back.
                    result.timings["total_ms"] = round(result.timings["total_ms"] + self.model.saved_ms - saved_before, 1)
                    result.timings["replayed_generations"] = replayed
                yield {**score(self.suite, item, config, result), "few_shot": few_shot}
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - one item's crash is a finding, not the end of the run
                yield {**failed_row(self.suite, item, config, self.model_name, e), "few_shot": few_shot}

    def close(self) -> None:
        self.compiler.close()


@dataclass
class Plan:
    """What a run has to do: the pending (item, configurations), their few-shot examples, where rows go."""

    suite: Suite
    suite_arg: str
    model: Any
    pending: list[tuple[Item, list[str]]]
    shots: dict[str, list[Item]]
    store: ResultStore
    max_repairs: int
    max_new_tokens: int
    total: int
    initial: int
    progress: bool


def run_serial(plan: Plan) -> dict[str, Any]:
    bar = Progress(plan.total, plan.initial, plan.progress)
    bar.describe("eval (loading model)")
    t0 = time.perf_counter()
    runner = Runner(plan.suite, plan.model, plan.max_repairs, plan.max_new_tokens)
    load_s = time.perf_counter() - t0
    bar.describe("eval")
    n = 0
    try:
        for item, cfgs in plan.pending:
            for row in runner.run(item, cfgs, plan.shots[item.id]):
                plan.store.append(row)
                bar.add(row)
                n += 1
    finally:
        bar.close()
        runner.close()
    return {"pairs_run": n, "model_load_s": round(load_s, 2), "workers": 1}


_WORKER: dict[str, Any] = {}


def _worker_init(suite: str, benchmarks: str, options: Mapping[str, str], model: str | None, max_repairs: int,
                 max_new_tokens: int, threads: int, execution: dict[str, Any]) -> None:
    from ..quiet import quiet

    quiet()  # a worker's load messages would break the parent's progress bar
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    s = get_suite(suite, benchmarks, options, environ={})  # the parent resolved the settings once
    mine = s.execution()
    if mine.get("mode") != execution.get("mode"):
        raise Nl2qError(f"a worker would execute on {mine.get('mode')!r} ({mine.get('note')}), the run on "
                        f"{execution.get('mode')!r}", "fix the engine the note names, or run with --workers 1")
    _WORKER["runner"] = Runner(s, model, max_repairs, max_new_tokens)
    _WORKER["items"] = {i.id: i for i in s.all_items()}


def _worker_run(item_id: str, configs: list[str], example_ids: list[str]) -> list[dict[str, Any]]:
    runner, items = _WORKER["runner"], _WORKER["items"]
    return list(runner.run(items[item_id], configs, [items[i] for i in example_ids]))


def _collect(futures: list[Any], plan: Plan, bar: Progress) -> int:
    """Write each item's rows as its future completes; the number written."""
    from concurrent.futures import as_completed

    n = 0
    for fut in as_completed(futures):
        for row in fut.result():
            plan.store.append(row)
            bar.add(row)
            n += 1
    return n


def run_parallel(plan: Plan, workers: int) -> dict[str, Any]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if isinstance(plan.model, Model):
        raise Nl2qError("workers > 1 needs a model name or directory, not a Model object",
                        "pass model as a string, or use workers=1")
    threads = max(1, (os.cpu_count() or 1) // workers)
    bar = Progress(plan.total, plan.initial, plan.progress)
    ctx = mp.get_context("spawn")
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(plan.suite_arg, str(plan.suite.root), plan.suite.options, plan.model,
                                           plan.max_repairs, plan.max_new_tokens, threads,
                                           plan.suite.execution())) as pool:
            n = _collect([pool.submit(_worker_run, it.id, cfgs, [e.id for e in plan.shots[it.id]])
                          for it, cfgs in plan.pending], plan, bar)
    finally:
        bar.close()
    return {"pairs_run": n, "workers": workers, "threads_per_worker": threads}


def run_concurrent(plan: Plan, concurrency: int) -> dict[str, Any]:
    """Items in ``concurrency`` threads sharing one loaded model: for a server, that many requests in flight.

    Each thread has its own :class:`Runner` (its own replay memo and compiler); rows are written here, in order
    of completion, as in :func:`run_parallel`.
    """
    from concurrent.futures import ThreadPoolExecutor

    bar = Progress(plan.total, plan.initial, plan.progress)
    bar.describe("eval (loading model)")
    t0 = time.perf_counter()
    model = load_model(plan.model)
    load_s = time.perf_counter() - t0
    bar.describe("eval")
    mine = threading.local()
    runners: list[Runner] = []
    lock = threading.Lock()

    def work(item: Item, configs: list[str]) -> list[dict[str, Any]]:
        if not hasattr(mine, "runner"):
            mine.runner = Runner(plan.suite, model, plan.max_repairs, plan.max_new_tokens)
            with lock:
                runners.append(mine.runner)
        return list(mine.runner.run(item, configs, plan.shots[item.id]))

    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="nl2q-eval") as pool:
            n = _collect([pool.submit(work, it, cfgs) for it, cfgs in plan.pending], plan, bar)
    finally:
        bar.close()
        for r in runners:
            r.close()
    return {"pairs_run": n, "model_load_s": round(load_s, 2), "workers": 1, "concurrency": concurrency}
