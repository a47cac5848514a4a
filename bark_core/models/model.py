"""Bark's three transformers: a causal GPT (text->semantic, semantic->coarse) and the non-causal fine GPT.

Parameter names follow suno's checkpoints (nanoGPT style) so their state dicts load as they are; the
transformers layout is mapped onto these names in `checkpoints.py`. Decoding uses a preallocated KV cache
written in place (no `torch.cat` growth) and PyTorch's fused scaled-dot-product attention. Each op mirrors the
reference's (same shapes, same order of additions) so that fp32 results are bitwise the reference's on CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # eager-mode dynamic quantization (fast mode on CPU); without it, exact and bf16 modes still work
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear
except ImportError:  # pragma: no cover - a torch build without torch.ao
    QuantizedLinear = None

from .. import constants as C
from .config import FineGPTConfig, GPTConfig


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

    def plans(self, model: GPT) -> list[BlockPlan]:
        """`model`'s block plans, built on its first call with this cache (one generation's models do not change)."""
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


def by_row(fn, rowwise: bool, *xs: torch.Tensor) -> torch.Tensor:
    """fn(*xs) for tensors with a batch axis first; with `rowwise`, one batch row at a time.

    Why: a GEMM over B rows sums each dot product in a different order than the single-row product (GEMV) a lone
    generation runs, and the attention kernel splits its work by batch size, so rows computed together would
    differ from a lone generation in the last bits and could, rarely, sample another token. Row by row, batched
    takes are bitwise equal to single generations (exact mode).
    """
    if rowwise and xs[0].shape[0] > 1:
        return torch.cat([fn(*(x[r : r + 1] for x in xs)) for r in range(xs[0].shape[0])])
    return fn(*xs)


Kernel = Callable[[torch.Tensor], torch.Tensor]


def kernel(layer: nn.Module) -> Kernel:
    """A function computing layer(x) for a Linear or a dynamically quantized int8 Linear by calling its kernel
    directly (any other module: the module itself).

    Why: a decoding step makes ~50 of these calls and ~100 more small ones, and going through nn.Module's call
    machinery (and the quantized module's Python checks) was ~20 % of a fast-mode step on a 2-core CPU. The kernel
    and its arguments are exactly those of `layer.forward`, so results are bitwise the same (parity tests).
    """
    if type(layer) is nn.Linear:
        weight, bias = layer.weight, layer.bias
        return lambda x: F.linear(x, weight, bias)
    if type(layer) is QuantizedLinear and layer.version >= 4 and layer._packed_params.dtype == torch.qint8:
        packed, op = layer._packed_params._packed_params, torch.ops.quantized.linear_dynamic
        return lambda x: op(x, packed, True)  # reduce_range=True, as the module passes it
    return layer


def linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """layer(x) through `kernel`."""
    return kernel(layer)(x)


def norm_kernel(ln: nn.LayerNorm) -> Kernel:
    """ln(x) without the module call (see `kernel`)."""
    shape, weight, bias, eps = ln.normalized_shape, ln.weight, ln.bias, ln.eps
    return lambda x: F.layer_norm(x, shape, weight, bias, eps)


def layer_norm(ln: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """ln(x) through `norm_kernel`."""
    return norm_kernel(ln)(x)


class SelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, causal: bool):
        super().__init__()
        self.n_head, self.n_embd, self.causal = config.n_head, config.n_embd, causal
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)


class BlockPlan(NamedTuple):
    """One block's kernels (see `kernel`), gathered once per generation: what `run_block` runs."""

    ln_1: Kernel
    attn_in: Kernel
    attn_out: Kernel
    ln_2: Kernel
    mlp_in: Kernel
    mlp_out: Kernel
    n_head: int
    causal: bool


class Block(nn.Module):
    def __init__(self, config: GPTConfig, causal: bool):
        super().__init__()
        # The fine model's LayerNorms always carry a bias, even in checkpoints whose Linears have none.
        ln_bias = config.bias if causal else True
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=ln_bias)
        self.attn = SelfAttention(config, causal)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=ln_bias)
        self.mlp = MLP(config)

    def plan(self) -> BlockPlan:
        """This block's kernels as its modules are now (after any quantization or device move)."""
        return BlockPlan(norm_kernel(self.ln_1), kernel(self.attn.c_attn), kernel(self.attn.c_proj),
                         norm_kernel(self.ln_2), kernel(self.mlp.c_fc), kernel(self.mlp.c_proj), self.attn.n_head,
                         self.attn.causal)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, start: int = 0,
                rowwise: bool = False) -> torch.Tensor:
        return run_block(self.plan(), x, cache, layer, start, rowwise)


def run_block(p: BlockPlan, x: torch.Tensor, cache: KVCache | None, layer: int, start: int,
              rowwise: bool) -> torch.Tensor:
    """One transformer block on x (B, T, C) at positions start..start+T-1 -> (B, T, C), the reference's ops in
    the reference's order. A plain function over a prebuilt plan: a decoding step runs it once per layer, and
    attribute lookups and module calls were a measurable part of a step (see `kernel`)."""
    T = x.shape[1]
    q, k, v = block_qkv(p, x, rowwise)
    if cache is not None:
        cached_k, cached_v = cache.write(layer, start, k, v)
        if start > 0:
            if T != 1:
                raise ValueError("cached decoding takes one token at a time after the prefill")
            # The new query attends to every cached position, itself included: no mask needed. (The prefill
            # attends over the fresh k, v, exactly as the reference does.)
            k, v = cached_k, cached_v
    causal = p.causal and start == 0 and T > 1
    y = by_row(partial(F.scaled_dot_product_attention, is_causal=causal), rowwise, q, k, v)
    return block_output(p, x, y, rowwise)


def block_qkv(p: BlockPlan, x: torch.Tensor, rowwise: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The block's queries, keys and values for x (B, T, C): three (B, nh, T, hd) views, with the strides the
    reference's split + transpose give."""
    q, kv = block_q_kv(p, x, rowwise)
    k, v = kv.unbind(0)
    return q, k, v


def block_q_kv(p: BlockPlan, x: torch.Tensor, rowwise: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """`block_qkv` with keys and values as one (2, B, nh, T, hd) view, laid out as a layer of `KVCache.kv`."""
    B, T, _ = x.shape
    qkv = by_row(p.attn_in, rowwise, p.ln_1(x)).view(B, T, 3, p.n_head, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1:]


def block_output(p: BlockPlan, x: torch.Tensor, y: torch.Tensor, rowwise: bool) -> torch.Tensor:
    """The rest of the block after attention: x (B, T, C) + projected attention output y (B, nh, T, hd), then
    the MLP's residual -> (B, T, C)."""
    B, T, Cw = x.shape
    x = x + by_row(p.attn_out, rowwise, y.transpose(1, 2).contiguous().view(B, T, Cw))
    return x + by_row(p.mlp_out, rowwise, F.gelu(by_row(p.mlp_in, rowwise, p.ln_2(x))))


class GPT(nn.Module):
    """Causal Bark model. Call with token ids or precomputed embeddings; returns last-position logits."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.input_vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                h=nn.ModuleList([Block(config, causal=True) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.output_vocab_size, bias=False)
        # Prefills (T > 1) through other kernels than decoding: bf16 copies of the layers under bf16 autocast, for
        # int8 decoding on CPUs with bf16 matrix units (`loading.bf16_prefill_plans`); None: the model's own layers.
        self.prefill_plans: list[BlockPlan] | None = None

    def merged_context_embeddings(self, idx: torch.Tensor) -> torch.Tensor:
        """Text model input: embeddings of text and semantic history are summed position by position.

        idx: (B, 256 + 256 + n) ids -> (B, 256 + n, n_embd).
        """
        w, h = C.TEXT_WINDOW, C.SEMANTIC_HISTORY_WINDOW
        wte = self.transformer.wte
        return torch.cat([wte(idx[:, :w]) + wte(idx[:, w : w + h]), wte(idx[:, w + h :])], dim=1)

    def forward(
        self,
        idx: torch.Tensor | None = None,
        *,
        embeds: torch.Tensor | None = None,
        cache: KVCache | None = None,
        start: int = 0,
        all_logits: bool = False,
        vocab: slice | None = None,
        rowwise: bool = False,
    ) -> torch.Tensor:
        """idx (B, T) or embeds (B, T, n_embd) at positions start..start+T-1.

        Returns logits (B, V) of the last position, or (B, T, V) with all_logits=True (teacher forcing).
        vocab: compute only these output entries (the coarse stage samples 1024 of 12_096: ~10x less head work).
        rowwise: matrix products one batch row at a time, so each row is bitwise what it would be alone.
        """
        x = self.transformer.wte(idx) if embeds is None else embeds
        T = x.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} positions exceeds the model's {self.config.block_size}")
        x = x + self.transformer.wpe.weight[start : start + T]  # the rows an embedding lookup of start.. returns
        bf16_prefill = self.prefill_plans is not None and T > 1
        if bf16_prefill:
            plans, precision = self.prefill_plans, torch.autocast(x.device.type, dtype=torch.bfloat16)
            if cache is not None:
                cache.reserve(x.dtype)  # the dtype the decoding steps write and read
        else:
            plans = [b.plan() for b in self.transformer.h] if cache is None else cache.plans(self)
            precision = contextlib.nullcontext()
        with precision:
            for i, plan in enumerate(plans):
                x = run_block(plan, x, cache, i, start, rowwise)
        x = layer_norm(self.transformer.ln_f, x)
        return by_row(lambda x: head(self.lm_head, x, vocab), rowwise, x if all_logits else x[:, -1, :])


class FineGPT(nn.Module):
    """Non-causal Bark model predicting codebook `pred_idx` from codebooks 0..pred_idx of a 1024-frame window."""

    def __init__(self, config: FineGPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wtes=nn.ModuleList(
                    [nn.Embedding(config.input_vocab_size, config.n_embd) for _ in range(config.n_codes_total)]
                ),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                h=nn.ModuleList([Block(config, causal=False) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd),
            )
        )
        n_heads = config.n_codes_total - config.n_codes_given
        self.lm_heads = nn.ModuleList(
            [nn.Linear(config.n_embd, config.output_vocab_size, bias=False) for _ in range(n_heads)]
        )
        self.tie_weights()

    def tie_weights(self) -> None:
        # Head i predicts codebook i + n_given and shares its weight with that codebook's input embedding.
        for i, head in enumerate(self.lm_heads):
            head.weight = self.transformer.wtes[i + self.config.n_codes_given].weight

    def forward(self, pred_idx: int, idx: torch.Tensor, rows: slice | None = None,
                vocab: slice | None = None) -> torch.Tensor:
        """idx (B, T, n_codes_total) codes -> logits (B, T, output_vocab_size) for codebook pred_idx.

        rows / vocab: compute the head only for these positions / output entries (the rest is never sampled).
        """
        if not self.config.n_codes_given <= pred_idx < self.config.n_codes_total:
            raise ValueError(f"pred_idx must be in [{self.config.n_codes_given}, {self.config.n_codes_total})")
        T = idx.shape[1]
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        # Same op order as the reference: embed every codebook, then sum those up to pred_idx.
        embs = torch.cat([wte(idx[:, :, i]).unsqueeze(-1) for i, wte in enumerate(self.transformer.wtes)], dim=-1)
        x = embs[:, :, :, : pred_idx + 1].sum(dim=-1) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = run_block(block.plan(), x, None, 0, 0, False)
        x = layer_norm(self.transformer.ln_f, x if rows is None else x[:, rows])
        return head(self.lm_heads[pred_idx - self.config.n_codes_given], x, vocab)


def head(proj: nn.Module, x: torch.Tensor, vocab: slice | None) -> torch.Tensor:
    """Output projection restricted to `vocab` rows of the weight. Each logit is the same dot product as in the
    full projection (bitwise, checked by the parity tests); quantized heads compute all and slice."""
    if vocab is None:
        return linear(proj, x)
    if isinstance(proj, nn.Linear):
        return F.linear(x, proj.weight[vocab])
    return linear(proj, x)[..., vocab]
