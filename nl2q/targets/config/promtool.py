"""promtool as the dry run of Prometheus rule files, and the synthetic series that make a rule's behaviour observable.

``check_rules`` is what Prometheus itself would say when loading a rule file. ``firing`` runs the real
``promtool test rules`` on input series, so what an alert does is Prometheus's own evaluation, not a
reimplementation of PromQL: promtool reports only where alerts differ from expectations, so each
(alertname, eval time) is expected to fire nothing and the ``got:`` part of the failure is the answer.

``synthetic_series`` designs candidate inputs from an expression (series whose labels satisfy its
selectors, values crossing its thresholds in several shapes) and ``discriminating_series`` keeps the
first on which the rule fires at some evaluation times and not at others: a rule's behaviour there
tells a wrong threshold, metric, filter or ``for`` from the right one.
"""

from __future__ import annotations

import codecs
import json
import math
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ...errors import Nl2qError
from ...types import Diagnostic
from .promql import PromQLError, Selector, parse, selectors

INSTALL_HINT = "apt-get install prometheus (Debian ships promtool with it), or put promtool on PATH"
RULE_FILE = "rules.yml"

# ---------------------------------------------------------------------------------------------- promtool


PROMTOOL_CANDIDATES = ("/usr/bin/promtool",)  # Debian's; looked at before PATH


def promtool_path() -> str:
    """The promtool binary: /usr/bin/promtool, else the first on PATH."""
    for candidate in (*PROMTOOL_CANDIDATES, shutil.which("promtool")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise Nl2qError("promtool not found (checked /usr/bin/promtool and PATH)", INSTALL_HINT)


def _run(args: Sequence[str], cwd: Path, timeout: float) -> tuple[int | None, str, float]:
    """(exit code or None on timeout, stdout+stderr, elapsed ms) of one promtool call."""
    start = time.perf_counter()
    try:
        done = subprocess.run([promtool_path(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"promtool {args[0]} {args[1]} timed out after {timeout:g}s", (time.perf_counter() - start) * 1e3
    return done.returncode, done.stdout + done.stderr, (time.perf_counter() - start) * 1e3


# ----------------------------------------------------------------------------------- check rules


_HINTS = (
    ("could not parse expression", "fix the PromQL of the rule's expr at the position shown"),
    ("field 'expr' must be set", "every rule needs an expr"),
    ("only one of 'record' and 'alert'", "a rule is either a recording rule (record) or an alerting rule (alert)"),
    ("one of 'record' or 'alert' must be set", "give the rule an alert name (alerting) or a record name (recording)"),
    ("is repeated in the same file", "give every group its own name"),
    ("invalid label name", "label names match [a-zA-Z_][a-zA-Z0-9_]*"),
    ("invalid recording rule name", "record names are metric names: [a-zA-Z_:][a-zA-Z0-9_:]*"),
    ("template:", "fix the Go template of the annotation or label (see Prometheus alerting templates)"),
    ("not found in type", "unknown key: a rule file is groups -> {name, interval, rules -> {alert or record, expr, "
                          "for, labels, annotations}}"),
    ("yaml:", "the file must be YAML or JSON of the form {groups: [{name: ..., rules: [...]}]}"),
)
_ERROR_LINE = re.compile(
    r"^(?:(?P<line>\d+):(?P<col>\d+): )?(?:\d+:\d+: )*"
    r"(?:group \"(?P<group>(?:[^\"\\]|\\.)*)\", rule (?P<rule>\d+), \"(?P<name>(?:[^\"\\]|\\.)*)\": )?(?P<message>.*)$")
_EXPR_POS = re.compile(r"could not parse expression: (\d+):(\d+):")
_GROUPNAME = re.compile(r"groupname: \"((?:[^\"\\]|\\.)*)\"")


@dataclass(frozen=True)
class RuleError:
    """One error promtool found; positions are 1-based, ``line``/``col`` in the file, ``expr_*`` inside the expr."""

    message: str
    group: str | None = None
    rule: int | None = None  # 1-based index within its group
    name: str | None = None  # the rule's alert or record name
    line: int | None = None
    col: int | None = None
    expr_line: int | None = None
    expr_col: int | None = None

    @property
    def hint(self) -> str:
        return next((h for key, h in _HINTS if key in self.message), "")

    def __str__(self) -> str:
        where = f'group "{self.group}", rule {self.rule} ({self.name}): ' if self.rule is not None else (
            f'group "{self.group}": ' if self.group else "")
        return where + self.message

    def diagnostic(self, text: str) -> Diagnostic:
        """As an nl2q diagnostic on ``text`` (the rule file checked), pointing into the expr where promtool could."""
        start = self._offset(text)
        line, col = self.line, self.col
        if start is not None:
            line, col = text.count("\n", 0, start) + 1, start - (text.rfind("\n", 0, start) + 1) + 1
        return Diagnostic("promtool.rules", str(self), line=line, col=col, start=start,
                          end=None if start is None else start + 1, hint=self.hint)

    def _offset(self, text: str) -> int | None:
        """Character offset of the error: the expr's own position when it is on one line of the file."""
        if self.line is None or self.col is None:
            return None
        lines = text.split("\n")
        if self.line > len(lines):
            return None
        offset = sum(len(x) + 1 for x in lines[: self.line - 1]) + self.col - 1
        if self.expr_line == 1 and self.expr_col is not None:
            quoted = offset < len(text) and text[offset] in "'\""
            offset += quoted + self.expr_col - 1
        return min(offset, len(text))


@dataclass(frozen=True)
class PromtoolResult:
    ok: bool
    output: str
    errors: list[RuleError] = field(default_factory=list)
    elapsed_ms: float = 0.0


def check_rules(text: str, timeout: float = 10) -> PromtoolResult:
    """``promtool check rules`` on a rule file given as YAML or JSON text."""
    with tempfile.TemporaryDirectory(prefix="nl2q-promtool-") as tmp:
        Path(tmp, RULE_FILE).write_text(text, encoding="utf-8")
        code, output, elapsed = _run(["check", "rules", RULE_FILE], Path(tmp), timeout)
    if code is None:
        return PromtoolResult(False, output, [RuleError(output)], elapsed)
    return PromtoolResult(code == 0, output, [] if code == 0 else parse_check_output(output), elapsed)


def parse_check_output(output: str, path: str = RULE_FILE) -> list[RuleError]:
    """The errors of ``promtool check rules`` output: one per ``<path>: ...`` line, continuation lines joined."""
    messages: list[str] = []
    for raw in output.splitlines():
        if raw.startswith(f"{path}: "):
            messages.append(raw[len(path) + 2:])
        elif messages and raw.strip() and not raw.startswith(("Checking ", "  FAILED", "  SUCCESS")):
            messages[-1] += "; " + raw.strip()
    return [_rule_error(m) for m in dict.fromkeys(messages)]


def _rule_error(text: str) -> RuleError:
    m = _ERROR_LINE.match(text)
    assert m is not None  # the pattern's groups are all optional but the message
    line, col = (int(m["line"]), int(m["col"])) if m["line"] and m["line"] != "0" else (None, None)
    pos = _EXPR_POS.search(m["message"])
    group = m["group"] or (g[1] if (g := _GROUPNAME.search(m["message"])) else None)
    return RuleError(m["message"], _unquote(group) if group else None, int(m["rule"]) if m["rule"] else None,
                     _unquote(m["name"]) if m["name"] is not None else None, line, col,
                     int(pos[1]) if pos else None, int(pos[2]) if pos else None)


def _unquote(go_quoted_body: str) -> str:
    """The body of a Go-quoted string (``strconv.Quote`` without its quotes), unescaped."""
    try:
        return json.loads(f'"{go_quoted_body}"')
    except ValueError:
        return codecs.decode(go_quoted_body, "unicode_escape")


# ------------------------------------------------------------------------------------------- durations


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|y|w|d|h|m|s)")
_UNIT_S = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6,
           "µs": 1e-6, "ns": 1e-9}


def duration_seconds(text: str) -> float:
    """Seconds of a Prometheus (``1h30m``, ``7d``) or Go (``4m30s``, ``1.5s``) duration."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h30m, 7d)")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """A Prometheus duration for whole seconds: ``1d2h30m``; ``0s`` for zero."""
    rest, out = int(round(seconds)), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


# -------------------------------------------------------------------------------------------- firing


@dataclass(frozen=True)
class Series:
    """One input series of a promtool unit test; ``values`` in promtool's expanding notation (``0+10x30 _ 5``)."""

    metric: str
    labels: dict[str, str]
    values: str

    def notation(self) -> str:
        inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


Alert = tuple[str, frozenset[tuple[str, str]]]  # (alertname, label items including those the rule adds)


@dataclass(frozen=True)
class Firing:
    """The alerts firing (not pending) at each evaluation time, keyed by the eval time as asked."""

    ok: bool
    by_time: dict[str, frozenset[Alert]] = field(default_factory=dict)
    error: str | None = None
    output: str = ""
    elapsed_ms: float = 0.0

    def times_firing(self) -> int:
        return sum(1 for alerts in self.by_time.values() if alerts)


_GOT = re.compile(r"^\s*alertname: (?P<name>.*), time: (?P<time>\S+), $")
_LABELS = re.compile(r"^\s*Labels:\{(?P<body>.*)\}$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_EXPECTED = re.compile(r"^\s*(Unit Testing: .*|FAILED:|SUCCESS|exp:\[\],?|got:\[|\d+:|Annotations:\{.*\},?|\]|)$")


def alert_names(text: str) -> list[str]:
    """The alert names of a rule file (YAML or JSON), in order, once each; [] when it is not a rule file."""
    try:
        doc = load_rule_file(text)
    except ValueError:
        return []
    return list(dict.fromkeys(r["alert"] for r in alerting_rules(doc)))


def load_rule_file(text: str) -> Any:
    """A rule file given as JSON or YAML (JSON is YAML); raises ValueError saying what is wrong."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"the rule file is neither JSON nor YAML: {e}") from None


def alerting_rules(doc: Any) -> list[dict[str, Any]]:
    """The alerting rules (mappings with a string ``alert``) of a loaded rule file, skipping malformed parts."""
    groups = doc.get("groups") if isinstance(doc, dict) else None
    rules = [r for g in groups or [] if isinstance(g, dict) for r in (g.get("rules") or [])]
    return [r for r in rules if isinstance(r, dict) and isinstance(r.get("alert"), str)]


def firing(text: str, series: Sequence[Series], *, evals: Sequence[str], interval: str = "1m",
           eval_interval: str | None = None, timeout: float = 30) -> Firing:
    """Which alerts of the rule file ``text`` fire at each of ``evals`` on ``series`` (sampled every ``interval``),
    as ``promtool test rules`` evaluates them every ``eval_interval`` (default ``interval``)."""
    names = alert_names(text)
    test = {
        "rule_files": [RULE_FILE],
        "evaluation_interval": eval_interval or interval,
        "tests": [{
            "interval": interval,
            "input_series": [{"series": s.notation(), "values": s.values} for s in series],
            "alert_rule_test": [{"eval_time": t, "alertname": n, "exp_alerts": []} for t in evals for n in names],
        }],
    }
    with tempfile.TemporaryDirectory(prefix="nl2q-promtool-") as tmp:
        Path(tmp, RULE_FILE).write_text(text, encoding="utf-8")
        Path(tmp, "test.json").write_text(json.dumps(test), encoding="utf-8")
        code, output, elapsed = _run(["test", "rules", "test.json"], Path(tmp), timeout)
    if code is None:
        return Firing(False, error=output, output=output, elapsed_ms=elapsed)
    got, unexpected = _parse_test_output(output)
    if unexpected or (code != 0 and not got):
        return Firing(False, error="\n".join(unexpected) or output.strip(), output=output, elapsed_ms=elapsed)
    by_seconds = {duration_seconds(t): t for t in evals}
    by_time: dict[str, frozenset[Alert]] = {t: frozenset() for t in evals}
    for seconds, alerts in got.items():
        if (key := by_seconds.get(seconds)) is not None:
            by_time[key] = by_time[key] | alerts
    return Firing(True, by_time, output=output, elapsed_ms=elapsed)


def _parse_test_output(output: str) -> tuple[dict[float, frozenset[Alert]], list[str]]:
    """The alerts promtool reported per eval time (seconds), and any line that is not part of an alert diff."""
    got: dict[float, set[Alert]] = {}
    unexpected: list[str] = []
    current: tuple[str, float] | None = None
    for line in output.splitlines():
        if m := _GOT.match(line):
            current = (m["name"], duration_seconds(m["time"]))
            got.setdefault(current[1], set())
        elif (m := _LABELS.match(line)) and current is not None:
            labels = frozenset((k, _unquote(v)) for k, v in _LABEL.findall(m["body"]))
            got[current[1]].add((current[0], labels))
        elif not _EXPECTED.match(line.strip()):
            unexpected.append(line.strip())
    return {t: frozenset(a) for t, a in got.items()}, unexpected


# ------------------------------------------------------------------------ label values from matchers


def _regex_parser() -> Any:
    # the stdlib's own regex parser: a pattern's parse tree is what an example string is read off
    import re._parser as parser  # type: ignore[import-not-found]

    return parser


def regex_examples(pattern: str, variants: int = 6) -> list[str]:
    """Strings ``pattern`` fully matches (as Prometheus anchors its regexes), the simplest first: ``a|b`` -> a, b;
    ``.*``/``.+`` -> x; a character class -> a member. Patterns Python cannot read give none."""
    try:
        tree = _regex_parser().parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return []
    out = (_render(tree, k) for k in range(variants))
    return [s for s in dict.fromkeys(out) if compiled.fullmatch(s)]


_ANY = "xay0"
_CATEGORY_EXAMPLE = {"CATEGORY_DIGIT": "0", "CATEGORY_NOT_DIGIT": "x", "CATEGORY_WORD": "a", "CATEGORY_NOT_WORD": "-",
                     "CATEGORY_SPACE": " ", "CATEGORY_NOT_SPACE": "x"}
_CATEGORY_CLASS = {"CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_WORD": r"\w",
                   "CATEGORY_NOT_WORD": r"\W", "CATEGORY_SPACE": r"\s", "CATEGORY_NOT_SPACE": r"\S"}


def _render(items: Iterable[tuple[Any, Any]], k: int) -> str:
    """One string matched by a parsed pattern; ``k`` varies the choices (branch, class member, repeat count).
    Anchors and other zero-width items render as nothing."""
    return "".join(_RENDER.get(str(op), lambda av, k: "")(av, k) for op, av in items)


def _repeat(av: Any, k: int) -> str:
    lo, hi, sub = av
    count = lo if k % 3 == 2 or hi == 0 else min(hi, max(lo, 1) + (k % 3 == 1))
    return _render(sub, k) * count


def _member(items: list[tuple[Any, Any]], k: int) -> str:
    """A character of a character class (or, negated, one outside it)."""
    if items and str(items[0][0]) == "NEGATE":
        inside = re.compile("[" + "".join(_CLASS_PART[str(op)](av) for op, av in items[1:]) + "]")
        return next((c for c in "xa0-_Z~" if not inside.match(c)), "\x01")
    choices = [_CLASS_MEMBER[str(op)](av) for op, av in items]
    return choices[k % len(choices)] if choices else "x"


_RENDER: dict[str, Callable[[Any, int], str]] = {
    "LITERAL": lambda av, k: chr(av),
    "NOT_LITERAL": lambda av, k: next(c for c in _ANY if ord(c) != av),
    "ANY": lambda av, k: _ANY[k % len(_ANY)],
    "IN": _member,
    "CATEGORY": lambda av, k: _CATEGORY_EXAMPLE.get(str(av), "x"),
    "BRANCH": lambda av, k: _render(av[1][k % len(av[1])], k),
    "SUBPATTERN": lambda av, k: _render(av[-1], k),
    "ATOMIC_GROUP": _render,
    "MAX_REPEAT": _repeat, "MIN_REPEAT": _repeat, "POSSESSIVE_REPEAT": _repeat,
}
_CLASS_MEMBER: dict[str, Callable[[Any], str]] = {
    "LITERAL": chr, "RANGE": lambda av: chr(av[0]), "CATEGORY": lambda av: _CATEGORY_EXAMPLE.get(str(av), "x")}
_CLASS_PART: dict[str, Callable[[Any], str]] = {
    "LITERAL": lambda av: re.escape(chr(av)), "RANGE": lambda av: f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}",
    "CATEGORY": lambda av: _CATEGORY_CLASS.get(str(av), "")}


def matches(value: str, op: str, operand: str) -> bool:
    """Whether a label value satisfies one matcher (regexes anchored, as Prometheus does)."""
    if op in ("=", "!="):
        return (value == operand) == (op == "=")
    try:
        found = re.fullmatch(operand, value) is not None
    except re.error:
        return False
    return found == (op == "=~")


_FILLERS = ("x", "other", "a", "0", "1", "default", "/", "eth0", "sda")


def label_value(matchers: Iterable[tuple[str, str]]) -> str | None:
    """A value satisfying every ``(op, operand)`` matcher of one label; None when only its absence does (an empty
    value is no label). Unsatisfiable matchers get the first positive example: the series then just never matches."""
    matchers = list(matchers)
    positive = [v for op, v in matchers if op == "="]
    positive += [s for op, v in matchers if op == "=~" for s in regex_examples(v)]
    for value in [*positive, *_FILLERS]:
        if value and all(matches(value, op, v) for op, v in matchers):
            return value
    if all(matches("", op, v) for op, v in matchers):
        return None
    return next((v for v in positive if v), "x")


def violating_value(op: str, operand: str) -> str | None:
    """A non-empty value failing the matcher (for a decoy series the selector must filter out), if one is easy."""
    options = {"=": [operand + "-other", "zz-other"], "=~": ["zz-other", "0"], "!=": [operand],
               "!~": regex_examples(operand)}[op]
    return next((v for v in options if v and not matches(v, op, operand)), None)


# ------------------------------------------------------------------------------------- value shapes

Samples = list[float | None]  # one per sample interval; None: no sample


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else format(v, ".12g")


def notation(samples: Sequence[float | None]) -> str:
    """Samples in promtool's expanding notation, runs of a constant step folded (``0+10x30``, ``_x4``)."""
    out: list[str] = []
    i = 0
    while i < len(samples):
        v = samples[i]
        if v is None:
            j = i
            while j + 1 < len(samples) and samples[j + 1] is None:
                j += 1
            out.append("_" if j == i else f"_x{j - i}")
            i = j + 1
            continue
        after = samples[i + 1] if i + 1 < len(samples) else None
        step = 0.0 if after is None else after - v
        j = i
        while j + 1 < len(samples) and (w := samples[j + 1]) is not None and math.isclose(
                w, v + step * (j + 1 - i), rel_tol=1e-9, abs_tol=1e-9):
            j += 1
        n = j - i
        out.append(_num(v) if n == 0 else f"{_num(v)}x{n}" if step == 0 else
                   f"{_num(v)}{'+' if step > 0 else '-'}{_num(abs(step))}x{n}")
        i = j + 1
    return " ".join(out)


_NUMBER = r"[\d.]+(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"(_|stale|[-+]?{_NUMBER})(?:([+-])({_NUMBER}))?(?:x(\d+))?")


def expand(values: str) -> Samples:
    """promtool's expanding notation as samples (None for ``_``/``stale``)."""
    out: Samples = []
    for token in values.split():
        m = _TOKEN.fullmatch(token)
        if m is None:
            raise ValueError(f"not promtool notation: {token!r}")
        base, sign, step, times = m.groups()
        if base in ("_", "stale"):
            out.extend([None] * (int(times or 0) + 1))
            continue
        inc = float(step or 0) * (-1 if sign == "-" else 1)
        out.extend(float(base) + inc * k for k in range(int(times or 0) + 1))
    return out


@dataclass(frozen=True)
class _Shape:
    """Three phases (quiet, active, after) of ``phase`` samples each: ``scale`` is what the active part crosses,
    ``level`` what a steady series holds (a counter: its rate per second)."""

    phase: int
    scale: float
    level: float
    step_s: float

    @property
    def total(self) -> int:
        return 3 * self.phase + 1


Family = Callable[[_Shape], Samples]


def _line(a: float, b: float, n: int) -> list[float]:
    return [a + (b - a) * k / (n - 1) for k in range(n)] if n > 1 else [a] * n


def _geometric(lo: float, hi: float, n: int) -> list[float]:
    return [lo * (hi / lo) ** (k / max(n - 1, 1)) for k in range(n)]


def _cumulative(increments: Iterable[float | None]) -> Samples:
    """A counter from its per-sample increments (None: the series is gone from there on)."""
    out: Samples = []
    total = 0.0
    for inc in increments:
        if inc is None:
            out.append(None)
            continue
        out.append(total)
        total += inc
    return out


Phase = float | None | list[float | None]  # a value held through the phase, or the phase's own samples


def _phases(s: _Shape, quiet: Phase, active: Phase, after: Phase) -> Samples:
    """Quiet, active and after phases (the last one sample longer, so the whole ends on a phase boundary)."""
    return [v for part, n in ((quiet, s.phase), (active, s.phase), (after, s.phase + 1))
            for v in (part if isinstance(part, list) else [part] * n)]


GAUGES: dict[str, Family] = {
    "rise": lambda s: _phases(s, 0.0, _line(0, 2 * s.scale, s.phase), 2 * s.scale),
    "fall": lambda s: _phases(s, 2 * s.scale, _line(2 * s.scale, 0, s.phase), 0.0),
    "spike": lambda s: _phases(s, 0.0, 3 * s.scale, 0.0),
    "step": lambda s: _phases(s, 0.0, s.scale, s.scale),
    "drop": lambda s: _phases(s, 1.0, 0.0, 0.0),
    "flap": lambda s: _phases(s, 0.0, [float(k % 2) for k in range(s.phase)], 0.0),
    "log": lambda s: _geometric(s.scale / 1000, s.scale * 1000, s.total),
    "vanish": lambda s: _phases(s, s.level, None, None),
    "steady": lambda s: [s.level] * s.total,
}
COUNTERS: dict[str, Family] = {  # scale and level are rates per second
    "burst": lambda s: _cumulative(_phases(s, 0.0, _line(0, 4 * s.scale * s.step_s, s.phase), 0.0)),
    "stall": lambda s: _cumulative(_phases(s, s.level * s.step_s, 0.0, 0.0)),
    "reset": lambda s: [v for n in (s.phase, s.total - s.phase) for v in _cumulative([s.level * s.step_s] * n)],
    "accelerate": lambda s: _cumulative(s.scale * s.step_s * v for v in _geometric(1e-3, 1e3, s.total)),
    "vanish": lambda s: _cumulative(_phases(s, s.level * s.step_s, None, None)),
    "steady": lambda s: _cumulative([s.level * s.step_s] * s.total),
}


def _delayed(samples: Samples, by: int) -> Samples:
    """The same shape ``by`` samples later, as long as before."""
    return ([samples[0]] * by + samples[: len(samples) - by]) if by else samples


# --------------------------------------------------------------- what the expression does with each metric


@dataclass
class _Use:
    """What an expression holds one metric to, read off its comparisons with constants once the arithmetic with
    constants is undone: ``scale`` the threshold the metric itself (or a function of it alone) is compared with,
    ``soft_scale`` one it is compared with together with other metrics (``a / b > 0.8``), ``denominator`` whether it
    divides (then it holds at 1, so the ratio moves with the numerator), ``conditions`` the comparisons a steady
    series should satisfy, ``clock`` -1 when compared as ``time() - x`` (+1: ``x - time()``). Scales of what
    ``rate``/``increase`` read are per second."""

    scale: float | None = None
    soft_scale: float | None = None
    denominator: bool = False
    conditions: list[tuple[str, float]] = field(default_factory=list)
    clock: int = 0


_COMPARISONS = {">", "<", ">=", "<=", "==", "!="}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else math.nan, "^": lambda a, b: a ** b,
    "%": lambda a, b: math.fmod(a, b) if b else math.nan}
# functions that keep their argument's values (a threshold on them is one on the metric)
_VALUE_KEEPING = {"abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max", "avg_over_time", "min_over_time",
                  "max_over_time", "last_over_time", "quantile_over_time", "sum", "min", "max", "avg", "quantile"}
_RATES = {"rate", "irate", "increase", "resets", "deriv", "delta", "idelta", "changes"}
_OVER_WINDOW = {"increase", "delta"}  # a change over the whole window: its threshold over the window is the rate
_COUNTING = {"count", "count_values", "group", "absent", "absent_over_time", "count_over_time", "present_over_time"}


def _constant(node: Any) -> float | None:
    """The value of a constant subexpression (``100*1024*1024``, ``-(2^3)``), else None."""
    import promql_parser as pp

    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.ParenExpr):
        return _constant(node.expr)
    if isinstance(node, pp.UnaryExpr):
        inner = _constant(node.expr)
        return None if inner is None else -inner
    if isinstance(node, pp.BinaryExpr) and str(node.op) in _ARITH:
        a, b = _constant(node.lhs), _constant(node.rhs)
        if a is not None and b is not None:
            try:
                value = _ARITH[str(node.op)](a, b)
            except (OverflowError, ZeroDivisionError):
                return None
            return None if math.isnan(value) or math.isinf(value) else value
    return None


def _is_time(node: Any) -> bool:
    import promql_parser as pp

    return isinstance(node, pp.Call) and node.func.name == "time"


def thresholds(tree: Any) -> list[float]:
    """The constants the expression compares with, in order: the values its series should cross."""
    import promql_parser as pp

    found: list[float] = []

    def visit(node: Any) -> None:
        if isinstance(node, pp.BinaryExpr) and str(node.op) in _COMPARISONS:
            found.extend(c for c in (_constant(node.lhs), _constant(node.rhs)) if c is not None)

    pp.walk(tree, pre_visit=visit)
    return found


def metric_uses(tree: Any) -> dict[str, _Use]:
    """How the expression compares each metric with constants (see :class:`_Use`)."""
    import promql_parser as pp

    uses: dict[str, _Use] = {}

    def visit(node: Any) -> None:
        if isinstance(node, pp.BinaryExpr) and str(node.op) in _COMPARISONS:
            left, right = _constant(node.lhs), _constant(node.rhs)
            if right is not None and left is None:
                _hold(node.lhs, str(node.op), right, uses)
            elif left is not None and right is None:
                _hold(node.rhs, _FLIP[str(node.op)], left, uses)

    pp.walk(tree, pre_visit=visit)
    return uses


def _hold(node: Any, op: str, c: float, uses: dict[str, _Use], exact: bool = True, soft: bool = False) -> None:
    """Record that ``node op c`` is what the rule asks, descending to the metrics it is about; ``exact``: the
    metric's own values are compared (a steady series should meet it), ``soft``: only together with other metrics."""
    import promql_parser as pp

    if isinstance(node, pp.ParenExpr):
        _hold(node.expr, op, c, uses, exact, soft)
    elif isinstance(node, pp.UnaryExpr):
        _hold(node.expr, _FLIP[op], -c, uses, exact, soft)
    elif isinstance(node, pp.VectorSelector) and node.name:
        use = uses.setdefault(node.name, _Use())
        if soft:
            use.soft_scale = use.soft_scale or abs(c) or None
        else:
            use.scale = use.scale or abs(c) or None
        if exact:
            use.conditions.append((op, c))
    elif isinstance(node, pp.MatrixSelector):
        _hold(node.vector_selector, op, c, uses, exact, soft)
    elif isinstance(node, pp.SubqueryExpr):
        _hold(node.expr, op, c, uses, exact, soft)
    elif isinstance(node, pp.AggregateExpr) and str(node.op) not in _COUNTING:
        _hold(node.expr, op, c, uses, exact and str(node.op) in _VALUE_KEEPING, soft)
    elif isinstance(node, pp.Call) and node.func.name not in _COUNTING:
        inputs = [a for a in node.args if selectors(a)] if node.args else []
        if len(inputs) == 1:
            window = inputs[0].range.total_seconds() if node.func.name in _OVER_WINDOW and isinstance(
                inputs[0], pp.MatrixSelector) else None
            if window and not c:  # "increased at all": about one event per window is the natural size
                for s in selectors(inputs[0]):
                    use = uses.setdefault(str(s.metric), _Use())
                    use.scale = use.scale or 1 / window
            _hold(inputs[0], op, c / window if window else c, uses, exact and node.func.name in _VALUE_KEEPING, soft)
    elif isinstance(node, pp.BinaryExpr) and str(node.op) in _ARITH:
        _hold_arithmetic(node, op, c, uses, exact, soft)


def _hold_arithmetic(node: Any, op: str, c: float, uses: dict[str, _Use], exact: bool, soft: bool) -> None:
    """Undo ``x * k``, ``x / k``, ``x + k``, ``x - k``, ``k - x``; ``time() - x`` marks a timestamp; of two metrics
    (``a / b``) the first is sized by the threshold and a divisor holds at 1."""
    arith, left, right = str(node.op), _constant(node.lhs), _constant(node.rhs)
    if arith == "-" and (_is_time(node.lhs) or _is_time(node.rhs)):
        for s in selectors(node.rhs if _is_time(node.lhs) else node.lhs):
            if s.metric:
                use = uses.setdefault(s.metric, _Use())
                use.clock, use.scale = (-1 if _is_time(node.lhs) else 1), abs(c) or use.scale
                use.conditions.append((op, c))
    elif right is not None and arith in "*/+-" and (arith in "+-" or right):
        flip = arith in "*/" and right < 0
        undone = {"*": c / right if right else c, "/": c * right, "+": c - right, "-": c + right}[arith]
        _hold(node.lhs, _FLIP[op] if flip else op, undone, uses, exact, soft)
    elif left is not None and arith in "*+-" and (arith != "*" or left):
        flip = (arith == "*" and left < 0) or arith == "-"
        undone = {"*": c / left if left else c, "+": c - left, "-": left - c}[arith]
        _hold(node.rhs, _FLIP[op] if flip else op, undone, uses, exact, soft)
    elif left is None and right is None:
        _hold(node.lhs, op, c, uses, exact and arith == "+", True)
        if arith != "/":
            _hold(node.rhs, op, c, uses, exact and arith == "+", True)
            return
        for s in selectors(node.rhs):
            if s.metric:
                uses.setdefault(s.metric, _Use()).denominator = True


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _level(use: _Use, scale: float) -> float:
    """A steady value meeting every condition on the metric (so a guard like ``and x > 0`` holds), else ``scale``."""
    options = ((1.0,) if use.denominator else ()) + (scale, 2 * scale, scale / 2, 0.0, 1.0, 10 * scale, -scale,
                                                      *(c for _, c in use.conditions))
    return next((v for v in options if all(_OPS[op](v, c) for op, c in use.conditions)), scale)


_UNIT_SCALE = (("_bytes", 2.0 ** 30), ("_ratio", 0.5), ("_percent", 50.0), ("_percentage", 50.0))
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


def _scale(metric: str, use: _Use, default: float) -> float:
    """A metric's size: the threshold it (or it combined with others) is compared with, else what its unit suggests
    (bytes are large)."""
    unit = next((v for suffix, v in _UNIT_SCALE if metric.endswith(suffix)), None)
    return use.scale or use.soft_scale or unit or default


def is_counter(metric: str, expr: str) -> bool:
    """Grows like a counter: by name (``_total``, ...) or by use (``rate``, ``increase``, ``deriv`` over it)."""
    calls = "|".join(sorted(_RATES))
    return metric.endswith(_COUNTER_SUFFIXES) or re.search(
        rf"\b(?:{calls})\s*\(\s*{re.escape(metric)}\b", expr) is not None


# ------------------------------------------------------------------------------------- labels


_OWN_LABELS = {"le", "__name__", "job", "instance"}  # set per series (or bucket), not shared


def _grouping_labels(tree: Any) -> tuple[set[str], dict[str, set[str]]]:
    """Labels named by ``by``/``on``/``ignoring`` (every series gets them, so groups and matches form), and per metric
    the ``without`` labels of the aggregations around it (only those series have them: they are dropped)."""
    import promql_parser as pp

    everywhere: set[str] = set()
    inside: dict[str, set[str]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            names = set(node.modifier.labels)
            if str(node.modifier.type).endswith("Without"):
                for s in selectors(node.expr):
                    inside.setdefault(str(s.metric), set()).update(names)
            else:
                everywhere.update(names)
        elif isinstance(node, pp.BinaryExpr) and node.modifier is not None and node.modifier.matching is not None:
            everywhere.update(node.modifier.matching.labels)

    pp.walk(tree, pre_visit=visit)
    return everywhere - _OWN_LABELS, inside


def _shared_values(sels: Sequence[Selector], names: Iterable[str]) -> dict[str, str | None]:
    """One value per label, meeting every matcher on it anywhere in the expression where possible."""
    by_label: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    for s in sels:
        for label, op, value in s.matchers:
            by_label.setdefault(label, []).append((op, value))
    return {label: label_value(ms) for label, ms in by_label.items()}


def _unit_labels(sel: Selector, sels: Sequence[Selector], shared: Mapping[str, str | None], everywhere: set[str],
                 inside: Mapping[str, set[str]]) -> dict[str, str]:
    """A selector's series labels: job, the grouping labels, and every label any matcher names (shared values, so
    series of different metrics match one-to-one as an exporter's do) except those a ``without`` drops elsewhere;
    then its own matchers where the shared value fails them."""
    dropped = set().union(*inside.values()) - inside.get(str(sel.metric), set())
    named = {label for s in sels for label, _, _ in s.matchers} - dropped
    labels: dict[str, str | None] = {"job": JOB}
    labels.update({n: shared.get(n, "x") for n in sorted(everywhere | inside.get(str(sel.metric), set()) | named)})
    own: dict[str, list[tuple[str, str]]] = {}
    for label, op, value in sel.matchers:
        own.setdefault(label, []).append((op, value))
    for label, ms in own.items():
        if not all(matches(labels.get(label) or "", op, v) for op, v in ms):
            labels[label] = label_value(ms)
    return {k: v for k, v in labels.items() if v}


def _decoy(sel: Selector, labels: dict[str, str]) -> dict[str, str] | None:
    """The same labels but one that the selector rejects: a prediction without the filter fires on it."""
    for label, op, value in sel.matchers:
        if label != "instance" and (bad := violating_value(op, value)) is not None:
            return {**labels, label: bad}
    return None


# ----------------------------------------------------------------------------- synthetic series


@dataclass(frozen=True)
class Scenario:
    """Input series and the times to look at the alerts: what a rule is executed on."""

    series: list[Series]
    evals: list[str]
    interval: str
    eval_interval: str | None = None
    discriminating: bool = True  # fires at some evaluation times and not at others (else: at every one)

    def run(self, text: str, timeout: float = 30) -> Firing:
        return firing(text, self.series, evals=self.evals, interval=self.interval, eval_interval=self.eval_interval,
                      timeout=timeout)


@dataclass(frozen=True)
class _Timeline:
    step_s: int
    phase: int  # samples per phase
    eval_step_s: int
    evals: tuple[str, ...]


MAX_EVALUATIONS = 1500  # promtool evaluates every group at every step: this bounds one run to ~0.1 s
EVAL_POINTS = 36


def _timeline(tree: Any, for_: str | None, clock_s: float = 0) -> _Timeline:
    """Sampling and evaluation times: each of the three phases long enough for the expression's windows and the
    rule's ``for`` to fill (and, for timestamps compared with ``time()``, for the clock to pass the threshold);
    samples dense enough for the shortest window to hold several, evaluations at most ``MAX_EVALUATIONS``."""
    windows = _windows(tree)
    hold = duration_seconds(for_) if for_ else 0
    phase_s = max(max(windows, default=0) + hold + 600, 1.1 * clock_s)
    shortest = min(windows, default=None)
    if shortest is None:
        step = 60 * max(1, math.ceil(phase_s / 1000 / 60))
    elif shortest >= 120:
        step = 60 * max(1, int(min(shortest / 4, phase_s / 1000) // 60))
    else:
        step = 15 if shortest >= 60 else max(1, int(shortest // 4))
    phase = max(10, math.ceil(phase_s / step))
    length = 3 * phase * step
    eval_step = step * max(1, math.ceil(length / MAX_EVALUATIONS / step))
    every = eval_step * max(1, math.ceil(length / EVAL_POINTS / eval_step))
    if not hold:  # nothing carries over between evaluations: evaluating at the points looked at is enough
        eval_step = every
    return _Timeline(step, phase, eval_step, tuple(format_duration(t) for t in range(every, length + 1, every)))


def _windows(tree: Any) -> list[float]:
    """Seconds of every range, subquery range and offset in the expression: how far back it looks."""
    import promql_parser as pp

    out: list[float] = []

    def visit(node: Any) -> None:
        if isinstance(node, (pp.MatrixSelector, pp.SubqueryExpr)):
            out.append(node.range.total_seconds())
        offset = getattr(node, "offset", None)
        if offset is not None and offset.total_seconds() > 0:
            out.append(offset.total_seconds())

    pp.walk(tree, pre_visit=visit)
    return out


@dataclass(frozen=True)
class _Unit:
    """One selector's series: what they are labelled and how their values are sized."""

    metric: str
    labels: dict[str, str]
    decoy: dict[str, str] | None
    counter: bool
    scale: float
    level: float
    clock: int
    spread: tuple[str, ...]  # grouping labels no matcher fixes: varied per instance by a spreading candidate


@dataclass(frozen=True)
class _Candidate:
    gauge: str
    counter: str
    decoys: bool = False
    rotate: int = 0  # which selector's series are active (the others hold steady)
    spread: bool = False  # give each instance its own value of the free grouping labels


CANDIDATES = (
    _Candidate("rise", "burst", decoys=True),
    _Candidate("fall", "stall"),
    _Candidate("spike", "burst", decoys=True, rotate=1),
    _Candidate("drop", "reset"),
    _Candidate("step", "accelerate", rotate=2),
    _Candidate("vanish", "vanish", spread=True),
    _Candidate("log", "accelerate", decoys=True, rotate=3),
    _Candidate("flap", "burst", rotate=1),
)
INSTANCES = ("host-1:9100", "host-2:9100")
JOB = "app"


def _units(tree: Any, expr: str) -> list[_Unit]:
    sels = [s for s in selectors(tree) if s.metric]
    uses = metric_uses(tree)
    found = [t for t in thresholds(tree) if t]
    default = abs(found[0]) if found else 1.0
    everywhere, inside = _grouping_labels(tree)
    shared = _shared_values(sels, everywhere)
    free = tuple(sorted(n for n in everywhere if not any(label == n for s in sels for label, _, _ in s.matchers)))
    units: list[_Unit] = []
    for sel in sels:
        metric, use = str(sel.metric), uses.get(str(sel.metric), _Use())
        labels = _unit_labels(sel, sels, shared, everywhere, inside)
        if any(u.metric == metric and u.labels == labels for u in units):
            continue
        scale = 1.0 if metric == "up" else _scale(metric, use, default)
        units.append(_Unit(metric, labels, _decoy(sel, labels), is_counter(metric, expr), scale,
                           1.0 if metric == "up" else _level(use, scale), use.clock, free))
    return units


def _clock_scale(units: Sequence[_Unit]) -> float:
    return max((u.scale for u in units if u.clock), default=0.0)


def synthetic_series(expr: str, *, seed: int = 0, for_: str | None = None) -> list[list[Series]]:
    """Candidate input sets for ``expr``: each selector's series on two instances, labels satisfying its matchers,
    one selector's values in one shape per candidate (rising, falling, a spike, a step, dropping to 0, vanishing,
    geometric, flapping; for counters bursts, stalls, resets, acceleration), the others steady at a level their
    guards accept; the second instance half a phase later. ``seed`` reorders all candidates but the first.
    Raises PromQLError when ``expr`` does not parse."""
    tree = parse(expr)
    units = _units(tree, expr)
    tl = _timeline(tree, for_, _clock_scale(units))
    order = list(CANDIDATES[1:])
    if seed:
        random.Random(seed).shuffle(order)
    return [_candidate_series(units, tl, c) for c in [CANDIDATES[0], *order]]


_UP_FAMILIES = {"vanish": "vanish", "flap": "flap"}  # ``up`` is 0 or 1: every other shape is a target going down


def _family(unit: _Unit, cand: _Candidate, active: bool) -> Family:
    if unit.metric == "up":
        return GAUGES[_UP_FAMILIES.get(cand.gauge, "drop") if active else "steady"]
    if unit.counter:
        return COUNTERS[cand.counter if active else "steady"]
    return GAUGES[cand.gauge if active else "steady"]


def _candidate_series(units: Sequence[_Unit], tl: _Timeline, cand: _Candidate) -> list[Series]:
    out: list[Series] = []
    active = cand.rotate % len(units) if units else -1
    for index, unit in enumerate(units):
        shape = _Shape(tl.phase, unit.scale, unit.level, tl.step_s)
        samples = _family(unit, cand, index == active)(shape)
        sets = [unit.labels] + ([unit.decoy] if cand.decoys and unit.decoy else [])
        for i, instance in enumerate(INSTANCES[:1] if "instance" in unit.labels else INSTANCES):
            values = _clocked(_delayed(samples, i * tl.phase // 2), unit.clock, tl.step_s)
            spread = {n: f"{n}-{i + 1}" for n in unit.spread} if cand.spread else {}
            for labels in sets[: 1 if i else None]:
                full = {"instance": instance, **labels, **spread}
                out.extend(_buckets(unit, full, shape, index == active, i * tl.phase // 2)
                           if unit.metric.endswith("_bucket") and "le" not in full else
                           [Series(unit.metric, full, notation(values))])
    return out


def _clocked(samples: Samples, clock: int, step_s: float) -> Samples:
    """A timestamp metric: the sample time plus ``clock`` times the shape (``time() - x`` is then the shape)."""
    if not clock:
        return samples
    return [None if v is None else i * step_s + clock * v for i, v in enumerate(samples)]


def _buckets(unit: _Unit, labels: dict[str, str], shape: _Shape, active: bool, delay: int) -> list[Series]:
    """Histogram buckets whose observations move from below the threshold to above it while active:
    a quantile over them crosses the threshold."""
    base = COUNTERS["steady"](shape)
    extra = _delayed(COUNTERS["burst"](shape), delay) if active else [0.0] * shape.total
    upper = [None if a is None or b is None else a + b for a, b in zip(base, extra)]
    return [Series(unit.metric, {**labels, "le": _num(unit.scale / 10)}, notation(base)),
            *(Series(unit.metric, {**labels, "le": le}, notation(upper)) for le in (_num(2 * unit.scale), "+Inf"))]


def rule_file(expr: str, for_: str | None = None, alert: str = "Scenario") -> str:
    """A one-rule file (JSON) for ``expr``: what scenarios are designed and checked against."""
    rule: dict[str, Any] = {"alert": alert, "expr": expr}
    if for_:
        rule["for"] = for_
    return json.dumps({"groups": [{"name": "scenario", "rules": [rule]}]})


MAX_CANDIDATES = 8


def discriminating_series(expr: str, for_: str | None = None, *, seed: int = 0,
                          max_candidates: int = MAX_CANDIDATES) -> Scenario | None:
    """The first synthetic input on which the rule ``expr`` (held ``for_``) fires at some evaluation times but not
    all; else the first on which it fires at every one (``discriminating=False``); else None. One promtool run per
    distinct candidate. Raises PromQLError when ``expr`` does not parse."""
    tree = parse(expr)
    tl = _timeline(tree, for_, _clock_scale(_units(tree, expr)))
    text = rule_file(expr, for_)
    interval = format_duration(tl.step_s)
    eval_interval = None if tl.eval_step_s == tl.step_s else format_duration(tl.eval_step_s)
    fallback: Scenario | None = None
    tried: set[str] = set()
    for series in synthetic_series(expr, seed=seed, for_=for_)[:max_candidates]:
        if (key := repr(series)) in tried:
            continue
        tried.add(key)
        scenario = Scenario(series, list(tl.evals), interval, eval_interval)
        result = scenario.run(text)
        n = result.times_firing() if result.ok else 0
        if 0 < n < len(tl.evals):
            return scenario
        if n and fallback is None:
            fallback = Scenario(series, list(tl.evals), interval, eval_interval, discriminating=False)
    return fallback


__all__ = [
    "Alert", "Firing", "PromQLError", "PromtoolResult", "RuleError", "Scenario", "Series", "alert_names",
    "alerting_rules", "check_rules", "discriminating_series", "duration_seconds", "expand", "firing",
    "format_duration", "is_counter", "label_value", "load_rule_file", "matches", "metric_uses", "notation",
    "parse_check_output", "promtool_path", "regex_examples", "rule_file", "synthetic_series", "thresholds",
    "violating_value",
]
