"""Bark's three transformers: a causal GPT (text->semantic, semantic->coarse) and the non-causal fine GPT.

Parameter names follow suno's checkpoints (nanoGPT style) so their state dicts load as they are; the
transformers layout is mapped onto these names in `checkpoints.py`. Decoding uses a preallocated KV cache
written in place (`cache.KVCache`, no `torch.cat` growth) and PyTorch's fused scaled-dot-product attention. Each op
mirrors the reference's (same shapes, same order of additions) so that fp32 results are bitwise the reference's on
CPU.
"""

from __future__ import annotations

import contextlib
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import constants as C
from .cache import KVCache
from .config import FineGPTConfig, GPTConfig
from .kernels import BlockPlan, by_row, kernel, layer_norm, linear, norm_kernel


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
    attribute lookups and module calls would be a large share of a step (see `kernels.kernel`)."""
    T = x.shape[1]
    q, k, v = attention_qkv(p, x, rowwise)
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


def attention_qkv(p: BlockPlan, x: torch.Tensor, rowwise: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The block's queries, keys and values for x (B, T, C): three (B, nh, T, hd) views, with the strides the
    reference's split + transpose give."""
    q, kv = attention_q_stacked_kv(p, x, rowwise)
    k, v = kv.unbind(0)
    return q, k, v


def attention_q_stacked_kv(p: BlockPlan, x: torch.Tensor, rowwise: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """`attention_qkv` with keys and values stacked in one (2, B, nh, T, hd) view, laid out as a layer of
    `KVCache.kv` (a graphed step writes both with one copy)."""
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
    """Output projection restricted to `vocab` rows of the weight; quantized heads compute all and slice. Each logit
    is the same dot product as in the full projection, but a matrix kernel may round an entry of a product over a
    slice of rows differently (the parity tests check the slices the stages use; the semantic stage asks for all)."""
    if vocab is None:
        return linear(proj, x)
    if isinstance(proj, nn.Linear):
        return F.linear(x, proj.weight[vocab])
    return linear(proj, x)[..., vocab]
