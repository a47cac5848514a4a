"""Graphed decoding (`graphs.Decoder`) and bf16-stored Linear weights: the GPU code path, checked on CPU.

The static-shape step a CUDA graph captures runs eagerly here ("static" mode) and must give the eager model's
logits and tokens; the capture protocol (one capture per batch and length bucket, replay reading only the static
buffers, fallback when capture fails) runs with a stand-in for the CUDA graph. The real capture is checked where a
GPU is present (skipped otherwise).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
import torch

from bark_core import BarkPipeline
from bark_core import constants as C
from bark_core.models import graphs
from bark_core.models.graphs import Decoder, bucket, resolve_graphs
from bark_core.models.loading import cast_linears, quantize_int8, weights_format
from bark_core.models.model import KVCache

TEXT = "hello there, how are you"


def test_graph_modes_resolve_per_device(pipe):
    assert resolve_graphs("auto", torch.device("cpu")) == "off"
    assert resolve_graphs("static", torch.device("cpu")) == "static"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_graphs("cuda", torch.device("cpu"))
    with pytest.raises(ValueError, match="graphs must be one of"):
        resolve_graphs("fast", torch.device("cpu"))
    assert resolve_graphs("compile", torch.device("cpu")) == "compile"
    models = dict(text=pipe.text_model, coarse=pipe.coarse_model, fine=pipe.fine_model)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        BarkPipeline(models, pipe.tokenizer, pipe.codec, device="cpu", graphs="cuda")


def test_the_app_registry_loads_pipelines_with_its_graphs_mode(model_dir):
    from bark_core.studio.registry import Pipelines

    pipes = Pipelines([str(model_dir)], device="cpu", graphs="static")
    assert pipes.get(str(model_dir)).graphs == "static" and pipes.get(str(model_dir), "fast").graphs == "static"


def test_buckets_round_up_and_stop_at_the_cache_length():
    assert [bucket(n, 947) for n in (1, 128, 129, 900, 947)] == [128, 128, 256, 947, 947]
    assert bucket(300, 1024) % C.GRAPH_BUCKET == 0


def _teacher_forced(model, mode, n_rows=2, n_steps=40, prompt=300, autocast=None, drop_at=None):
    """Logits of n_steps fixed tokens after a fixed prompt, decoded in `mode`; rows 1.. only after drop_at."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 1000, (n_rows, prompt), generator=gen)
    steps = torch.randint(0, 1000, (n_rows, n_steps), generator=gen)
    ctx = torch.autocast("cpu", dtype=autocast) if autocast else contextlib.nullcontext()
    out = []
    with torch.inference_mode(), ctx:
        cache = KVCache(model.config, n_rows, prompt + n_steps, "cpu")
        model(x, cache=cache)
        decode = Decoder(model, cache, mode, slice(0, model.config.output_vocab_size))
        for i in range(n_steps):
            if i == drop_at:
                cache.keep([1])
                steps = steps[1:]
            out.append(decode(steps[:, i : i + 1], prompt + i, slice(5, 90))[-1].float())
    return torch.stack(out)


@pytest.mark.parametrize("weights", ["fp32", "int8", "bf16"])
def test_static_step_gives_the_eager_logits(tiny_models, weights):
    model = tiny_models["coarse"].eval()
    autocast = None
    if weights == "int8":
        model = quantize_int8(model)
    elif weights == "bf16":
        model, autocast = cast_linears(model, torch.bfloat16), torch.bfloat16
    eager = _teacher_forced(model, "off", autocast=autocast)
    static = _teacher_forced(model, "static", autocast=autocast)
    # fp32/int8: the masked attention sums in another order (~1e-6); bf16: one rounding step of its 8-bit mantissa.
    tol = 0.07 if weights == "bf16" else 1e-5
    assert (eager - static).abs().max() <= tol
    assert torch.equal(eager.argmax(-1), static.argmax(-1))


@pytest.mark.parametrize("weights", ["fp32", "bf16"])
def test_compiled_step_gives_the_eager_logits_with_one_compilation(tiny_models, weights):
    """torch.compile (inductor, C++ on CPU) of the static step: the eager logits, and one compilation for every
    cache bucket and for later generations (the cache length is dynamic; plans are built inside the trace)."""
    from torch._dynamo.utils import counters

    model = tiny_models["coarse"].eval()
    autocast = None
    if weights == "bf16":
        model, autocast = cast_linears(model, torch.bfloat16), torch.bfloat16
    eager = _teacher_forced(model, "off", n_steps=150, prompt=100, autocast=autocast)
    before = counters["stats"]["unique_graphs"]
    with warnings.catch_warnings():  # a failed compilation warns and falls back: not here
        warnings.filterwarnings("error", message="torch.compile of the decoding step failed")
        compiled = _teacher_forced(model, "compile", n_steps=150, prompt=100, autocast=autocast)
        again = _teacher_forced(model, "compile", n_steps=150, prompt=100, autocast=autocast)
    assert counters["stats"]["unique_graphs"] - before == 1  # two generations
    tol = 0.07 if weights == "bf16" else 1e-5
    assert (eager - compiled).abs().max() <= tol and torch.equal(compiled, again)
    # bf16: a near tie among 90 logits can flip under one rounding step (1 of these 300 rows does)
    assert (eager.argmax(-1) == compiled.argmax(-1)).float().mean() >= (0.99 if weights == "bf16" else 1)


def test_a_step_that_cannot_compile_warns_and_runs_uncompiled(tiny_models, monkeypatch):
    def broken():
        def step(*args):
            raise RuntimeError("no C++ compiler")
        return step

    monkeypatch.setattr(graphs, "compiled_step", broken)
    model = tiny_models["coarse"].eval()
    with pytest.warns(UserWarning, match="torch.compile of the decoding step failed.*uncompiled step"):
        compiled = _teacher_forced(model, "compile")
    assert (_teacher_forced(model, "static") - compiled).abs().max() == 0


def test_static_step_follows_rows_leaving_the_batch(tiny_models):
    model = tiny_models["coarse"].eval()
    eager = _teacher_forced(model, "off", drop_at=17)
    static = _teacher_forced(model, "static", drop_at=17)
    assert (eager - static).abs().max() <= 1e-5


def test_static_step_writes_each_layers_key_and_value_with_one_kernel(tiny_models):
    """A CUDA graph replays every op of the step as a kernel, and on a GPU the step is bound by their count: the
    key and value of a layer go into the cache with one copy, and no op is spent on slicing or reshaping."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.__name__.split(".")[0])
            return func(*args, **(kwargs or {}))

    model = tiny_models["coarse"].eval()
    cache = KVCache(model.config, 1, 40, "cpu")
    with torch.inference_mode():
        model(torch.zeros(1, 8, dtype=torch.long), cache=cache)
        decode = Decoder(model, cache, "static", slice(0, 50))
        decode(torch.ones(1, 1, dtype=torch.long), 8, slice(0, 50))  # buffers made on the first step
        with Ops() as seen:
            decode(torch.ones(1, 1, dtype=torch.long), 9, slice(0, 50))
    n_layer = model.config.n_layer
    copies = [op for op in seen.ops if op.startswith("index_copy")]
    assert len(copies) == n_layer  # one per layer, keys and values together
    views = {"view", "permute", "select", "slice", "unbind", "transpose", "t", "unsqueeze", "expand", "alias",
             "_unsafe_view", "detach"}
    kernels = [op for op in seen.ops if op not in views]
    # Per layer: 2 layer norms, 4 matrix products, the cache write, attention, 2 residual adds, GELU. Per step:
    # the embeddings (2 lookups, 1 add), the mask, the last layer norm and the head, the static inputs' updates
    # (before a replay, not in the graph) and the output's copy — at most 10.
    assert len(kernels) <= 11 * n_layer + 10, sorted(kernels)


def test_decoder_rejects_a_vocab_outside_its_span(tiny_models):
    model = tiny_models["coarse"].eval()
    cache = KVCache(model.config, 1, 40, "cpu")
    with torch.inference_mode():
        model(torch.zeros(1, 8, dtype=torch.long), cache=cache)
        with pytest.raises(ValueError, match="outside the decoder's span"):
            Decoder(model, cache, "static", slice(0, 50))(torch.zeros(1, 1, dtype=torch.long), 8, slice(40, 60))


@pytest.fixture(scope="module")
def static_pipes(model_dir):
    """As the `pipe` and `fast_pipe` fixtures (fast: int8 throughout, on every CPU), with static decoding steps."""
    from .conftest import int8_fast

    return {"exact": BarkPipeline.from_pretrained(str(model_dir), device="cpu", graphs="static"),
            "fast": int8_fast(model_dir, graphs="static")}


@pytest.mark.parametrize("precision", ["exact", "fast"])
def test_static_graphs_give_the_same_takes(pipe, fast_pipe, static_pipes, precision):
    eager = pipe if precision == "exact" else fast_pipe
    for n in (1, 2):
        a = eager.generate_takes(TEXT, n_takes=n, seed=3, max_duration_s=2)
        b = static_pipes[precision].generate_takes(TEXT, n_takes=n, seed=3, max_duration_s=2)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.semantic_tokens, y.semantic_tokens)
            assert np.array_equal(x.coarse_tokens, y.coarse_tokens)
            assert np.array_equal(x.fine_tokens, y.fine_tokens)


def test_compiled_graphs_give_the_same_takes_as_eager_decoding(pipe, model_dir, monkeypatch):
    """Exact precision with graphs="compile" on CPU: the compiled fp32 step's logits differ from the eager ones by
    ~1e-6 (another summation order), which leaves these takes' tokens unchanged. (Single takes: exact mode decodes
    a batch of takes row by row, eagerly.)"""
    calls, real = [], graphs.compiled_step
    monkeypatch.setattr(graphs, "compiled_step", lambda: calls.append(1) or real())
    compiled = BarkPipeline.from_pretrained(str(model_dir), device="cpu", graphs="compile")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="torch.compile of the decoding step failed")
        for seed in (3, 4):
            a = pipe.generate(TEXT, seed=seed, max_duration_s=2)
            b = compiled.generate(TEXT, seed=seed, max_duration_s=2)
            assert np.array_equal(a.semantic_tokens, b.semantic_tokens)
            assert np.array_equal(a.coarse_tokens, b.coarse_tokens)
            assert np.array_equal(a.fine_tokens, b.fine_tokens)
    assert calls  # the compiled step ran (and did not fall back: that warning is an error here)


def test_static_graphs_stream_the_same_take(fast_pipe, static_pipes):
    final = [c.result for c in static_pipes["fast"].stream(TEXT, seed=5, max_duration_s=2) if c.result is not None]
    assert np.array_equal(final[0].coarse_tokens, fast_pipe.generate(TEXT, seed=5, max_duration_s=2).coarse_tokens)


def test_bf16_static_graphs_run_the_gpu_path_on_cpu(model_dir):
    """What a GPU runs (bf16 weights, bf16 autocast, per-stage streams, graphed steps), run on CPU: takes, streams and
    a seed that gives the same take twice. (Tokens differ from eager decoding by bf16 rounding, so no equality.)"""
    bf16 = BarkPipeline.from_pretrained(str(model_dir), device="cpu", precision="bf16", graphs="static")
    takes = bf16.generate_takes(TEXT, n_takes=2, seed=4, max_duration_s=1)
    again = bf16.generate_takes(TEXT, n_takes=2, seed=4, max_duration_s=1)
    for a, b in zip(takes, again, strict=True):
        assert np.array_equal(a.coarse_tokens, b.coarse_tokens) and np.array_equal(a.fine_tokens, b.fine_tokens)
        assert a.audio.size == 320 * a.coarse_tokens.shape[1] and np.isfinite(a.audio).all()
    final = [c.result for c in bf16.stream(TEXT, seed=4, max_duration_s=1) if c.result is not None][0]
    assert np.array_equal(final.coarse_tokens, bf16.generate(TEXT, seed=4, max_duration_s=1).coarse_tokens)


class FakeGraph:
    """Stands in for torch.cuda.CUDAGraph: replay recomputes the captured step into its output buffer, reading
    only the decoder's static buffers (as a real replay does)."""

    def __init__(self, decoder, n, out):
        self.decoder, self.n, self.out = decoder, n, out

    def replay(self):
        self.out.copy_(self.decoder._step(self.n))


def test_graph_protocol_captures_once_per_bucket_and_replays(tiny_models, monkeypatch):
    captures = []

    def capture(self, n):
        captures.append((self.cache.shape[1], n))
        out = self._step(n).clone()
        out.fill_(float("nan"))  # a replay must overwrite it
        return FakeGraph(self, n, out), out

    monkeypatch.setattr(Decoder, "_capture", capture)
    model = tiny_models["coarse"].eval()
    eager = _teacher_forced(model, "off", n_steps=250, prompt=100, drop_at=120)
    graphed = _teacher_forced(model, "cuda", n_steps=250, prompt=100, drop_at=120)
    assert (eager - graphed).abs().max() <= 1e-5
    # positions 101..350 -> buckets 128, 256 for 2 rows; after the drop, 256 and 384 (the cache's room for 350
    # positions, rounded up to whole buckets).
    assert captures == [(2, 128), (2, 256), (1, 256), (1, 384)]


def test_failed_capture_falls_back_to_eager_decoding(tiny_models, monkeypatch):
    tries = []

    def capture(self, n):
        tries.append(n)
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(Decoder, "_capture", capture)
    model = tiny_models["coarse"].eval()
    eager = _teacher_forced(model, "off")
    with pytest.warns(UserWarning, match="CUDA graph capture failed"):
        graphed = _teacher_forced(model, "cuda")
    assert torch.equal(eager, graphed) and len(tries) == 1  # the eager path from the failed step on, no retries


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("graphed", ["cuda", "compile"])
def test_cuda_graphs_match_eager_decoding_on_a_gpu(tiny_models, graphed):
    model = cast_linears(tiny_models["coarse"], torch.bfloat16).cuda().eval()
    x = torch.randint(0, 1000, (2, 300), device="cuda")
    steps = torch.randint(0, 1000, (2, 300), device="cuda")
    out = {}
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for mode in ("off", graphed):
            cache = KVCache(model.config, 2, 600, "cuda")
            model(x, cache=cache)
            decode = Decoder(model, cache, mode, slice(0, model.config.output_vocab_size))
            out[mode] = torch.stack([decode(steps[:, i : i + 1], 300 + i, slice(0, 200)).float()
                                     for i in range(300)])
    assert cache.shape[3] == 640 and graphs.bucket(600, 640) == 640
    assert (out["off"] - out[graphed]).abs().max() <= 0.25  # a few bf16 rounding steps at logits ~10
    assert (out["off"].argmax(-1) == out[graphed].argmax(-1)).float().mean() > 0.95


def test_bf16_weights_give_autocasts_products(tiny_models):
    """Linear weights stored in bf16 give bitwise what autocast computes from fp32 weights, at a quarter of the
    weight reads per step; the fine model's heads (its embeddings) stay fp32."""
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for kind in ("text", "coarse"):
            model = tiny_models[kind].eval()
            cast = cast_linears(model, torch.bfloat16)
            x = torch.randint(0, 1000, (2, 30))
            assert torch.equal(model(x, all_logits=True), cast(x, all_logits=True))
            assert cast.lm_head.weight.dtype == torch.bfloat16 and cast.transformer.wte.weight.dtype == torch.float32
            assert model.lm_head.weight.dtype == torch.float32  # a copy
        fine = tiny_models["fine"].eval()
        cast = cast_linears(fine, torch.bfloat16)
        codes = torch.randint(0, 1024, (1, 64, 8))
        assert torch.equal(fine(3, codes), cast(3, codes))
        assert cast.transformer.h[0].mlp.c_fc.weight.dtype == torch.bfloat16
        assert cast.lm_heads[0].weight.dtype == torch.float32
        assert cast.lm_heads[0].weight is cast.transformer.wtes[fine.config.n_codes_given].weight


def test_precisions_and_their_weights(pipe):
    cpu = torch.device("cpu")
    assert [weights_format(p, cpu) for p in ("exact", "fast", "bf16")] == ["fp32", "int8", "bf16"]
    with pytest.raises(ValueError, match="precision must be one of"):
        weights_format("int4", cpu)
    bf16 = pipe.with_precision("bf16")
    assert bf16.text_model.lm_head.weight.dtype == torch.bfloat16
    assert pipe.text_model.lm_head.weight.dtype == torch.float32
    assert bf16.weights_fingerprint() == pipe.weights_fingerprint()
    with pytest.raises(ValueError, match="weights are bf16 now"):
        bf16.with_precision("fast")
    assert bf16.with_precision("bf16").text_model is bf16.text_model  # same format: shared, not copied


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("offload", [False, True])
def test_the_pipeline_decodes_through_cuda_graphs_on_a_gpu(model_dir, monkeypatch, offload):
    captured = []
    capture = Decoder._capture
    monkeypatch.setattr(Decoder, "_capture", lambda self, n: captured.append(n) or capture(self, n))
    gpu = BarkPipeline.from_pretrained(str(model_dir), device="cuda", offload=offload)
    assert gpu.graphs == "cuda" and gpu.text_model.lm_head.weight.dtype == torch.bfloat16
    takes = gpu.generate_takes(TEXT, n_takes=2, seed=1, max_duration_s=2)
    assert captured and all(t.audio.size == 320 * t.coarse_tokens.shape[1] for t in takes)
    again = gpu.generate_takes(TEXT, n_takes=2, seed=1, max_duration_s=2)
    assert np.array_equal(takes[1].coarse_tokens, again[1].coarse_tokens)  # a seed gives the same take
    chunks = list(gpu.stream(TEXT, seed=1, max_duration_s=2))
    assert chunks[-1].result is not None
