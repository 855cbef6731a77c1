"""Kubernetes manifests: what the OpenAPI schema cannot say, what a manifest grants, and the real validators.

The schema accepts a Deployment whose selector misses its own pods, a probe on a port no container
declares, ``memory: 512mb`` and ``requests`` above ``limits``; the apiserver rejects some of these and
the rest fail at run time. :func:`semantic_checks` finds them before anything is applied.
:func:`privilege_findings` says what a manifest grants (host access, root, cluster-wide RBAC).
:func:`strict_validate` runs kubernetes-validate and refuses what it lets pass silently (kinds it has
no schema for); :func:`kubectl_dry_run` asks a real apiserver when a cluster is configured.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path as FilePath
from typing import Any

from ...check import did_you_mean, suggestion
from ...types import Diagnostic, DryRun

Path = tuple[str | int, ...]
Locate = Callable[[Path], dict[str, int] | None]


# --- where a finding is --------------------------------------------------------------------------------

def render_path(path: Path) -> str:
    """``spec.template.spec.containers[0].image``: the way kubectl and the apiserver name a field."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def at(code: str, message: str, path: Path, locate: Locate | None = None, *, severity: str = "error",
       hint: str = "", stage: str = "check") -> Diagnostic:
    """A diagnostic placed on ``path``, or on its nearest located ancestor (a missing key has no span)."""
    spans = (locate(path[:n]) for n in range(len(path), -1, -1)) if locate else iter(())
    where = next((s for s in spans if s), None) or {}
    return Diagnostic(code, message, severity, line=where.get("line"), col=where.get("col"),  # type: ignore[arg-type]
                      start=where.get("start"), end=where.get("end"), hint=hint, stage=stage)


def get(data: Any, path: Path) -> Any:
    """The value at ``path``, or None when any step is missing or of the wrong type."""
    for part in path:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and -len(data) <= part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
        if data is None:
            return None
    return data


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- pods inside workloads -----------------------------------------------------------------------------

# where each workload keeps the spec that holds ``selector`` and ``template``
_CONTROLLERS: dict[str, Path] = {
    "Deployment": ("spec",), "StatefulSet": ("spec",), "DaemonSet": ("spec",), "ReplicaSet": ("spec",),
    "Job": ("spec",), "CronJob": ("spec", "jobTemplate", "spec"),
}
# kinds whose apiserver validation rejects an empty selector (a Job's is generated when absent)
_SELECTOR_REQUIRED = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_HANDLERS = ("httpGet", "tcpSocket", "grpc")


@dataclass(frozen=True)
class PodRef:
    """Where one manifest keeps its pod: the PodSpec, the pod's labels, and the selector meant to match them."""

    spec: Path
    labels: Path
    selector: Path | None


def pod_of(data: Any) -> PodRef | None:
    """The pod a manifest runs, or None for kinds that run none (Service, ConfigMap, a custom resource)."""
    kind = _map(data).get("kind")
    if kind == "Pod":
        return PodRef(("spec",), ("metadata", "labels"), None)
    base = _CONTROLLERS.get(kind)  # type: ignore[arg-type]
    if base is None:
        return None
    return PodRef(base + ("template", "spec"), base + ("template", "metadata", "labels"), base + ("selector",))


def containers(data: Any, pod: PodRef) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every container of the pod, init and ephemeral ones included, with its path."""
    for key in _CONTAINER_LISTS:
        for i, c in enumerate(_items(get(data, pod.spec + (key,)))):
            if isinstance(c, dict):
                yield pod.spec + (key, i), c


# --- label selectors -----------------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[dict[str, str], str, list[str]], bool]] = {
    "In": lambda labels, key, values: key in labels and labels[key] in values,
    "NotIn": lambda labels, key, values: key not in labels or labels[key] not in values,
    "Exists": lambda labels, key, values: key in labels,
    "DoesNotExist": lambda labels, key, values: key not in labels,
}


def selector_misses(selector: dict[str, Any], labels: dict[str, Any]) -> list[str]:
    """The terms of a LabelSelector that ``labels`` fails, written as ``app=web`` or ``tier In (a, b)``."""
    labels = {str(k): str(v) for k, v in labels.items()}
    misses = [f"{k}={v}" for k, v in _map(selector.get("matchLabels")).items() if labels.get(str(k)) != str(v)]
    for expr in map(_map, _items(selector.get("matchExpressions"))):
        key, op, values = str(expr.get("key")), str(expr.get("operator")), [str(v) for v in _items(expr.get("values"))]
        test = _OPERATORS.get(op)
        if test is not None and not test(labels, key, values):
            misses.append(f"{key} {op}" + (f" ({', '.join(values)})" if values else ""))
    return misses


def _selector(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    if pod.selector is None:
        return
    selector, kind = get(data, pod.selector), data.get("kind")
    if not isinstance(selector, dict):
        return
    labels = _map(get(data, pod.labels))
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        if kind in _SELECTOR_REQUIRED:
            yield at("kubernetes.selector", f"{render_path(pod.selector)} is empty: the apiserver rejects an empty "
                     f"selector for a {kind}", pod.selector, locate,
                     hint=f"Select the template's labels, e.g. matchLabels: {_labels_text(labels) or '{app: NAME}'}.")
        return
    misses = selector_misses(selector, labels)
    if misses:
        have = _labels_text(labels) or "no labels"
        yield at("kubernetes.selector", f"selector does not match template labels: {render_path(pod.selector)} "
                 f"requires {', '.join(misses)} but {render_path(pod.labels)} has {have}; the apiserver rejects it",
                 pod.selector, locate, hint="Make the selector's labels equal to the template's labels "
                 "(the selector must pick the pods the controller creates).")


def _labels_text(labels: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in labels.items()) + "}" if labels else ""


# --- containers, ports, probes -------------------------------------------------------------------------

def _service_name(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    if data.get("kind") == "StatefulSet" and not get(data, ("spec", "serviceName")):
        yield at("kubernetes.statefulset_service", "StatefulSet has no spec.serviceName: its pods get no stable "
                 "network identity (pod-0.<service> DNS names)", ("spec",), locate, severity="warning",
                 hint="Set spec.serviceName to a headless Service (clusterIP: None) that selects these pods.")


def _container_names(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    seen: dict[str, Path] = {}
    for path, c in containers(data, pod):
        name = c.get("name")
        if not isinstance(name, str):
            continue
        if name in seen:
            yield at("kubernetes.duplicate_container", f"container name '{name}' at {render_path(path)} is already "
                     f"used at {render_path(seen[name])}: names must be unique in a pod, init containers included",
                     path + ("name",), locate, hint=f"Rename one, e.g. '{name}-2'.")
        else:
            seen[name] = path


def _repeats(entries: list[tuple[int, dict[str, Any]]], key: Callable[[dict[str, Any]], Any]) -> Iterator[tuple[int, int]]:
    """``(index, index of the first)`` for each entry whose key an earlier entry has; a None key never repeats."""
    first: dict[Any, int] = {}
    for i, entry in entries:
        k = key(entry)
        if k is not None and k in first:
            yield i, first[k]
        elif k is not None:
            first[k] = i


def _port_number(port: dict[str, Any]) -> tuple[int, str] | None:
    number = port.get("containerPort")
    return (number, str(port.get("protocol") or "TCP")) if isinstance(number, int) else None


def _port_name(port: dict[str, Any]) -> str | None:
    return port["name"] if isinstance(port.get("name"), str) else None


def _ports(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    for path, c in containers(data, pod):
        ports = [(i, p) for i, p in enumerate(_items(c.get("ports"))) if isinstance(p, dict)]
        for i, first in _repeats(ports, _port_number):
            number, protocol = _port_number(c["ports"][i])  # type: ignore[misc]
            here = path + ("ports", i, "containerPort")
            yield at("kubernetes.duplicate_port", f"containerPort {number}/{protocol} at {render_path(here)} repeats "
                     f"{render_path(path + ('ports', first))}", here, locate, severity="warning",
                     hint="Remove the repeated entry (the apiserver warns; Services see one port).")
        for i, first in _repeats(ports, _port_name):
            here = path + ("ports", i, "name")
            yield at("kubernetes.duplicate_port", f"port name '{c['ports'][i]['name']}' at {render_path(here)} is "
                     f"already used by {render_path(path + ('ports', first))}: the apiserver rejects it", here, locate,
                     hint="Give each port of a container its own name.")


def _probes(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    for path, c in containers(data, pod):
        declared = [p for p in _items(c.get("ports")) if isinstance(p, dict)]
        names = [p["name"] for p in declared if isinstance(p.get("name"), str)]
        numbers = [p.get("containerPort") for p in declared]
        for probe in _PROBES:
            for handler in _PROBE_HANDLERS:
                where = path + (probe, handler, "port")
                port = get(c, (probe, handler, "port"))
                if isinstance(port, str) and port not in names:
                    yield at("kubernetes.probe_port", f"{render_path(where)} names port '{port}', which "
                             f"container '{c.get('name')}' does not declare: the probe can never succeed",
                             where, locate, hint=suggestion(port, names, "port name") or
                             f"Declare it under {render_path(path + ('ports',))} with name: {port}, or probe a number.")
                elif isinstance(port, int) and numbers and port not in numbers:
                    yield at("kubernetes.probe_port", f"{render_path(where)} probes port {port}, which container "
                             f"'{c.get('name')}' does not declare (it declares {', '.join(map(str, numbers))})",
                             where, locate, severity="warning",
                             hint="Probe a declared containerPort, or declare the port the process listens on.")


# --- resource quantities -------------------------------------------------------------------------------

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?")
# what people write instead of a Kubernetes suffix, lower-cased, and the suffix they meant
_LIKELY_SUFFIX = {
    **{f"{p}{tail}": f"{p.upper()}i" for p in "kmgtpe" for tail in ("b", "ib", "i")},
    "g": "Gi", "t": "Ti", "b": "", "bytes": "", "core": "", "cores": "", "cpu": "", "cpus": "",
    "millicores": "m", "millicore": "m", "mc": "m", "k": "Ki",  # a capital K: the k suffix is lower-case
}


def parse_quantity(value: Any) -> Fraction:
    """A Kubernetes quantity (``500m``, ``1Gi``, ``1e3``, ``0.5``) as an exact number; ValueError if malformed.

    The grammar is the apiserver's (``k8s.io/apimachinery/pkg/api/resource``): a signed decimal, then a
    binary suffix (Ki..Ei), a decimal one (n u m k M G T P E) or a decimal exponent (``e3``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a quantity")
    m = _QUANTITY.fullmatch(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a quantity")
    sign, number, exponent, suffix = m.groups()
    amount = Fraction(number if not number.endswith(".") else number[:-1]) * (-1 if sign == "-" else 1)
    if exponent is not None:
        return amount * Fraction(10) ** int(exponent)
    suffix = suffix or ""
    return amount * (1024 ** _BINARY[suffix] if suffix in _BINARY else Fraction(10) ** _DECIMAL[suffix])


def quantity_fix(value: Any) -> str | None:
    """The quantity someone most likely meant by a malformed one (``512mb`` -> ``512Mi``), or None."""
    m = re.fullmatch(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _LIKELY_SUFFIX:
        return None
    return m.group(1) + _LIKELY_SUFFIX[m.group(2).lower()]


def _resources(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    for path, c in containers(data, pod):
        written = {side: _map(get(c, ("resources", side))) for side in ("requests", "limits")}
        parsed: dict[str, dict[str, Fraction]] = {side: {} for side in written}
        for side, values in written.items():
            for name, value in values.items():
                try:
                    parsed[side][name] = parse_quantity(value)
                except ValueError:
                    yield _bad_quantity(value, path + ("resources", side, name), locate)
        for name, request in parsed["requests"].items():
            limit = written["limits"].get(name)
            if name in parsed["limits"] and request > parsed["limits"][name]:
                where = path + ("resources", "requests", name)
                yield at("kubernetes.requests_over_limits", f"{render_path(where)} = {written['requests'][name]} is "
                         f"more than its limit {limit}: the apiserver rejects it", where, locate,
                         hint=f"Lower the request to at most {limit} or raise the limit.")


def _bad_quantity(value: Any, where: Path, locate: Locate | None) -> Diagnostic:
    fix = quantity_fix(value)
    hint = (f"Write {fix!r}. " if fix else "") + ("Quantities are a number with an optional suffix: binary Ki Mi Gi "
                                                 "Ti Pi Ei, decimal k M G T P E, m for milli (cpu: 500m), or e3.")
    return at("kubernetes.quantity", f"{render_path(where)} = {value!r} is not a Kubernetes quantity", where, locate,
              hint=hint)


# --- images --------------------------------------------------------------------------------------------

def image_tag(image: str) -> str | None:
    """The tag of an image reference; ``"@"`` when it is pinned by digest. A registry port is not a tag."""
    if "@" in image:
        return "@"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _images(data: dict[str, Any], pod: PodRef, locate: Locate | None) -> Iterator[Diagnostic]:
    for path, c in containers(data, pod):
        image = c.get("image")
        if not isinstance(image, str) or image_tag(image) not in (None, "latest"):
            continue
        said = "has no tag, so it means :latest" if image_tag(image) is None else "is tagged :latest"
        yield at("kubernetes.image_latest", f"{render_path(path + ('image',))} '{image}' {said}: what runs changes "
                 "whenever the tag moves, and rollbacks cannot return to it", path + ("image",), locate,
                 severity="warning", hint="Pin a version tag (e.g. nginx:1.27.2) or a digest (@sha256:...).")


_CHECKS: tuple[Callable[[dict[str, Any], PodRef, Locate | None], Iterable[Diagnostic]], ...] = (
    _selector, _service_name, _container_names, _ports, _probes, _resources, _images)


def semantic_checks(data: Any, locate: Locate | None = None) -> list[Diagnostic]:
    """What the schema cannot say about one manifest: selectors, names, ports, probes, quantities, images."""
    pod = pod_of(data)
    if pod is None:
        return []
    return [d for check in _CHECKS for d in check(data, pod, locate)]


def cross_checks(docs: list[Any], locate_for: Callable[[int], Locate | None]) -> list[Diagnostic]:
    """Across the documents of one file: a Service whose selector matches no pod the file defines.

    Only a file that defines some workload is checked: a Service alone may select pods defined elsewhere.
    """
    pods = [(_namespace(d), _map(get(d, ref.labels))) for d in docs if (ref := pod_of(d))]
    if not pods:
        return []
    found: list[Diagnostic] = []
    for i, doc in enumerate(docs):
        selector = _map(get(doc, ("spec", "selector")))
        if _map(doc).get("kind") != "Service" or not selector:
            continue
        namespace = _namespace(doc)
        if not any(_same_namespace(namespace, ns) and not selector_misses({"matchLabels": selector}, labels)
                   for ns, labels in pods):
            found.append(at("kubernetes.service_selector", f"Service '{get(doc, ('metadata', 'name'))}' selects "
                            f"{_labels_text(selector)}, which no pod template in this file carries: it gets no endpoints",
                            ("spec", "selector"), locate_for(i), severity="warning",
                            hint="Use the labels of the workload's spec.template.metadata.labels."))
    return found


def _namespace(doc: Any) -> str | None:
    return get(doc, ("metadata", "namespace"))


def _same_namespace(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


# --- privilege -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    """A setting that gives a workload or subject more power: what it grants and how to do without it."""

    grants: str
    drop: str


# securityContext fields (pod or container level) and the value that grants something
_SECURITY_CONTEXT: tuple[tuple[str, Any, Grant], ...] = (
    ("privileged", True, Grant("every device and kernel capability of the node, as root on the host",
                               "Set privileged: false and add only the capabilities it needs.")),
    ("allowPrivilegeEscalation", True, Grant("processes gaining more privileges than their parent (setuid binaries)",
                                            "Set allowPrivilegeEscalation: false.")),
    ("runAsUser", 0, Grant("running as root (UID 0) inside the container", "Run as a non-root UID, e.g. runAsUser: 1000.")),
    ("runAsNonRoot", False, Grant("running as root if the image's user is root", "Set runAsNonRoot: true.")),
)
_HOST_NAMESPACES: dict[str, Grant] = {
    "hostNetwork": Grant("the node's network: every host interface, its traffic and any host port",
                         "Remove hostNetwork and publish ports through a Service."),
    "hostPID": Grant("every process on the node: seeing, signalling and ptracing them", "Remove hostPID."),
    "hostIPC": Grant("the node's IPC namespace: host processes' shared memory", "Remove hostIPC."),
}
CAPABILITIES: dict[str, str] = {
    "ALL": "every Linux capability",
    "SYS_ADMIN": "mounts, namespaces and most of root's powers over the host kernel",
    "NET_ADMIN": "reconfiguring network interfaces, routes and firewall rules",
    "SYS_PTRACE": "tracing and reading the memory of other processes",
    "SYS_MODULE": "loading kernel modules",
    "SYS_RAWIO": "raw access to device memory and I/O ports",
    "SYS_BOOT": "rebooting the host",
    "SYS_TIME": "setting the host clock",
    "DAC_READ_SEARCH": "reading any file regardless of permissions",
    "DAC_OVERRIDE": "reading and writing any file regardless of permissions",
    "NET_RAW": "crafting raw packets (spoofing, sniffing)",
    "BPF": "loading BPF programs into the kernel",
    "PERFMON": "observing the whole system through perf events",
    "SETUID": "switching to any user, root included",
    "MKNOD": "creating device files",
}
# host paths whose mount gives away the host; any other host path still reads and writes the node's disk
SENSITIVE_PATHS: dict[str, str] = {
    "/": "the host's whole filesystem",
    "/var/run/docker.sock": "the container runtime's API, which is root on the host",
    "/run/docker.sock": "the container runtime's API, which is root on the host",
    "/run/containerd/containerd.sock": "the container runtime's API, which is root on the host",
    "/etc": "the host's configuration, /etc/shadow and sudoers included",
    "/root": "root's home directory (keys, credentials)",
    "/proc": "every process's memory maps and environment",
    "/sys": "kernel tunables and devices",
    "/dev": "every device of the host",
    "/var/lib/kubelet": "the kubelet's state, other pods' secrets included",
    "/var/lib/docker": "every container's filesystem",
}
ALLOW_HINT = "If it is intended, allow it explicitly with Policy(allow_privilege=True)."


def privilege(message: str, path: Path, locate: Locate | None, grant: Grant, refuse: bool) -> Diagnostic:
    """One ``policy.privileged`` finding: a warning, or an error under a policy that refuses privilege."""
    return at("policy.privileged", f"{message}: grants {grant.grants}", path, locate,
              severity="error" if refuse else "warning",
              hint=f"{grant.drop} {ALLOW_HINT}" if refuse else grant.drop, stage="policy")


def capability_name(cap: Any) -> str:
    return str(cap).upper().removeprefix("CAP_")


def host_path_grant(path: str) -> Grant:
    grants = SENSITIVE_PATHS.get(os.path.normpath(path) if path else path,
                                 f"reading and writing the node's files under {path}")
    return Grant(grants, "Use a volume (emptyDir, a PersistentVolumeClaim, a ConfigMap) instead of the host's files.")


def _security_context(context: Any, path: Path, locate: Locate | None, refuse: bool) -> Iterator[Diagnostic]:
    context = _map(context)
    for key, value, grant in _SECURITY_CONTEXT:
        if key in context and type(context[key]) is type(value) and context[key] == value:
            yield privilege(f"{render_path(path + (key,))}: {json.dumps(value)}", path + (key,), locate, grant, refuse)
    for i, cap in enumerate(_items(get(context, ("capabilities", "add")))):
        name = capability_name(cap)
        if name in CAPABILITIES:
            where = path + ("capabilities", "add", i)
            yield privilege(f"{render_path(where)} adds {name}", where, locate,
                            Grant(CAPABILITIES[name], f"Drop {name} from capabilities.add."), refuse)


def _pod_privilege(data: Any, pod: PodRef, locate: Locate | None, refuse: bool) -> Iterator[Diagnostic]:
    spec = _map(get(data, pod.spec))
    for key, grant in _HOST_NAMESPACES.items():
        if spec.get(key) is True:
            yield privilege(f"{render_path(pod.spec + (key,))}: true", pod.spec + (key,), locate, grant, refuse)
    yield from _security_context(spec.get("securityContext"), pod.spec + ("securityContext",), locate, refuse)
    for i, volume in enumerate(_items(spec.get("volumes"))):
        host = get(volume, ("hostPath", "path"))
        if isinstance(host, str):
            where = pod.spec + ("volumes", i, "hostPath", "path")
            yield privilege(f"volume '{volume.get('name')}' mounts host path {host}", where, locate,
                            host_path_grant(host), refuse)
    for path, c in containers(data, pod):
        yield from _security_context(c.get("securityContext"), path + ("securityContext",), locate, refuse)
        for j, port in enumerate(_items(c.get("ports"))):
            if isinstance(port, dict) and port.get("hostPort"):
                where = path + ("ports", j, "hostPort")
                yield privilege(f"{render_path(where)}: {port['hostPort']}", where, locate,
                                Grant(f"port {port['hostPort']} on the node's own address",
                                      "Remove hostPort and expose the port through a Service."), refuse)


_RBAC_WILDCARDS: dict[str, Grant] = {
    "verbs": Grant("every verb, delete, escalate and impersonate included", "List the verbs it needs."),
    "resources": Grant("every resource of the listed API groups, secrets included", "List the resources it needs."),
    "apiGroups": Grant("every API group, including ones CRDs add later", "List the API groups it needs."),
}
_RBAC_VERBS: dict[str, Grant] = {
    "escalate": Grant("creating roles with permissions the subject does not hold", "Remove the escalate verb."),
    "bind": Grant("binding any role, cluster-admin included, to anyone", "Remove the bind verb."),
    "impersonate": Grant("acting as any user, group or service account", "Remove the impersonate verb."),
}
_READ_VERBS = {"get", "list", "watch", "*"}


def _rules_privilege(data: Any, locate: Locate | None, refuse: bool) -> Iterator[Diagnostic]:
    scope = "every namespace" if data.get("kind") == "ClusterRole" else "its namespace"
    for i, rule in enumerate(_items(data.get("rules"))):
        rule, here = _map(rule), ("rules", i)
        for field, grant in _RBAC_WILDCARDS.items():
            if "*" in _items(rule.get(field)):
                yield privilege(f"{render_path(here + (field,))} has '*'", here + (field,), locate, grant, refuse)
        for j, verb in enumerate(_items(rule.get("verbs"))):
            if verb in _RBAC_VERBS:
                yield privilege(f"{render_path(here + ('verbs', j))} is '{verb}'", here + ("verbs", j), locate,
                                _RBAC_VERBS[verb], refuse)
        reads = sorted(_READ_VERBS & set(map(str, _items(rule.get("verbs")))))
        if "secrets" in _items(rule.get("resources")) and reads:
            yield privilege(f"{render_path(here)} lets it {'/'.join(reads)} secrets", here + ("resources",), locate,
                            Grant(f"reading Secrets (tokens, passwords, keys) in {scope}",
                                  "Drop secrets from resources, or narrow it with resourceNames."), refuse)


def _binding_privilege(data: Any, locate: Locate | None, refuse: bool) -> Iterator[Diagnostic]:
    if get(data, ("roleRef", "name")) != "cluster-admin":
        return
    subjects = ", ".join(f"{s.get('kind')} {s.get('name')}" for s in _items(data.get("subjects")) if isinstance(s, dict))
    scope = "the whole cluster" if data.get("kind") == "ClusterRoleBinding" else "its namespace"
    yield privilege(f"{data.get('kind')} binds {subjects or 'its subjects'} to cluster-admin", ("roleRef", "name"),
                    locate, Grant(f"full control of {scope}", "Bind a Role that lists only the permissions needed."),
                    refuse)


_RBAC: dict[str, Callable[[Any, Locate | None, bool], Iterator[Diagnostic]]] = {
    "Role": _rules_privilege, "ClusterRole": _rules_privilege,
    "RoleBinding": _binding_privilege, "ClusterRoleBinding": _binding_privilege,
}


def privilege_findings(data: Any, locate: Locate | None = None, *, refuse: bool) -> list[Diagnostic]:
    """What a manifest grants beyond an ordinary pod or role, one finding per setting (code ``policy.privileged``).

    Warnings by default; errors when ``refuse`` (a strict policy), each with how to drop it or allow it.
    """
    rbac = _RBAC.get(_map(data).get("kind"))  # type: ignore[arg-type]
    if rbac is not None:
        return list(rbac(data, locate, refuse))
    pod = pod_of(data)
    return list(_pod_privilege(data, pod, locate, refuse)) if pod else []


# --- kubernetes-validate -------------------------------------------------------------------------------

def _schema_root() -> FilePath:
    import kubernetes_validate

    return FilePath(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def supported_versions() -> list[str]:
    """The Kubernetes versions kubernetes-validate has schemas for, e.g. ``["1.25.0", ..., "1.37.0"]``."""
    from kubernetes_validate.utils import all_versions

    return list(dict.fromkeys(all_versions()))  # one entry per version, though each has a plain and a strict folder


class UnsupportedVersion(ValueError):
    """kubernetes-validate has no schemas for this Kubernetes version."""


def resolve_version(version: str) -> str:
    """The schema version kubernetes-validate uses for ``version``: the newest one not newer than it."""
    from packaging.version import InvalidVersion, Version

    known = supported_versions()
    try:
        wanted = Version(".".join(version.removeprefix("v").split(".")[:2]))
    except InvalidVersion:
        wanted = None
    fits = [v for v in known if wanted is not None and Version(".".join(v.split(".")[:2])) <= wanted]
    if not fits or wanted > Version(".".join(known[-1].split(".")[:2])):  # type: ignore[operator]
        raise UnsupportedVersion(f"kubernetes-validate has no schemas for Kubernetes {version}; it supports "
                                 f"{', '.join(_minor(v) for v in known)}")
    return fits[-1]


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


_GROUP = re.compile(r"^([^./]*)(?:[.][^/]*)?/")  # rbac.authorization.k8s.io/v1 -> rbac-v1, as kubernetes-validate does


def schema_file(kind: str, api_version: str) -> str:
    """The file kubernetes-validate looks for: ``deployment-apps-v1.json`` for Deployment in apps/v1."""
    return kind.lower() + "-" + _GROUP.sub(r"\1-", api_version) + ".json"


@functools.lru_cache(maxsize=None)
def _kinds(resolved: str) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for path in sorted((_schema_root() / f"v{resolved}-local-strict").glob("*.json")):
        props = _map(json.loads(path.read_text()).get("properties"))
        for kind in _items(get(props, ("kind", "enum"))):
            for api in _items(get(props, ("apiVersion", "enum"))):
                if schema_file(kind, api) == path.name:  # the lookup validate() makes must land on this file
                    found.setdefault(kind, []).append(api)
    return {kind: tuple(apis) for kind, apis in found.items()}


def kinds(version: str) -> dict[str, list[str]]:
    """Kind -> the apiVersions kubernetes-validate can check it in, for a Kubernetes version (cached)."""
    return {kind: list(apis) for kind, apis in _kinds(resolve_version(version)).items()}


def strict_validate(data: Any, version: str, locate: Locate | None = None) -> list[Diagnostic]:
    """kubernetes-validate in strict mode (unknown fields rejected), as diagnostics of stage ``execute``.

    A kind it has no schema for is an error here, where its CLI only warns: otherwise a custom resource
    or a retired apiVersion passes unchecked.
    """
    import kubernetes_validate as kv

    try:
        resolved = resolve_version(version)
    except UnsupportedVersion as e:
        return [Diagnostic("kubernetes.version", str(e), hint="Pass one of the supported versions.", stage="execute")]
    missing = [k for k in ("apiVersion", "kind") if not isinstance(_map(data).get(k), str)]
    if missing:
        return [at("kubernetes.invalid", f"the manifest has no {' or '.join(missing)}", (), locate, stage="execute",
                   hint="Every manifest starts with apiVersion and kind, e.g. apiVersion: apps/v1, kind: Deployment.")]
    try:
        kv.validate(data, resolved, strict=True)
    except kv.ValidationError as e:
        return [_invalid(e, locate)]
    except kv.SchemaNotFoundError:
        return [_no_schema(data, resolved, locate)]
    return []


def _invalid(e: Any, locate: Locate | None) -> Diagnostic:
    path = tuple(e.absolute_path)
    hint, path = _INVALID_HINTS.get(e.validator, _no_hint)(e, path)
    return at("kubernetes.invalid", f"{render_path(path) or 'the manifest'}: {e.message}", path, locate,
              hint=hint, stage="execute")


def _unknown_field(e: Any, path: Path) -> tuple[str, Path]:
    known = list(_map(e.schema.get("properties")))
    extra = [k for k in _map(e.instance) if k not in known]
    if not extra:
        return "", path
    close = did_you_mean(extra[0], known)
    hint = f"Did you mean '{close[0]}'?" if close else f"Fields here: {', '.join(known)}."
    return hint, path + (extra[0],)


def _enum(e: Any, path: Path) -> tuple[str, Path]:
    return suggestion(str(e.instance), map(str, e.validator_value), "value"), path


def _no_hint(e: Any, path: Path) -> tuple[str, Path]:
    return "", path


_INVALID_HINTS: dict[str, Callable[[Any, Path], tuple[str, Path]]] = {
    "additionalProperties": _unknown_field, "enum": _enum,
}


def _no_schema(data: dict[str, Any], resolved: str, locate: Locate | None) -> Diagnostic:
    kind, api, minor, table = data["kind"], data["apiVersion"], _minor(resolved), _kinds(resolved)
    if kind in table:
        apis = list(table[kind])
        close = did_you_mean(api, apis)
        use = close[0] if close else apis[-1] if len(apis) == 1 else " or ".join(apis)
        return at("kubernetes.no_schema", f"Kubernetes {minor} does not serve {kind} as apiVersion {api}: "
                  f"nothing checks it and the apiserver will reject it", ("apiVersion",), locate, stage="execute",
                  hint=f"{kind} is served as {', '.join(apis)} in Kubernetes {minor}: use apiVersion: {use}.")
    close = did_you_mean(kind, list(table))
    if close:
        return at("kubernetes.no_schema", f"{kind} is not a kind of Kubernetes {minor}", ("kind",), locate,
                  stage="execute", hint=f"Did you mean kind: {close[0]} (apiVersion: {table[close[0]][-1]})?")
    return at("kubernetes.no_schema", f"{kind} ({api}) is not a built-in kind of Kubernetes {minor}, so no schema "
              "checks it", ("kind",), locate, stage="execute",
              hint="If it is a custom resource, validate it against its CRD's openAPIV3Schema (pass that schema "
                   "to the JSON Schema target); otherwise fix the kind.")


# --- running real tools --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ran:
    """A finished (or killed) command: exit status None means it was killed at the timeout."""

    status: int | None
    out: str
    err: str
    elapsed_ms: float


def run_bounded(argv: list[str], stdin: str, timeout: float, env: dict[str, str] | None = None) -> Ran:
    """Run ``argv`` in its own process group, killing the whole group at ``timeout`` so nothing hangs."""
    began = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        status: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status = None
    return Ran(status, out, err, (time.monotonic() - began) * 1000)


# kubectl's failures to reach a cluster, said plainly; the raw message follows
_KUBECTL_FAILURES = (
    ("connection refused", "nothing is listening at the cluster's address"),
    ("no such host", "the cluster's host name does not resolve"),
    ("i/o timeout", "the cluster did not answer in time"),
    ("deadline exceeded", "the cluster did not answer in time"),
    ("Timeout exceeded", "the cluster did not answer in time"),
    ("certificate", "the cluster's TLS certificate was not accepted"),
    ("Unauthorized", "the kubeconfig's credentials were rejected"),
    ("forbidden", "the kubeconfig's user may not do this"),
    ("context was not found", "that context is not in the kubeconfig"),
    ("does not exist", "the kubeconfig or its context does not exist"),
)


def kubectl_dry_run(text: str, *, kubeconfig: str | None = None, context: str | None = None,
                    timeout: float = 10.0) -> DryRun | None:
    """``kubectl apply --dry-run=server``: the apiserver's own validation and admission, nothing persisted.

    None when no cluster is configured (no ``kubeconfig`` and no ``KUBECONFIG``).
    """
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG")
    if not kubeconfig:
        return None
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return DryRun(ok=False, engine="kubectl", mode="skipped", plan="kubectl is not installed",
                      error="kubectl is not installed")
    argv = [kubectl, "apply", "--dry-run=server", "-f", "-", "-o", "yaml", "--kubeconfig", kubeconfig,
            f"--request-timeout={max(1, int(timeout))}s"] + (["--context", context] if context else [])
    ran = run_bounded(argv, text, timeout)
    if ran.status is None:
        return DryRun(ok=False, engine="kubectl", mode="run", elapsed_ms=ran.elapsed_ms,
                      error=f"kubectl did not finish within {timeout:g}s: the cluster did not answer in time")
    if ran.status != 0:
        return DryRun(ok=False, engine="kubectl", mode="run", elapsed_ms=ran.elapsed_ms, output=ran.out or None,
                      exit_status=ran.status, error=_kubectl_error(ran.err))
    return DryRun(ok=True, engine="kubectl", mode="run", output=ran.out, exit_status=0, elapsed_ms=ran.elapsed_ms)


def _kubectl_error(stderr: str) -> str:
    raw = stderr.strip() or "kubectl failed without a message"
    plain = next((why for needle, why in _KUBECTL_FAILURES if needle in raw), None)
    return f"{plain}: {raw}" if plain else raw
