"""The model calls its layers' kernels directly (decoding's per-call overhead): same results, bitwise."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from bark_core.models.loading import quantize_int8
from bark_core.models.model import layer_norm, linear


def refuse(*_a, **_k):
    raise AssertionError("the module's forward was called: the direct kernel path was not taken")


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_is_the_layers_own_kernel(quantized, bias, monkeypatch):
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(48, 80, bias=bias))
    if quantized:
        layer = quantize_int8(layer)
    layer = layer[0]
    for shape in ((1, 1, 48), (3, 7, 48)):
        x = torch.randn(shape)
        expected = layer(x)
        monkeypatch.setattr(layer, "forward", refuse)
        assert torch.equal(linear(layer, x), expected)
        monkeypatch.undo()


def test_layer_norm_is_the_modules_own_kernel(monkeypatch):
    ln = nn.LayerNorm(48, bias=False)
    with torch.no_grad():
        ln.weight.normal_()
    x = torch.randn(2, 5, 48)
    expected = ln(x)
    monkeypatch.setattr(ln, "forward", refuse)
    assert torch.equal(layer_norm(ln, x), expected)


def test_other_layers_fall_back_to_their_module():
    layer = nn.Sequential(nn.Linear(8, 8))  # not a Linear: called as a module
    x = torch.randn(1, 8)
    assert torch.equal(linear(layer, x), layer(x))


def test_a_generation_builds_its_block_plans_once(pipe, monkeypatch):
    """Decoding steps reuse the cache's plans (the point: no per-step kernel lookups); a fresh cache (the next
    generation) builds them again, so a model quantized or moved between generations runs its new kernels."""
    from bark_core.models.model import Block, KVCache

    model = pipe.coarse_model
    built = []
    plan = Block.plan
    monkeypatch.setattr(Block, "plan", lambda self: built.append(self) or plan(self))
    x = torch.randint(10_000, 12_000, (1, 40))
    for _ in range(2):
        cache = KVCache(model.config, 1, 48, "cpu")
        model(x, cache=cache)
        for i in range(5):
            model(torch.tensor([[10_001 + i]]), cache=cache, start=40 + i)
    assert built == 2 * list(model.transformer.h)
