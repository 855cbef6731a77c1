"""The metrics a Prometheus rule may name: from a file (JSON/YAML, or a saved ``/metrics`` scrape) or from a
running Prometheus. The names bind the decode grammar, the types let the checker warn (rate over a gauge),
and :meth:`MetricSet.render` is the list the model's prompt shows."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ...errors import SchemaError

TYPES = ("counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram")
# the series a family of each type exposes besides its own name (text format and OpenMetrics)
_CHILDREN = {"histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("_sum", "_count", "_created"),
             "counter": ("_total", "_created"), "gaugehistogram": ("_bucket", "_gsum", "_gcount")}
_SUFFIXES = tuple(dict.fromkeys(s for suffixes in _CHILDREN.values() for s in suffixes))
# labels every scraped series carries (the target's), and those a family's type implies
_TARGET_LABELS = frozenset({"job", "instance"})
_TYPE_LABELS = {"histogram": "le", "gaugehistogram": "le", "summary": "quantile"}
_HINT_FILE = ("pass a metrics file instead: JSON/YAML {\"metrics\": {\"name\": {\"type\": ..., \"help\": ..., "
              "\"labels\": [...]}}} or a saved /metrics scrape")


@dataclass(frozen=True)
class MetricInfo:
    type: str = "unknown"
    help: str = ""
    labels: frozenset[str] = frozenset()


@dataclass
class MetricSet:
    """Metric names with what is known of each, and label names with their known values (possibly none)."""

    metrics: dict[str, MetricInfo]
    labels: dict[str, frozenset[str]] = field(default_factory=dict)
    source: str = ""

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.metrics)

    @property
    def label_names(self) -> frozenset[str]:
        """The declared labels plus those Prometheus attaches (job, instance) or the types imply (le, quantile);
        empty when nothing declares a label, which leaves label names free."""
        declared = set(self.labels).union(*(m.labels for m in self.metrics.values()))
        if not declared:
            return frozenset()
        implied = {_TYPE_LABELS[m.type] for m in self.metrics.values() if m.type in _TYPE_LABELS}
        implied |= {"le" for n in self.metrics if n.endswith("_bucket")}
        return frozenset(declared | _TARGET_LABELS | implied) - {"__name__"}

    def info(self, name: str) -> MetricInfo | None:
        """What is known of ``name``: its own entry, or its family's (``x_bucket`` of histogram ``x``)."""
        if name in self.metrics:
            return self.metrics[name]
        for suffix in _SUFFIXES:
            family = self.metrics.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
            if family is not None and suffix in _CHILDREN.get(family.type, ()):
                return family
        return None

    def including(self, names: Iterable[str]) -> "MetricSet":
        """This set plus ``names`` (a rule file's own recorded metrics, which later rules may read)."""
        return replace(self, metrics={**{n: MetricInfo() for n in names}, **self.metrics})

    @classmethod
    def from_dict(cls, data: Any, source: str = "dict") -> "MetricSet":
        """``{"metrics": {name: {"type", "help", "labels"}}, "labels": {label: [values]}}``; metrics may also be a
        list of names, labels a list of names, and the whole a plain list of metric names."""
        if isinstance(data, list):
            data = {"metrics": data}
        if not isinstance(data, Mapping) or "metrics" not in data:
            raise SchemaError(f"{source}: expected a mapping with a 'metrics' key or a list of metric names",
                              _HINT_FILE)
        raw = data["metrics"]
        entries = {str(n): None for n in raw} if isinstance(raw, list) else raw
        if not isinstance(entries, Mapping):
            raise SchemaError(f"{source}: 'metrics' must map names to descriptions or list names", _HINT_FILE)
        metrics = {str(name): _metric_info(str(name), entry, source) for name, entry in entries.items()}
        return cls(metrics, _label_values(data.get("labels") or {}, source), source)

    @classmethod
    def from_file(cls, path: str | Path) -> "MetricSet":
        """A JSON/YAML metrics file (by suffix), or otherwise a saved scrape in the Prometheus text format."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SchemaError(f"cannot read the metrics file {path}: {e.strerror or e}", _HINT_FILE) from None
        if path.suffix.lower() in (".json", ".yaml", ".yml"):
            return cls.from_dict(_load_structured(text, path), str(path))
        return cls(*_parse_exposition(text), str(path))

    @classmethod
    def from_prometheus(cls, url: str, timeout: float = 5.0) -> "MetricSet":
        """The metric names, metadata (type, help) and label names of the Prometheus at ``url`` (its base URL)."""
        base = url.rstrip("/")
        names = _api(base, "/api/v1/label/__name__/values", timeout)
        metadata = _api(base, "/api/v1/metadata", timeout)
        labels = _api(base, "/api/v1/labels", timeout)
        families = {n: MetricInfo(_known_type(m[0].get("type")), m[0].get("help", ""))
                    for n, m in metadata.items() if m}
        metrics = _with_families({n: frozenset() for n in names}, families)
        return cls(metrics, {label: frozenset() for label in labels if label != "__name__"}, base)

    def render(self, question: str, limit: int = 60) -> str:
        """The metrics for a prompt: name, type and a short help, the ``limit`` nearest the question's words when
        there are more (saying how many were cut), then the label names with a few known values."""
        names = sorted(self.metrics)
        shown = names if len(names) <= limit else sorted(_nearest(names, question, self._describe, limit))
        lines = [self._line(n) for n in shown]
        if len(names) > len(shown):
            lines.append(f"... {len(names) - len(shown)} more metrics not shown")
        labels = sorted(self.label_names)
        if labels:
            cap = 2 * limit
            kept = labels if len(labels) <= cap else sorted(_nearest(labels, question, _label_words, cap))
            more = f" ... {len(labels) - len(kept)} more labels not shown" if len(kept) < len(labels) else ""
            lines.append("Labels: " + ", ".join(self._label(n) for n in kept) + more)
        return "\n".join(lines)

    def _line(self, name: str) -> str:
        info = self.metrics[name]
        kind = f" ({info.type})" if info.type != "unknown" else ""
        about = _short(info.help)
        return f"- {name}{kind}" + (f": {about}" if about else "")

    def _label(self, name: str, few: int = 8) -> str:
        values = sorted(self.labels.get(name, ()))
        if not values:
            return name
        more = " | ..." if len(values) > few else ""
        return f"{name} ({' | '.join(json.dumps(v) for v in values[:few])}{more})"

    def _describe(self, name: str) -> tuple[set[str], set[str]]:
        return _words(name), _words(self.metrics[name].help)


def load_metrics(source: Any) -> MetricSet:
    """A MetricSet from what a caller has: one already, a dict or list, a file path, or an http(s) URL."""
    if isinstance(source, MetricSet):
        return source
    if isinstance(source, (dict, list)):
        return MetricSet.from_dict(source)
    if isinstance(source, (str, Path)):
        text = str(source)
        if urllib.parse.urlparse(text).scheme in ("http", "https"):
            return MetricSet.from_prometheus(text)
        return MetricSet.from_file(source)
    raise SchemaError(f"cannot read metrics from a {type(source).__name__}",
                      "give a Prometheus URL (http://host:9090), a metrics file, a dict or a list of names")


# ------------------------------------------------------------------ files


def _metric_info(name: str, entry: Any, source: str) -> MetricInfo:
    if entry is None:
        return MetricInfo()
    if isinstance(entry, str):
        entry = {"type": entry}
    if not isinstance(entry, Mapping):
        raise SchemaError(f"{source}: metric {name!r} must be described by a mapping (type, help, labels)",
                          _HINT_FILE)
    kind = str(entry.get("type") or "unknown").lower()
    if kind not in TYPES:
        raise SchemaError(f"{source}: metric {name!r} has type {kind!r}", f"use one of {', '.join(TYPES)}")
    labels = entry.get("labels") or ()
    return MetricInfo(kind, str(entry.get("help") or ""), frozenset(map(str, [labels] if isinstance(labels, str)
                                                                     else labels)))


def _label_values(raw: Any, source: str) -> dict[str, frozenset[str]]:
    if isinstance(raw, list):
        return {str(n): frozenset() for n in raw}
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: 'labels' must list label names or map them to their values", _HINT_FILE)
    return {str(n): frozenset(map(str, values or ())) for n, values in raw.items()}


def _load_structured(text: str, path: Path) -> Any:
    import yaml

    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise SchemaError(f"the metrics file {path} does not parse: {e}", _HINT_FILE) from None


_SAMPLE_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*")
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _parse_exposition(text: str) -> tuple[dict[str, MetricInfo], dict[str, frozenset[str]]]:
    """The Prometheus text format (and OpenMetrics): ``# HELP``, ``# TYPE`` and samples with their labels."""
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    series: dict[str, set[str]] = {}
    values: dict[str, set[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                target = helps if parts[1] == "HELP" else types
                target[parts[2]] = _unescape(parts[3]) if len(parts) > 3 else ""
        elif line:
            _sample(line, series, values)
    families = {n: MetricInfo(_known_type(types.get(n)), helps.get(n, "")) for n in {*helps, *types}}
    metrics = _with_families({n: frozenset(ls) for n, ls in series.items()}, families)
    return metrics, {n: frozenset(vs) for n, vs in values.items()}


def _sample(line: str, series: dict[str, set[str]], values: dict[str, set[str]]) -> None:
    m = _SAMPLE_NAME.match(line)
    if not m:
        return
    labels = series.setdefault(m.group(1), set())
    pos = m.end()
    if line[pos:pos + 1] != "{":
        return
    pos += 1
    while (pair := _LABEL_PAIR.match(line, pos)) is not None:
        labels.add(pair.group(1))
        values.setdefault(pair.group(1), set()).add(_unescape(pair.group(2)))
        pos = pair.end()


def _unescape(text: str) -> str:
    return re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group()], text)


def _known_type(kind: Any) -> str:
    return kind if kind in TYPES else "unknown"


def _with_families(series: dict[str, frozenset[str]], families: dict[str, MetricInfo]) -> dict[str, MetricInfo]:
    """Each series with its family's type and help (``x_bucket`` takes histogram ``x``'s), and the families that
    have no series yet (a labelled metric nothing has touched) under their own name."""
    probe = MetricSet(families)
    metrics = {n: replace(probe.info(n) or MetricInfo(), labels=labels) for n, labels in series.items()}
    for name, family in families.items():
        if name not in metrics and not any(name + s in metrics for s in _CHILDREN.get(family.type, ())):
            metrics[name] = family
    return metrics


# ------------------------------------------------------------------ Prometheus HTTP API


def _api(base: str, path: str, timeout: float) -> Any:
    url = base + path
    hint = (f"check that Prometheus is running and {base} is its base URL (e.g. http://localhost:9090); or "
            + _HINT_FILE)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        raise SchemaError(f"Prometheus at {base} answered {e.code} {e.reason} for {path}", hint) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise SchemaError(f"cannot reach Prometheus at {base} ({url}): {reason}", hint) from None
    except ValueError:
        raise SchemaError(f"{url} did not answer JSON: is {base} a Prometheus server?", hint) from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise SchemaError(f"Prometheus at {base} refused {path}: {error}", hint)
    return body.get("data") or ({} if path.endswith("metadata") else [])


# ------------------------------------------------------------------ rendering

_STOP = frozenset("a an and are as at be by for from how if in is it its of on or per than that the this to too "
                  "what when which with alert fire fires firing rule more less over under".split())


def _words(text: str) -> set[str]:
    """Lower-case words, a plural's s dropped, the question's filler words left out."""
    words = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in re.findall(r"[a-z0-9]+", text.lower())}
    return words - _STOP


def _label_words(name: str) -> tuple[set[str], set[str]]:
    return _words(name), set()


def _nearest(names: list[str], question: str, describe: Callable[[str], tuple[set[str], set[str]]],
             limit: int) -> list[str]:
    """The ``limit`` names sharing most words with the question (a word of the name counts twice a word of its
    help), ties in the given order."""
    asked = _words(question)

    def score(name: str) -> int:
        own, about = describe(name)
        return 2 * len(asked & own) + len(asked & about)

    return sorted(names, key=lambda n: -score(n))[:limit]


def _short(text: str, width: int = 90) -> str:
    first = text.strip().split("\n", 1)[0]
    first = re.split(r"(?<=\.)\s", first, maxsplit=1)[0]
    return first if len(first) <= width else first[: width - 1].rstrip() + "…"


__all__ = ["MetricInfo", "MetricSet", "load_metrics"]
