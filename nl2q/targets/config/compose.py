"""Docker compose files: what the compose-spec schema cannot say, what a service grants, and ``docker compose config``.

The schema accepts ``depends_on`` a service that does not exist, a named volume never declared, two
services publishing the same host port and ``restart: sometimes``; compose refuses the first two when
it loads the file and the third when the second container starts. :func:`semantic_checks` finds them first.
"""

from __future__ import annotations

import functools
import posixpath
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...check import did_you_mean, suggestion
from ...types import Diagnostic, DryRun
from .kubernetes import CAPABILITIES, SENSITIVE_PATHS, Grant, Locate, Path, at, capability_name, privilege, \
    render_path, run_bounded

RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
_PROTOCOLS = ("tcp", "udp", "sctp")
_WILDCARD_IPS = {"", "0.0.0.0", "::"}
PORT_SYNTAX = "[HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|udp|sctp], e.g. '8080:80' or '127.0.0.1:8080:80/udp'"


def _services(data: Any) -> dict[str, dict[str, Any]]:
    services = data.get("services") if isinstance(data, dict) else None
    return {k: v for k, v in services.items() if isinstance(v, dict)} if isinstance(services, dict) else {}


def _declared(data: Any, section: str) -> list[str]:
    value = data.get(section) if isinstance(data, dict) else None
    return list(value) if isinstance(value, dict) else []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _named(value: Any) -> list[tuple[str | int, str]]:
    """``(key, name)`` pairs of a list-or-map field (``depends_on``, ``networks``): index or key, then name."""
    if isinstance(value, list):
        return [(i, str(v)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return [(str(k), str(k)) for k in value]
    return []


# --- references between services, volumes and networks --------------------------------------------------

def _depends_on(data: Any, locate: Locate | None) -> Iterator[Diagnostic]:
    services = _services(data)
    for name, svc in services.items():
        for key, target in _named(svc.get("depends_on")):
            if target not in services:
                where = ("services", name, "depends_on", key)
                yield at("compose.depends_on", f"{render_path(where)}: service '{name}' depends on '{target}', which "
                         "is not a service in this file", where, locate,
                         hint=suggestion(target, services, "service") or "Define that service or drop the dependency.")
        mode = svc.get("network_mode")
        if isinstance(mode, str) and mode.startswith("service:") and mode[8:] not in services:
            where = ("services", name, "network_mode")
            yield at("compose.depends_on", f"{render_path(where)}: '{mode}' names no service in this file", where,
                     locate, hint=suggestion(mode[8:], services, "service"))


def volume_source(entry: Any) -> tuple[str, str, bool] | None:
    """``(type, source, read_only)`` of a service volume, short or long form; None for an anonymous volume."""
    if isinstance(entry, dict):
        source = entry.get("source")
        return (str(entry.get("type", "volume")), str(source), bool(entry.get("read_only"))) if source else None
    parts = str(entry).split(":")
    if len(parts) < 2:
        return None
    source, mode = parts[0], parts[2] if len(parts) > 2 else ""
    bind = source.startswith(("/", ".", "~", "$")) or "/" in source
    return ("bind" if bind else "volume", source, "ro" in mode.split(","))


def _references(data: Any, locate: Locate | None) -> Iterator[Diagnostic]:
    volumes, networks = _declared(data, "volumes"), _declared(data, "networks")
    for name, svc in _services(data).items():
        for i, entry in enumerate(_list(svc.get("volumes"))):
            found = volume_source(entry)
            if found and found[0] == "volume" and found[1] not in volumes:
                where = ("services", name, "volumes", i)
                yield at("compose.volume", f"{render_path(where)}: named volume '{found[1]}' is not declared under "
                         "the top-level volumes", where, locate,
                         hint=_or_declare(suggestion(found[1], volumes, "volume"), "volumes", found[1])
                         + " A bind mount needs a path (./dir).")
        for key, network in _named(svc.get("networks")):
            if network != "default" and network not in networks:
                where = ("services", name, "networks", key)
                yield at("compose.network", f"{render_path(where)}: network '{network}' is not declared under the "
                         "top-level networks", where, locate,
                         hint=_or_declare(suggestion(network, networks, "network"), "networks", network))


def _or_declare(suggested: str, section: str, name: str) -> str:
    return f"{suggested} To add it, declare it at the top level: {section}: {{{name}: {{}}}}.".lstrip()


# --- ports -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Binding:
    """One published port: host address and port range (empty when the host port is random), container range."""

    host_ip: str
    host: tuple[int, int] | None
    container: tuple[int, int]
    protocol: str


_IP = re.compile(r"(\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def _range(text: str) -> tuple[int, int]:
    m = _RANGE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a port or a range of ports")
    low, high = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"'{text}' is outside 1-65535 or runs backwards")
    return low, high


def parse_port(entry: Any) -> Binding:
    """A ``ports`` entry, short (``"127.0.0.1:8080:80/udp"``) or long (``{target: 80, published: 8080}``)."""
    if isinstance(entry, dict):
        return _long_port(entry)
    text, _, protocol = str(entry).partition("/")
    ip = ""
    m = _IP.match(text)
    if m:
        ip, text = m.group(1).strip("[]"), text[m.end():]
    parts = text.split(":")
    if len(parts) > 2:
        raise ValueError(f"'{entry}' has too many ':'")
    host = _range(parts[0]) if len(parts) == 2 and parts[0] else None
    return _binding(ip, host, _range(parts[-1]), protocol or "tcp")


def _long_port(entry: dict[str, Any]) -> Binding:
    if "target" not in entry:
        raise ValueError("the long form needs target (the container port)")
    published = entry.get("published")
    host = _range(str(published)) if published not in (None, "") else None
    return _binding(str(entry.get("host_ip") or ""), host, _range(str(entry["target"])), str(entry.get("protocol") or "tcp"))


def _binding(ip: str, host: tuple[int, int] | None, container: tuple[int, int], protocol: str) -> Binding:
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol '{protocol}' is not one of {', '.join(_PROTOCOLS)}")
    widths = (host[1] - host[0], container[1] - container[0]) if host else (0, 0)
    if widths[1] and widths[0] != widths[1]:
        raise ValueError("the host and container ranges differ in length")
    return Binding(ip, host, container, protocol)


def fixed_host_ports(binding: Binding) -> range:
    """The host ports a binding surely takes: none when random or when compose picks one from a range."""
    if binding.host is None or (binding.host[0] != binding.host[1] and binding.container[0] == binding.container[1]):
        return range(0)
    return range(binding.host[0], binding.host[1] + 1)


def _overlap(a: str, b: str) -> bool:
    return a == b or a in _WILDCARD_IPS or b in _WILDCARD_IPS


def _ports(data: Any, locate: Locate | None) -> Iterator[Diagnostic]:
    taken: list[tuple[str, str, int, str, Path]] = []  # (ip, protocol, port, service, path)
    for name, svc in _services(data).items():
        for i, entry in enumerate(_list(svc.get("ports"))):
            where = ("services", name, "ports", i)
            try:
                binding = parse_port(entry)
            except ValueError as e:
                yield at("compose.port", f"{render_path(where)}: {entry!r} is not a port mapping: {e}", where, locate,
                         hint=f"Write {PORT_SYNTAX}.")
                continue
            for port in fixed_host_ports(binding):
                clash = next((t for t in taken if t[1] == binding.protocol and t[2] == port
                              and _overlap(t[0], binding.host_ip)), None)
                if clash:
                    yield _clash(port, binding, clash, name, where, locate)
                    break
            taken += [(binding.host_ip, binding.protocol, p, name, where) for p in fixed_host_ports(binding)]


def _clash(port: int, binding: Binding, first: tuple[str, str, int, str, Path], name: str, where: Path,
           locate: Locate | None) -> Diagnostic:
    owner = "it" if first[3] == name else f"service '{first[3]}'"
    return at("compose.port_clash", f"{render_path(where)}: host port {port}/{binding.protocol} is already published "
              f"by {owner} at {render_path(first[4])}: the second container fails with 'port is already allocated'",
              where, locate, hint=f"Publish another host port (e.g. '{port + 1}:{binding.container[0]}') or drop one "
              "of the mappings.")


# --- restart -----------------------------------------------------------------------------------------------

def _restart(data: Any, locate: Locate | None) -> Iterator[Diagnostic]:
    for name, svc in _services(data).items():
        if "restart" not in svc:
            continue
        value = "no" if svc["restart"] is False else str(svc["restart"])  # YAML 1.1 reads a bare no as false
        if value in RESTART_POLICIES or re.fullmatch(r"on-failure:\d+", value):
            continue
        where = ("services", name, "restart")
        close = did_you_mean(value.split(":")[0], RESTART_POLICIES)
        yield at("compose.restart", f"{render_path(where)}: '{value}' is not a restart policy", where, locate,
                 hint=(f"Did you mean '{close[0]}'? " if close else "")
                 + "Policies: no, always, on-failure[:max-retries], unless-stopped.")


_CHECKS: tuple[Callable[[Any, Locate | None], Iterator[Diagnostic]], ...] = (_depends_on, _references, _ports, _restart)


def semantic_checks(data: Any, locate: Locate | None = None) -> list[Diagnostic]:
    """What the compose-spec schema cannot say: references that resolve, ports that parse and do not clash,
    restart policies that exist."""
    return [d for check in _CHECKS for d in check(data, locate)]


# --- privilege ---------------------------------------------------------------------------------------------

_SERVICE_FLAGS: tuple[tuple[str, Any, Grant], ...] = (
    ("privileged", True, Grant("every device and kernel capability of the host, as root on it",
                               "Remove privileged: true and add only the capabilities it needs (cap_add).")),
    ("network_mode", "host", Grant("the host's network: every interface, its traffic and any port",
                                   "Remove network_mode: host and publish ports instead.")),
    ("pid", "host", Grant("every process on the host: seeing, signalling and ptracing them", "Remove pid: host.")),
    ("ipc", "host", Grant("the host's IPC namespace: host processes' shared memory", "Remove ipc: host.")),
    ("userns_mode", "host", Grant("the host's user namespace: root in the container is root on the host",
                                  "Remove userns_mode: host.")),
)


def _service_privilege(name: str, svc: dict[str, Any], locate: Locate | None, refuse: bool) -> Iterator[Diagnostic]:
    base: Path = ("services", name)
    for key, value, grant in _SERVICE_FLAGS:
        if svc.get(key) == value and type(svc.get(key)) is type(value):
            said = value if isinstance(value, str) else str(value).lower()
            yield privilege(f"{render_path(base + (key,))}: {said}",
                            base + (key,), locate, grant, refuse)
    for i, cap in enumerate(_list(svc.get("cap_add"))):
        cap_name = capability_name(cap)
        if cap_name in CAPABILITIES:
            yield privilege(f"{render_path(base + ('cap_add', i))} adds {cap_name}", base + ("cap_add", i), locate,
                            Grant(CAPABILITIES[cap_name], f"Drop {cap_name} from cap_add."), refuse)
    for i, entry in enumerate(_list(svc.get("volumes"))):
        found = volume_source(entry)
        source = posixpath.normpath(found[1]) if found and found[0] == "bind" else None
        if source in SENSITIVE_PATHS:
            mode = " read-only" if found[2] else ""  # type: ignore[index]
            yield privilege(f"{render_path(base + ('volumes', i))} bind-mounts the host's {source}{mode}",
                            base + ("volumes", i), locate,
                            Grant(SENSITIVE_PATHS[source], "Mount a named volume or a project directory instead."), refuse)


def privilege_findings(data: Any, locate: Locate | None = None, *, refuse: bool) -> list[Diagnostic]:
    """What each service grants beyond an ordinary container (code ``policy.privileged``): warnings, or errors
    when ``refuse`` (a strict policy), each with how to drop it or allow it."""
    return [d for name, svc in _services(data).items() for d in _service_privilege(name, svc, locate, refuse)]


# --- docker compose config ---------------------------------------------------------------------------------

@functools.cache
def _compose_cli() -> str | None:
    """The docker binary when its compose plugin answers, probed once (it is absent on many machines)."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        ran = run_bounded([docker, "compose", "version"], "", 10.0)
    except OSError:
        return None
    return docker if ran.status == 0 else None


def compose_config(text: str, timeout: float = 10.0) -> DryRun | None:
    """``docker compose config -q``: compose's own loader (interpolation, merging, its schema) on the text.

    None when the docker compose plugin is not installed.
    """
    docker = _compose_cli()
    if docker is None:
        return None
    ran = run_bounded([docker, "compose", "--project-name", "nl2q-check", "-f", "-", "config", "-q"], text, timeout)
    if ran.status is None:
        return DryRun(ok=False, engine="docker compose", mode="run", elapsed_ms=ran.elapsed_ms,
                      error=f"docker compose config did not finish within {timeout:g}s")
    return DryRun(ok=ran.status == 0, engine="docker compose", mode="run", elapsed_ms=ran.elapsed_ms,
                  exit_status=ran.status, output=ran.out or None,
                  error=(ran.err.strip() or "docker compose config failed") if ran.status else None)
