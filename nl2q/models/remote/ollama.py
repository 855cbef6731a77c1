"""Ollama's OpenAI-compatible chat: JSON Schema only (``response_format``), no grammar.

A target with a Lark grammar decodes unconstrained here and is checked and repaired;
the result says the output was not constrained.
"""

from __future__ import annotations

from . import ChatServer


class OllamaServer(ChatServer):
    provider = "ollama"
    default_base_url = "http://127.0.0.1:11434/v1"
    key_envs = ("NL2Q_API_KEY",)
