"""Reading Bark weights in both real formats, without ever executing code from a file.

- suno `.pt`: a dict {model_args, model, best_val_loss, ...}; keys may carry `_orig_mod.` (torch.compile),
  `*.attn.bias` causal-mask buffers are ignored, old files say `vocab_size` instead of input/output sizes.
- transformers (`BarkModel.save_pretrained`, `suno/bark-small`): `config.json` + safetensors or `.bin`
  weights under `semantic.`, `coarse_acoustics.`, `fine_acoustics.`, `codec_model.`.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import constants as C
from .config import FineGPTConfig, GPTConfig
from .model import GPT, FineGPT

# The only non-tensor objects Bark checkpoints hold: `best_val_loss`, a numpy scalar. Files written with numpy 1.x
# name its reconstructor `numpy.core.multiarray.scalar`, numpy 2.x `numpy._core.multiarray.scalar`.
_NUMPY_SCALAR = np._core.multiarray.scalar  # type: ignore[attr-defined]
SAFE_GLOBALS: list[Any] = [
    np.dtype,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    (_NUMPY_SCALAR, "numpy._core.multiarray.scalar"),
    *[(type(np.dtype(t)), f"numpy.dtypes.{type(np.dtype(t)).__name__}") for t in ("f8", "f4", "i8", "i4")],
]

MODEL_KINDS = ("text", "coarse", "fine")
# Smallest vocabularies each slot needs, so a checkpoint in the wrong slot is named as such.
_MIN_VOCAB = {
    "text": (C.SEMANTIC_INFER_TOKEN + 1, C.SEMANTIC_VOCAB_SIZE + 1),
    "coarse": (C.COARSE_INFER_TOKEN + 1, C.SEMANTIC_VOCAB_SIZE + C.N_COARSE_CODEBOOKS * C.CODEBOOK_SIZE),
    "fine": (C.CODEBOOK_SIZE + 1, C.CODEBOOK_SIZE),
}
_CONFIG_KEYS = {"n_layer", "n_head", "n_embd", "block_size", "bias", "dropout", "input_vocab_size",
                "output_vocab_size", "n_codes_total", "n_codes_given"}


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def safe_torch_load(path: str | Path) -> Any:
    """torch.load with weights_only=True and only Bark's numpy scalar types allowed; clear errors otherwise."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zips and garbage fail in many different ways
        if isinstance(e, pickle.UnpicklingError) and "weights only" in str(e).lower():
            raise ValueError(
                f"Refusing to load {path.name}: it holds Python objects other than tensors and plain data, and "
                f"loading it would run code from the file. Bark checkpoints never need that. ({_first_line(e)})"
            ) from None
        raise ValueError(
            f"{path.name} is not a readable PyTorch checkpoint (truncated, corrupt or another kind of file); "
            f"delete it so it is downloaded again, or replace it. ({_first_line(e)})"
        ) from None


def config_from_suno_args(model_args: dict, kind: str) -> GPTConfig:
    """Build the architecture config from a suno checkpoint's `model_args`."""
    if not isinstance(model_args, dict):
        raise ValueError(f"{kind} checkpoint: model_args must be a dict")
    args = dict(model_args)
    if "input_vocab_size" not in args and "vocab_size" in args:
        args["input_vocab_size"] = args["output_vocab_size"] = args.pop("vocab_size")
    unknown = sorted(set(args) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{kind} checkpoint: unknown model_args {unknown}; allowed: {sorted(_CONFIG_KEYS)}")
    if kind != "fine":
        args.pop("n_codes_total", None), args.pop("n_codes_given", None)
    try:
        config = (FineGPTConfig if kind == "fine" else GPTConfig)(**args)
    except TypeError as e:
        raise ValueError(f"{kind} checkpoint: incomplete model_args ({e})") from None
    need_in, need_out = _MIN_VOCAB[kind]
    if config.input_vocab_size < need_in or config.output_vocab_size < need_out:
        raise ValueError(
            f"this checkpoint does not fit the {kind} slot: vocabulary in/out {config.input_vocab_size}/"
            f"{config.output_vocab_size}, the {kind} model needs at least {need_in}/{need_out} "
            f"(is it the text, coarse or fine model of another slot?)"
        )
    return config


def build_model(config: GPTConfig, state: dict[str, torch.Tensor], kind: str) -> torch.nn.Module:
    """Instantiate the model for `config` and load `state` (suno key names) strictly."""
    model = FineGPT(config) if kind == "fine" else GPT(config)
    state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.endswith(".attn.bias")}
    expected = model.state_dict()
    if kind == "fine":  # tied heads may be stored once, under the embedding's name
        for i in range(len(model.lm_heads)):
            emb = f"transformer.wtes.{i + config.n_codes_given}.weight"
            if emb in state:
                state.setdefault(f"lm_heads.{i}.weight", state[emb])
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"{kind} checkpoint does not match its model_args: missing keys {missing[:12]}"
                         f"{' ...' if len(missing) > 12 else ''}, extra keys {extra[:12]}"
                         f"{' ...' if len(extra) > 12 else ''}")
    for k, v in state.items():
        if not isinstance(v, torch.Tensor) or v.shape != expected[k].shape:
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(f"{kind} checkpoint: {k} has shape {got}, expected {tuple(expected[k].shape)}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_suno_checkpoint(path: str | Path, kind: str) -> torch.nn.Module:
    """Load one suno `.pt` file (text, coarse or fine) into an eval-mode CPU model."""
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or "model_args" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{Path(path).name} is not a Bark checkpoint: expected a dict with 'model_args' and 'model'")
    return build_model(config_from_suno_args(ckpt["model_args"], kind), ckpt["model"], kind)


# transformers layout -----------------------------------------------------------------------------------------

_HF_PREFIX = {"text": "semantic.", "coarse": "coarse_acoustics.", "fine": "fine_acoustics."}
_HF_CONFIG = {"text": "semantic_config", "coarse": "coarse_acoustics_config", "fine": "fine_acoustics_config"}
_HF_RENAMES = [
    (r"^input_embeds_layer\.", "transformer.wte."),
    (r"^input_embeds_layers\.", "transformer.wtes."),
    (r"^position_embeds_layer\.", "transformer.wpe."),
    (r"^layernorm_final\.", "transformer.ln_f."),
    (r"^layers\.", "transformer.h."),
    (r"\.layernorm_1\.", ".ln_1."),
    (r"\.layernorm_2\.", ".ln_2."),
    (r"\.attn\.att_proj\.", ".attn.c_attn."),
    (r"\.attn\.out_proj\.", ".attn.c_proj."),
    (r"\.mlp\.in_proj\.", ".mlp.c_fc."),
    (r"\.mlp\.out_proj\.", ".mlp.c_proj."),
]


def hf_key_to_suno(key: str) -> str:
    for pattern, repl in _HF_RENAMES:
        key = re.sub(pattern, repl, key)
    return key


def config_from_hf(sub: dict, kind: str) -> GPTConfig:
    args = {
        "n_layer": sub.get("num_layers", 12), "n_head": sub.get("num_heads", 12),
        "n_embd": sub.get("hidden_size", 768), "block_size": sub.get("block_size", C.CONTEXT_WINDOW),
        "input_vocab_size": sub.get("input_vocab_size", 10_048),
        "output_vocab_size": sub.get("output_vocab_size", 10_048),
        "bias": sub.get("bias", True), "dropout": sub.get("dropout", 0.0),
    }
    if kind == "fine":
        args |= {"n_codes_total": sub.get("n_codes_total", 8), "n_codes_given": sub.get("n_codes_given", 1)}
    return config_from_suno_args(args, kind)


def read_hf_state(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of a transformers checkpoint directory (single or sharded, safetensors or .bin)."""
    from safetensors.torch import load_file

    for index_name, single in (("model.safetensors.index.json", "model.safetensors"),
                               ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        index = directory / index_name
        files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else [single]
        if all((directory / f).exists() for f in files):
            state: dict[str, torch.Tensor] = {}
            for f in files:
                state |= load_file(directory / f) if f.endswith(".safetensors") else safe_torch_load(directory / f)
            return state
    raise ValueError(f"{directory} has config.json but no model.safetensors or pytorch_model.bin weights")


def load_hf_models(directory: Path) -> tuple[dict[str, torch.nn.Module], dict[str, torch.Tensor], dict]:
    """Load text/coarse/fine from a transformers Bark directory.

    Returns (models by kind, codec state dict with `codec_model.` stripped (may be empty), codec config dict).
    """
    config = json.loads((directory / "config.json").read_text())
    if config.get("model_type") != "bark":
        raise ValueError(f"{directory}/config.json is a {config.get('model_type')!r} model, not a Bark model")
    state = read_hf_state(directory)
    models = {}
    for kind in MODEL_KINDS:
        prefix = _HF_PREFIX[kind]
        sub = {hf_key_to_suno(k[len(prefix):]): v for k, v in state.items() if k.startswith(prefix)}
        models[kind] = build_model(config_from_hf(config.get(_HF_CONFIG[kind], {}), kind), sub, kind)
    codec_state = {k[len("codec_model."):]: v for k, v in state.items() if k.startswith("codec_model.")}
    return models, codec_state, config.get("codec_config", {})
