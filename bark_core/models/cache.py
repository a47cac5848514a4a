"""The KV cache: every layer's keys and values for one generation window, preallocated and written in place."""

from __future__ import annotations

import torch
import torch.nn as nn

from .. import constants as C
from .config import GPTConfig
from .kernels import BlockPlan


def whole_buckets(n_positions: int) -> int:
    """n_positions rounded up to a multiple of GRAPH_BUCKET (the lengths graphed decoding attends over)."""
    return -(-n_positions // C.GRAPH_BUCKET) * C.GRAPH_BUCKET


class KVCache:
    """Keys and values of every layer for up to `max_len` positions, allocated once per generation window.

    kv: (n_layer, 2, batch, n_head, max_len, head_dim), allocated on first write in the dtype the layers produce
    (fp32, or bf16 under autocast); k, v: its keys' and values' views (n_layer, batch, n_head, max_len, head_dim),
    each layer's a contiguous block. One tensor, so that a graphed step writes a layer's new key and value with one
    kernel (`graphs.static_block`). It also holds the per-generation plan of the model decoding into it (`plans`),
    so that a decoding step does not rebuild its layers' kernels.
    """

    def __init__(self, config: GPTConfig, batch: int, max_len: int, device: torch.device | str):
        # Room rounded up to whole graph buckets (see `graphs`): a graphed step's attention then always spans a
        # multiple of GRAPH_BUCKET positions, which the GPU's fused attention kernels want for their masks.
        max_len = whole_buckets(max_len)
        self.shape = (config.n_layer, batch, config.n_head, max_len, config.n_embd // config.n_head)
        self.device = device
        self.kv: torch.Tensor | None = None
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self._layers: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]] = ((), ())
        self._owner: nn.Module | None = None
        self._plans: list[BlockPlan] = []

    def plans(self, model: nn.Module) -> list[BlockPlan]:
        """The block plans of `model` (a causal `model.GPT`), built on its first call with this cache (one
        generation's models do not change)."""
        if self._owner is not model:
            self._owner, self._plans = model, [block.plan() for block in model.transformer.h]
        return self._plans

    def _set(self, kv: torch.Tensor) -> None:
        self.kv, self.k, self.v = kv, kv[:, 0], kv[:, 1]
        self._layers = (self.k.unbind(0), self.v.unbind(0))  # per-layer views: no indexing ops per write

    def reserve(self, dtype: torch.dtype) -> None:
        """Hold keys and values in `dtype` from now on (what is held is converted): a bf16 prefill writes into the
        fp32 cache its int8 decoding steps read (`GPT.prefill_plans`)."""
        if self.kv is None:
            # Zeros, not empty: a graphed step attends over masked positions too, and garbage there (NaN) would
            # survive the zero attention weight (0 * NaN).
            self._set(torch.zeros((self.shape[0], 2, *self.shape[1:]), device=self.device, dtype=dtype))
        elif self.kv.dtype != dtype:
            self._set(self.kv.to(dtype))

    def write(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, nh, T, hd) at positions start..start+T-1 (converted to the cache's dtype, which the first
        write or `reserve` sets); return keys/values of positions 0..start+T-1."""
        if self.kv is None:
            self.reserve(k.dtype)
        kl, vl = self._layers[0][layer], self._layers[1][layer]
        if k.shape[0] != kl.shape[0]:  # a prefill shared by all rows writes row 0 only
            kl, vl = kl[: k.shape[0]], vl[: k.shape[0]]
        T = k.shape[2]
        kl.narrow(2, start, T).copy_(k)
        vl.narrow(2, start, T).copy_(v)
        return kl.narrow(2, 0, start + T), vl.narrow(2, 0, start + T)

    def share_first_row(self, end: int) -> None:
        """Copy row 0's positions 0..end-1 to every row (takes that share one prefill)."""
        if self.k is not None:
            self.k[:, 1:, :, :end] = self.k[:, :1, :, :end]
            self.v[:, 1:, :, :end] = self.v[:, :1, :, :end]

    def keep(self, rows: list[int]) -> None:
        """Keep only these batch rows, in this order (takes that have finished drop out)."""
        if self.k is not None:
            index = torch.tensor(rows, device=self.k.device)
            self._set(self.kv.index_select(2, index))
        self.shape = (self.shape[0], len(rows), *self.shape[2:])

