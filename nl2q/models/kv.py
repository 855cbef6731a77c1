"""Key/value caches for the local backend: grown in place, cut back in place, and shared prompt prefixes.

transformers' ``DynamicLayer`` concatenates on every step, copying the whole cache per token
(~40 MB a step for a 900-token prompt on the default model). :class:`GrowingLayer` writes
into a buffer that doubles when full, and backtracking only moves its length back.
:class:`PrefixStore` keeps the keys and values of recent prompts, so a repair round or
another configuration of the same question prefills only the tokens that differ.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class GrowingLayer(DynamicLayer):
    """One layer's keys and values in a buffer written in place; ``keys``/``values`` are views of the filled part."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.length = 0
        shape = (*key_states.shape[:2], max(256, 2 * key_states.shape[-2]), key_states.shape[-1])
        self._k = torch.empty(shape, dtype=key_states.dtype, device=self.device)
        self._v = torch.empty(shape, dtype=value_states.dtype, device=self.device)
        self.keys, self.values = self._k[..., :0, :], self._v[..., :0, :]
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self.write(key_states, value_states)
        return self.keys, self.values

    def write(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        n = self.length + key_states.shape[-2]
        if n > self._k.shape[-2]:
            self._grow(n)
        self._k[..., self.length:n, :] = key_states
        self._v[..., self.length:n, :] = value_states
        self._set_length(n)

    def _grow(self, needed: int) -> None:
        cap = max(needed, 2 * self._k.shape[-2])
        k = torch.empty((*self._k.shape[:2], cap, self._k.shape[-1]), dtype=self._k.dtype, device=self.device)
        v = torch.empty_like(k)
        k[..., :self.length, :] = self._k[..., :self.length, :]
        v[..., :self.length, :] = self._v[..., :self.length, :]
        self._k, self._v = k, v

    def _set_length(self, n: int) -> None:
        self.length = n
        self.keys, self.values = self._k[..., :n, :], self._v[..., :n, :]

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def crop(self, tokens_to_remove: int) -> None:
        if self.is_initialized and tokens_to_remove < 0:
            self._set_length(max(0, self.length + tokens_to_remove))

    def reset(self) -> None:
        if self.is_initialized:
            self._set_length(0)


def growing_cache(config: Any) -> DynamicCache:
    cache = DynamicCache(config=config)
    cache.layers = [GrowingLayer() for _ in cache.layers]
    return cache


def truncate(cache: DynamicCache, length: int) -> None:
    """Cut every layer back to its first ``length`` positions."""
    for layer in cache.layers:
        layer.crop(length - layer.get_seq_length())


CHUNK = 64


def chunks(start: int, end: int) -> list[tuple[int, int]]:
    """Prefill spans aligned to multiples of :data:`CHUNK`.

    A forward pass's numbers depend on its batch (int8 activation scales are taken per pass),
    so a prompt is always prefilled in the same aligned chunks: a prefix restored at a chunk
    boundary then holds exactly the values a fresh prefill would compute, and a request gives
    the same output whatever ran before it.
    """
    spans, i = [], start
    while i < end:
        j = min(end, (i // CHUNK + 1) * CHUNK)
        spans.append((i, j))
        i = j
    return spans


class PrefixStore:
    """The keys and values of the last few prompts, found by longest shared token prefix.

    Entries are copied in and out, so a request never shares buffers with another. Prefixes
    are reused up to a :data:`CHUNK` boundary, so reuse never changes an output.
    """

    def __init__(self, entries: int = 4, min_tokens: int = CHUNK, enabled: bool = True) -> None:
        self.entries = entries
        self.min_tokens = min_tokens
        self.enabled = enabled and entries > 0
        self._store: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._lock = threading.Lock()

    def restore(self, prompt: list[int], cache: DynamicCache) -> int:
        """Fill ``cache`` with the longest stored prefix of ``prompt`` (leaving one token to prefill); its length."""
        if not self.enabled:
            return 0
        with self._lock:
            best, best_len = None, 0
            for ids, layers in self._store.items():
                n = _shared(ids, prompt)
                if n > best_len:
                    best, best_len = (ids, layers), n
            if best is None:
                return 0
            self._store.move_to_end(best[0])
            n = min(best_len, len(prompt) - 1) // CHUNK * CHUNK
            if n < self.min_tokens:
                return 0
            for layer, (k, v) in zip(cache.layers, best[1]):
                if not layer.is_initialized:
                    layer.lazy_initialization(k[..., :n, :], v[..., :n, :])
                layer.write(k[..., :n, :], v[..., :n, :])
            return n

    def save(self, prompt: list[int], cache: DynamicCache) -> None:
        if not self.enabled or len(prompt) < self.min_tokens:
            return
        layers = [(layer.keys[..., :len(prompt), :].clone(), layer.values[..., :len(prompt), :].clone())
                  for layer in cache.layers]
        with self._lock:
            self._store[tuple(prompt)] = layers
            self._store.move_to_end(tuple(prompt))
            while len(self._store) > self.entries:
                self._store.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._store.clear()


def _shared(a: tuple[int, ...], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
