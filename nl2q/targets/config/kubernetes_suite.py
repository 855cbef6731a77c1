"""A Kubernetes suite: question -> manifest, scored by the checks each item states.

The data is ``<benchmarks>/kubernetes/*.jsonl``, one item a line::

    {"id": "web-1", "question": "a Deployment of nginx:1.27 with 3 replicas",
     "reference": "apiVersion: apps/v1\\nkind: Deployment\\n...",          # YAML or JSON text, or an object
     "checks": [{"path": "spec.replicas", "equals": 3},
                {"path": "spec.template.spec.containers[0].image", "matches": "^nginx:1\\\\.27$"},
                {"path": "spec.template.spec.containers[0].readinessProbe", "exists": true}],
     "kubernetes_version": "1.33"}                                           # optional

A prediction is right when it passes every check the reference passes (the reference is executed
like a prediction, so a check the reference fails is caught as a data error, not scored). No such
public data set exists yet; this is the format one plugs into.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import Nl2qError
from ...evaluate.compare import Execution
from ...evaluate.suites import Item, Suite

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path with list indexes: ``spec.template.spec.containers[0].image``."""
    for name, index in _STEP.findall(path):
        if index:
            if not isinstance(data, list) or int(index) >= len(data):
                return False, None
            data = data[int(index)]
        elif isinstance(data, dict) and name in data:
            data = data[name]
        else:
            return False, None
    return True, data


def run_check(data: Any, check: Mapping[str, Any]) -> bool:
    """One check: ``equals`` a value, ``matches`` a regex (on the text of the value), or ``exists`` (true/false)."""
    found, value = lookup(data, check["path"])
    if "equals" in check:
        return found and value == check["equals"]
    if "matches" in check:
        return found and re.search(check["matches"], value if isinstance(value, str) else json.dumps(value)) is not None
    return found == bool(check.get("exists", True))


def describe(check: Mapping[str, Any]) -> str:
    for key in ("equals", "matches"):
        if key in check:
            return f"{check['path']} {key} {json.dumps(check[key])}"
    return f"{check['path']} {'exists' if check.get('exists', True) else 'is absent'}"


class KubernetesManifests(Suite):
    """Question -> manifest items with stated checks; validity under the strict schema and the checks passed."""

    target = "config"
    dialect = "kubernetes"
    breakdowns = ("database",)

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.dir = root / "kubernetes"
        if not sorted(self.dir.glob("*.jsonl")):
            raise Nl2qError(f"no Kubernetes suite data under {self.dir}",
                            "add <benchmarks>/kubernetes/*.jsonl, one {question, reference, checks} object a line")
        self._raw: dict[str, dict[str, Any]] = {}

    def _load_items(self) -> list[Item]:
        items = []
        for path in sorted(self.dir.glob("*.jsonl")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                raw = _item(path, n, line)
                reference = _manifest(raw["reference"])
                kind = str(reference.get("kind", "?"))
                item_id = f"kubernetes:{raw.get('id') or f'{path.stem}/{n}'}"
                self._raw[item_id] = {**raw, "reference": reference}
                items.append(Item(item_id, raw["question"], json.dumps(reference), kind, {"database": kind}))
        return items

    def schema_for(self, item: Item) -> Any:
        raw = self._raw[item.id]
        reference = raw["reference"]
        source: dict[str, Any] = {"kind": f"{reference.get('apiVersion')}/{reference.get('kind')}"}
        if raw.get("kubernetes_version"):
            source["kubernetes_version"] = raw["kubernetes_version"]
        return source

    def execution(self) -> dict[str, Any]:
        return {"mode": "checks", "note": "each item's stated checks on the manifest (a prediction is right when it "
                                          "passes every check the reference passes)"}

    def _execute(self, item: Item, query: str) -> Execution | None:
        try:
            data = _manifest(query)
        except Nl2qError as e:
            return Execution(False, "checks", error=e.message)
        rows = [(describe(c), run_check(data, c)) for c in self._raw[item.id]["checks"]]
        return Execution(True, "checks", ["check", "passed"], rows)

    def similarity(self, item: Item, query: str) -> dict[str, float | None]:
        checks = self._raw[item.id]["checks"]
        if not checks or not query.strip():
            return {"checks_passed": 0.0 if checks else None}
        try:
            data = _manifest(query)
        except Nl2qError:
            return {"checks_passed": 0.0}
        return {"checks_passed": sum(run_check(data, c) for c in checks) / len(checks)}


def _item(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError as e:
        raise Nl2qError(f"{path}:{n}: not JSON: {e}", "one JSON object a line") from None
    missing = [k for k in ("question", "reference", "checks") if k not in raw]
    if missing:
        raise Nl2qError(f"{path}:{n}: missing {', '.join(missing)}", "each item has question, reference and checks")
    for check in raw["checks"]:
        if "path" not in check:
            raise Nl2qError(f"{path}:{n}: a check without a path", 'checks look like {"path": "spec.replicas", "equals": 3}')
    return raw


def _manifest(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    import yaml

    try:
        data = yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise Nl2qError(f"not a manifest: {e}", "write the reference as YAML or JSON") from None
    if not isinstance(data, dict):
        raise Nl2qError("a manifest is a mapping", "write one Kubernetes object")
    return data
