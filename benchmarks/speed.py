"""Speed of bark_core against suno's reference on the same random weights of the real sizes.

    python -m benchmarks.speed                 # bark-small, 5 s utterance, median of 3 runs, 2 threads
                                               # (reference, transformers' BarkModel, bark_core exact and fast
                                               # = int8, 4 takes in one batch in both modes)
    python -m benchmarks.speed --seconds 12 --impl bark_core_fast_stream   # time to first streamed audio
    python -m benchmarks.speed --seconds 12 --impl bark_core_fast_stream --voice v2/en_speaker_6.npz  # with a voice
    python -m benchmarks.speed --size bark --seconds 5 12 --runs 3

Each implementation runs in its own process (clean peak RSS) on the same checkpoint files; stage inputs are the
same sizes (the semantic stage is capped at the utterance length, the next stages take its tokens). Prints per stage
seconds, tokens/s and share of time, end-to-end RTF, peak RSS, and bark_core / reference ratios from this run.
Not a test: timings are noisy, so read the medians and the ratios measured side by side.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("semantic", "coarse", "fine", "decode")
DEVICE = "cpu"  # set from --device in each child process
VOICE = None  # set from --voice in each child process (the streaming rows only)
TEXT = "Hello! This is a benchmark of Bark, the text to audio model, reading one sentence."


def write_weights(folder: Path, size: str) -> Path:
    from bark_core.testing.random_weights import random_models, write_codec, write_suno_files, write_tokenizer

    if not (folder / "fine.pt").exists():
        write_suno_files(folder, random_models(size, seed=0))
        write_tokenizer(folder / "tokenizer")
        write_codec(folder / "codec", tiny=False)
    return folder


def transformers_folder(folder: Path) -> Path:
    """The same weights as a `BarkModel.save_pretrained` folder, written once beside the suno files."""
    hf = folder / "transformers"
    if not (hf / "config.json").exists():
        from bark_core.models.checkpoints import load_suno_checkpoint
        from bark_core.testing.random_weights import write_transformers_folder

        models = {k: load_suno_checkpoint(folder / f"{k}.pt", k) for k in ("text", "coarse", "fine")}
        write_transformers_folder(hf, models, folder / "codec")
    return hf


# Loaded once per child process (each row is its own process) and reused by its runs: the timed stages never
# include loading, and on a GPU the runs after the first are the steady state a server sees.
@functools.cache
def bark_pipeline(folder: Path, precision: str, offload: bool, graphs: str):
    from bark_core import BarkPipeline

    return BarkPipeline.from_pretrained(str(folder), device=DEVICE, precision=precision, offload=offload,
                                        graphs=graphs)


def run_bark_core(folder: Path, seconds: float, seed: int, precision: str = "exact", offload: bool = False,
                  graphs: str = "auto") -> dict:
    import torch

    pipe = bark_pipeline(folder, precision, offload, graphs)
    t = {}
    g = torch.Generator(device=DEVICE).manual_seed(seed)
    t0 = time.perf_counter()
    sem = pipe.text_to_semantic(TEXT, generator=g, min_eos_p=None, max_duration_s=seconds)
    t["semantic"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    coarse = pipe.semantic_to_coarse(sem, generator=g)
    t["coarse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fine = pipe.coarse_to_fine(coarse, generator=g)
    t["fine"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio = pipe.decode(fine)
    t["decode"] = time.perf_counter() - t0
    return dict(times=t, n_semantic=len(sem), n_frames=int(coarse.shape[1]), audio_s=len(audio) / 24_000,
                tokens=digest(sem, coarse, fine))


def digest(*arrays) -> str:
    import hashlib

    import numpy as np

    return hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=np.int64).tobytes() for a in arrays)).hexdigest()


def run_reference(folder: Path, seconds: float, seed: int) -> dict:
    import types

    import torch

    sys.modules.setdefault("encodec", types.SimpleNamespace(EncodecModel=None))
    import bark.generation as gen

    from bark_core.models.checkpoints import SAFE_GLOBALS
    from bark_core.models.hub import HubOptions
    from bark_core.models.loading import load_codec, load_tokenizer

    tok = load_tokenizer(folder / "tokenizer", HubOptions())
    gen.BertTokenizer = types.SimpleNamespace(from_pretrained=lambda _n: tok)
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        for kind in ("text", "coarse", "fine"):
            gen.models[kind] = gen._load_model(str(folder / f"{kind}.pt"), DEVICE, model_type=kind)
    gen.models["codec"] = load_codec(folder / "codec", HubOptions()).to(DEVICE)
    torch.manual_seed(seed)
    t = {}
    t0 = time.perf_counter()
    sem = gen.generate_text_semantic(TEXT, silent=True, use_kv_caching=True, min_eos_p=None,
                                     max_gen_duration_s=seconds)
    t["semantic"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    coarse = gen.generate_coarse(sem, silent=True, use_kv_caching=True)
    t["coarse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fine = gen.generate_fine(coarse, temp=0.5, silent=True)
    t["fine"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        audio = gen.codec_decode(fine)
    t["decode"] = time.perf_counter() - t0
    return dict(times=t, n_semantic=len(sem), n_frames=int(coarse.shape[1]), audio_s=len(audio) / 24_000,
                tokens=digest(sem, coarse, fine))


@functools.cache
def bark_model(folder: Path, dtype: str):
    import torch
    from transformers import BarkModel

    return BarkModel.from_pretrained(str(transformers_folder(folder)), dtype=getattr(torch, dtype)).eval().to(DEVICE)


def run_transformers(folder: Path, seconds: float, seed: int, dtype: str = "float32") -> dict:
    """transformers' BarkModel on the same weights (written once as a save_pretrained folder), stage by stage as
    `BarkModel.generate` runs them, with its default (suno) generation settings; dtype "float16" is how its docs
    load Bark on a GPU."""
    import torch
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    from bark_core import constants as C
    from bark_core.models.hub import HubOptions
    from bark_core.models.loading import load_tokenizer

    model = bark_model(folder, dtype)
    sem_cfg, coarse_cfg, fine_cfg = (BarkSemanticGenerationConfig(), BarkCoarseGenerationConfig(),
                                     BarkFineGenerationConfig())  # the defaults are suno's settings
    tok = load_tokenizer(folder / "tokenizer", HubOptions())
    enc = tok(TEXT, add_special_tokens=False, padding="max_length", max_length=C.TEXT_WINDOW, truncation=True,
              return_attention_mask=True, return_tensors="pt").to(DEVICE)
    torch.manual_seed(seed)
    t = {}
    with torch.inference_mode():
        t0 = time.perf_counter()
        sem = model.semantic.generate(enc["input_ids"], attention_mask=enc["attention_mask"],
                                      semantic_generation_config=sem_cfg, do_sample=True,
                                      max_new_tokens=int(round(seconds * C.SEMANTIC_RATE_HZ)))
        t["semantic"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        coarse = model.coarse_acoustics.generate(sem, semantic_generation_config=sem_cfg,
                                                 coarse_generation_config=coarse_cfg, codebook_size=C.CODEBOOK_SIZE,
                                                 do_sample=True)
        t["coarse"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fine = model.fine_acoustics.generate(coarse, semantic_generation_config=sem_cfg,
                                             coarse_generation_config=coarse_cfg, fine_generation_config=fine_cfg,
                                             codebook_size=C.CODEBOOK_SIZE, do_sample=True)
        t["fine"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        audio = model.codec_decode(fine)
        t["decode"] = time.perf_counter() - t0
    return dict(times=t, n_semantic=int(sem.shape[-1]), n_frames=int(fine.shape[-1]),
                audio_s=audio.shape[-1] / C.SAMPLE_RATE, tokens=None)


def run_takes(folder: Path, seconds: float, seed: int, precision: str, n_takes: int) -> dict:
    """`n_takes` variations of the utterance in one batched pass (times are the whole batch's)."""
    pipe = bark_pipeline(folder, precision, False, "auto")
    takes = pipe.generate_takes(TEXT, n_takes=n_takes, seed=seed, min_eos_p=None, max_duration_s=seconds)
    t = {s: takes[0].timings[s] for s in STAGES}
    return dict(times=t, n_semantic=len(takes[0].semantic_tokens), n_frames=int(takes[0].coarse_tokens.shape[1]),
                audio_s=takes[0].duration_s,  # take 0 (seed `seed`) is compared with the reference's tokens
                tokens=digest(takes[0].semantic_tokens, takes[0].coarse_tokens, takes[0].fine_tokens))


def run_stream(folder: Path, seconds: float, seed: int, precision: str) -> dict:
    """pipe.stream: the same take as generate, with a preview played while it is made; reports first audio."""
    pipe = bark_pipeline(folder, precision, False, "auto")
    chunks = list(pipe.stream(TEXT, voice=VOICE, seed=seed, min_eos_p=None, max_duration_s=seconds))
    r = chunks[-1].result
    t = {s: r.timings[s] for s in STAGES}
    t["coarse"] += r.timings["preview"]  # the preview runs inside the coarse stage's time
    return dict(times=t, n_semantic=len(r.semantic_tokens), n_frames=int(r.coarse_tokens.shape[1]),
                audio_s=r.duration_s, first_audio=r.timings["first_audio"], voice=r.settings["voice"],
                # with a voice the input is not the reference row's: no token comparison
                tokens=None if VOICE else digest(r.semantic_tokens, r.coarse_tokens, r.fine_tokens))


IMPLS = {"bark_core": run_bark_core, "reference": run_reference, "transformers": run_transformers,
         "transformers_fp16": lambda folder, seconds, seed: run_transformers(folder, seconds, seed, "float16"),
         "bark_core_4_takes": lambda folder, seconds, seed: run_takes(folder, seconds, seed, "exact", 4),
         "bark_core_fast_1_take": lambda folder, seconds, seed: run_takes(folder, seconds, seed, "fast", 1),
         "bark_core_fast_4_takes": lambda folder, seconds, seed: run_takes(folder, seconds, seed, "fast", 4),
         "bark_core_stream": lambda folder, seconds, seed: run_stream(folder, seconds, seed, "exact"),
         "bark_core_fast_stream": lambda folder, seconds, seed: run_stream(folder, seconds, seed, "fast"),
         "bark_core_fast": lambda folder, seconds, seed: run_bark_core(folder, seconds, seed, "fast"),
         # one model at a time on the accelerator: compare its peak GPU memory with the row above (CUDA)
         "bark_core_fast_offload": lambda folder, seconds, seed: run_bark_core(folder, seconds, seed, "fast", True),
         # bf16 autocast everywhere: for CPUs with AMX / AVX-512-BF16 (and what GPUs run)
         "bark_core_bf16": lambda folder, seconds, seed: run_bark_core(folder, seconds, seed, "bf16"),
         # Decoding steps launched one kernel at a time (on CUDA, "auto" replays them as CUDA graphs).
         "bark_core_no_graphs": lambda folder, seconds, seed: run_bark_core(folder, seconds, seed, graphs="off"),
         # The static decoding step compiled by torch.compile (captured as CUDA graphs on CUDA); the first run
         # compiles (see the row's per-run totals), the median is the steady state.
         "bark_core_compile": lambda folder, seconds, seed: run_bark_core(folder, seconds, seed, graphs="compile"),
         "bark_core_fast_compile": lambda folder, seconds, seed: run_bark_core(folder, seconds, seed, "fast",
                                                                               graphs="compile")}


def child(impl: str, folder: Path, seconds: float, runs: int, threads: int, device: str, voice: str | None) -> None:
    import torch

    global DEVICE, VOICE
    DEVICE, VOICE = device, voice
    torch.set_num_threads(threads)
    results = []
    for r in range(runs):
        results.append(IMPLS[impl](folder, seconds, seed=r))
        gc.collect()  # free the run's pipeline (and any reference cycles) before the next one loads
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    print(json.dumps(dict(results=results, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          peak_gpu_mb=gpu)))


def summarize(name: str, out: dict) -> dict:
    rs = out["results"]
    med = {s: statistics.median(r["times"][s] for r in rs) for s in STAGES}
    total = sum(med.values())
    audio_s = statistics.median(r["audio_s"] for r in rs)
    first = [r["first_audio"] for r in rs if "first_audio" in r]
    return dict(name=name, stages=med, total=total, rtf=total / audio_s, audio_s=audio_s,
                first_audio=statistics.median(first) if first else None, voice=rs[0].get("voice"),
                n_semantic=rs[0]["n_semantic"], n_frames=rs[0]["n_frames"], rss=out["peak_rss_mb"],
                gpu=out.get("peak_gpu_mb"),
                tokens=[r["tokens"] for r in rs])


def main() -> None:
    parser = argparse.ArgumentParser(description="bark_core vs suno's reference, same weights, same sizes")
    parser.add_argument("--size", default="bark-small", choices=["bark-small", "bark"])
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--impl", nargs="+", default=["reference", "transformers", "bark_core", "bark_core_fast",
                                                      "bark_core_4_takes", "bark_core_fast_1_take",
                                                      "bark_core_fast_4_takes"],
                        choices=list(IMPLS))
    parser.add_argument("--weights", default=None, help="folder to keep the random weights in (reused)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (every implementation runs there)")
    parser.add_argument("--voice", default=None, help="an .npz voice prompt for the streaming rows (first audio "
                        "comes sooner with a voice: the first coarse window reads mostly its history)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.weights or tempfile.mkdtemp(prefix=f"bark-bench-{args.size}-"))
    if args.child:
        child(args.child[0], folder, float(args.child[1]), args.runs, args.threads, args.device, args.voice)
        return
    write_weights(folder, args.size)
    for seconds in args.seconds:
        rows = []
        for impl in args.impl:
            cmd = [sys.executable, "-m", "benchmarks.speed", "--weights", str(folder), "--runs", str(args.runs),
                   "--threads", str(args.threads), "--size", args.size, "--device", args.device, "--child", impl,
                   str(seconds)] + (["--voice", str(Path(args.voice).resolve())] if args.voice else [])
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:  # report it and go on: the other rows still compare
                print(f"{impl} failed (exit {proc.returncode}):\n" + "\n".join(proc.stderr.splitlines()[-15:]))
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(summarize(impl, out))
            # A line per row as it finishes: a run cut short (a time limit) still shows what it measured.
            runs = ", ".join(f"{sum(r['times'].values()):.2f}" for r in out["results"])
            print(f"{impl}, {seconds:g} s: total {rows[-1]['total']:.2f} s, RTF {rows[-1]['rtf']:.3f} (runs: {runs})"
                  + (f", GPU {rows[-1]['gpu']:.0f} MiB" if rows[-1]["gpu"] else ""), flush=True)
            warned = [line for line in proc.stderr.splitlines() if "Warning" in line]
            if warned:  # e.g. a failed CUDA graph capture: the row then measured eager decoding
                print(f"{impl} warned:\n" + "\n".join(dict.fromkeys(warned)), flush=True)
        print(f"\n{args.size}, {seconds:g} s utterance, median of {args.runs} runs, {args.threads} threads")
        print("| impl | " + " | ".join(f"{s} s (tok/s, share)" for s in STAGES) + " | total s | RTF | peak RSS |")
        print("|---|" + "---|" * (len(STAGES) + 3))
        for r in rows:
            counts = {"semantic": r["n_semantic"], "coarse": 2 * r["n_frames"], "fine": 6 * r["n_frames"],
                      "decode": r["n_frames"]}
            cells = [f"{r['stages'][s]:.2f} ({counts[s] / r['stages'][s]:.0f}/s, {r['stages'][s] / r['total']:.0%})"
                     for s in STAGES]
            print(f"| {r['name']} | " + " | ".join(cells) + f" | {r['total']:.1f} | {r['rtf']:.2f} | "
                  f"{r['rss']:.0f} MiB" + (f" (GPU {r['gpu']:.0f} MiB)" if r["gpu"] else "") + " |")
        report_ratios(rows)


def report_ratios(rows: list[dict]) -> None:
    by_name = {r["name"]: r for r in rows}
    ref = by_name.get("reference")
    for r in rows:
        if ref and r is not ref:
            ratios = ", ".join(f"{s} {ref['stages'][s] / r['stages'][s]:.2f}x" for s in STAGES)
            same = ("not compared (another sampler, or a voice the reference's row did not have)"
                    if r["tokens"][0] is None else
                    "identical" if r["tokens"] == ref["tokens"] else "different")
            what = "take 0's tokens" if "takes" in r["name"] else "tokens"
            print(f"{r['name']} speed-up over the reference (same run): end to end "
                  f"{ref['total'] / r['total']:.2f}x; {ratios}; {what} {same} to the reference's")
    for base, label in (("transformers", "transformers' BarkModel"), ("transformers_fp16", "BarkModel in fp16"),
                        ("bark_core_no_graphs", "no graphs")):
        if base in by_name:
            ups = ", ".join(f"{r['name']} {by_name[base]['total'] / r['total']:.2f}x" for r in rows
                            if r["name"].startswith("bark_core") and r["name"] != base)
            if ups:
                print(f"speed-up over {label} (same run), end to end: {ups}")
    for r in rows:
        if r["first_audio"] is not None:
            voice = f", voice {r['voice']}" if r["voice"] else ", no voice"
            print(f"{r['name']}: first audio after {r['first_audio']:.1f} s (median) of {r['total']:.1f} s{voice}")
    for name, single in (("bark_core_4_takes", "bark_core"), ("bark_core_fast_4_takes", "bark_core_fast_1_take")):
        if name in by_name and single in by_name:
            print(f"{name}: 4 takes in {by_name[name]['total'] / by_name[single]['total']:.2f}x the time of "
                  f"one ({single}, same run)")


if __name__ == "__main__":
    main()
