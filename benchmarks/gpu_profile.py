"""Where bark_core's time goes on a GPU: per stage, CUDA graph captures, and the device's own time per step.

    python -m benchmarks.gpu_profile --weights /tmp/bark-large --seconds 5     # on a CUDA machine

One pipeline, a warm-up generation, then one timed generation with the graph captures timed on their own (the
decoder captures one graph per cache bucket for each stage call), the wall time per decoding step compared with
the GPU's time for a replay of that step, the anatomy of one step (its kernels' GPU time by kind — matrix
products, attention, layer norms, ... — plain and compiled by inductor), and torch.profiler's table of the most
expensive kernels and host ops.
Not a test: read it to decide what to speed up next.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.speed import TEXT  # the harness's utterance


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def generate(pipe, seconds: float, seed: int) -> dict:
    import torch

    g = torch.Generator(device=pipe.device).manual_seed(seed)
    t, n, x = {}, {}, None
    for stage, run in (("semantic", lambda x: pipe.text_to_semantic(TEXT, generator=g, min_eos_p=None,
                                                                   max_duration_s=seconds)),
                       ("coarse", lambda x: pipe.semantic_to_coarse(x, generator=g)),
                       ("fine", lambda x: pipe.coarse_to_fine(x, generator=g)),
                       ("decode", pipe.decode)):
        sync()
        t0 = time.perf_counter()
        x = run(x)
        sync()
        t[stage], n[stage] = time.perf_counter() - t0, x.shape[-1]
    return dict(times=t, sizes=n)


def replay_ms(graph, repeats: int = 200) -> float:
    """GPU time of one replay (launched back to back, so the host is not what is measured)."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / repeats


# Ops that only make views (no kernel on a GPU; seen on a CPU, where the profile counts ops), by exact name.
VIEW_OPS = {f"aten::{op}" for op in ("view", "select", "slice", "permute", "transpose", "unbind", "as_strided",
                                     "alias", "unsqueeze", "expand", "_unsafe_view", "t")}
KERNEL_KINDS = (  # (kind, substrings of kernel or op names), first match wins
    ("attention", ("fmha", "flash", "attention", "attn", "sdpa", "cudnn")),
    ("matrix products", ("gemm", "gemv", "cublas", "cutlass", "sm80_", "sm90_", "splitk", "linear", "addmm", "mm")),
    ("layer norm", ("layer_norm", "layernorm")),
    ("cache write", ("index_copy", "indexcopy", "index_put")),
    ("GELU", ("gelu",)),
    ("fused by inductor", ("triton_",)),
    ("casts and copies", ("copy", "to_copy", "cast")),
    ("elementwise", ("elementwise", "add", "mul", "where", "le", "embedding", "index")),
)


def kind_of(name: str) -> str:
    if name in VIEW_OPS:
        return "views (CPU only)"
    low = name.lower()
    return next((kind for kind, keys in KERNEL_KINDS if any(k in low for k in keys)), "other")


def step_anatomy(pipe, compiled: bool, repeats: int = 20) -> list[tuple[str, float, float]]:
    """Where one decoding step's device time goes: the coarse model's static step (what a CUDA graph replays) over
    a full 1024-position bucket, run eagerly (compiled by inductor with `compiled`) under the profiler.

    Returns (kind, microseconds per step, kernels per step), most time first. On CUDA it counts kernels (the
    GPU's own time); on a CPU, the top-level aten ops' own time (to try the script).
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bark_core import constants as C
    from bark_core.models.graphs import _uncached_autocast, compiled_step, static_step
    from bark_core.models.model import KVCache

    model, device = pipe.coarse_model, pipe.device
    # The coarse cache's whole length (every bucket); small on a CPU, where this only tries the script.
    n = 4 * C.GRAPH_BUCKET if device.type == "cpu" else C.CONTEXT_WINDOW
    cache = KVCache(model.config, 1, n, device)
    cuda = device.type == "cuda"
    with torch.inference_mode(), pipe.runtime.using(model):
        model(torch.zeros(1, n - 1, dtype=torch.long, device=device), cache=cache)  # fills the cache
        args = (torch.zeros(1, 1, dtype=torch.long, device=device), torch.tensor([n - 1], device=device),
                torch.arange(n, device=device), cache.kv.unbind(0), C.SEMANTIC_VOCAB_SIZE,
                C.SEMANTIC_VOCAB_SIZE + 2 * C.CODEBOOK_SIZE)
        run = (lambda: compiled_step()(model, *args)) if compiled else (
            lambda: static_step(model, cache.plans(model), *args))

        def step():
            with _uncached_autocast():  # as the graphs capture it (and the compiled code was compiled)
                return run()

        for _ in range(3):  # warm-up (and compilation)
            step()
        sync()
        with profile(activities=[ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]) as prof:
            for _ in range(repeats):
                step()
            sync()
    totals: dict[str, list[float]] = {}
    for e in prof.events():
        if cuda and e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        if not cuda and (e.cpu_parent is not None or not e.name.startswith("aten::")):
            continue  # top-level ops only: their own time is the CPU's share
        t = totals.setdefault(kind_of(e.name), [0.0, 0.0])
        t[0] += (e.time_range.elapsed_us() if cuda else e.cpu_time_total) / repeats  # a kernel's own span
        t[1] += 1 / repeats
    return sorted(((k, us, count) for k, (us, count) in totals.items()), key=lambda r: -r[1])


def print_anatomy(pipe, compiled: bool) -> None:
    try:
        rows = step_anatomy(pipe, compiled)
    except Exception as e:  # noqa: BLE001 - a profile that fails must not cost the rest of the run
        print(f"step anatomy ({'compiled' if compiled else 'static'}) failed: {type(e).__name__}: {e}", flush=True)
        return
    total = sum(us for _, us, _ in rows)
    if not rows:
        print(f"one {'compiled' if compiled else 'static'} step: no kernels seen (on a CPU, inductor's C++ code is "
              "not an aten op)", flush=True)
        return
    print(f"one {'compiled' if compiled else 'static (as graphed)'} coarse decoding step, eager, by kind: "
          f"{total:.0f} us, {sum(c for _, _, c in rows):.0f} kernels/ops", flush=True)
    for kind, us, count in rows:
        print(f"  {kind:<20} {us:8.1f} us  {us / max(total, 1e-9):4.0%}  {count:5.0f} per step", flush=True)


def main() -> None:
    import torch

    from bark_core import BarkPipeline
    from bark_core.models.graphs import Decoder

    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--precision", default="exact")
    ap.add_argument("--graphs", default="auto", help="the pipeline's graphs mode (auto, compile, off, ...)")
    ap.add_argument("--profile-seconds", type=float, default=1.0, help="length of the profiled generation "
                    "(short: the profiler's bookkeeping for a long one takes minutes)")
    ap.add_argument("--device", default="cuda", help="cuda (cpu only to try the script: no graphs there)")
    ap.add_argument("--anatomy", choices=("static", "compiled", "both", "none"), default="both",
                    help="profile one decoding step by kind of kernel: the plain static step, the compiled one")
    args = ap.parse_args()
    pipe = BarkPipeline.from_pretrained(args.weights, device=args.device, precision=args.precision,
                                        graphs=args.graphs)
    print(f"precision {pipe.precision}, weights {pipe.weights_format}, graphs {pipe.graphs}", flush=True)
    t0 = time.perf_counter()
    generate(pipe, args.seconds, seed=0)  # warm-up: cuBLAS, allocator, compilation
    print(f"first generation (warm-up): {time.perf_counter() - t0:.1f} s", flush=True)

    captures, decoders = [], []
    capture = Decoder._capture

    def timed_capture(self, n):
        sync()
        t0 = time.perf_counter()
        out = capture(self, n)
        sync()
        captures.append(time.perf_counter() - t0)
        decoders.append((self.model.config.n_layer, n, out[0]))
        return out

    Decoder._capture = timed_capture
    r = generate(pipe, args.seconds, seed=1)
    Decoder._capture = capture
    total = sum(r["times"].values())
    print(f"one generation: {total:.3f} s for {r['sizes']['decode'] / 24_000:.2f} s of audio; "
          + ", ".join(f"{k} {v:.3f} s" for k, v in r["times"].items()), flush=True)
    steps = r["sizes"]["semantic"] + 2 * r["sizes"]["coarse"]  # decoded tokens: semantic, coarse (2 per frame)
    print(f"graph captures: {len(captures)}, {sum(captures):.3f} s in all "
          f"({sum(captures) / total:.0%} of the generation)", flush=True)
    if decoders:
        _, n, graph = decoders[-1]
        print(f"GPU time of one replayed step (cache bucket {n}): {replay_ms(graph):.3f} ms; "
              f"wall per decoded token (semantic + coarse, captures excluded): "
              f"{(r['times']['semantic'] + r['times']['coarse'] - sum(captures)) / steps * 1e3:.3f} ms", flush=True)

    if args.anatomy in ("static", "both"):
        print_anatomy(pipe, compiled=False)

    from torch.profiler import ProfilerActivity, profile

    print(f"wall per token: semantic {r['times']['semantic'] / r['sizes']['semantic'] * 1e3:.3f} ms, coarse "
          f"{r['times']['coarse'] / (2 * r['sizes']['coarse']) * 1e3:.3f} ms (captures included)", flush=True)
    cuda = torch.cuda.is_available()
    with profile(activities=[ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * cuda) as prof:
        p = generate(pipe, args.profile_seconds, seed=2)
    table = prof.key_averages()
    if cuda:
        # Kernels' own time against the wall time: what is left is the GPU waiting for the host (the profiler's
        # own overhead on the host included, so this reads low).
        busy = sum(getattr(e, "self_device_time_total", 0) for e in table) / 1e6
        wall = sum(p["times"].values())
        print(f"GPU busy {busy:.3f} s of {wall:.3f} s profiled ({busy / wall:.0%})", flush=True)
        print(table.table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=60), flush=True)
    print(table.table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=60), flush=True)
    if args.anatomy in ("compiled", "both"):  # last: it may compile again
        print_anatomy(pipe, compiled=True)


if __name__ == "__main__":
    main()
