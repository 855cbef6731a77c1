"""eval/baseline.py: the README's baseline table is rebuilt from the committed summaries."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from nl2q.evaluate import DEFAULT_CONFIGS, METRIC_DEFINITIONS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def baseline(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("nl2q_eval_baseline", ROOT / "eval" / "baseline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(mod, "README", tmp_path / "README.md")
    return mod


def _summary(suite_arg: str, valid: float, complete: bool = True) -> dict:
    agg = {"n": 200, "valid": valid, "exec_acc": 0.05, "exec_acc_gold_rows": 0.03, "right": 0.04, "exact_set": None, "rounds_mean": 1.5,
           "invalid_to_valid": 7, "wrong_to_right": 1, "right_to_wrong": 0, "latency_ms_p50": 2500.0,
           "latency_ms_p95": 9000.0, "prompt_tokens_mean": 300.0, "output_tokens_mean": 40.0}
    return {"suite_arg": suite_arg, "n_items": 200, "seed": 0, "model": "smollm2-135m", "configs": list(DEFAULT_CONFIGS),
            "execution": {"mode": "sqlite"}, "complete": complete, "timing": {"compile_s_per_item_all_configs": 12.3},
            "results": {c: agg for c in DEFAULT_CONFIGS}, "metric_definitions": METRIC_DEFINITIONS}


def test_readme_table_is_rewritten_between_markers(baseline):
    (baseline.RESULTS / "text2cypher").mkdir(parents=True)
    (baseline.RESULTS / "text2cypher" / "summary.json").write_text(json.dumps(_summary("text2cypher:movies,northwind", 0.625, False)))
    baseline.README.write_text(f"# x\n\nbefore\n{baseline.BEGIN}\nstale table\n{baseline.END}\nafter\n")
    baseline.update_readme()
    text = baseline.README.read_text()
    assert "stale table" not in text and text.startswith("# x\n\nbefore\n") and text.endswith(f"{baseline.END}\nafter\n")
    assert "| `repair` | 200 | 62.5% | 5.0% | 3.0% | 4.0% | n/a | 1.50 | 7 | 1 | 0 | n/a | n/a | 2.5 | 9.0 |" in text
    assert "(INCOMPLETE)" in text and "text2cypher:movies,northwind" in text and "spider" not in text


def test_readme_without_markers_is_an_error(baseline):
    baseline.README.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        baseline.update_readme()
    assert baseline.README.read_text() == "# no markers\n"
