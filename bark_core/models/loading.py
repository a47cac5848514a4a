"""Building the pipeline's parts (models, tokenizer, codec) from a resolved `ModelSource`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import torch

from .. import constants as C
from .checkpoints import MODEL_KINDS, load_hf_models, load_suno_checkpoint, safe_torch_load
from .config import DEFAULT_CODEC, DEFAULT_VOICES_REPO
from .hub import CODEC_PATTERNS, EMBEDDINGS_INDEX, LOCAL_HINT, TOKENIZER_PATTERNS, HubOptions, ModelSource, local_or_hub
from .runtime import Runtime

# transformers' lazy top-level module is not safe for first imports from two threads at once: the app's token
# counter loading the tokenizer while a generation loads the codec can fail with "ImportError: cannot import name
# 'EncodecConfig' from 'transformers'". Every import from transformers and every load through it holds this lock;
# loads happen once per part, so serializing them costs nothing that matters.
TRANSFORMERS_LOCK = threading.RLock()


# What from_pretrained loads, in order: progress(f"loading {step}", i, len(LOAD_STEPS)) before each.
LOAD_STEPS = ("the text model", "the coarse model", "the fine model", "the codec and tokenizer")


def load_models(source: ModelSource, progress: Callable[[str, int, int], None] | None = None,
                ) -> tuple[dict[str, torch.nn.Module], torch.nn.Module | None]:
    """text/coarse/fine models on the CPU, plus the codec when the checkpoint carries one (transformers layout).
    progress: see `LOAD_STEPS` (the first three steps)."""
    report = progress or (lambda *_: None)
    if source.layout == "suno":
        assert source.suno_files is not None
        models = {}
        for i, (kind, path) in enumerate(zip(MODEL_KINDS, source.suno_files, strict=True)):
            report(f"loading {LOAD_STEPS[i]}", i + 1, len(LOAD_STEPS))
            models[kind] = load_suno_checkpoint(path, kind)
        return models, None
    assert source.hf_dir is not None
    report("loading the text, coarse and fine models", 1, len(LOAD_STEPS))
    models, codec_state, codec_config = load_hf_models(source.hf_dir)
    codec = None
    if codec_state and source.codec is None:
        with TRANSFORMERS_LOCK:
            from transformers import EncodecConfig, EncodecModel

            codec = EncodecModel(EncodecConfig(**codec_config))
        missing, unexpected = codec.load_state_dict(codec_state, strict=False)
        if missing or unexpected:
            raise ValueError(f"codec weights in {source.hf_dir} do not match its codec_config: missing "
                             f"{sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}")
        codec.eval()
    return models, codec


def load_tokenizer(ref: str | Path, hub: HubOptions):
    """The BERT tokenizer (bert-base-multilingual-cased by default) from a local folder or the Hub."""
    folder = local_or_hub(ref, TOKENIZER_PATTERNS, hub, "the tokenizer files (vocab.txt)")
    try:
        with TRANSFORMERS_LOCK:
            from transformers import BertTokenizer

            return BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"tokenizer folder {folder} could not be loaded: expected a BERT vocab.txt ({e})") from None


def load_transformers_model(model_cls, config_cls, ref: str | Path, hub: HubOptions, what: str,
                            patterns: list[str] = CODEC_PATTERNS, hint: str = LOCAL_HINT) -> torch.nn.Module:
    """A transformers model folder (config.json + safetensors or .bin), local or from the Hub, built without
    executing code from the files and without transformers' loading output. hint: see `hub.hub_file`."""
    from safetensors.torch import load_file

    folder = local_or_hub(ref, patterns, hub, f"the {what} model", hint)
    weights = folder / "model.safetensors"
    if not weights.exists() and not Path(ref).expanduser().is_dir():  # a Hub repo with only .bin weights
        folder = local_or_hub(ref, [*patterns, "pytorch_model.bin"], hub, f"the {what} weights", hint)
    try:
        with TRANSFORMERS_LOCK:
            config = config_cls.from_pretrained(str(folder), local_files_only=True)
            model = model_cls(config)
        state = load_file(weights) if weights.exists() else safe_torch_load(folder / "pytorch_model.bin")
        model.load_state_dict(state, strict=True)
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise ValueError(f"{what} folder {folder} could not be loaded ({str(e)[:300]})") from None
    return model.eval()


def load_codec(ref: str | Path | None, hub: HubOptions) -> torch.nn.Module:
    """EnCodec 24 kHz through transformers.EncodecModel, from a local folder or the Hub."""
    with TRANSFORMERS_LOCK:
        from transformers import EncodecConfig, EncodecModel

    codec = load_transformers_model(EncodecModel, EncodecConfig, ref or DEFAULT_CODEC, hub, "EnCodec 24 kHz codec")
    if codec.config.sampling_rate != C.SAMPLE_RATE:
        raise ValueError(f"codec {ref} runs at {codec.config.sampling_rate} Hz; Bark needs the 24 kHz EnCodec")
    return codec


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" -> CUDA when present, else CPU; explicit "cpu" / "cuda" / "cuda:N" are checked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}")
    return dev


PRECISIONS = ("exact", "fast", "bf16")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX or AVX-512-BF16), several times faster than fp32.
    Without them (AVX2 only) bf16 products are slower than fp32."""
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # older torch: assume not
        return False
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))


def weights_format(precision: str, device: torch.device) -> str:
    """The weights a precision runs on a device: "fp32" (exact on CPUs, and on GPUs without bf16), "int8" (fast on
    CPUs) or "bf16" (Linear weights in bf16 under bf16 autocast: GPUs with bf16 in every mode, "bf16" anywhere)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    if device.type == "cpu":
        return {"exact": "fp32", "fast": "int8", "bf16": "bf16"}[precision]
    if torch.cuda.is_bf16_supported():
        return "bf16"
    if precision == "bf16":
        raise ValueError("this GPU has no bfloat16 support: use precision='exact' (fp32)")
    return "fp32"


def convert_weights(model: torch.nn.Module, fmt: str, inplace: bool = False) -> torch.nn.Module:
    """The model with weights in `fmt` ("fp32": as it is, "int8": `quantize_int8`, "bf16": `cast_linears`)."""
    if fmt == "int8":
        return quantize_int8(model, inplace)
    return cast_linears(model, torch.bfloat16, inplace) if fmt == "bf16" else model


def quantize_int8(model: torch.nn.Module, inplace: bool = False) -> torch.nn.Module:
    """Dynamically quantized int8 Linear layers (weights int8, activations quantized per call): a copy, or with
    `inplace` the model itself (each fp32 weight is freed as its layer is replaced)."""
    import warnings

    with warnings.catch_warnings():  # torch.ao's eager quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8,
                                                      inplace=inplace).eval()


def cast_linears(model: torch.nn.Module, dtype: torch.dtype, inplace: bool = False) -> torch.nn.Module:
    """The model (a copy, or with `inplace` itself) with its Linear layers' weights and biases stored in `dtype`.

    Why: under autocast a Linear casts its fp32 weight to bf16 at every call, and autocast caches those casts only
    for weights that require grad, so each decoding step would read 4 bytes per weight, write 2 and read them
    again instead of reading 2 once. Casting them once gives bitwise the same products (autocast's cast is the
    same rounding). Weights shared with another kind of layer (the fine model's heads are its embeddings) stay.
    """
    import copy

    model = model if inplace else copy.deepcopy(model)
    shared = {id(p) for m in model.modules() if type(m) is not torch.nn.Linear for p in m.parameters(recurse=False)}
    for m in model.modules():
        if type(m) is torch.nn.Linear and id(m.weight) not in shared:
            m.to(dtype)
    return model


def bf16_prefill_plans(model: torch.nn.Module) -> list:
    """Block plans (`kernels.BlockPlan`) running bf16 copies of a causal model's Linear layers, for its prefills: made
    from the fp32 weights before int8 quantization replaces them (`GPT.prefill_plans`).

    Why: on CPUs with bf16 matrix units (AMX, AVX-512-BF16) a bf16 product runs several times faster than fp32 or
    int8, and a prefill (hundreds of positions at once) is bound by its products, while a decoding step (one
    position) is bound by reading the weights, which int8 halves again. 2 bytes per weight more in memory.
    """
    import copy

    from .kernels import BlockPlan, kernel, norm_kernel

    def bf16(layer: torch.nn.Module):
        return kernel(copy.deepcopy(layer).to(torch.bfloat16).requires_grad_(False))

    return [BlockPlan(norm_kernel(b.ln_1), bf16(b.attn.c_attn), bf16(b.attn.c_proj), norm_kernel(b.ln_2),
                      bf16(b.mlp.c_fc), bf16(b.mlp.c_proj), b.attn.n_head, b.attn.causal) for b in model.transformer.h]


def prepare_models(models: dict[str, torch.nn.Module], codec: torch.nn.Module, device: torch.device, *,
                   offload: bool, weights: str, fine: str, bf16_prefill: bool,
                   inplace: bool) -> tuple[tuple[torch.nn.Module, ...], Runtime]:
    """(text, coarse, fine, codec) with their weights converted (`weights`: the format of the text and coarse models
    and the codec, `fine`: the fine model's; with `bf16_prefill`, the causal models keep bf16 copies for their
    prefills), ready for inference on `device` (on the CPU when offloading), and the `Runtime` that runs them.
    inplace: nothing else uses `models`, so they may be converted in place (lower peak memory)."""
    text, coarse, fine_model = models["text"], models["coarse"], models["fine"]
    if weights != "fp32":
        prefill = [bf16_prefill_plans(m) if bf16_prefill else None for m in (text, coarse)]
        text, coarse = (convert_weights(m, weights, inplace=inplace) for m in (text, coarse))
        text.prefill_plans, coarse.prefill_plans = prefill
        fine_model = convert_weights(fine_model, fine, inplace=inplace)
    parts = (text, coarse, fine_model, codec)
    for m in parts:
        m.eval().requires_grad_(False).to("cpu" if offload else device)
    bf16 = tuple(m for m, fmt in zip(parts, (weights, weights, fine, weights), strict=True) if fmt == "bf16")
    return parts, Runtime(device, offload, bf16)


def weights_fingerprint(models: dict[str, torch.nn.Module]) -> dict[str, str]:
    """sha256 (first 16 hex digits) of each model's state dict: names and raw bytes, in name order."""
    import hashlib

    out = {}
    for kind, model in models.items():
        h = hashlib.sha256()
        for key, t in sorted(model.state_dict().items()):
            h.update(key.encode())
            # The array itself (a buffer), not .tobytes(): no transient copy of the largest tensor (~400 MiB).
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        out[kind] = h.hexdigest()[:16]
    return out


def default_voices(source: ModelSource) -> str | Path:
    """Where a model's presets come from: a voices folder beside local weights, else the Hub's suno/bark."""
    folder = Path(source.name)
    if folder.is_dir():
        for candidate in (folder / "voices", folder / "speaker_embeddings", folder):
            if (candidate / EMBEDDINGS_INDEX).exists() or (candidate / "v2").is_dir():
                return candidate
    if source.hf_dir is not None and (source.hf_dir / EMBEDDINGS_INDEX).exists():
        return source.hf_dir
    return DEFAULT_VOICES_REPO
