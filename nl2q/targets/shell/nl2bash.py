"""Shell suites over ``nl2bash/``: InterCode-ALFA and InterCode-Bash scored by functional equivalence in
sandboxed file systems, and NL2Bash for validity.

Equivalence is ALFA's (NAACL 2025): the prediction and a gold command run in identical fresh copies of
the benchmark's file system; they are equivalent when they created, changed and deleted the same
paths, the files they both wrote have the same content, and their output is the same (or, as ALFA's
TF-IDF mode scores it, close enough that ``round(0.33 * cosine, 2)`` is full marks). ALFA runs Docker
containers; here each run is a bubblewrap sandbox on a copy of a tree built once by the benchmark's own
set-up script, bound at ``/testbed``. Differences from ALFA's containers: scripts start in ``/testbed``
(ALFA starts in ``/``), only ``/testbed`` is diffed (ALFA diffs the container's file system), and the
system is this machine's (Debian's coreutils, bash; ALFA's fs_5 is Alpine's busybox ``sh``).

The set-up scripts (``setup_nl2b_fs_N.sh``) ship in PyPI's ``icalfa`` (``pip install --no-deps icalfa``),
read where pip put them, or from the directory ``$NL2Q_ICALFA_ASSETS`` names.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import Nl2qError
from ...evaluate.benchmarks import ENV_VAR
from ...evaluate.compare import Execution
from ...evaluate.constants import EXEC_TIMEOUT_S
from ...evaluate.suites import Item, Suite
from ...policy import Policy

TESTBED = Path("/testbed")
OUTPUT_CAP = 64_000  # bytes of output kept per run
FULL_MARKS = 0.33  # ALFA: a run is right when round(0.33 * similarity, 2) reaches this


@dataclass
class ScriptRun(Execution):
    """One script's run in a sandboxed copy: its output and what it did to the tree; ``others`` are the
    runs of alternative gold commands (ALFA gives two), any of which a prediction may match."""

    output: str = ""
    exit_status: int | None = None
    effects: frozenset[tuple[str, str, str]] = frozenset()  # (kind, path, content digest)
    others: list["ScriptRun"] = field(default_factory=list)

    def brief(self) -> dict[str, Any]:
        fp = hashlib.sha256(repr((self.output, sorted(self.effects))).encode()).hexdigest()[:16]
        return {"ok": self.ok, "engine": self.engine, "error": self.error, "exit_status": self.exit_status,
                "output": self.output[:500], "effects": sorted(list(e[:2]) for e in self.effects)[:50],
                "elapsed_ms": round(self.elapsed_ms, 2), "fingerprint": fp if self.ok else None,
                "alternatives": len(self.others)}


def equivalent(gold: ScriptRun, pred: ScriptRun) -> bool:
    """ALFA's three checks at full marks: the same paths touched the same way, the same content in what
    both wrote, and the same output (exactly, or by TF-IDF cosine as ALFA's ``tfidf`` mode rounds it)."""
    if not (gold.ok and pred.ok):
        return False
    if {e[:2] for e in gold.effects} != {e[:2] for e in pred.effects}:
        return False
    if gold.effects != pred.effects:
        return False
    if gold.output == pred.output:
        return True
    return round(FULL_MARKS * tfidf_cosine(gold.output, pred.output), 2) >= FULL_MARKS


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def tfidf_cosine(a: str, b: str) -> float:
    """scikit-learn's ``TfidfVectorizer`` defaults on a two-document corpus (lowercase, ``\\b\\w\\w+\\b``
    tokens, smooth idf, l2 norm), so scores match ALFA's ``tfidf`` mode; 0.0 when either has no token."""
    docs = [Counter(_TOKEN.findall(a.lower())), Counter(_TOKEN.findall(b.lower()))]
    if not docs[0] or not docs[1]:
        return 0.0
    idf = {t: math.log(3 / (1 + sum(t in d for d in docs))) + 1 for t in docs[0].keys() | docs[1].keys()}
    vecs = []
    for d in docs:
        v = {t: n * idf[t] for t, n in d.items()}
        norm = math.sqrt(sum(x * x for x in v.values()))
        vecs.append({t: x / norm for t, x in v.items()})
    return sum(x * vecs[1].get(t, 0.0) for t, x in vecs[0].items())


def icalfa_assets() -> Path:
    """Where the ALFA set-up scripts are: ``$NL2Q_ICALFA_ASSETS``, or the installed ``icalfa`` package's."""
    given = os.environ.get("NL2Q_ICALFA_ASSETS")
    if given:
        return Path(given)
    spec = importlib.util.find_spec("icalfa")  # found, not imported: icalfa imports docker and openai
    if spec is None or not spec.submodule_search_locations:
        raise Nl2qError("the InterCode file-system set-up scripts are not installed",
                        "pip install --no-deps icalfa==0.3.6 (or set NL2Q_ICALFA_ASSETS to a directory of "
                        "setup_nl2b_fs_N.sh)")
    return Path(list(spec.submodule_search_locations)[0]) / "assets" / "docker"


class _Sandboxed(Suite):
    """Items on numbered file systems, each built once per process and copied for every run."""

    target = "shell"
    dialect = "bash"
    breakdowns = ("database",)
    env = {"assets": "NL2Q_ICALFA_ASSETS"}
    folder = ""
    policy = Policy(allow_writes=True)  # the tasks create and delete files; every run is on a sandboxed copy

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.dir = root / "nl2bash" / self.folder
        if not self.dir.is_dir():
            raise Nl2qError(f"InterCode data not found: {self.dir} is missing",
                            f"point --benchmarks (or ${ENV_VAR}) at a directory holding nl2bash/{self.folder}/")
        self.assets = Path(self.options["assets"]) if self.options.get("assets") else icalfa_assets()
        self._trees: dict[str, Path] = {}
        self._base: Path | None = None
        self.alternatives: dict[str, list[str]] = {}  # item id -> gold commands besides ``Item.gold``

    def execution(self) -> dict[str, Any]:
        return {"mode": "bubblewrap", "note": "outputs judged with allow_writes (tasks write files); "
                "prediction and gold run in sandboxed copies of the benchmark's file "
                "system at /testbed (built by its set-up script); equivalent = same paths created/changed/deleted, "
                "same content, same output or ALFA's TF-IDF full marks; either gold counts"}

    def tree(self, fs: str) -> Path:
        """The file system ``fs`` (``fs_1`` ...), built by its set-up script in a sandbox, once."""
        if fs not in self._trees:
            from .sandbox import Limits, _owner, run_sandboxed

            script = self.assets / f"setup_nl2b_{fs}.sh"
            if not script.is_file():
                raise Nl2qError(f"set-up script not found: {script}", "pip install --no-deps icalfa==0.3.6")
            if self._base is None:
                self._base = Path(tempfile.mkdtemp(prefix="nl2q-nl2bash-"))
            tree = self._base / fs
            tree.mkdir()
            owner = _owner()
            if owner:
                os.chown(self._base, *owner)
                os.chown(tree, *owner)
            built = run_sandboxed(script.read_text(), tree, Limits(timeout_s=60), mount_at=TESTBED, in_place=True)
            if built.exit_status is None:
                raise Nl2qError(f"building {fs} failed: {built.error}", "check that bubblewrap works here")
            self._trees[fs] = tree
        return self._trees[fs]

    def schema_for(self, item: Item) -> Any:
        return {"workdir": str(self.tree(item.database)), "shown_as": str(TESTBED)}

    def execute_gold(self, item: Item) -> Execution | None:
        if item.id not in self._gold:
            runs = [self._execute(item, g) for g in [item.gold, *self.alternatives.get(item.id, ())] if g.strip()]
            first = runs[0] if runs else None
            if first is not None:
                first.others = [r for r in runs[1:] if r.ok]
            self._gold[item.id] = first
        return self._gold[item.id]

    def _execute(self, item: Item, query: str) -> ScriptRun:
        from .sandbox import Limits, run_sandboxed

        dry = run_sandboxed(query, self.tree(item.database), Limits(timeout_s=EXEC_TIMEOUT_S, max_output=OUTPUT_CAP),
                            mount_at=TESTBED)
        effects = frozenset((e.kind, e.target, e.digest) for e in dry.effects)
        return ScriptRun(ok=dry.exit_status is not None, engine=dry.engine, error=dry.error,
                         elapsed_ms=dry.elapsed_ms, output=dry.output or "", exit_status=dry.exit_status,
                         effects=effects)

    def compare(self, gold: Execution, pred: Execution, ordered: bool) -> bool:
        assert isinstance(gold, ScriptRun) and isinstance(pred, ScriptRun)
        return any(equivalent(g, pred) for g in [gold, *gold.others])

    def close(self) -> None:
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None
            self._trees.clear()


class InterCodeAlfa(_Sandboxed):
    """InterCode-ALFA's 300 corrected test tasks on file systems fs_1..fs_5, two gold commands each."""

    folder = "alfa"
    breakdowns = ("difficulty", "database")
    group_order = {"difficulty": ("0", "1", "2")}

    def _load_items(self) -> list[Item]:
        out = []
        for n in range(1, 6):
            path = self.dir / f"nl2bash_fs_{n}.json"
            for i, e in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                item = Item(f"fs_{n}:{i}", e["query"], e["gold"], f"fs_{n}",
                            {"difficulty": str(e.get("difficulty", "")), "database": f"fs_{n}"})
                if e.get("gold2"):
                    self.alternatives[item.id] = [e["gold2"]]
                out.append(item)
        return out


class InterCodeBash(_Sandboxed):
    """InterCode-Bash's 224 tasks on fs_1..fs_4 (``test_queries.json`` on fs_1, as InterCode's default image)."""

    folder = "intercode"

    def _load_items(self) -> list[Item]:
        out = []
        files = [(f"nl2bash_fs_{n}.json", f"fs_{n}") for n in range(1, 5)] + [("test_queries.json", "fs_1")]
        for name, fs in files:
            for i, e in enumerate(json.loads((self.dir / name).read_text(encoding="utf-8"))):
                out.append(Item(f"{Path(name).stem}:{i}", e["query"], e["gold"], fs, {"database": fs}))
        return out


class NL2Bash(Suite):
    """NL2Bash (``all.nl``/``all.cm``, 12,607 pairs): validity of the script against this machine's PATH; no
    file system to run on, so no execution accuracy."""

    target = "shell"
    dialect = "bash"
    breakdowns = ("utility",)

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.dir = root / "nl2bash"
        for f in ("all.nl", "all.cm"):
            if not (self.dir / f).is_file():
                raise Nl2qError(f"NL2Bash data not found: {self.dir / f} is missing",
                                f"point --benchmarks (or ${ENV_VAR}) at a directory holding nl2bash/all.nl and all.cm")

    def _load_items(self) -> list[Item]:
        nl = (self.dir / "all.nl").read_text(encoding="utf-8", errors="replace").splitlines()
        cm = (self.dir / "all.cm").read_text(encoding="utf-8", errors="replace").splitlines()
        if len(nl) != len(cm):
            raise Nl2qError(f"all.nl has {len(nl)} lines and all.cm {len(cm)}", "the files must be line-aligned")
        out = []
        for i, (q, g) in enumerate(zip(nl, cm)):
            head = g.split()[0] if g.split() else ""
            out.append(Item(f"nl2bash:{i}", q, g, "path", {"utility": head if head.isidentifier() else "other"}))
        return out

    def schema_for(self, item: Item) -> Any:
        return {}  # the commands on this machine's PATH, no work directory

    def execution(self) -> dict[str, Any]:
        return {"mode": "none", "note": "validity only: NL2Bash has no file system to run on"}
