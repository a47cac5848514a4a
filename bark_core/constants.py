"""Every number that defines Bark's token layout and windows, named once.

Values are those of suno-ai/bark ``bark/generation.py``; the engine must use exactly these to be token-exact.
"""

SAMPLE_RATE = 24_000

# Semantic tokens (HuBERT-derived, 49.9 per second of audio).
SEMANTIC_RATE_HZ = 49.9
SEMANTIC_VOCAB_SIZE = 10_000
SEMANTIC_PAD_TOKEN = 10_000  # also the EOS logit of the text model
SEMANTIC_INFER_TOKEN = 129_599
TEXT_ENCODING_OFFSET = 10_048  # BERT ids are shifted past the semantic vocabulary
TEXT_PAD_TOKEN = 129_595
TEXT_WINDOW = 256  # BERT tokens the text model sees
SEMANTIC_HISTORY_WINDOW = 256  # history tokens merged into the text positions
SEMANTIC_MAX_STEPS = 768  # ~15.4 s of semantic tokens

# EnCodec codes (75 frames per second, 1024 entries per codebook, 8 codebooks at 6 kbps).
COARSE_RATE_HZ = 75
CODEBOOK_SIZE = 1024
N_COARSE_CODEBOOKS = 2
N_FINE_CODEBOOKS = 8
CODEC_BANDWIDTH_KBPS = 6.0
SAMPLES_PER_FRAME = SAMPLE_RATE // COARSE_RATE_HZ  # 320

# Coarse model layout: semantic window, infer token, interleaved coarse history.
COARSE_SEMANTIC_PAD_TOKEN = 12_048
COARSE_INFER_TOKEN = 12_050
COARSE_SEMANTIC_WINDOW = 256
MAX_COARSE_HISTORY = 630  # default and upper bound of coarse history tokens per window
MIN_COARSE_HISTORY = 60
SLIDING_WINDOW_LEN = 60  # coarse tokens generated per window before re-prefilling
COARSE_HISTORY_ALIGN_DROP = 2  # the reference drops the last 2 history tokens "for time alignment"
# Coarse tokens per semantic token, counting both interleaved codebooks (~3.006).
SEMANTIC_TO_COARSE_RATIO = COARSE_RATE_HZ / SEMANTIC_RATE_HZ * N_COARSE_CODEBOOKS
# Voices are checked against the same rounded ratio the reference asserts (1.5 frames per semantic token).
VOICE_RATIO_ROUNDED = round(SEMANTIC_TO_COARSE_RATIO / N_COARSE_CODEBOOKS, 1)

# Fine model: non-causal windows over all 8 codebooks.
FINE_WINDOW = 1024
FINE_STEP = 512  # windows overlap by half
FINE_MAX_HISTORY = 512
FINE_PAD_TOKEN = CODEBOOK_SIZE  # fills codebooks not yet predicted and the tail of short inputs

CONTEXT_WINDOW = 1024  # block size of every Bark model
GRAPH_BUCKET = 128  # graphed decoding attends over the cached positions rounded up to a multiple of this

# Default sampling settings of the reference API.
DEFAULT_TEXT_TEMP = 0.7
DEFAULT_WAVEFORM_TEMP = 0.7
DEFAULT_FINE_TEMP = 0.5
DEFAULT_MIN_EOS_P = 0.2

SUPPORTED_LANGUAGES = ("en", "de", "es", "fr", "hi", "it", "ja", "ko", "pl", "pt", "ru", "tr", "zh")
