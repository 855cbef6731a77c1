"""A lean forward pass for Llama-architecture models, for decoding on CPU.

On a CPU a small model's decode step is bound by reading its weights and by per-module
Python overhead, not by arithmetic: transformers' modules spend more time dispatching than
multiplying (~20 ms a step for the default 135M model). This pass does the same arithmetic
with fused projections (q/k/v in one matmul, gate/up in one) and no per-module dispatch,
computes the vocabulary projection only for the last position, and writes keys and values
into the caller's :class:`~nl2q.models.kv.GrowingLayer` cache.

``exact`` keeps the checkpoint's float weights (the same logits as transformers' up to float
rounding, tested); ``int8`` quantises the fused projections with dynamic activation scales.
Models it does not cover (biases, other attention or MLP shapes) keep transformers' forward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

SUPPORTED = frozenset({"llama"})


def supports(model: Any) -> bool:
    c = model.config
    return (getattr(c, "model_type", "") in SUPPORTED and not getattr(c, "attention_bias", False)
            and not getattr(c, "mlp_bias", False) and getattr(c, "hidden_act", "silu") == "silu"
            and getattr(c, "pretraining_tp", 1) == 1)


class FastLlama:
    """``__call__(ids, cache, start)`` -> logits of the last position, like the model's forward with ``logits_to_keep=1``."""

    def __init__(self, model: Any, weights: str = "exact") -> None:
        c = model.config
        inner = model.model
        self.config = c
        self.heads = c.num_attention_heads
        self.kv_heads = c.num_key_value_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.eps = c.rms_norm_eps
        self.embed = inner.embed_tokens.weight.detach()
        self.rotary = inner.rotary_emb
        self.norm = inner.norm.weight.detach()
        self.layers = []
        q_out = self.heads * self.head_dim
        kv_out = self.kv_heads * self.head_dim
        self.splits = (q_out, kv_out, kv_out)
        self.inter = c.intermediate_size
        for layer in inner.layers:
            a, m = layer.self_attn, layer.mlp
            qkv = _linear(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).detach(), weights)
            o = _linear(a.o_proj.weight.detach(), weights)
            gate_up = _linear(torch.cat([m.gate_proj.weight, m.up_proj.weight]).detach(), weights)
            down = _linear(m.down_proj.weight.detach(), weights)
            self.layers.append((layer.input_layernorm.weight.detach(), qkv, o,
                                layer.post_attention_layernorm.weight.detach(), gate_up, down))
        head = model.get_output_embeddings()
        self.lm_head = _linear(head.weight.detach(), weights, head.bias.detach() if head.bias is not None else None)
        self._cos: torch.Tensor | None = None
        self._sin: torch.Tensor | None = None

    def _rope(self, start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        end = start + n
        if self._cos is None or self._cos.shape[0] < end:
            size = max(end, 2 * (self._cos.shape[0] if self._cos is not None else 1024))
            cos, sin = self.rotary(self.embed[:1], torch.arange(size)[None])
            self._cos, self._sin = cos[0], sin[0]
        assert self._sin is not None
        return self._cos[start:end], self._sin[start:end]

    def __call__(self, ids: list[int], cache: Any, start: int) -> torch.Tensor:
        n = len(ids)
        h = self.embed[torch.tensor(ids)]  # [n, d]
        cos, sin = self._rope(start, n)
        cos, sin = cos[None], sin[None]  # [1, n, hd]
        total = start + n
        mask = None
        if n > 1:
            mask = torch.arange(total)[None, :] <= (start + torch.arange(n))[:, None]
        hd = self.head_dim
        for (in_norm, qkv, o, post_norm, gate_up, down), layer in zip(self.layers, cache.layers):
            x = _rms(h, in_norm, self.eps)
            q, k, v = qkv(x).split(self.splits, dim=-1)
            q = q.view(n, self.heads, hd).transpose(0, 1)
            k = k.view(n, self.kv_heads, hd).transpose(0, 1)
            v = v.view(n, self.kv_heads, hd).transpose(0, 1)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            if not layer.is_initialized:
                layer.lazy_initialization(k[None], v[None])
            layer.write(k[None], v[None])
            att = F.scaled_dot_product_attention(q[None], layer.keys, layer.values, attn_mask=mask, enable_gqa=True)
            h = h + o(att[0].transpose(0, 1).reshape(n, self.heads * hd))
            x = _rms(h, post_norm, self.eps)
            g, u = gate_up(x).split((self.inter, self.inter), dim=-1)
            h = h + down(F.silu(g) * u)
        return self.lm_head(_rms(h[-1:], self.norm, self.eps))[0]


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _linear(weight: torch.Tensor, weights: str, bias: torch.Tensor | None = None) -> Any:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    layer.weight = nn.Parameter(weight.float(), requires_grad=False)
    if bias is not None:
        layer.bias = nn.Parameter(bias.float(), requires_grad=False)
    if weights != "int8":
        return layer
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.nn.quantized.dynamic import Linear as QLinear

        layer.qconfig = torch.ao.quantization.default_dynamic_qconfig
        return QLinear.from_float(layer)
