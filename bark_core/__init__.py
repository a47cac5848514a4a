"""bark_core: a faithful, fast engine for Suno's Bark text-to-audio model.

    from bark_core import BarkPipeline
    pipe = BarkPipeline.from_pretrained("bark-small")
    out = pipe.generate("Hello! [laughs] I'm Bark.", voice="v2/en_speaker_6", seed=7)
"""

from .generation.result import BarkResult
from .generation.semantic import GenerationCancelled
from .generation.settings import CoarseSettings, FineSettings, SamplingParams, SemanticSettings
from .models.config import PRESETS, FineGPTConfig, GPTConfig
from .models.hub import ModelFilesUnavailable
from .pipeline import BarkPipeline
from .voices.voice import Voice

__all__ = [
    "BarkPipeline", "BarkResult", "GenerationCancelled", "Voice", "ModelFilesUnavailable", "PRESETS", "GPTConfig",
    "FineGPTConfig", "SamplingParams", "SemanticSettings", "CoarseSettings", "FineSettings",
]
# 0.2.0: fast mode draws each stage from its own random stream (its takes of a seed differ from 0.1.0's).
# 0.3.0: fast and bf16 modes continue a coarse window from the cache where its input extends the previous one
# (same function, other rounding: their takes of a seed can differ from 0.2.0's).
# 0.3.1: lower per-step overhead (same kernels, same takes); streaming's first chunk comes inside the first window
# (the preview of that chunk differs; takes do not).
# 0.4.0: on GPUs, decoding steps replay CUDA graphs (masked attention over a bucket: other rounding, so GPU takes of a
# seed can differ from 0.3.1's) and bf16 Linear weights are stored once (the same products); fast mode on CPUs with
# AMX / AVX-512-BF16 runs its fine passes in bf16. CPUs without them: the same takes as 0.3.1.
# 0.4.1: graphs="compile" (opt-in: the graphed step through torch.compile); a torch.Generator on another device than
# the pipeline's is refused with a clear message. Default takes unchanged.
# 0.5.0: fast mode on CPUs with AMX / AVX-512-BF16 also runs the text and coarse prefills in bf16 (its takes of a seed
# differ from 0.4.1's there; other CPUs: the same takes); the KV cache holds keys and values in one tensor (same
# takes); `bark_core.studio`: the app's request logic, usable without Gradio.
# 0.5.1: stream(n_takes=k) streams a batch (the same takes as generate_takes); generate_long(on_preview=) streams
# long text chunk by chunk (the same take); loads through transformers hold one lock (a first-use import race);
# an unreachable Hub fails at once. Default takes unchanged.
__version__ = "0.5.1"
