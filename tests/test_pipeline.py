"""The public API: shapes and ranges, seeds, progress, and clear errors for every bad argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bark_core import BarkPipeline
from bark_core import constants as C


def test_result_shapes_and_ranges(pipe):
    out = pipe.generate("Hello! [laughs] I'm Bark.", voice="v2/en_speaker_6", seed=7)
    assert out.sample_rate == 24_000 and out.audio.dtype == np.float32 and out.audio.ndim == 1
    s, c, f = out.semantic_tokens, out.coarse_tokens, out.fine_tokens
    assert s.dtype == c.dtype == f.dtype == np.int64
    assert s.ndim == 1 and 0 <= s.min() and s.max() < 10_000
    assert c.shape[0] == 2 and f.shape == (8, c.shape[1]) and 0 <= f.min() and f.max() < 1024
    assert c.shape[1] == math.floor(len(s) * C.SEMANTIC_TO_COARSE_RATIO / 2)
    assert len(out.audio) == c.shape[1] * C.SAMPLES_PER_FRAME
    np.testing.assert_array_equal(f[:2], c)
    assert set(out.timings) == {"semantic", "coarse", "fine", "decode", "total"} and out.rtf > 0
    assert out.settings["voice"] == "v2/en_speaker_6"


def test_random_seed_is_reported_and_reproduces(pipe):
    a = pipe.generate("Hello world", max_duration_s=1.0)
    assert isinstance(a.seed, int)
    b = pipe.generate("Hello world", max_duration_s=1.0, seed=a.seed)
    np.testing.assert_array_equal(a.fine_tokens, b.fine_tokens)
    c = pipe.generate("Hello world", max_duration_s=1.0, seed=a.seed + 1)
    assert not np.array_equal(a.semantic_tokens, c.semantic_tokens)


def test_max_duration_caps_semantic_length(pipe):
    out = pipe.generate("Hello world", seed=1, max_duration_s=0.5)
    assert len(out.semantic_tokens) == 25  # > 0.5 s after the 25th token at 49.9 Hz


def test_progress_reports_every_stage_in_order_and_core_never_prints(pipe, capsys):
    events = []
    pipe.generate("Hello world", seed=2, max_duration_s=2.0, progress=lambda *e: events.append(e))
    stages = [e[0] for e in events]
    assert stages[0] == "semantic" and stages[-1] == "decode"
    order = list(dict.fromkeys(stages))
    assert order == ["semantic", "coarse", "fine", "decode"]
    assert all(0 <= done <= total for _, done, total in events)
    for stage in order:  # each stage finishes: its last report is done == total
        last = [e for e in events if e[0] == stage][-1]
        assert last[1] == last[2]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_text_over_256_tokens_is_refused_not_cut(pipe):
    with pytest.raises(ValueError, match=r"at most 256 tokens"):
        pipe.generate("a " * 300, seed=0)


@pytest.mark.parametrize("text,message", [("", "text is empty"), ("   \n\t ", "text is empty"),
                                          ("\x00\x01", "text is empty"), ("\u200b", "text is empty"),
                                          ("\ufeff\u2060", "text is empty"), (None, "text must be a string"),
                                          (5, "text must be a string")])
def test_empty_or_non_text(pipe, text, message):
    with pytest.raises(ValueError, match=message):
        pipe.generate(text, seed=0)


@pytest.mark.parametrize("kw,message", [
    (dict(text_temp=0), "text_temp must be"), (dict(text_temp=-1), "text_temp"),
    (dict(waveform_temp=float("nan")), "waveform_temp must be"),
    (dict(fine_temp=100), "fine_temp"), (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"),
    (dict(top_p=0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(min_eos_p=2), "min_eos_p"),
    (dict(max_duration_s=0), "max_duration_s"), (dict(seed=-1), "seed"), (dict(seed=2**64), "seed"),
    (dict(seed="7"), "seed"), (dict(seed=True), "seed"), (dict(voice="v2/en_speaker_66"), "unknown voice preset"),
    (dict(voice=3.5), "voice must be"), (dict(voice="/nope/missing.npz"), "does not exist"),
    (dict(voice="/nope/MISSING.NPZ"), "does not exist"),
    (dict(voice="v2/en_speaker_6.npz"), "preset 'v2/en_speaker_6'"),
    (dict(min_eos_p=0), "min_eos_p must be"), (dict(text_temp=float("inf")), "text_temp must be"),
])
def test_bad_settings_have_clear_messages(pipe, kw, message):
    with pytest.raises(ValueError, match=message):
        pipe.generate("Hello", **kw)


def test_stage_inputs_are_checked(pipe):
    with pytest.raises(ValueError, match="semantic tokens must be in 0..9999"):
        pipe.semantic_to_coarse(np.array([5, 10_000]))
    with pytest.raises(ValueError, match="coarse codes must be a non-empty 2-D"):
        pipe.coarse_to_fine(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="fine codes must be in 0..1023"):
        pipe.decode(np.full((8, 4), 1024))
    with pytest.raises(ValueError, match="max_coarse_history"):
        pipe.semantic_to_coarse(np.array([5, 6]), max_coarse_history=700)


def test_a_generator_of_another_device_is_refused_before_any_work(pipe):
    from bark_core.generation.sampling import check_generator

    cpu = torch.Generator().manual_seed(0)
    assert pipe.coarse_to_fine(np.zeros((2, 3), dtype=np.int64), generator=cpu).shape == (8, 3)
    # What a CUDA pipeline meets (a CPU generator): the rule, checked without a GPU.
    with pytest.raises(ValueError, match=r"generator is on cpu but this pipeline samples on cuda.*make_generator"):
        check_generator(cpu, torch.device("cuda"))
    pipe.device = torch.device("cuda")  # the pipeline's own check, before it touches a model
    try:
        with pytest.raises(ValueError, match="generator is on cpu"):
            pipe.text_to_semantic("hello", generator=cpu)
    finally:
        pipe.device = torch.device("cpu")


def test_greedy_fine_is_deterministic(pipe):
    coarse = np.random.default_rng(0).integers(0, 1024, (2, 50))
    a = pipe.coarse_to_fine(coarse, temp=None, generator=1)
    b = pipe.coarse_to_fine(coarse, temp=None, generator=2)
    np.testing.assert_array_equal(a, b)


def test_fast_mode_int8(fast_pipe, pipe):
    assert fast_pipe.precision == "int8-dynamic" and pipe.precision == "fp32"
    assert fast_pipe.weights_fingerprint() == pipe.weights_fingerprint()  # names the same checkpoint
    assert "Quantized" in type(fast_pipe.coarse_model.lm_head).__name__ or "quantized" in str(
        type(fast_pipe.coarse_model.lm_head)).lower()
    a = fast_pipe.generate("Hello world", voice="announcer", seed=4, max_duration_s=1.0)
    b = fast_pipe.generate("Hello world", voice="announcer", seed=4, max_duration_s=1.0)
    np.testing.assert_array_equal(a.fine_tokens, b.fine_tokens)
    assert a.fine_tokens.shape[0] == 8 and 0 <= a.fine_tokens.min() and a.fine_tokens.max() < 1024
    with pytest.raises(ValueError, match="precision must be one of"):
        type(pipe)(dict(text=pipe.text_model, coarse=pipe.coarse_model, fine=pipe.fine_model), pipe.tokenizer,
                   pipe.codec, device="cpu", precision="turbo")


def test_fast_mode_fidelity_proxy(fast_pipe, pipe):
    from bark_core.generation.text import encode_text
    from bark_core.testing.fidelity import stage_fidelity

    out = pipe.generate("Hello world", seed=2, max_duration_s=2.0)
    f = stage_fidelity(pipe, fast_pipe, encode_text(pipe.tokenizer, "Hello world"), out.semantic_tokens,
                       out.coarse_tokens, out.fine_tokens)
    for stage in ("semantic", "coarse", "fine"):
        assert 0 <= f[stage]["kl"] < 0.5 and f[stage]["top1"] > 0.5, (stage, f[stage])
    same = pipe.generate("Hello world", seed=2, max_duration_s=2.0)
    exact_vs_exact = stage_fidelity(pipe, pipe, encode_text(pipe.tokenizer, "Hello world"), same.semantic_tokens,
                                    same.coarse_tokens, same.fine_tokens)
    assert all(v["kl"] < 1e-9 and v["top1"] == 1.0 for v in exact_vs_exact.values())


def test_windowed_teacher_forcing_reproduces_the_coarse_stage_logits(pipe, monkeypatch):
    """The fidelity proxy's coarse logits are exactly what the stage sampled from, window by window."""
    import bark_core.generation.coarse as coarse_stage
    from bark_core.generation.settings import CoarseSettings, SamplingParams
    from bark_core.testing.fidelity import coarse_logits_windowed, coarse_window_fidelity

    seen = []
    real_sample = coarse_stage.sample

    def recording(logits, params, generator):
        seen.append(logits.clone())
        return real_sample(logits, params, generator)

    monkeypatch.setattr(coarse_stage, "sample", recording)
    semantic = pipe.text_to_semantic("Hello world", generator=3, max_duration_s=2.0)
    seen.clear()
    settings = CoarseSettings(SamplingParams(0.7), sliding_window_len=60)
    coarse = coarse_stage.generate_coarse(pipe.coarse_model, semantic, None, settings, torch.Generator().manual_seed(0))
    monkeypatch.undo()
    forced = coarse_logits_windowed(pipe.coarse_model, semantic, coarse, settings)
    assert forced.shape == (len(seen), 1024)
    torch.testing.assert_close(forced, torch.stack(seen), atol=1e-4, rtol=1e-4)
    same = coarse_window_fidelity(pipe.coarse_model, pipe.coarse_model, semantic, coarse, settings)
    longer = coarse_window_fidelity(pipe.coarse_model, pipe.coarse_model, semantic, coarse,
                                    CoarseSettings(sliding_window_len=128))
    assert same["kl"] < 1e-6 and same["top1"] == 1.0 and longer["kl"] > same["kl"]


def test_fast_twin_leaves_the_exact_weights_alone(pipe):
    """with_precision("fast") quantizes copies (the exact pipeline keeps serving); from_pretrained quantizes its
    own models in place, which keeps the peak memory of a fast pipeline lower."""
    twin = pipe.with_precision("fast")
    assert type(pipe.coarse_model.lm_head) is torch.nn.Linear
    assert type(twin.coarse_model.lm_head) is not torch.nn.Linear


def test_bf16_precision_runs_the_gpu_code_path_on_cpu(model_dir, pipe):
    """precision="bf16" is bf16 autocast on any device: on CPU it runs the code path GPUs take (autocast, a bf16 KV
    cache, one random stream per stage, interleaved streaming), so that path is tested without a GPU."""
    from bark_core.generation.semantic import semantic_input
    from bark_core.generation.text import encode_text
    from bark_core.testing.fidelity import _compare

    bf16 = BarkPipeline.from_pretrained(str(model_dir), device="cpu", precision="bf16", voices=pipe.presets.source)
    assert bf16.precision == "bf16-autocast" and bf16.make_generators(3).split and not bf16.row_exact
    idx = torch.from_numpy(semantic_input(encode_text(pipe.tokenizer, "Hello world"), None))[None]
    logits = []
    for p in (pipe, bf16):
        with p.runtime.using(p.text_model), torch.inference_mode():
            logits.append(p.text_model(embeds=p.text_model.merged_context_embeddings(idx), all_logits=True)[0])
    assert logits[1].dtype == torch.bfloat16 and logits[0].dtype == torch.float32  # autocast was on
    kl, top1 = _compare(*logits)
    assert kl < 0.05 and top1 > 0.9, (kl, top1)  # close to fp32, as bf16 should be
    out = bf16.generate("Hello world", seed=2, max_duration_s=2.0)
    assert out.audio.dtype == np.float32 and np.isfinite(out.audio).all() and out.settings["text"] == "Hello world"
    chunks = list(bf16.stream("Hello world", seed=2, max_duration_s=2.0))
    np.testing.assert_array_equal(chunks[-1].result.fine_tokens, out.fine_tokens)
    takes = bf16.generate_takes("Hello world", n_takes=2, seed=2, max_duration_s=2.0)
    assert len(takes) == 2 and all(t.fine_tokens.shape[0] == 8 for t in takes)


def test_unknown_precision_is_refused(model_dir):
    with pytest.raises(ValueError, match="precision must be one of"):
        BarkPipeline.from_pretrained(str(model_dir), device="cpu", precision="int4")


def test_fast_mode_runs_prefills_and_fine_passes_in_bf16_on_cpus_with_bf16_units(model_dir, fast_pipe, monkeypatch):
    """On CPUs with AMX / AVX-512-BF16 (simulated here), fast mode keeps int8 for decoding and runs what is bound by
    its matrix products in bf16: the fine passes, and the text and coarse models' prefills (into the fp32 cache the
    int8 decoding steps read)."""
    import bark_core.pipeline as pipeline_module
    from bark_core.generation.text import encode_text
    from bark_core.testing.fidelity import stage_fidelity

    monkeypatch.setattr(pipeline_module, "cpu_has_fast_bf16", lambda: True)
    hybrid = BarkPipeline.from_pretrained(str(model_dir), device="cpu", precision="fast")
    assert hybrid.precision == "int8-dynamic, bf16 prefill and fine" and fast_pipe.precision == "int8-dynamic"
    assert hybrid.fine_model.transformer.h[0].mlp.c_fc.weight.dtype == torch.bfloat16
    for model in (hybrid.text_model, hybrid.coarse_model):
        assert type(model.transformer.h[0].mlp.c_fc) is not torch.nn.Linear  # int8 for decoding
        assert len(model.prefill_plans) == model.config.n_layer
    assert fast_pipe.coarse_model.prefill_plans is None
    a = hybrid.generate("Hello world", seed=2, max_duration_s=2)
    assert a.fine_tokens.shape[1] == a.coarse_tokens.shape[1] and 0 <= a.fine_tokens.min() <= a.fine_tokens.max() < 1024
    again = hybrid.generate("Hello world", seed=2, max_duration_s=2)
    assert all(np.array_equal(getattr(a, k), getattr(again, k)) for k in ("semantic_tokens", "coarse_tokens",
                                                                         "fine_tokens"))
    final = [c.result for c in hybrid.stream("Hello world", seed=2, max_duration_s=2) if c.result is not None][0]
    assert np.array_equal(final.coarse_tokens, a.coarse_tokens) and np.array_equal(final.fine_tokens, a.fine_tokens)
    exact = BarkPipeline.from_pretrained(str(model_dir), device="cpu")
    ref = exact.generate("Hello world", seed=2, max_duration_s=2)
    f = stage_fidelity(exact, hybrid, encode_text(exact.tokenizer, "Hello world"), ref.semantic_tokens,
                       ref.coarse_tokens, ref.fine_tokens)
    assert all(np.isfinite(v["kl"]) and v["kl"] >= -1e-6 for v in f.values())


def test_a_bf16_prefill_fills_the_fp32_cache_that_int8_decoding_reads(tiny_models):
    """The prefill runs the bf16 copies (and only the prefill: a decoding step runs the int8 layers), its keys and
    values land in an fp32 cache, and the logits stay within bf16 rounding of the fp32 model's."""
    from bark_core.models.loading import bf16_prefill_plans, quantize_int8
    from bark_core.models.model import KVCache

    fp32 = tiny_models["coarse"].eval()
    hybrid = quantize_int8(fp32)
    hybrid.prefill_plans = bf16_prefill_plans(fp32)
    x = torch.randint(0, 1000, (1, 60), generator=torch.Generator().manual_seed(0))
    bf16_products = []
    real_linear = torch.nn.functional.linear

    def spy(inp, weight, bias=None):
        bf16_products.append(weight.dtype == torch.bfloat16)
        return real_linear(inp, weight, bias)

    with torch.inference_mode():
        cache, ref_cache = KVCache(fp32.config, 1, 80, "cpu"), KVCache(fp32.config, 1, 80, "cpu")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch.nn.functional, "linear", spy)
            logits = hybrid(x, cache=cache)
            assert len(bf16_products) >= 4 * fp32.config.n_layer and all(bf16_products[: 4 * fp32.config.n_layer])
            bf16_products.clear()
            step = hybrid(x[:, :1], cache=cache, start=60)
            assert not any(bf16_products)  # the decoding step: int8 kernels only
        ref = fp32(x, cache=ref_cache)
        ref_step = fp32(x[:, :1], cache=ref_cache, start=60)
    assert cache.kv.dtype == torch.float32
    scale = ref.abs().max()
    assert (logits - ref).abs().max() < 0.05 * scale and (step - ref_step).abs().max() < 0.05 * scale
    assert (cache.k[:, :, :, :61] - ref_cache.k[:, :, :, :61]).abs().max() < 0.05 * ref_cache.k.abs().max()
