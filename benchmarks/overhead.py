"""Per-token overhead of a decoding step, on its own: a model with bark-small's 12 layers but 32 wide, so that
the kernels cost next to nothing and what is measured is the dispatch, the Python and the kernels' fixed costs.

    python -m benchmarks.overhead              # fp32 (exact mode's layers) and int8 (fast mode's), 2 threads

A third line times what is left on the host per token when a GPU replays the step as a CUDA graph
(`graphs.Decoder`): filling the static buffers, the replay call (stubbed here: the GPU's work is not on the host)
and sampling the token.

Not a test: timings are noisy; read the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time


def step_ms(model, cached: int, steps: int, repeats: int) -> float:
    """Median over `repeats` of the mean time of one decoding step after `cached` positions."""
    import torch

    from bark_core.models.model import KVCache

    cache = KVCache(model.config, 1, cached + 1, "cpu")
    vocab = slice(10_000, 11_024)  # what a coarse step computes
    times = []
    with torch.inference_mode():
        model(torch.randint(0, 10_000, (1, cached)), cache=cache)
        token = torch.tensor([[10_500]])
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(steps):
                model(token, cache=cache, start=cached, vocab=vocab)
            times.append((time.perf_counter() - t) / steps * 1e3)
    return statistics.median(times)


def graphed_host_ms(model, cached: int, steps: int, repeats: int) -> float:
    """Median over `repeats` of the host time per token of graphed decoding, the replay itself stubbed out."""
    import torch

    from bark_core.generation.sampling import sample
    from bark_core.generation.settings import SamplingParams
    from bark_core.models.graphs import Decoder
    from bark_core.models.model import KVCache

    class StubGraph:
        def replay(self) -> None:  # on a GPU: one launch; the step's kernels run on the device
            pass

    class Graphed(Decoder):
        def _capture(self, n):
            return StubGraph(), self._step(n)

    cache = KVCache(model.config, 1, cached + steps + 1, "cpu")
    params, gen, times = SamplingParams(0.7), torch.Generator().manual_seed(0), []
    with torch.inference_mode():
        model(torch.randint(0, 10_000, (1, cached)), cache=cache)
        decode = Graphed(model, cache, "cuda", slice(10_000, 12_048))
        token = torch.tensor([[10_500]])
        for _ in range(repeats):
            t = time.perf_counter()
            for i in range(steps):
                logits = decode(token, cached + i % 8, slice(10_000, 11_024))
                token = (sample(logits[0], params, gen)[0] + 10_000).view(1, 1)
            times.append((time.perf_counter() - t) / steps * 1e3)
    return statistics.median(times)


def main() -> None:
    import torch

    from bark_core.models.config import GPTConfig
    from bark_core.models.loading import quantize_int8
    from bark_core.models.model import GPT

    parser = argparse.ArgumentParser(description="per-token overhead of a decoding step")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--cached", type=int, default=887, help="cached positions (a coarse window's prefill)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPTConfig(n_layer=args.layers, n_head=2, n_embd=32, input_vocab_size=12_096, output_vocab_size=12_096)
    for name, model in (("fp32", GPT(config).eval()), ("int8", quantize_int8(GPT(config).eval()))):
        ms = step_ms(model, args.cached, args.steps, args.repeats)
        print(f"{name}: {ms:.3f} ms per decoding step ({args.layers} layers, 32 wide, {args.cached} cached)")
    ms = graphed_host_ms(GPT(config).eval(), args.cached, args.steps, args.repeats)
    print(f"graphed (CUDA graphs' host side, replay stubbed): {ms:.3f} ms per token, sampling included")


if __name__ == "__main__":
    main()
