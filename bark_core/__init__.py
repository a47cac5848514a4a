"""bark_core: a faithful, fast engine for Suno's Bark text-to-audio model.

    from bark_core import BarkPipeline
    pipe = BarkPipeline.from_pretrained("bark-small")
    out = pipe.generate("Hello! [laughs] I'm Bark.", voice="v2/en_speaker_6", seed=7)
"""

from .generation.coarse import generate_coarse
from .generation.fine import decode_codes, generate_fine
from .generation.longform import LongFormSettings
from .generation.progress import GenerationCancelled
from .generation.result import BarkResult
from .generation.semantic import generate_semantic
from .generation.settings import SAMPLING, CoarseSettings, FineSettings, Sampling, SamplingParams, SemanticSettings
from .generation.streaming import StreamChunk, StreamSettings
from .generation.text import LongTextWarning
from .models.config import PRESETS, FineGPTConfig, GPTConfig
from .models.hub import ModelFilesUnavailable
from .models.runtime import Runtime
from .pipeline import BarkPipeline
from .version import __version__
from .voices.voice import Voice

__all__ = [
    "BarkPipeline", "BarkResult", "GenerationCancelled", "Voice", "ModelFilesUnavailable", "Runtime", "Sampling",
    "SAMPLING", "LongFormSettings", "StreamSettings", "StreamChunk", "PRESETS", "GPTConfig", "FineGPTConfig",
    "SamplingParams", "SemanticSettings", "CoarseSettings", "FineSettings", "generate_semantic", "generate_coarse",
    "generate_fine", "decode_codes", "LongTextWarning", "__version__",
]
