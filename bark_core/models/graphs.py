"""Decoding steps as CUDA graphs: one static-shape step per (batch, cache length bucket), captured once and
replayed for every token.

Why: one decoding step of Bark is a dozen small kernels per layer, each a few microseconds of GPU work, and
launching them one by one from Python costs more than running them. A CUDA graph
launches the whole step at once. A graph replays fixed shapes and fixed memory, so the step reads everything that
changes from static buffers (the new tokens, their position) and attends over a fixed length of the cache with a
mask: the cached positions rounded up to a bucket of `GRAPH_BUCKET`, one graph per bucket, so that early steps do
not read the whole cache. The prefill (one call per window) stays eager and writes the same cache.

Modes: "off" (eager model calls: CPU, and exact mode everywhere it must equal the reference), "cuda" (the graphs;
what "auto" picks on a CUDA device), "static" (the same static-shape step run eagerly, on any device: what the
tests check on CPU, since only the capture itself needs a GPU), "compile" (the static step compiled by
torch.compile, then captured as graphs on CUDA, run as it is elsewhere).

Why "compile": a replayed step is still those small kernels, so the graph is bound by their count rather than by
reading the weights. Inductor fuses the elementwise ones (layer norms, casts, GELU, residual adds) into the matrix
products' neighbours. It compiles once per model and batch size (the cache length is a dynamic dimension), on the
first generation, which is slow: so it is opt-in. The compiled step attends over the whole cache (masked), not
over buckets: one shape per generation window, so one compilation and one graph.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import torch
import torch.nn.functional as F

from .cache import KVCache, whole_buckets
from .kernels import BlockPlan, layer_norm
from .model import GPT, attention_q_stacked_kv, block_output, head

GRAPH_MODES = ("auto", "off", "static", "cuda", "compile")


def resolve_graphs(mode: str, device: torch.device) -> str:
    """"auto" -> "cuda" on a CUDA device, else "off"; explicit modes are checked against the device ("compile"
    runs anywhere: captured as graphs on CUDA)."""
    if mode not in GRAPH_MODES:
        raise ValueError(f"graphs must be one of {GRAPH_MODES}; got {mode!r}")
    if mode == "auto":
        return "cuda" if device.type == "cuda" else "off"
    if mode == "cuda" and device.type != "cuda":
        raise ValueError("graphs='cuda' needs a CUDA device; use 'auto', 'off' or 'static'")
    return mode


def bucket(n_positions: int, max_len: int) -> int:
    """Cache positions a step attends over: n_positions rounded up to a multiple of GRAPH_BUCKET, at most max_len."""
    return min(max_len, whole_buckets(n_positions))


def static_block(p: BlockPlan, x: torch.Tensor, kv_cache: torch.Tensor, pos: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """One block for one new token per row, x (B, 1, C), at position `pos` (a (1,) tensor): writes its key and
    value into the layer's cache (2, B, nh, max_len, hd) with one kernel and attends over the first
    mask.shape[-1] positions, the masked ones (after pos) left out. Every shape is fixed by (B, bucket): what a
    CUDA graph needs."""
    q, kv = attention_q_stacked_kv(p, x, False)
    kv_cache.index_copy_(3, pos, kv)
    n = mask.shape[-1]
    y = F.scaled_dot_product_attention(q, kv_cache[0, :, :, :n], kv_cache[1, :, :, :n], attn_mask=mask)
    return block_output(p, x, y, False)


def static_step(model: GPT, plans: list[BlockPlan], tokens: torch.Tensor, pos: torch.Tensor, positions: torch.Tensor,
                kvs: tuple[torch.Tensor, ...], lo: int, hi: int) -> torch.Tensor:
    """Logits lo..hi (B, hi - lo) for tokens (B, 1) at position `pos` ((1,) tensor), attending over the cache's
    first n = len(positions) positions (positions: arange(n)); kvs: each layer's whole cache (2, B, nh, max_len, hd).
    """
    t = model.transformer
    x = t.wte(tokens) + t.wpe.weight.index_select(0, pos)
    mask = (positions <= pos).view(1, 1, 1, positions.shape[0])
    for plan, kv in zip(plans, kvs, strict=True):
        x = static_block(plan, x, kv, pos, mask)
    return head(model.lm_head, layer_norm(t.ln_f, x)[:, -1, :], slice(lo, hi))


def _planned_step(model: GPT, *args) -> torch.Tensor:
    """static_step with the block plans built inside, for torch.compile: plans built per generation are new objects
    each time and would fail its guards (a recompilation per generation)."""
    return static_step(model, [block.plan() for block in model.transformer.h], *args)


@functools.cache
def compiled_step():
    """static_step compiled by torch.compile (made on first use, not at import), dynamic in the cache's length."""
    return torch.compile(_planned_step, dynamic=True)


class Decoder:
    """Logits for one new token per row through a KV cache the prefill filled: `model(tokens, cache=cache,
    start=pos, vocab=vocab)`, eagerly ("off") or through static-shape steps ("static", "cuda", "compile": see the
    module).

    span: the output entries the static step computes (every `vocab` asked for must lie inside it: the coarse
    stage alternates between two codebooks' slices, so its span holds both). rowwise: see `kernels.by_row`
    (exact mode: a batch of takes then decodes eagerly, row by row).
    """

    def __init__(self, model: GPT, cache: KVCache, mode: str, span: slice, rowwise: bool = False):
        if mode not in GRAPH_MODES[1:]:
            raise ValueError(f"Decoder mode must be one of {GRAPH_MODES[1:]}; got {mode!r}")
        self.model, self.cache, self.span, self.rowwise = model, cache, span, rowwise
        self.mode = "off" if rowwise and cache.shape[1] > 1 else mode
        self.compiled = self.mode == "compile"
        if self.compiled:  # the compiled step, captured on CUDA, run as it is elsewhere
            self.mode = "cuda" if torch.device(cache.device).type == "cuda" else "static"
        self._k: torch.Tensor | None = None  # the cache tensor the buffers and graphs below were made for
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}  # by bucket

    def __call__(self, tokens: torch.Tensor, pos: int, vocab: slice) -> torch.Tensor:
        """tokens (B, 1) at position pos -> logits (B, vocab.stop - vocab.start)."""
        if self.mode != "off" and not self.span.start <= vocab.start <= vocab.stop <= self.span.stop:
            raise ValueError(f"vocab {vocab} is outside the decoder's span {self.span}")
        out = None if self.mode == "off" else self._static(tokens, pos)
        if out is None:  # eager (also after a failed capture: the path every mode is checked against)
            return self.model(tokens, cache=self.cache, start=pos, vocab=vocab, rowwise=self.rowwise)
        lo = vocab.start - self.span.start
        # A copy: the graph's output buffer is overwritten by the next replay.
        return out[:, lo : lo + vocab.stop - vocab.start].clone()

    def _reset(self, tokens: torch.Tensor) -> None:
        device = self.cache.k.device
        self._k, self._graphs = self.cache.k, {}
        self._tokens = torch.zeros_like(tokens)
        self._pos = torch.zeros(1, dtype=torch.long, device=device)
        self._positions = torch.arange(self.cache.shape[3], device=device)
        self._plans = self.cache.plans(self.model)
        self._kvs = self.cache.kv.unbind(0)  # per-layer views

    def _step(self, n: int) -> torch.Tensor:
        """The static-shape step over the first n cache positions, reading only the static buffers."""
        args = (self._tokens, self._pos, self._positions[:n], self._kvs, self.span.start, self.span.stop)
        if self.compiled:
            try:
                return compiled_step()(self.model, *args)
            except Exception as e:  # no C++ compiler, an op inductor cannot lower (int8): the uncompiled step
                warnings.warn(f"torch.compile of the decoding step failed ({type(e).__name__}: {e}); decoding with "
                              "the uncompiled step", stacklevel=4)
                self.compiled = False
        return static_step(self.model, self._plans, *args)

    def _static(self, tokens: torch.Tensor, pos: int) -> torch.Tensor | None:
        """The static step's logits over the span (B, span), run or replayed; None if its graph cannot be captured."""
        if self.cache.k is not self._k:  # first step, or rows dropped (a new cache tensor): new buffers, graphs
            self._reset(tokens)
        self._tokens.copy_(tokens)
        self._pos.fill_(pos)
        # The compiled step attends over the whole cache: one shape, so one compilation (with buckets, compiled
        # code specializes on whether a bucket is the whole cache: a second one) and one graph.
        n = self.cache.shape[3] if self.compiled else bucket(pos + 1, self.cache.shape[3])
        if self.mode == "static":
            return self._step(n)
        if n not in self._graphs:
            try:
                self._graphs[n] = self._capture(n)
            except RuntimeError as e:  # a kernel that cannot be captured: decode eagerly, correctly, slower
                warnings.warn(f"CUDA graph capture failed ({e}); decoding without graphs", stacklevel=3)
                self.mode = "off"
                return None
        graph, out = self._graphs[n]
        graph.replay()
        return out

    def _capture(self, n: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Capture the step over n positions. The warm-up run (on a side stream, as capture requires) writes the
        same key and value the replay that follows will write: the inputs are already in the buffers."""
        device = self.cache.k.device
        with torch.cuda.device(device):
            side, main = torch.cuda.Stream(device), torch.cuda.current_stream(device)
            side.wait_stream(main)
            with torch.cuda.stream(side), _uncached_autocast():
                self._step(n)
            main.wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), _uncached_autocast():
                out = self._step(n)
        return graph, out


def _uncached_autocast() -> contextlib.AbstractContextManager:
    """The autocast in force (the pipeline's bf16 on GPUs), without its cast cache, which graphs must not use."""
    if not torch.is_autocast_enabled("cuda"):
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
