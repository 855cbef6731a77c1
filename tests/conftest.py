from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _fixture_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def ops_inventory():
    return _fixture_module("ops_inventory")


@pytest.fixture(scope="session")
def kg():
    """The ops knowledge-graph generator, fixtures/ops_kg.py."""
    return _fixture_module("ops_kg")


@pytest.fixture(scope="session")
def ops_kg(tmp_path_factory, kg) -> Path:
    """The fixture knowledge graph as a Ladybug database (what ``make demo`` writes to fixtures/ops_kg)."""
    return kg.write_ladybug(tmp_path_factory.mktemp("kg") / "ops_kg")


@pytest.fixture(scope="session")
def ops_duckdb(tmp_path_factory, ops_inventory) -> Path:
    return ops_inventory.write_duckdb(tmp_path_factory.mktemp("ops") / "ops.duckdb")


@pytest.fixture(scope="session")
def ops_sqlite(tmp_path_factory, ops_inventory) -> Path:
    return ops_inventory.write_sqlite(tmp_path_factory.mktemp("ops") / "ops.sqlite")


@pytest.fixture(scope="session")
def default_model():
    from nl2q.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def tiny_model(default_model):
    """Random weights, the real tokenizer, and an EOS bias so constrained outputs finish."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from nl2q.models.local import TransformersModel

    tok = default_model.tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    head = torch.nn.Linear(32, len(tok), bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tok.eos_token_id] = 6.0
    model.lm_head = head
    return TransformersModel("tiny-random", name="tiny-random", model=model, tokenizer=tok)
