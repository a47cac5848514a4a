"""A layer's own kernel, called without the module around it, and a block's kernels gathered once (`BlockPlan`);
`by_row`, which keeps batched rows bitwise equal to lone ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # eager-mode dynamic quantization (fast mode on CPU); without it, exact and bf16 modes still work
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear
except ImportError:  # pragma: no cover - a torch build without torch.ao
    QuantizedLinear = None


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

    Why: a decoding step makes dozens of these calls, each a small product, so nn.Module's call machinery (and the
    quantized module's Python checks) around each is a large share of a step on a CPU. The kernel and its arguments
    are exactly those of `layer.forward`, so results are bitwise the same (parity tests).
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


class BlockPlan(NamedTuple):
    """One block's kernels (see `kernel`), gathered once per generation: what `model.run_block` runs."""

    ln_1: Kernel
    attn_in: Kernel
    attn_out: Kernel
    ln_2: Kernel
    mlp_in: Kernel
    mlp_out: Kernel
    n_head: int
    causal: bool

