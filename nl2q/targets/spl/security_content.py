"""The Splunk Security Content suite: a detection's ``description`` -> its ``search``.

No public NL->SPL dataset exists; Splunk's detections (``../shared/benchmarks/splunk``) are the
closest real source. Deprecated detections are left out (under ``deprecated/`` or ``status:
deprecated``: 1,613 remain). Searches are compared with their macros expanded (the shipped macro
files, the CIM's ``drop_dm_object_name``; a detection's own ``*_filter`` macro is empty, as shipped).

The environment a prediction is checked against is the content's own: the indexes, sourcetypes,
datamodels, lookups and event fields its searches name, and its macros. Since there is no log data,
there is no execution accuracy; the scores are Splunk's for its own assistant: validity under the
checker, command-sequence similarity, whether the index/sourcetype/datamodel match the gold's, and
the overlap of the event fields read (see :func:`similarity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import Nl2qError
from ...evaluate.benchmarks import ENV_VAR
from ...evaluate.suites import Item, Suite
from ...policy import Policy
from .macros import CIM_MACROS, MacroError, Macros
from .parse import SplSyntaxError, parse
from .schema import BUILTIN_FIELDS, Field, SplSchema
from .tree import Compare, InList, Search, search_nodes

# what the initial search names its data by: the source match compares these, kind by kind
SOURCE_KINDS = ("index", "sourcetype", "source", "datamodel")


@dataclass(frozen=True)
class Detection:
    id: str  # path under detections/, without .yml
    name: str
    type: str  # TTP, Anomaly, Hunting, ...
    status: str  # production, experimental
    description: str
    search: str


def load_detections(splunk: Path) -> list[Detection]:
    """The detections that are not deprecated, in path order."""
    import yaml

    base = splunk / "detections"
    out = []
    for path in sorted(base.rglob("*.yml")):
        rel = path.relative_to(base)
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if rel.parts[0] == "deprecated" or doc.get("status") == "deprecated" or not doc.get("search"):
            continue
        out.append(Detection(str(rel.with_suffix("")), str(doc.get("name", rel.stem)), str(doc.get("type", "")),
                             str(doc.get("status", "")), " ".join(str(doc.get("description", "")).split()),
                             str(doc["search"])))
    return out


def load_macros(splunk: Path) -> Macros:
    return Macros.from_dir(splunk / "macros", extra=CIM_MACROS, empty_filters=True)


def event_fields(search: Search) -> set[str]:
    """The fields a search reads from events: read before any command of its pipeline created them."""
    out: set[str] = set()
    for pipeline in [search] + [s for c in search.walk() for s in c.subsearches]:
        created: set[str] = set()
        for c in pipeline.commands:
            reads = [u for u in c.fields_read if not u.is_pattern]
            if c.search is not None:
                reads += [n.field for n in search_nodes(c.search) if isinstance(n, (Compare, InList))]
            out |= {u.name for u in reads if u.name not in created}
            created |= {u.name for u in c.fields_written if not u.is_pattern}
    return out - set(SOURCE_KINDS) - {"earliest", "latest"}


def data_sources(search: Search) -> dict[str, set[str]]:
    """What the search reads its data from, by kind (lower case): index, sourcetype, source, datamodel."""
    out = {k: {v.lower() for v in search.named_values(k)} for k in ("index", "sourcetype", "source")}
    out["datamodel"] = {c.target.split(".")[0].lower() for c in search.commands if c.name in ("tstats", "datamodel")
                        and c.target}
    return out


def corpus_schema(detections: Sequence[Detection], macros: Macros) -> SplSchema:
    """The environment the detections assume: every index, sourcetype, datamodel, lookup and event field their
    (expanded) searches name, and the macros. Searches that do not expand or parse add nothing."""
    indexes: set[str] = set()
    sourcetypes: set[str] = set()
    datamodels: set[str] = set()
    lookups: set[str] = set()
    fields: set[str] = set()
    for d in detections:
        try:
            search = parse(macros.expand(d.search))
        except (MacroError, SplSyntaxError):
            continue
        indexes |= {v for v in search.indexes if "*" not in v}
        sourcetypes |= {v for v in search.sourcetypes if "*" not in v}
        for c in search.walk():
            if c.name in ("tstats", "datamodel") and c.target:
                datamodels.add(c.target)
            if c.name in ("lookup", "inputlookup") and c.target:
                lookups.add(c.target)
        fields |= event_fields(search)
    every = {n: Field(n) for n in sorted(fields | set(BUILTIN_FIELDS))}
    return SplSchema(sorted(indexes), sorted(sourcetypes), every, datamodels=sorted(datamodels),
                     lookups=sorted(lookups), macros=macros)


def _similar_sequence(a: list[str], b: list[str]) -> float:
    """1 - the Levenshtein distance of two command sequences over the longer one's length."""
    if not a and not b:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return 1 - prev[-1] / max(len(a), len(b))


def similarity(gold: Search, pred: Search | None) -> dict[str, float | None]:
    """Splunk's comparison metrics for its assistant, on expanded searches.

    ``command_sequence``: 1 - normalised edit distance of the top-level command names; ``<kind>_match``:
    whether the prediction reads the same set of that kind as the gold (None when the gold names none);
    ``source_match``: every kind the gold names matches; ``field_f1``: F1 of the event fields read."""
    g_src = data_sources(gold)
    g_fields = event_fields(gold)
    if pred is None:
        out: dict[str, float | None] = {"command_sequence": 0.0, "field_f1": 0.0 if g_fields else None}
        out.update({f"{k}_match": (0.0 if g_src[k] else None) for k in SOURCE_KINDS})
        out["source_match"] = 0.0 if any(g_src.values()) else None
        return out
    p_src = data_sources(pred)
    p_fields = event_fields(pred)
    matches = {k: (float(g_src[k] == p_src[k]) if g_src[k] else None) for k in SOURCE_KINDS}
    named = [v for v in matches.values() if v is not None]
    both = len(g_fields & p_fields)
    f1 = 2 * both / (len(g_fields) + len(p_fields)) if g_fields or p_fields else None
    return {"command_sequence": _similar_sequence(gold.names, pred.names), "field_f1": f1 if g_fields else None,
            **{f"{k}_match": v for k, v in matches.items()}, "source_match": float(all(named)) if named else None}


class SecurityContent(Suite):
    """Splunk Security Content: description -> search, validity under the checker and Splunk's similarity
    metrics; no execution (there are no logs for these detections)."""

    target = "spl"
    dialect = "splunk"
    breakdowns = ("database", "type")
    # detections are scheduled searches: the time window is the schedule's, not the search's
    policy = Policy(require_time_range=False)

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.dir = root / "splunk"
        if not (self.dir / "detections").is_dir() or not (self.dir / "macros").is_dir():
            raise Nl2qError(f"Splunk Security Content not found under {self.dir}",
                            f"point --benchmarks (or ${ENV_VAR}) at a directory holding splunk/detections and "
                            "splunk/macros")
        self.macros = load_macros(self.dir)
        self._detections = load_detections(self.dir)
        self._schema: SplSchema | None = None
        self._parsed: dict[str, Search | None] = {}

    def _load_items(self) -> list[Item]:
        return [Item(f"splunk:{d.id}", d.description or d.name, d.search, d.id.split("/")[0],
                     {"database": d.id.split("/")[0], "type": d.type or "other"}) for d in self._detections]

    def schema_for(self, item: Item) -> Any:
        if self._schema is None:
            self._schema = corpus_schema(self._detections, self.macros)
        return self._schema

    def execution(self) -> dict[str, Any]:
        return {"mode": "none", "note": "validity and similarity to the gold search (Splunk's assistant metrics): "
                                        "the detections come without logs to run on"}

    def _parse(self, text: str) -> Search | None:
        if text not in self._parsed:
            try:
                self._parsed[text] = parse(self.macros.expand(text))
            except (MacroError, SplSyntaxError):
                self._parsed[text] = None
        return self._parsed[text]

    def similarity(self, item: Item, query: str) -> dict[str, float | None]:
        gold = self._parse(item.gold)
        if gold is None:
            return {}
        return similarity(gold, self._parse(query) if query.strip() else None)
