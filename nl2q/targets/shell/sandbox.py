"""The dry run of a shell script: run it on a copy of the work directory in a sandbox and report what it changed.

The copy is bound at the original's absolute path, so paths inside it resolve as they would for
real, while the original is never opened for writing. The sandbox is bubblewrap when it works here,
else ``unshare`` with every mount made read-only. Either way the script has no network, its own
process tree, a fresh ``/tmp`` and a minimal environment, and is stopped at a deadline.

When nl2q runs as root, the sandbox runs as ``nobody`` on the host (root inside, with the few
capabilities that let root edit its own files): a mapped host root could write host sysctls
through ``/proc/sys`` or, with ``CAP_SYS_ADMIN``, remount read-only binds writable.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import Nl2qError
from ...types import DryRun, Effect

HASH_LIMIT = 4 * 1024 * 1024  # bytes; larger files are compared by size and mtime only
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb"}
CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")  # root's power over its own files, in the sandbox only
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
STDERR_TAIL = 2000  # characters of stderr quoted in ``error``
POLL_S = 0.05
NPROC = 1024  # processes and threads of host ``nobody``, which the sandbox runs as under root: a fork bomb stalls
MAX_ARG = 120_000  # bytes of script passed as one argument (the kernel's limit is 128 KiB)
SETUP_FAILED = "nl2q-sandbox: setup failed"  # the unshare prelude's message, exit status 125


@dataclass(frozen=True)
class Limits:
    """Bounds of one dry run: time, output kept, and the size of the tree copied (also the bound on what the script may write)."""

    timeout_s: float = 5.0
    max_output: int = 64_000
    max_files: int = 20_000
    max_bytes: int = 200_000_000
    network: bool = False


@dataclass(frozen=True)
class FileState:
    """One entry of a tree. ``digest`` is blake2b of the content for files up to HASH_LIMIT, else None
    (then only size and mtime tell a change). ``ino`` and ``ctime_ns`` only let a later snapshot reuse a digest."""

    kind: str  # file, dir, symlink, fifo, other
    size: int
    mode: int
    mtime_ns: int
    digest: str | None = None
    link: str | None = None
    ino: int = field(default=0, compare=False)
    ctime_ns: int = field(default=0, compare=False)

    @property
    def hashed(self) -> bool:
        return self.digest is not None


# ------------------------------------------------------------------ snapshots

def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "fifo" if stat.S_ISFIFO(mode) else "other"


def _walk(root: Path, max_files: int, max_bytes: int) -> list[tuple[str, os.stat_result]]:
    """Every entry under ``root`` (``.`` first, parents before children), not following symlinks.

    Raises when the tree is over a bound, saying how big it is (counted up to ten times the bound).
    """
    root_st = os.lstat(root)
    found: list[tuple[str, os.stat_result]] = [(".", root_st)]
    count, size = 1, 0
    stack = [""]
    over = False
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise Nl2qError(f"cannot read {root / rel}: {exc.strerror}", "make the work directory readable") from exc
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            path = f"{rel}/{entry.name}" if rel else entry.name
            count += 1
            if stat.S_ISREG(st.st_mode):
                size += st.st_size
            if not over:
                found.append((path, st))
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
            over = over or count > max_files or size > max_bytes
            if count > 10 * max_files or size > 10 * max_bytes:
                stack.clear()
                break
    if count > max_files:
        many = f"more than {10 * max_files:,}" if count > 10 * max_files else f"{count:,}"
        raise Nl2qError(f"{root} holds {many} files and directories, over the sandbox limit max_files={max_files:,}",
                        "dry-run in a smaller directory or raise Limits.max_files")
    if size > max_bytes:
        much = f"more than {10 * max_bytes:,}" if size > 10 * max_bytes else f"{size:,}"
        raise Nl2qError(f"{root} holds {much} bytes of files, over the sandbox limit max_bytes={max_bytes:,}",
                        "dry-run in a smaller directory or raise Limits.max_bytes")
    return found


def _digest(path: Path) -> str | None:
    """blake2b of a regular file's content; None when it cannot be read (compared by size and mtime then)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    h = hashlib.blake2b(digest_size=16)
    try:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return h.hexdigest()


def snapshot(root: Path, max_files: int, max_bytes: int, *,
             previous: dict[str, FileState] | None = None) -> dict[str, FileState]:
    """The state of every entry under ``root`` by relative path (``.`` is root itself).

    Files over HASH_LIMIT are not hashed: their size and mtime stand for their content. A file
    whose inode, size, mtime and ctime match ``previous`` keeps its digest unread (any write moves ctime).
    """
    root = Path(root)
    states: dict[str, FileState] = {}
    for rel, st in _walk(root, max_files, max_bytes):
        kind = _kind(st.st_mode)
        digest = link = None
        if kind == "file" and st.st_size <= HASH_LIMIT:
            old = previous.get(rel) if previous else None
            if (old is not None and old.kind == "file" and old.ino == st.st_ino and old.size == st.st_size
                    and old.mtime_ns == st.st_mtime_ns and old.ctime_ns == st.st_ctime_ns):
                digest = old.digest
            else:
                digest = _digest(root / rel)
        elif kind == "symlink":
            link = os.readlink(root / rel)
        states[rel] = FileState(kind, st.st_size if kind == "file" else 0, stat.S_IMODE(st.st_mode),
                                st.st_mtime_ns, digest, link, st.st_ino, st.st_ctime_ns)
    return states


def _shown(path: str) -> str:
    """A path as text that always encodes: bytes that are not UTF-8 become ``\\xff`` escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _gone(path: str, s: FileState) -> Effect:
    detail = {"file": f"size {s.size}", "symlink": f"-> {s.link}"}.get(s.kind, "")
    return Effect(f"{s.kind}.deleted", _shown(path), detail)


def _made(path: str, s: FileState) -> Effect:
    detail = {"file": f"size {s.size}, mode {s.mode:03o}", "dir": f"mode {s.mode:03o}",
              "symlink": f"-> {s.link}"}.get(s.kind, "")
    return Effect(f"{s.kind}.created", _shown(path), detail, s.digest or "")


def diff(before: dict[str, FileState], after: dict[str, FileState]) -> list[Effect]:
    """What changed between two snapshots, one effect per entry and kind of change, by path.

    Kinds: ``file.created|deleted|changed|touched|mode``, ``dir.created|deleted|mode``,
    ``symlink.created|deleted|changed``. A directory's mtime is not reported: its entries say what moved.
    """
    effects: list[Effect] = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if b is None:
            effects.append(_gone(path, a))  # type: ignore[arg-type]
            continue
        if a is None:
            effects.append(_made(path, b))
            continue
        if a.kind != b.kind:
            effects += [_gone(path, a), _made(path, b)]
            continue
        shown = _shown(path)
        if a.kind == "file":
            if a.hashed and b.hashed:
                if a.digest != b.digest:
                    change = f"size {a.size} -> {b.size}" if a.size != b.size else f"size {a.size}, content changed"
                    effects.append(Effect("file.changed", shown, change, b.digest or ""))
                elif a.mtime_ns != b.mtime_ns:
                    effects.append(Effect("file.touched", shown, "mtime changed, content the same"))
            elif a.size != b.size or a.mtime_ns != b.mtime_ns:
                effects.append(Effect("file.changed", shown, f"size {a.size} -> {b.size} "
                                      "(not hashed: compared by size and mtime)"))
        if a.kind == "symlink":
            if a.link != b.link:
                effects.append(Effect("symlink.changed", shown, f"target {a.link} -> {b.link}"))
        elif a.mode != b.mode:
            effects.append(Effect(f"{a.kind}.mode", shown, f"mode {a.mode:03o} -> {b.mode:03o}"))
    return effects


# ------------------------------------------------------------------ the copy

def _owner() -> tuple[int, int] | None:
    """The host uid/gid the sandbox runs as: ``nobody`` when we are root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return 65534, 65534


def _copy(src: Path, dst: Path, listing: list[tuple[str, os.stat_result]], owner: tuple[int, int] | None) -> None:
    """Copy ``listing`` of ``src`` to ``dst`` keeping symlinks, hard links, modes and mtimes; sockets and devices are left out.

    Directories get their mode and mtime last, once their entries are in.
    """
    links: dict[tuple[int, int], Path] = {}
    dirs: list[tuple[Path, os.stat_result]] = []
    for rel, st in listing:
        source, target = src / rel, dst / rel
        kind = _kind(st.st_mode)
        try:
            if kind == "dir":
                os.mkdir(target, 0o700)
                dirs.append((target, st))
            elif kind == "symlink":
                os.symlink(os.readlink(source), target)
            elif kind == "file":
                if st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                    os.link(links[(st.st_dev, st.st_ino)], target)
                    continue
                shutil.copyfile(source, target, follow_symlinks=False)
                links[(st.st_dev, st.st_ino)] = target
            elif kind == "fifo":
                os.mkfifo(target)
            else:
                continue
        except OSError as exc:
            raise Nl2qError(f"cannot copy {source} into the sandbox: {exc.strerror}",
                            "make the work directory readable") from exc
        if owner:
            os.lchown(target, *owner)
        if kind != "dir":
            if kind != "symlink":
                os.chmod(target, stat.S_IMODE(st.st_mode))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for target, st in reversed(dirs):
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _remove(path: Path) -> None:
    """Remove a tree even where the script took away write or search permission."""
    def fix(func: object, p: str, exc: object) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)


# ------------------------------------------------------------------ the sandboxes

def _find(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/bin:/usr/sbin:/bin:/sbin")


_LOCK = threading.Lock()
_PROBED: dict[tuple[str, str, bool], str | None] = {}
_BWRAP_FLAGS: dict[str, frozenset[str]] = {}


def _bwrap_flags(bwrap: str) -> frozenset[str]:
    """The options this bubblewrap knows (``--size`` and ``--disable-userns`` are recent)."""
    if bwrap not in _BWRAP_FLAGS:
        try:
            text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            text = ""
        _BWRAP_FLAGS[bwrap] = frozenset(w.strip(",") for w in text.split() if w.startswith("--"))
    return _BWRAP_FLAGS[bwrap]


def _bwrap_argv(bwrap: str, copy: Path | None, workdir: Path | None, limits: Limits,
                cwd: Path | None = None) -> list[str]:
    flags = _bwrap_flags(bwrap)
    argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0", "--die-with-parent", "--new-session"]
    if "--disable-userns" in flags:
        argv.append("--disable-userns")
    if limits.network:
        argv.append("--share-net")
    argv += ["--cap-drop", "ALL"]
    for cap in CAPS:
        argv += ["--cap-add", cap]
    argv += ["--ro-bind", "/usr", "/usr"]
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    argv += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev"]
    if limits.network:
        argv += ["--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"]
    if "--size" in flags:
        argv += ["--size", str(limits.max_bytes)]
    argv += ["--tmpfs", "/tmp"]
    if copy is not None and workdir is not None:
        argv += ["--bind", str(copy), str(workdir), "--chdir", str(cwd or workdir)]
    return argv + ["--"]


_PRELUDE = r"""
set -eu
fail() { echo "nl2q-sandbox: setup failed: $*" >&2; exit 125; }
copy=$1 workdir=$2 stage=$3 tmpsize=$4 script=$5
mount -n -t tmpfs -o "size=$tmpsize,mode=1777" nl2q-tmp "$stage" || fail "tmpfs"
mkdir "$stage/.w" "$stage/.d" || fail "mkdir"
mount -n --bind "$copy" "$stage/.w" || fail "bind the copy"
mount -n -t tmpfs -o size=64k,mode=755 nl2q-dev "$stage/.d" || fail "dev"
for n in null zero full random urandom tty; do
  if [ -e "/dev/$n" ]; then : > "$stage/.d/$n"; mount -n --bind "/dev/$n" "$stage/.d/$n" || fail "dev/$n"; fi
done
ln -s /proc/self/fd "$stage/.d/fd"
ln -s /proc/self/fd/0 "$stage/.d/stdin"; ln -s /proc/self/fd/1 "$stage/.d/stdout"; ln -s /proc/self/fd/2 "$stage/.d/stderr"
mount -n --move "$stage" /tmp || fail "move /tmp"
while read -r _ _ _ _ mp _; do
  mp=$(printf '%b' "$mp")
  case "$mp" in /tmp|/tmp/.w|/tmp/.d|/tmp/.d/*) continue;; esac
  mount -n -o remount,bind,ro "$mp" 2>/dev/null || ! mountpoint -q "$mp" 2>/dev/null || fail "cannot make $mp read-only"
done < /proc/self/mountinfo
mkdir -p "$workdir" 2>/dev/null || [ -d "$workdir" ] || fail "mkdir $workdir"
mount -n --move /tmp/.w "$workdir" || fail "move the copy"
mount -n --move /tmp/.d /dev || fail "move /dev"
rmdir /tmp/.w /tmp/.d 2>/dev/null || true
cd "$workdir"
exec setpriv --bounding-set=-all,+chown,+dac_override,+fowner --inh-caps=-all --no-new-privs \
  -- /bin/bash --noprofile --norc -c "$script"
"""


def _unshare_argv(unshare: str, limits: Limits, probe: bool = False) -> list[str]:
    argv = [unshare, "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
            "--propagation", "private"]
    if not limits.network:
        argv.insert(3, "--net")
    return argv + (["/bin/true"] if probe else ["/bin/bash", "--noprofile", "--norc", "-c", _PRELUDE, "nl2q-prelude"])


def _spawn(argv: list[str], owner: tuple[int, int] | None, **kw: object) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, as ``owner`` when given, with the minimal environment."""
    if owner:
        kw.update(user=owner[0], group=owner[1], extra_groups=[])
    kw.setdefault("env", dict(ENV))
    kw.setdefault("cwd", "/")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **kw)  # type: ignore[call-overload]


def _probe(argv: list[str]) -> bool:
    try:
        proc = _spawn(argv, _owner(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return proc.wait(timeout=10) == 0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return False
    except OSError:
        return False


def sandbox_available() -> str | None:
    """``bubblewrap`` or ``unshare``, whichever works here first (tried once per tool path), or None."""
    bwrap, unshare = _find("bwrap"), _find("unshare")
    key = (bwrap or "", unshare or "", os.geteuid() == 0)
    with _LOCK:
        if key not in _PROBED:
            found = None
            if bwrap and _probe(_bwrap_argv(bwrap, None, None, Limits()) + ["/bin/true"]):
                found = "bubblewrap"
            elif unshare and _find("setpriv") and _find("mountpoint") and _probe(_unshare_argv(unshare, Limits(), True)):
                found = "unshare"
            _PROBED[key] = found
        return _PROBED[key]


class _Capture(threading.Thread):
    """Drains one pipe so the script never blocks, keeping the first ``keep`` bytes and the last few."""

    def __init__(self, fd: int, keep: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.keep = fd, keep
        self.head, self.tail = bytearray(), bytearray()
        self.total = 0

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 65536):
                self.total += len(chunk)
                if len(self.head) < self.keep:
                    self.head += chunk[: self.keep - len(self.head)]
                self.tail = (self.tail + chunk)[-4 * STDERR_TAIL:]
        except OSError:
            pass
        finally:
            os.close(self.fd)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _compose(out: _Capture, err: _Capture, budget: int) -> tuple[str, bool]:
    """stdout, then stderr under a ``--- stderr ---`` line, within ``budget`` bytes; stderr keeps at least a quarter when both are long."""
    err_n = min(len(err.head), max(budget - min(len(out.head), budget), budget // 4))
    out_n = min(len(out.head), budget - err_n)
    parts: list[str] = []
    for cap, n in ((out, out_n), (err, err_n)):
        text = bytes(cap.head[:n]).decode("utf-8", "replace")
        if cap.total > n:
            text += ("" if not text or text.endswith("\n") else "\n") + f"[output cut: {cap.total - n:,} more bytes]\n"
        parts.append(text)
    output = parts[0]
    if err.total:
        output += ("" if not output or output.endswith("\n") else "\n") + "--- stderr ---\n" + parts[1]
    return output, out.total > out_n or err.total > err_n


def _check_workdir(workdir: Path) -> Path:
    workdir = Path(workdir).resolve()
    if not workdir.is_dir():
        raise Nl2qError(f"{workdir} is not a directory", "give the directory the script works in")
    if workdir == Path("/") or any(workdir == Path(p) or Path(p) in workdir.parents for p in ("/proc", "/sys", "/dev")):
        raise Nl2qError(f"cannot dry-run in {workdir}", "give a project directory, not / or a kernel file system")
    return workdir


def run_sandboxed(script: str, workdir: Path, limits: Limits = Limits(), *, mount_at: Path | None = None,
                  cwd: Path | None = None, in_place: bool = False, shell: str = "/bin/bash") -> DryRun:
    """Run ``script`` with bash on a copy of ``workdir`` in a sandbox and report its output and its effects on the copy.

    ``ok`` means exit status 0 within the deadline. The copy is removed whatever happens. The copy appears
    at ``mount_at`` (default: the work directory's own path) and the script starts in ``cwd`` (default:
    there); both need bubblewrap. ``in_place`` binds ``workdir`` itself, for building a fixture tree
    that scripts will later be dry-run on; nl2q never runs a person's directory in place.
    """
    started = time.perf_counter()
    engine = sandbox_available()
    if engine is None:
        raise Nl2qError("no sandbox is available", "install Debian's bubblewrap: apt-get install bubblewrap")
    if (mount_at or cwd or in_place or shell != "/bin/bash") and engine != "bubblewrap":
        raise Nl2qError("placing the work directory elsewhere, in place or under another shell needs bubblewrap",
                        "install Debian's bubblewrap: apt-get install bubblewrap")
    if len(script.encode()) > MAX_ARG:
        raise Nl2qError(f"the script is {len(script.encode()):,} bytes, over the sandbox's {MAX_ARG:,}",
                        "dry-run a shorter script")
    workdir = _check_workdir(workdir)
    listing = _walk(workdir, limits.max_files, limits.max_bytes)
    owner = _owner()
    base = Path(tempfile.mkdtemp(prefix="nl2q-sandbox-"))
    try:
        if owner:
            os.chown(base, *owner)
        if in_place:
            copy = workdir
        else:
            copy = base / "w"
            _copy(workdir, copy, listing, owner)
        before = snapshot(copy, limits.max_files, limits.max_bytes)
        if engine == "bubblewrap":
            argv = _bwrap_argv(_find("bwrap") or "bwrap", copy, Path(mount_at or workdir), limits, cwd)
            argv += [shell, "--noprofile", "--norc", "-c", script] if shell.endswith("bash") else [shell, "-c", script]
        else:
            stage = base / "stage"
            stage.mkdir()
            if owner:
                os.chown(stage, *owner)
            argv = _unshare_argv(_find("unshare") or "unshare", limits)
            argv += [str(copy), str(workdir), str(stage), str(limits.max_bytes), script]
        prlimit = _find("prlimit")
        if prlimit:
            nproc = [f"--nproc={NPROC}"] if owner else []
            argv = [prlimit, f"--fsize={limits.max_bytes}", "--core=0", *nproc, "--"] + argv
        status, stopped, out, err = _run(argv, owner, base, limits)
        if engine == "unshare" and status == 125 and SETUP_FAILED.encode() in err.tail:
            raise Nl2qError(bytes(err.tail).decode("utf-8", "replace").strip(), "install bubblewrap: apt-get install bubblewrap")
        try:
            after = snapshot(copy, 4 * limits.max_files, 4 * limits.max_bytes, previous=before)
            effects = diff(before, after)
        except Nl2qError as exc:
            effects, stopped = [], stopped or f"effects not listed: {exc.message}"
    finally:
        _remove(base)
    output, cut = _compose(out, err, limits.max_output)
    errors = [stopped] if stopped else []
    if status is not None and status != 0:
        tail = bytes(err.tail).decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        if status == 128 + signal.SIGXFSZ:
            errors.append(f"a file grew past max_bytes={limits.max_bytes:,}")
        errors.append(tail or f"exit status {status}")
    if cut:
        errors.append(f"output cut at {limits.max_output:,} bytes ({out.total:,} bytes of stdout, {err.total:,} of stderr)")
    return DryRun(ok=status == 0 and not stopped, engine=engine, mode="run", capped=cut,
                  elapsed_ms=(time.perf_counter() - started) * 1000, error="; ".join(errors) or None,
                  output=output, exit_status=status, effects=effects)


def run_here(script: str, workdir: Path, limits: Limits = Limits()) -> DryRun:
    """Run ``script`` for real in ``workdir`` (no sandbox, no copy): what a person approved. Same deadline,
    output cap and effect listing as the dry run, so the two outcomes read alike."""
    started = time.perf_counter()
    workdir = _check_workdir(workdir)
    before = snapshot(workdir, limits.max_files, limits.max_bytes)
    base = Path(tempfile.mkdtemp(prefix="nl2q-run-"))
    try:
        argv = ["/bin/bash", "--noprofile", "--norc", "-c", script]
        status, stopped, out, err = _run(argv, None, base, limits, cwd=workdir, env=dict(os.environ))
    finally:
        _remove(base)
    try:
        effects = diff(before, snapshot(workdir, 4 * limits.max_files, 4 * limits.max_bytes, previous=before))
    except Nl2qError as exc:
        effects, stopped = [], stopped or f"effects not listed: {exc.message}"
    output, cut = _compose(out, err, limits.max_output)
    errors = [stopped] if stopped else []
    if status:
        errors.append(bytes(err.tail).decode("utf-8", "replace").strip()[-STDERR_TAIL:] or f"exit status {status}")
    return DryRun(ok=status == 0 and not stopped, engine="bash", mode="real", capped=cut,
                  elapsed_ms=(time.perf_counter() - started) * 1000, error="; ".join(errors) or None,
                  output=output, exit_status=status, effects=effects)


def _run(argv: list[str], owner: tuple[int, int] | None, base: Path, limits: Limits, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> tuple[int | None, str | None, _Capture, _Capture]:
    """Run the sandbox, draining its output, and kill its process group at the deadline or when the disk
    under the copy has filled by more than ``max_bytes``. Returns (exit status or None when killed, why it was stopped, stdout, stderr)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    free = _free(base)
    try:
        proc = _spawn(argv, owner, stdout=out_w, stderr=err_w, **({"cwd": cwd} if cwd else {}),
                      **({"env": env} if env is not None else {}))
    except OSError as exc:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        raise Nl2qError(f"cannot start the sandbox: {exc}", "install bubblewrap: apt-get install bubblewrap") from exc
    os.close(out_w)
    os.close(err_w)
    out, err = _Capture(out_r, limits.max_output), _Capture(err_r, limits.max_output)
    out.start()
    err.start()
    deadline = time.monotonic() + limits.timeout_s
    stopped: str | None = None
    while True:
        try:
            proc.wait(timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                stopped = f"timed out after {limits.timeout_s:g}s"
            elif free - _free(base) > limits.max_bytes:
                stopped = f"stopped: the script wrote more than max_bytes={limits.max_bytes:,} bytes"
            if stopped:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                break
    for cap in (out, err):
        cap.join(timeout=2)
    return (None if stopped else proc.returncode), stopped, out, err
