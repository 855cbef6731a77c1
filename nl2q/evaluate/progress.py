"""The progress bar on stderr, with each configuration's running score."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """A tqdm bar; per configuration it shows valid/rows, and right/rows whose gold executes (when any does)."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, unit="run", desc="eval", file=sys.stderr, disable=not enabled,
                        dynamic_ncols=True, smoothing=0.1)
        self.counts: dict[str, list[int]] = {}

    def describe(self, text: str) -> None:
        self.bar.set_description(text)

    def add(self, row: dict[str, Any]) -> None:
        c = self.counts.setdefault(row["config"], [0, 0, 0, 0])
        right = row["metrics"].get("right")
        c[0] += bool(row["valid"])
        c[1] += 1
        if right is not None:
            c[2] += bool(right)
            c[3] += 1
        parts = [f"{k} valid {v[0]}/{v[1]}" + (f" right {v[2]}/{v[3]}" if v[3] else "") for k, v in self.counts.items()]
        self.bar.set_postfix_str("; ".join(parts), refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
