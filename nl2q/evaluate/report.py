"""report.md and the results tables (aligned text for the terminal, Markdown for reports and the README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence


def _f(v: Any, pct: bool = True) -> str:
    if v is None:
        return "n/a"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v}"


def _s(ms: Any) -> str:
    return "n/a" if ms is None else f"{ms / 1000:.1f}"


_COLUMNS: dict[str, Callable[[dict[str, Any]], str]] = {
    "n": lambda r: str(r["n"]),
    "valid": lambda r: _f(r["valid"]),
    "exec acc": lambda r: _f(r["exec_acc"]),
    "exec acc (gold has rows)": lambda r: _f(r.get("exec_acc_gold_rows")),
    "valid & right": lambda r: _f(r["right"]),
    "exact set": lambda r: _f(r["exact_set"]),
    "rounds": lambda r: f"{r['rounds_mean']:.2f}",
    "invalid→valid": lambda r: str(r["invalid_to_valid"]),
    "wrong→right": lambda r: str(r["wrong_to_right"]),
    "right→wrong": lambda r: str(r["right_to_wrong"]),
    "truncated": lambda r: str(r.get("truncated", "n/a")),
    "backtracks": lambda r: "n/a" if r.get("backtracks_mean") is None else f"{r['backtracks_mean']:.2f}",
    "p50 s": lambda r: _s(r["latency_ms_p50"]),
    "p95 s": lambda r: _s(r["latency_ms_p95"]),
    "prompt tok": lambda r: f"{r['prompt_tokens_mean']:.0f}",
    "output tok": lambda r: f"{r['output_tokens_mean']:.0f}",
    "tok/item": lambda r: f"{(r['prompt_tokens_mean'] or 0) + (r['output_tokens_mean'] or 0):.0f}",
}
TEXT_COLUMNS = ("n", "valid", "exec acc", "exec acc (gold has rows)", "valid & right", "exact set", "rounds", "invalid→valid", "wrong→right",
                "p50 s", "p95 s", "tok/item")
REPORT_COLUMNS = ("n", "valid", "exec acc", "exec acc (gold has rows)", "valid & right", "exact set", "rounds", "invalid→valid", "wrong→right",
                  "right→wrong", "truncated", "backtracks", "p50 s", "p95 s", "prompt tok", "output tok")
VERSUS_COLUMNS = ("against", "items", "invalid→valid", "valid→invalid", "wrong→right", "right→wrong")


def similarity_table(summary: dict[str, Any]) -> str:
    """The suite's similarity metrics per configuration (Markdown); empty when the suite has none."""
    cfgs = summary["configs"]
    keys = list(dict.fromkeys(k for c in cfgs for k in (summary["results"][c].get("similarity") or {})))
    if not keys:
        return ""
    body = [[f"`{c}`"] + [_f((summary["results"][c].get("similarity") or {}).get(k)) for k in keys] for c in cfgs]
    return _md_table(["config", *(k.replace("_", " ") for k in keys)], body)


def versus_table(summary: dict[str, Any]) -> str:
    """Each configuration against the previous one, item by item (Markdown); empty for one configuration."""
    rows = summary.get("versus_previous") or {}
    if not rows:
        return ""
    keys = ("against", "items", "invalid_to_valid", "valid_to_invalid", "wrong_to_right", "right_to_wrong")
    body = [[f"`{c}`"] + [f"`{v[k]}`" if k == "against" else str(v[k]) for k in keys] for c, v in rows.items()]
    return _md_table(["config", *VERSUS_COLUMNS], body)


def results_table(summary: dict[str, Any], columns: Sequence[str] = REPORT_COLUMNS,
                  name: Callable[[str], str] = str) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per configuration) of the main results table, cells formatted."""
    head = ["config", *columns]
    body = []
    for c in summary["configs"]:
        r = summary["results"][c]
        if not r.get("n"):
            body.append([name(c), "0"] + ["n/a"] * (len(columns) - 1))
        else:
            body.append([name(c)] + [_COLUMNS[k](r) for k in columns])
    return head, body


def format_table(summary: dict[str, Any]) -> str:
    """The per-configuration table as aligned text (what ``nl2q eval`` prints)."""
    head, body = results_table(summary, TEXT_COLUMNS)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda row: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(b) for b in body])


def markdown_table(summary: dict[str, Any], columns: Sequence[str] = REPORT_COLUMNS) -> str:
    """The main results table in Markdown (report.md, the README's baseline)."""
    return _md_table(*results_table(summary, columns, name=lambda c: f"`{c}`"))


def _md_table(head: list[str], body: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
                     + ["| " + " | ".join(r) + " |" for r in body])


def render_report(summary: dict[str, Any]) -> str:
    """report.md: the setting, the main table, breakdowns, charts and the definitions."""
    s = summary
    cfgs = s["configs"]
    ex = s["execution"]
    lines = [
        f"# nl2q evaluation: {s['suite_arg']}",
        "",
        f"- model: `{s['model']}`; configurations: {', '.join(f'`{c}`' for c in cfgs)}",
        f"- items: {s['n_items']} (seed {s['seed']}, limit {s['limit']}; {s['sampling']}); "
        f"item ids sha256 `{s['item_ids_sha256'][:16]}`",
        f"- execution: **{ex['mode']}**: {ex.get('note', '')}",
        (f"- few-shot: {s['few_shot']['k']} examples per item; split: {s['few_shot']['split']}; "
         "an evaluated item's own gold query never enters its prompts" if s["few_shot"]["k"]
         else "- few-shot: none; gold queries never enter prompts"),
        f"- rows: {s['rows']} of {s['pairs']} (item, configuration) pairs{'' if s['complete'] else ' (INCOMPLETE)'}",
        f"- generated {s['generated_at']} by nl2q {s['nl2q_version']} (harness v{s['harness_version']})",
        "",
        "## Results",
        "",
    ]
    lines += [markdown_table(s), ""]
    n_exec = {c: s["results"][c].get("n_executable") for c in cfgs}
    n_rows = {c: s["results"][c].get("n_gold_rows") for c in cfgs}
    lines += [f"Execution accuracy is over the items whose gold query executes ({', '.join(f'{c}: {v}' for c, v in n_exec.items())}); "
              f"\"gold has rows\" over those whose gold result is not empty ({', '.join(f'{c}: {v}' for c, v in n_rows.items())}).", ""]
    if similarity_table(s):
        lines += ["## Similarity to the gold", "", "Means over the items each metric applies to.", "",
                  similarity_table(s), ""]
    if versus_table(s):
        lines += ["## Each configuration against the previous one", "",
                  "Item by item: what the stage a configuration adds gained and lost.", "", versus_table(s), ""]
    for key, groups in s["breakdown"].items():
        lines += [f"## By {key}", ""]
        metric = "exec_acc" if any(g[c].get("exec_acc") is not None for g in groups.values() for c in cfgs) else "valid"
        bhead = [key, "n"] + [f"{c} valid" for c in cfgs] + ([f"{c} exec acc" for c in cfgs] if metric == "exec_acc" else [])
        bbody = []
        for v, per in groups.items():
            n = max((per[c].get("n") or 0) for c in cfgs)
            row = [v or "(none)", str(n)] + [_f(per[c].get("valid")) for c in cfgs]
            if metric == "exec_acc":
                row += [_f(per[c].get("exec_acc")) for c in cfgs]
            bbody.append(row)
        lines += [_md_table(bhead, bbody), ""]
    errs = {c: s["results"][c].get("top_error_codes") or {} for c in cfgs}
    if any(errs.values()):
        lines += ["## Most frequent error codes of the final answers", ""]
        lines += [f"- `{c}`: " + (", ".join(f"`{k}` {v}" for k, v in e.items()) or "none") for c, e in errs.items()]
        lines.append("")
    if s.get("charts"):
        lines += ["## Charts", ""] + [f"![{Path(p).stem}]({p})" for p in s["charts"]] + [""]
    t = s["timing"]
    load = f" (model load {t['model_load_s']} s)" if t.get("model_load_s") is not None else ""
    workers = ", ".join(str(r.get("workers")) for r in t.get("runs") or []) or "n/a"
    lines += ["## Timing", "",
              f"- compile time per item (all configurations): {t.get('compile_s_per_item_all_configs')} s; "
              f"per (item, configuration): {t.get('compile_s_per_pair_mean')} s",
              f"- this run: {t.get('pairs_run')} pairs in {t.get('wall_s')} s{load}, "
              f"{t.get('resumed_pairs')} pairs resumed from earlier runs",
              f"- all runs: {len(t.get('runs') or [])} run(s), {t.get('pairs_run_all_runs')} pairs in "
              f"{t.get('wall_s_all_runs')} s wall time (workers: {workers})", ""]
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in s["metric_definitions"].items()] + [""]
    return "\n".join(lines)
