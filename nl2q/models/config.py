"""Named models a team configures once: ``models.toml`` (``$NL2Q_MODELS``, else ``~/.config/nl2q/models.toml``).

::

    [models.gpu]
    model = "vllm:Qwen/Qwen2.5-Coder-7B-Instruct@http://gpu-01:8000/v1"
    key_env = "GPU_API_KEY"        # where the key is; never the key itself
    timeout = 300
    repetition_penalty = 1.05

``--model gpu`` then loads it. Keys stay in the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError

SAMPLING = ("temperature", "top_p", "repetition_penalty")
OPTIONS = ("key_env", "timeout", "max_retries", "grammar_syntax")


@dataclass(frozen=True)
class Configured:
    name: str
    spec: str
    settings: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        """Keyword arguments for the provider's ``from_spec``."""
        from . import Sampling

        options = {k: v for k, v in self.settings.items() if k in OPTIONS}
        sampling = {k: v for k, v in self.settings.items() if k in SAMPLING}
        if sampling:
            options["defaults"] = Sampling(**sampling)
        return options


def config_path() -> Path:
    return Path(os.environ.get("NL2Q_MODELS", Path.home() / ".config" / "nl2q" / "models.toml"))


def configured() -> dict[str, Configured]:
    """The models named in the config file; none when it does not exist."""
    path = config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ModelError(f"cannot read {path}: {e}", "fix the file, or point NL2Q_MODELS elsewhere") from None
    out: dict[str, Configured] = {}
    for name, entry in (data.get("models") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise ModelError(f"{path}: [models.{name}] needs model = \"PROVIDER:NAME@URL\"",
                             'e.g. model = "llamacpp:@http://127.0.0.1:8080/v1"')
        unknown = set(entry) - {"model", *OPTIONS, *SAMPLING}
        if unknown:
            raise ModelError(f"{path}: [models.{name}] has unknown keys {sorted(unknown)}",
                             f"known: model, {', '.join(OPTIONS + SAMPLING)}")
        out[name] = Configured(name, entry["model"], {k: v for k, v in entry.items() if k != "model"})
    return out


MODEL_HELP = ("smollm2-135m[@int8|@exact] (the default), a transformers directory, PROVIDER:MODEL@URL with PROVIDER "
              "one of vllm, sglang, llamacpp, ollama, openai, openai-responses, or a name from models.toml "
              "(see `nl2q models`)")


def catalogue(check: bool = False) -> list[tuple[str, str, str]]:
    """(what to pass as --model, kind, status) for each model usable here; ``check`` asks configured servers."""
    from . import DEFAULT_MODEL, PROVIDERS
    from .gguf import cache_dir, default_gguf
    from .llama_server import find_binary

    rows: list[tuple[str, str, str]] = []
    try:
        gguf = default_gguf()
        status = "installed" + (", converted" if (cache_dir() / "models" / "SmolLM2-135M-Instruct").is_dir() else "")
    except ModelError as e:
        gguf, status = None, f"not installed: {e.hint}"
    rows += [(f"{DEFAULT_MODEL}@int8", "local (default)", status), (f"{DEFAULT_MODEL}@exact", "local", status)]
    models = cache_dir() / "models"
    for d in sorted(models.iterdir()) if models.is_dir() else ():
        if (d / "config.json").is_file():
            rows.append((str(d), "local, cached", "transformers directory"))
    binary = find_binary()
    if gguf is not None:
        rows.append(("llamacpp:@http://127.0.0.1:8080/v1", "llama.cpp server",
                     f"serve it: python -m nl2q.models.llama_server serve ({binary})" if binary
                     else "not built: make llama-server"))
    for entry in configured().values():
        rows.append((entry.name, f"configured: {entry.spec}", _probe(entry) if check else f"in {config_path()}"))
    rows += [(f"{p}:MODEL@URL", "provider", "") for p in PROVIDERS if p != "local"]
    return rows


def _probe(entry: Configured) -> str:
    """Whether the server answers ``GET {base}/models`` within 5 s, and what it serves."""
    import httpx

    from . import PROVIDERS

    provider, _, rest = entry.spec.partition(":")
    if provider not in PROVIDERS or provider == "local":
        return "local"
    model = PROVIDERS[provider](rest, **entry.options())
    try:
        r = model._http.get("models", timeout=5)  # type: ignore[attr-defined]  # the server's own client: URL, key
    except httpx.HTTPError as e:
        return f"unreachable: {e}"
    if r.status_code in (401, 403):
        return f"refused the credentials (HTTP {r.status_code}): set {model.endpoint.key_env}"  # type: ignore[attr-defined]
    if r.status_code >= 400:
        return f"HTTP {r.status_code}"
    served = [m.get("id", "?") for m in (r.json().get("data") or [])][:5]
    return "answers" + (f", serving {', '.join(served)}" if served else "")
