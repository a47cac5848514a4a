"""How far fast mode is from exact mode on the same weights (`bark_core.fidelity`): a proxy, not a listening test.

    python -m benchmarks.fidelity --weights /tmp/bench-small --seconds 5

One exact-mode take of the harness's utterance gives the tokens; then, for plain fast mode (int8) and fast mode as
it runs on CPUs with bf16 matrix units (bf16 prefills and fine passes, int8 decoding; the detection simulated,
so on a CPU without them its bf16 products are slow but compute the same numbers): the coarse stage's KL divergence
and top-1 agreement decoded as the stage runs (windows, cache reuse, int8 activations quantized per step), and
per stage under teacher forcing (whole passes).
"""

from __future__ import annotations

import argparse
import time

from benchmarks.speed import TEXT  # the harness's utterance


def main() -> None:
    import torch

    import bark_core.pipeline as pipeline_module
    from bark_core import BarkPipeline
    from bark_core.generation.text import encode_text
    from bark_core.testing.fidelity import coarse_decode_fidelity, stage_fidelity

    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True, help="a model folder (benchmarks.speed writes random ones)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    exact = BarkPipeline.from_pretrained(args.weights, device="cpu")
    variants = {"fast (int8)": exact.with_precision("fast")}
    real = pipeline_module.cpu_has_fast_bf16
    pipeline_module.cpu_has_fast_bf16 = lambda: True
    try:
        variants["fast on CPUs with bf16 units (bf16 prefill and fine)"] = exact.with_precision("fast")
    finally:
        pipeline_module.cpu_has_fast_bf16 = real
    g = exact.make_generator(args.seed)
    t0 = time.perf_counter()
    semantic = exact.text_to_semantic(TEXT, generator=g, min_eos_p=None, max_duration_s=args.seconds)
    coarse = exact.semantic_to_coarse(semantic, generator=g)
    fine = exact.coarse_to_fine(coarse, generator=g)
    print(f"exact take: {len(semantic)} semantic tokens, {coarse.shape[1]} frames ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    ids = encode_text(exact.tokenizer, TEXT)
    for name, pipe in variants.items():
        d = coarse_decode_fidelity(exact.coarse_model, pipe.coarse_model, semantic, coarse, reuse_prefix=True)
        print(f"{name}: coarse, decoded as it runs: KL {d['kl']:.5f} nats, top-1 {d['top1']:.1%}", flush=True)
        f = stage_fidelity(exact, pipe, ids, semantic, coarse, fine)
        print(f"{name}: teacher forced: " + ", ".join(f"{stage} KL {v['kl']:.5f}, top-1 {v['top1']:.1%}"
                                                       for stage, v in f.items()), flush=True)


if __name__ == "__main__":
    main()
