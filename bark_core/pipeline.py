"""BarkPipeline, the facade: owns the models, tokenizer, codec and presets (made once into an `Engine`), checks each
call's input and hands the work to `generation`'s functions; every request's state stays local."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Unpack

import numpy as np
import torch

from . import constants as C
from .generation.cascade import batch_seeds, label_takes, run_takes
from .generation.coarse import generate_coarse
from .generation.engine import Engine
from .generation.fine import decode_codes, generate_fine
from .generation.longform import LongFormSettings, generate_long, plan_chunks
from .generation.progress import Progress
from .generation.result import BarkResult
from .generation.sampling import StageGenerators, check_generator
from .generation.semantic import generate_semantic
from .generation.settings import (
    CoarseSettings,
    FineSettings,
    Sampling,
    SamplingParams,
    SemanticSettings,
    StageSettings,
    check_seed,
    check_tokens,
)
from .generation.streaming import StreamChunk, StreamSettings, stream_take
from .generation.text import check_text, encode_prompt
from .models import loading
from .models.config import DEFAULT_VOICES_REPO
from .models.graphs import resolve_graphs
from .models.hub import HubOptions, has_random_weights, resolve_model
from .models.loading import (
    cpu_has_fast_bf16,
    default_voices,
    load_codec,
    load_models,
    load_tokenizer,
    prepare_models,
    resolve_device,
    weights_format,
)
from .voices.presets import PresetStore, VoiceLike
from .voices.voice import Voice

GeneratorLike = torch.Generator | int | None


def _engine_part(name: str, doc: str) -> property:
    """A read-only attribute of the pipeline that is its engine's."""
    return property(lambda self: getattr(self.engine, name), doc=doc)


class BarkPipeline:
    """Bark's cascade: text -> semantic -> coarse -> fine -> 24 kHz audio.

    Thread-safe to share between users: generation state (caches, generators, tokens) lives in each call.
    """

    def __init__(self, models: dict[str, torch.nn.Module], tokenizer, codec: torch.nn.Module, *,
                 device: str | torch.device = "auto", offload: bool = False, presets: PresetStore | None = None,
                 name: str = "bark", precision: str = "exact", models_are_mine: bool = False,
                 graphs: str = "auto", fingerprint: dict[str, str] | None = None, random_weights: bool = False):
        """models_are_mine: nothing else uses `models`, so fast mode may quantize them in place (lower peak memory).
        graphs: see `from_pretrained`. fingerprint: `weights_fingerprint()` of these weights, if known.
        random_weights: the weights are random (a folder marked by `write_offline_folder`): the audio is noise."""
        self.device = resolve_device(device)
        self.random_weights = bool(random_weights)
        graphs = resolve_graphs(graphs, self.device)
        self.name = name
        self.presets = presets or PresetStore(DEFAULT_VOICES_REPO)
        # Bark's reference runs under bf16 autocast on GPUs that support it; so do we. "bf16" asks for it anywhere
        # (CPUs with AMX or AVX-512-BF16 run bf16 matrix products several times faster than fp32).
        self.weights_format = weights_format(precision, self.device)
        # Fast mode on CPUs with bf16 matrix units (AMX, AVX-512-BF16): what is bound by its matrix products — the
        # fine passes and the text and coarse models' prefills — runs in bf16 there (several times int8's speed);
        # decoding, bound by reading the weights, stays int8.
        self.bf16_units = self.weights_format == "int8" and cpu_has_fast_bf16()
        self.fine_format = "bf16" if self.bf16_units else self.weights_format
        if self.weights_format != "fp32" and fingerprint is None:
            # Of the original weights, so that bundles name the checkpoint, not the converted copy.
            fingerprint = loading.weights_fingerprint(dict(text=models["text"], coarse=models["coarse"],
                                                           fine=models["fine"], codec=codec))
        self._fingerprint = fingerprint  # of the (immutable) weights, computed once on demand
        self._fingerprint_lock = threading.Lock()
        parts, runtime = prepare_models(models, codec, self.device, offload=bool(offload), weights=self.weights_format,
                                        fine=self.fine_format, bf16_prefill=self.bf16_units, inplace=models_are_mine)
        self.engine = Engine(*parts, tokenizer, runtime, graphs, row_exact=self.weights_format == "fp32")

    text_model = _engine_part("text_model", "The text model (a `GPT`): BERT ids -> semantic tokens.")
    coarse_model = _engine_part("coarse_model", "The coarse model (a `GPT`): semantic tokens -> coarse codes.")
    fine_model = _engine_part("fine_model", "The fine model (a `FineGPT`): coarse codes -> all 8 codebooks.")
    codec = _engine_part("codec", "EnCodec 24 kHz (transformers' `EncodecModel`): fine codes -> audio.")
    tokenizer = _engine_part("tokenizer", "The BERT tokenizer of the text model.")
    runtime = _engine_part("runtime", "Where the models run (`Runtime`): device, offload, autocast.")
    graphs = _engine_part("graphs", 'How decoding steps run: "off", "static", "cuda" or "compile".')
    row_exact = _engine_part("row_exact", "Exact mode: token-identical to the reference, in batches too.")
    offload = property(lambda self: self.runtime.offload, doc="Models wait on the CPU between uses.")

    @classmethod
    def from_pretrained(cls, model: str | Path = "bark-small", *, tokenizer: str | Path | None = None,
                        codec: str | Path | None = None, voices: str | Path | None = None,
                        device: str = "auto", offload: bool = False, cache_dir: str | None = None,
                        local_files_only: bool = False, revision: str | None = None,
                        token: str | bool | None = None, precision: str = "exact",
                        graphs: str = "auto", progress: Progress | None = None) -> BarkPipeline:
        """Load "bark", "bark-small", a Hub repo id or a local folder (suno `.pt` files or transformers layout).

        tokenizer / codec: Hub ids or local folders; by default the model folder's `tokenizer/` and `codec/`
        subfolders when present, else bert-base-multilingual-cased and facebook/encodec_24khz from the Hub.
        voices: where presets come from: a folder of Bark `.npz` files or a repo with speaker_embeddings/.
        precision: "exact" (fp32 on CPU, token-identical to the reference; bf16 autocast on GPUs that have it, as
        the reference does), "fast" (int8 dynamic weights on CPU, with bf16 prefills and fine passes on CPUs with
        bf16 matrix units; on GPUs the same as "exact") or "bf16" (bf16 autocast on any device: for CPUs with AMX /
        AVX-512-BF16; slower than fp32 on CPUs without them).
        graphs: how decoding steps run (`graphs.Decoder`): "auto" (CUDA graphs on a CUDA device, else eager),
        "cuda", "off" (eager), "static" (the graphs' static-shape step without capture, any device) or "compile"
        (that step compiled by torch.compile, captured on CUDA; compiles on the first generation: slow, opt-in).
        progress(stage, done, total): what is happening while it loads, for a first request's page: ("downloading
        text_2.pt", bytes done, bytes total) while a file comes from the Hub, ("loading the text model", 1, 4) before
        each part (`loading.LOAD_STEPS`).
        A folder marked by `write_offline_folder` loads as `random_weights=True`.
        """
        hub = HubOptions(cache_dir, local_files_only, revision, token, progress=progress)
        source = resolve_model(str(model), tokenizer and str(tokenizer), codec and str(codec), hub)
        models, embedded_codec = load_models(source, progress)
        if progress is not None:
            progress(f"loading {loading.LOAD_STEPS[-1]}", len(loading.LOAD_STEPS), len(loading.LOAD_STEPS))
        codec_model = embedded_codec if embedded_codec is not None else load_codec(source.codec, hub)
        return cls(models, load_tokenizer(source.tokenizer, hub), codec_model, device=device, offload=offload,
                   presets=PresetStore(voices or default_voices(source), hub), name=str(model), precision=precision,
                   models_are_mine=True, graphs=graphs, random_weights=has_random_weights(model))

    def with_precision(self, precision: str) -> BarkPipeline:
        """A pipeline on the same weights at another precision (sharing tokenizer, codec and presets): from fp32
        weights it converts copies; converted weights (int8, bf16) serve only precisions that use them as they are
        (on a GPU, "exact" and "fast" are both bf16)."""
        models = dict(text=self.text_model, coarse=self.coarse_model, fine=self.fine_model)
        if self.weights_format not in ("fp32", weights_format(precision, self.device)):
            raise ValueError(f"this pipeline's weights are {self.weights_format} now, the fp32 ones are gone: "
                             f"make the {precision!r} pipeline from an exact one on a CPU, or load it again")
        return BarkPipeline(models, self.tokenizer, self.codec, device=self.device, offload=self.offload,
                            presets=self.presets, name=self.name, precision=precision, graphs=self.graphs,
                            models_are_mine=self.weights_format != "fp32", fingerprint=self.weights_fingerprint(),
                            random_weights=self.random_weights)

    @property
    def precision(self) -> str:
        """"fp32" (token-exact with the reference on CPU), "int8-dynamic" (fast mode on CPU; "int8-dynamic, bf16
        prefill and fine" on CPUs with bf16 matrix units) or "bf16-autocast" (GPUs with bf16 in exact and fast mode,
        or precision="bf16" on any device)."""
        if self.weights_format == "int8":
            return "int8-dynamic" + (", bf16 prefill and fine" if self.bf16_units else "")
        return "fp32" if self.weights_format == "fp32" else "bf16-autocast"

    def weights_fingerprint(self) -> dict[str, str]:
        """sha256 (first 16 hex digits) of each model's weights, whatever file format they came from."""
        with self._fingerprint_lock:
            if self._fingerprint is None:
                self._fingerprint = loading.weights_fingerprint(dict(
                    text=self.text_model, coarse=self.coarse_model, fine=self.fine_model, codec=self.codec))
            return self._fingerprint

    def voice_cloner(self, *, hubert: str | Path | None = None, quantizer: str | Path | None = None):
        """A `VoiceCloner` sharing this pipeline's codec (HuBERT and the quantizer load now, on the pipeline's
        device; defaults: the model folder's `hubert/` and `quantizer.pth` where it has them, else
        facebook/hubert-base-ls960 and GitMylo/bark-voice-cloning's quantizer)."""
        from .voices.cloning import DEFAULT_HUBERT, DEFAULT_QUANTIZER, VoiceCloner

        here = Path(self.name)
        hubert = hubert or (here / "hubert" if (here / "hubert").is_dir() else DEFAULT_HUBERT)
        quantizer = quantizer or (here / "quantizer.pth" if (here / "quantizer.pth").is_file() else DEFAULT_QUANTIZER)
        return VoiceCloner.from_pretrained(self.codec, hubert=hubert, quantizer=quantizer,
                                           device="cpu" if self.offload else str(self.device), hub=self.presets.hub)

    def make_generator(self, seed: int) -> torch.Generator:
        """One generator on this pipeline's device, seeded by `seed`."""
        return torch.Generator(device=self.device).manual_seed(check_seed(seed))

    def make_generators(self, seed: int) -> StageGenerators:
        """The random generators of the take seeded by `seed`: one for every stage in exact mode (the reference's
        order), one per stage in fast and bf16 modes (`sampling.StageGenerators`)."""
        return self.engine.make_generators(seed)

    def make_streams(self, seed: int) -> StageGenerators:
        """Deprecated name of `make_generators` ("stream" now means the audio preview only)."""
        warnings.warn("BarkPipeline.make_streams is deprecated; use make_generators", DeprecationWarning,
                      stacklevel=2)
        return self.make_generators(seed)

    def _generator(self, generator: GeneratorLike) -> torch.Generator:
        if isinstance(generator, torch.Generator):
            return check_generator(generator, self.device)
        return self.make_generator(secrets.randbelow(2**32) if generator is None else generator)

    def resolve_voice(self, voice: VoiceLike) -> Voice | None:
        """The voice (history prompt) a generation is conditioned on, or None: see `PresetStore.resolve` (a preset
        name, a path as str or Path, a dict of the three prompt arrays, a `Voice` or None; ValueError otherwise)."""
        return self.presets.resolve(voice)

    def text_to_semantic(self, text: str, *, voice: VoiceLike = None, temp: float = C.DEFAULT_TEXT_TEMP,
                         top_k: int | None = None, top_p: float | None = None,
                         min_eos_p: float | None = C.DEFAULT_MIN_EOS_P, max_duration_s: float | None = None,
                         generator: GeneratorLike = None, progress: Progress | None = None) -> np.ndarray:
        """Text (<= 256 BERT tokens; empty text, and text past one window, as in `generate`) -> semantic tokens int64
        (T_s,) in 0..9999."""
        settings = SemanticSettings(SamplingParams(temp, top_k, top_p), min_eos_p, max_duration_s)
        ids = encode_prompt(self.tokenizer, text)
        voice = self.resolve_voice(voice)
        gen = self._generator(generator)
        with self.runtime.using(self.text_model):
            return generate_semantic(self.text_model, ids, None if voice is None else voice.semantic_prompt,
                                     settings, gen, progress, graphs=self.graphs)

    def semantic_to_coarse(self, semantic: np.ndarray, *, voice: VoiceLike = None,
                           temp: float = C.DEFAULT_WAVEFORM_TEMP, top_k: int | None = None,
                           top_p: float | None = None, max_coarse_history: int = C.MAX_COARSE_HISTORY,
                           sliding_window_len: int = C.SLIDING_WINDOW_LEN, generator: GeneratorLike = None,
                           progress: Progress | None = None) -> np.ndarray:
        """Semantic tokens (T_s,) -> coarse codes int64 (2, T_c) in 0..1023, T_c = floor(T_s * 75 / 49.9)."""
        settings = CoarseSettings(SamplingParams(temp, top_k, top_p), max_coarse_history, sliding_window_len)
        semantic = check_tokens(semantic, "semantic tokens", 1, C.SEMANTIC_VOCAB_SIZE)
        voice = self.resolve_voice(voice)
        gen = self._generator(generator)
        with self.runtime.using(self.coarse_model):
            return generate_coarse(self.coarse_model, semantic,
                                   None if voice is None else (voice.semantic_prompt, voice.coarse_prompt), settings,
                                   gen, progress, reuse_prefix=not self.row_exact, graphs=self.graphs)

    def coarse_to_fine(self, coarse: np.ndarray, *, voice: VoiceLike = None, temp: float | None = C.DEFAULT_FINE_TEMP,
                       generator: GeneratorLike = None, progress: Progress | None = None) -> np.ndarray:
        """Coarse codes (2, T) -> fine codes int64 (8, T) in 0..1023 (temp None: greedy)."""
        settings = FineSettings(temp)
        coarse = check_tokens(coarse, "coarse codes", 2, C.CODEBOOK_SIZE)
        voice = self.resolve_voice(voice)
        gen = self._generator(generator)
        with self.runtime.using(self.fine_model):
            return generate_fine(self.fine_model, coarse, None if voice is None else voice.fine_prompt, settings, gen,
                                 progress)

    def decode(self, fine: np.ndarray) -> np.ndarray:
        """Fine codes (8, T) -> float32 audio (320 * T,) at 24 kHz."""
        fine = check_tokens(fine, "fine codes", 2, C.CODEBOOK_SIZE)
        with self.runtime.using(self.codec):
            return decode_codes(self.codec, fine)

    def generate(self, text: str, *, voice: VoiceLike = None, seed: int | None = None,
                 progress: Progress | None = None, **sampling: Unpack[Sampling]) -> BarkResult:
        """Text -> audio through all stages, drawing from the random generators of `seed` (see `make_generators`;
        None picks a seed and reports it in the result).

        text: at most 256 BERT tokens, and one generation makes at most ~15 s of audio (768 semantic steps at 49.9
        per second, about 70 BERT tokens of speech): longer text warns (`text.LongTextWarning`), text over 256
        tokens is refused; `generate_long` takes any length. Text with nothing to say (no BERT token, or only
        spaces and invisible characters: `text.check_text`) gets the empty-text error; text of only cues such as
        "[laughs]" is not empty.
        voice: a preset name, a path (str or Path) to an `.npz`, a dict of the three prompt arrays, a `Voice` or
        None (see `resolve_voice`).
        sampling: text_temp, waveform_temp, fine_temp, top_k, top_p, min_eos_p, max_duration_s (`Sampling`; what
        each means, its default and range: `generation.settings.SAMPLING`). ValueError for bad input."""
        return self.generate_takes(text, n_takes=1, voice=voice, seed=seed, progress=progress, **sampling)[0]

    def generate_takes(self, text: str, *, n_takes: int = 4, voice: VoiceLike = None, seed: int | None = None,
                       progress: Progress | None = None, **sampling: Unpack[Sampling]) -> list[BarkResult]:
        """`n_takes` variations of one text, seeds seed, seed+1, ..., decoded together as one batch.

        Exact mode: take i is token-identical to `generate(..., seed=seed + i)` (each row's matrix products run
        alone, see `kernels.by_row`). Fast mode batches the products: decoding reads the weights once for all
        takes, but int8 dynamic quantization scales each product's activations by one number for the whole batch,
        so a take there is close to, not equal to, the single generation with its seed.
        text, voice, sampling, errors and warnings: see `generate`.
        """
        stages = StageSettings.build(**sampling)
        seeds = batch_seeds(seed, n_takes)
        encode_prompt(self.tokenizer, text)
        voice = self.resolve_voice(voice)
        takes = run_takes(self.engine, text, voice, stages, [self.make_generators(s) for s in seeds], progress)
        return label_takes(takes, self.describe(text, voice, stages), seeds[0])

    def stream(self, text: str, *, voice: VoiceLike = None, seed: int | None = None, n_takes: int = 1,
               settings: StreamSettings | None = None, progress: Progress | None = None,
               **sampling: Unpack[Sampling]) -> Iterator[StreamChunk]:
        """Like `generate` (or `generate_takes` with n_takes > 1), but yields preview audio as each coarse window is
        done — of the first take — then the final takes.

        Every chunk but the last carries new preview samples; the last carries `takes`, which equal
        `generate_takes(text, n_takes=n_takes, seed=seed, ...)` token for token, and `result`, the first (with one
        take: `generate(text, seed=seed, ...)`). The preview differs from the take in fine detail, see `streaming`.
        text, voice, sampling (text_temp, waveform_temp, fine_temp, top_k, top_p, min_eos_p, max_duration_s),
        errors and warnings: see `generate`; they come at the first chunk.
        """
        stages = StageSettings.build(**sampling)
        seeds = batch_seeds(seed, n_takes)
        encode_prompt(self.tokenizer, text)
        voice = self.resolve_voice(voice)
        generators = [self.make_generators(s) for s in seeds]
        for chunk in stream_take(self.engine, text, voice, stages, seeds[0], settings or StreamSettings(), progress,
                                 generators):
            if chunk.result is None:
                yield chunk
            else:
                takes = tuple(label_takes(list(chunk.takes), self.describe(text, voice, stages), seeds[0]))
                yield dataclasses.replace(chunk, result=takes[0], takes=takes)

    def run_cascade(self, text: str, voice: Voice | None, stages: StageSettings, generators: StageGenerators,
                    progress: Progress | None = None) -> BarkResult:
        """All four stages for validated inputs, each drawing from its generator in `generators`."""
        return run_takes(self.engine, text, voice, stages, [generators], progress)[0]

    def describe(self, text: str, voice: Voice | None, stages: StageSettings) -> dict:
        """The settings a result records: text, voice, every sampling setting and the model."""
        return dict(text=text, voice=voice.name if voice is not None else None, **stages.arguments(),
                    model=self.name)

    def generate_long(self, text: str, *, voice: VoiceLike = None, language: str = "en",
                      settings: LongFormSettings | None = None, seed: int | None = None,
                      progress: Progress | None = None, on_preview: Callable[[np.ndarray], None] | None = None,
                      **sampling: Unpack[Sampling]) -> BarkResult:
        """Any length of text: split into chunks (see `longform.split_text`), generated in one voice and joined.
        Text that fits one window gives exactly `generate`'s result; max_duration_s applies to each chunk.
        See `LongFormSettings` for the chunk budget, voice carry, joins and caps. on_preview: gets preview audio
        (float32 (n,) at 24 kHz, each call continuing the last) as each chunk is streamed (see `stream`); the
        result is the same take. Text with nothing to say gets the empty-text error, as in `generate`.
        min_eos_p: a value given is what every chunk uses. Without one, text of several chunks uses
        `LongFormSettings.chunk_min_eos_p` (lower than generate's 0.2, so that a chunk ends cleanly) and text of
        one chunk generate's default. The take's settings (and its bundle) record the value used."""
        settings = settings or LongFormSettings()
        stages = StageSettings.build(**sampling)
        seed = batch_seeds(seed, 1)[0]
        norm = check_text(text)
        chunks = plan_chunks(self, text, language, settings)
        if len(chunks) > 1 and "min_eos_p" not in sampling:  # a chunk ends cleanly instead of trailing into noise
            stages = dataclasses.replace(stages, semantic=dataclasses.replace(
                stages.semantic, min_eos_p=settings.chunk_min_eos_p))
        voice = self.resolve_voice(voice)
        base = {**self.describe(norm, voice, stages), "language": language}
        return generate_long(self.engine, chunks, voice, settings=settings, stages=stages, seed=seed, base=base,
                             progress=progress, on_preview=on_preview)
