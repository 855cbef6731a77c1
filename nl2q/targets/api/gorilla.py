"""Gorilla APIBench (HuggingFace, TensorFlow Hub, Torch Hub): an instruction -> the one API call that serves it.

The data is ``<benchmarks>/gorilla/apibench/{huggingface,tensorflow,torchhub}_eval.json`` (one question a line: the
instruction inside ``code``, the gold ``api_call``, its database entry ``api_data``) and the API databases
``gorilla/api/{huggingface,tensorflowhub,torchhub}_api.jsonl``, read in place. Each database entry becomes one
function definition without parameters (the call is fixed) whose ``x-api-call`` is the entry's call; a hub's
items are asked against all of that hub's functions, and the model answers by naming one.

Scoring follows gorilla's AST evaluation, ``gorilla/eval/eval-scripts/ast_eval_{hf,tf,th}.py`` (gorilla 6ea5797):
a reference call matches a candidate when the candidate holds a call to the same function (``pipeline``,
``hub.KerasLayer``, ``torch.hub.load``, ...) whose text contains each of the reference's indexed argument values,
single quotes stripped. Indexed, per hub:

- Torch Hub (ast_eval_th.py): the keyword arguments that mention ``repo_or_dir`` or ``model``;
- TensorFlow Hub: ``model=`` values (ast_eval_tf.py) and the positional arguments, i.e. the hub URL: the script
  indexes ``model=`` alone, which no TF Hub entry has, so every answer would be a hallucination;
- HuggingFace: the model name (a model-naming keyword such as ``model=``, else the model positional, the second of
  ``pipeline``; a nested ``X.from_pretrained(m)`` gives ``m``). ast_eval_hf.py indexes every argument, but the eval
  golds carry arguments the database calls lack (``torch_dtype=``, ``savedir=``, ``use_auth_token=``), so 75 of 911
  items could not be answered by naming any database API (6 still cannot: their gold loads a local file, a variable
  or a model the database lacks).

Two departures, both to judge the API named rather than the text around it: a value must occur as a whole name,
not inside a longer one (gorilla's substring test takes ``fcn_resnet101`` for ``resnet101``); and a gold call
wrapped in quotes (two HF items) is read without them.

- accuracy: the gold api_call matches the named function's call, as the Gorilla paper defines it (the released
  scripts instead credit the first database entry matched when its *domain* is the question's; not used here). A
  gold with no indexed value (gorilla skips those) must equal the predicted call, whitespace aside;
- hallucination: the named function is not in the hub's database, or its call matches no database entry (an entry
  gorilla cannot index is never matched, so naming one counts as a hallucination, as in gorilla).

Call text is parsed without Python's parser, as gorilla's tree-sitter does, since some database calls are not
valid Python (a positional argument after keywords, an unquoted model name); text that is not a call matches nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ...evaluate.benchmarks import ENV_VAR, BenchmarksMissing
from ...evaluate.compare import Execution
from ...evaluate.suites import Item, Suite
from .bfcl import calls_of

ENGINE = "gorilla-ast"
COLUMNS = ["verdict"]
MATCH = "match"
HUBS: dict[str, tuple[str, str]] = {  # database -> (eval file, API database file)
    "huggingface": ("huggingface_eval.json", "huggingface_api.jsonl"),
    "tensorflowhub": ("tensorflow_eval.json", "tensorflowhub_api.jsonl"),
    "torchhub": ("torchhub_eval.json", "torchhub_api.jsonl"),
}
NAME = re.compile(r"^[A-Za-z0-9_./-]{1,120}$")
DESCRIPTION_CHARS = 300
_CALL_HEAD = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\s*\(")
_MODEL_KEYWORDS = ("model", "pretrained_model_name_or_path", "repo_id", "model_id", "model_name", "model_tag", "source")
_KEYWORD = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)\s*(.*)\Z", re.S)
_INSTRUCTION = re.compile(r"#{3}\s*Instruction:\s*(.*?)(?:\n\s*#{3}\s*Output:|\Z)", re.S)
_UNSAFE = re.compile(r"[^A-Za-z0-9_./-]+")
_HINT = (f"point --benchmarks (or ${ENV_VAR}) at a directory holding gorilla/apibench/*_eval.json and "
         "gorilla/api/*_api.jsonl (from github.com/ShishirPatil/gorilla, data/apibench and data/api)")


@dataclass(frozen=True)
class Call:
    """A call found in text: the function as written, its top-level arguments (raw text) and the call's own text."""

    function: str
    args: tuple[str, ...]
    text: str


def _structure(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """``(index, char, depth)`` of each character outside string literals, with the bracket depth after it."""
    depth, quote, i = 0, "", start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        else:
            depth += 1 if c in "([{" else -1 if c in ")]}" else 0
            yield i, c, depth
        i += 1


def _close(text: str, start: int) -> int | None:
    """Index just past the parenthesis closing the one before ``start`` (strings and brackets skipped), or None."""
    return next((i + 1 for i, c, depth in _structure(text, start) if c in ")]}" and depth == -1), None)


def _split(inner: str) -> tuple[str, ...]:
    """Top-level, comma-separated arguments of an argument list's inside (empty ones dropped)."""
    cuts = [i for i, c, depth in _structure(inner) if c == "," and depth == 0]
    parts = [inner[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(inner)])]
    return tuple(p.strip() for p in parts if p.strip())


def _call_at(text: str, head: re.Match[str]) -> Call | None:
    end = _close(text, head.end())
    if end is None:
        return None
    return Call(head.group(1), _split(text[head.end():end - 1]), text[head.start():end])


def leading_call(text: str) -> Call | None:
    """The call a reference api_call starts with (gorilla's first statement's call), or None when it is not one."""
    head = _CALL_HEAD.match(text.strip())
    return _call_at(text.strip(), head) if head else None


def find_call(text: str, function: str) -> Call | None:
    """The first call to ``function`` in ``text`` (outermost first), or None."""
    for head in _CALL_HEAD.finditer(text):
        if head.group(1) == function:
            found = _call_at(text, head)
            if found is not None:
                return found
    return None


def _arguments(call: Call) -> tuple[dict[str, str], list[str]]:
    keywords, positional = {}, []
    for raw in call.args:
        keyword = _KEYWORD.match(raw)
        if keyword:
            keywords[keyword.group(1)] = keyword.group(2).strip()
        else:
            positional.append(raw)
    return keywords, positional


def _model_name(call: Call) -> str | None:
    """The model a HuggingFace call loads: a model-naming keyword, else the first positional argument; when that is
    itself a call (``model=X.from_pretrained('m', ...)``), its model."""
    keywords, positional = _arguments(call)
    if call.function == "pipeline" and len(positional) > 1:  # pipeline(task, model, ...)
        positional = positional[1:]
    value = next((keywords[k] for k in _MODEL_KEYWORDS if k in keywords), positional[0] if positional else None)
    inner = leading_call(value) if value else None
    return _model_name(inner) if inner is not None else value


def indexed_args(hub: str, call: Call) -> list[str]:
    """The argument values compared for ``hub`` (see the module docstring), single quotes stripped."""
    keywords, positional = _arguments(call)
    if hub == "huggingface":
        found = _model_name(call)
        out = [found] if found else []
    elif hub == "torchhub":
        out = [v for k, v in keywords.items() if "repo_or_dir" in f"{k}={v}" or "model" in f"{k}={v}"]
    else:
        out = [v for k, v in keywords.items() if k == "model"] + positional
    return [a.strip().lstrip("'").rstrip("'") for a in out]


def ast_match(hub: str, reference: str, candidate: str) -> bool:
    """Whether ``candidate`` (call text) calls the function ``reference`` calls with each of its indexed values."""
    ref = leading_call(reference)
    if ref is None:
        return False
    keys = indexed_args(hub, ref)
    if not keys:
        return False
    found = find_call(candidate, ref.function)
    return found is not None and all(_contains(found.text, k) for k in keys)


def _contains(text: str, value: str) -> bool:
    """``value`` occurs in ``text`` as a whole name: not inside a longer one (``resnet101`` is not in
    ``fcn_resnet101``, as it is for gorilla's substring test)."""
    return re.search(rf"(?<![\w./:@-]){re.escape(value)}(?![\w./:@-])", text) is not None


def unquoted(api_call: str) -> str:
    """A call as written, without the quotes a few gold api_calls are wrapped in (``'X.from_pretrained(m)'``)."""
    text = api_call.strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"" and leading_call(text[1:-1]) is not None:
        return text[1:-1]
    return text


def instruction(code: str) -> str:
    """The question of an eval entry: its ``###Instruction:`` text (with any ``###Input:`` it carries), without the
    ``###Output:`` that follows."""
    m = _INSTRUCTION.search(code)
    return (m.group(1) if m else code).strip()


def _identifier(hub: str, api_call: str) -> str:
    """What an entry loads: the hub URL's path (TF), repo/model (Torch), the model name (HF); "" when unclear."""
    if hub == "tensorflowhub":
        url = re.search(r"\w+://[^\s'\"()\[\],]+", api_call)
        return re.sub(r"^\w+://(www\.)?(tfhub\.dev|kaggle\.com/models)/", "", url.group(0)) if url else ""
    call = leading_call(api_call)
    if call is None:
        return ""
    if hub == "torchhub":
        keywords, _ = _arguments(call)
        return "/".join(keywords[k].strip("'\"") for k in ("repo_or_dir", "model") if k in keywords)
    return (_model_name(call) or "").strip("'\"")


def _sanitize(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_.-/")[:110]


def function_names(hub: str, entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """A unique, readable name per database entry: what it loads (or its api_name), ``-2``, ``-3``... on repeats."""
    seen: dict[str, int] = {}
    names = []
    for e in entries:
        base = _sanitize(_identifier(hub, str(e.get("api_call", "")))) or _sanitize(str(e.get("api_name", ""))) \
            or "api"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    taken = set()
    for i, name in enumerate(names):  # a suffixed name may collide with a real one: suffix again
        while name in taken:
            name = f"{name}-{i}"
        taken.add(name)
        names[i] = name
    return names


def _description(entry: Mapping[str, Any]) -> str:
    parts = [str(entry.get(k) or "").strip() for k in ("domain", "functionality", "description")]
    text = " ".join(f"{p.rstrip('.')}." for p in parts if p)
    return text if len(text) <= DESCRIPTION_CHARS else text[:DESCRIPTION_CHARS - 3].rstrip() + "..."


def function_of(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One database entry as a function definition (no parameters; ``x-api-call`` is the call it stands for)."""
    return {"name": name, "description": _description(entry), "parameters": {"type": "object", "properties": {}},
            "x-api-call": str(entry.get("api_call", ""))}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class GorillaApiBench(Suite):
    """APIBench: an instruction -> one call, named among every API of its hub; judged by gorilla's AST match
    against the gold api_call, with gorilla's hallucination rate beside it."""

    target = "api"
    dialect = "functions"
    group_order: Mapping[str, Sequence[str]] = {"database": tuple(HUBS)}

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.base = root / "gorilla"
        for hub, (questions, apis) in HUBS.items():
            for path in (self.base / "apibench" / questions, self.base / "api" / apis):
                if not path.is_file():
                    raise BenchmarksMissing(f"Gorilla APIBench {hub} data not found at {path}", _HINT)
        self._functions: dict[str, list[dict[str, Any]]] = {}
        self._by_name: dict[str, dict[str, dict[str, Any]]] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._indexed: dict[tuple[str, str], bool] = {}

    def _load_items(self) -> list[Item]:
        items: list[Item] = []
        for hub, (questions, _) in HUBS.items():
            for n, row in enumerate(_lines(self.base / "apibench" / questions), 1):
                domain = str((row.get("api_data") or {}).get("domain") or "")
                items.append(Item(f"gorilla:{hub}/{n}", instruction(str(row.get("code", ""))), str(row["api_call"]),
                                  hub, {"database": hub, "domain": domain}))
        return items

    def functions(self, hub: str) -> list[dict[str, Any]]:
        """Every function of a hub (one per database entry), built once."""
        if hub not in self._functions:
            entries = _lines(self.base / "api" / HUBS[hub][1])
            self._functions[hub] = [function_of(name, e) for name, e in zip(function_names(hub, entries), entries)]
            self._by_name[hub] = {f["name"]: f for f in self._functions[hub]}
        return self._functions[hub]

    def function(self, hub: str, name: str) -> dict[str, Any] | None:
        self.functions(hub)
        return self._by_name[hub].get(name)

    def schema_for(self, item: Item) -> Any:
        if item.database not in self._schemas:
            self._schemas[item.database] = {"functions": self.functions(item.database)}
        return self._schemas[item.database]

    def execution(self) -> dict[str, Any]:
        return {"mode": "Gorilla AST match",
                "note": "the named function's api_call is matched against the gold api_call as gorilla's "
                        "ast_eval_{hf,tf,th}.py do: the same function, holding the gold's model arguments as whole "
                        "names (HF the model name, Torch Hub repo_or_dir and model, TF Hub the hub URL); "
                        "hallucination: a name outside the hub's API database, or a call that indexes no entry"}

    def right(self, item: Item, api_call: str) -> bool:
        """Whether a call (text) answers the item: it contains the gold's call by gorilla's AST rule."""
        hub, gold = item.database, unquoted(item.gold)
        reference = leading_call(gold)
        if reference is None or not indexed_args(hub, reference):
            return "".join(gold.split()) == "".join(api_call.split())
        return ast_match(hub, gold, api_call)

    def gold_function(self, item: Item) -> str | None:
        """The function whose call is the gold's, else the first one that answers the item; None when none does."""
        functions = self.functions(item.database)
        exact = next((f["name"] for f in functions if f["x-api-call"] == item.gold), None)
        return exact or next((f["name"] for f in functions if self.right(item, f["x-api-call"])), None)

    def indexed(self, hub: str, name: str) -> bool:
        """Whether a function's call matches some database entry of its hub (else naming it is a hallucination)."""
        key = (hub, name)
        if key not in self._indexed:
            own = self.function(hub, name)
            self._indexed[key] = own is not None and any(
                ast_match(hub, f["x-api-call"], own["x-api-call"]) for f in self.functions(hub))
        return self._indexed[key]

    def execute_gold(self, item: Item) -> Execution:
        return Execution(True, ENGINE, list(COLUMNS), [(MATCH,)])

    def execute_prediction(self, item: Item, query: str) -> Execution:
        return self._execute(item, query)

    def _execute(self, item: Item, query: str) -> Execution:
        try:
            calls = calls_of(query) if query.strip() else []
        except ValueError as e:
            return Execution(False, ENGINE, list(COLUMNS), error=str(e))
        return Execution(True, ENGINE, list(COLUMNS), [(self._verdict(item, calls),)])

    def _verdict(self, item: Item, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        if len(calls) != 1:
            return f"{len(calls)} calls made; one is expected"
        name = calls[0][0]
        function = self.function(item.database, name)
        if function is None:
            return f"{name!r} is not an API of {item.database}"
        if not self.right(item, function["x-api-call"]):
            return f"{name!r} calls {function['x-api-call']}, not the gold {item.gold}"
        return MATCH

    def similarity(self, item: Item, query: str) -> dict[str, float | None]:
        """``hallucination``: 1.0 when a named API is not in the hub's database (or its call indexes no entry, and is
        not the gold) or the text is no call list, 0.0 otherwise; None when no call was made."""
        if not query.strip():
            return {"hallucination": None}
        try:
            calls = calls_of(query)
        except ValueError:
            return {"hallucination": 1.0}
        if not calls:
            return {"hallucination": None}
        return {"hallucination": float(not all(self._grounded(item, name) for name, _ in calls))}

    def _grounded(self, item: Item, name: str) -> bool:
        """A database API whose call indexes some entry, or that is the gold itself (an unindexable gold is judged by
        equality, and the right answer is no hallucination)."""
        function = self.function(item.database, name)
        return function is not None and (self.indexed(item.database, name) or self.right(item, function["x-api-call"]))


__all__ = ["Call", "GorillaApiBench", "HUBS", "ast_match", "find_call", "function_names", "function_of",
           "indexed_args", "instruction", "leading_call"]
