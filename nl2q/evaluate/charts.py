"""PNG charts comparing the configurations (matplotlib, Agg backend; none when matplotlib is missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_charts(summary: dict[str, Any], out: Path) -> list[str]:
    """PNG charts comparing configurations (matplotlib, Agg). Returns file names relative to ``out``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    cfgs = summary["configs"]
    res = summary["results"]
    written = []
    metrics = [("valid", "valid"), ("exec_acc", "exec acc"), ("right", "valid & right"), ("exact_set", "exact set")]
    metrics = [(k, lab) for k, lab in metrics if any(res[c].get(k) is not None for c in cfgs)]

    def bars(ax: Any, groups: list[str], series: dict[str, list[float | None]], ylabel: str, pct: bool = True) -> None:
        width = 0.8 / max(1, len(series))
        for j, (name, vals) in enumerate(series.items()):
            xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
            ys = [0 if v is None else (100 * v if pct else v) for v in vals]
            b = ax.bar(xs, ys, width, label=name)
            ax.bar_label(b, labels=["n/a" if v is None else (f"{100 * v:.0f}" if pct else f"{v:.1f}") for v in vals],
                         fontsize=7)
        ax.set_xticks(range(len(groups)), groups, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        if pct:
            ax.set_ylim(0, 105)

    title = f"{summary['suite_arg']}, {summary['model']}, n={summary['n_items']}"
    fig, ax = plt.subplots(figsize=(7, 4))
    bars(ax, [lab for _, lab in metrics], {c: [res[c].get(k) for k, _ in metrics] for c in cfgs}, "% of items")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)
    written.append("metrics.png")

    fig, ax = plt.subplots(figsize=(6, 3.6))
    bars(ax, cfgs, {"p50": [(res[c].get("latency_ms_p50") or 0) / 1000 for c in cfgs],
                    "p95": [(res[c].get("latency_ms_p95") or 0) / 1000 for c in cfgs]}, "seconds per item", pct=False)
    ax.set_title(f"compile latency: {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    written.append("latency.png")

    key = summary["breakdown"] and next(iter(summary["breakdown"]))
    if key:
        groups = summary["breakdown"][key]
        metric = "exec_acc" if any(g[c].get("exec_acc") is not None for g in groups.values() for c in cfgs) else "valid"
        names = list(groups)[:12]
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names) + 2), 4))
        bars(ax, [n or "(none)" for n in names], {c: [groups[n][c].get(metric) for n in names] for c in cfgs},
             f"{metric} (% of items)")
        ax.set_title(f"{metric} by {key}: {title}", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / f"by_{key}.png", dpi=110)
        plt.close(fig)
        written.append(f"by_{key}.png")
    return written
