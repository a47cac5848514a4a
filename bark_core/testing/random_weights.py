"""Random Bark checkpoints in the real file formats, for tests, benchmarks and offline demos of the app.

Real vocabularies and token layout; sizes from "tiny" (a few layers of width 32) to the real "bark-small"
and "bark". Nothing here is a trained model: audio from these weights is noise, by design.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .. import constants as C
from ..models.checkpoints import MODEL_KINDS, hf_key_to_suno
from ..models.config import FineGPTConfig, GPTConfig
from ..models.hub import RANDOM_WEIGHTS_MARKER
from ..models.model import GPT, FineGPT

TEXT_VOCAB = (129_600, 10_048)
COARSE_VOCAB = (12_096, 12_096)
FINE_VOCAB = (1_056, 1_056)
SIZES = {  # n_layer, n_head, n_embd
    "tiny": (2, 2, 32),
    "bark-small": (12, 12, 768),
    "bark": (24, 16, 1024),
}


def model_configs(size: str = "tiny", bias: bool = False) -> dict[str, GPTConfig]:
    n_layer, n_head, n_embd = SIZES[size]
    common = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, bias=bias)
    return {
        "text": GPTConfig(input_vocab_size=TEXT_VOCAB[0], output_vocab_size=TEXT_VOCAB[1], **common),
        "coarse": GPTConfig(input_vocab_size=COARSE_VOCAB[0], output_vocab_size=COARSE_VOCAB[1], **common),
        "fine": FineGPTConfig(input_vocab_size=FINE_VOCAB[0], output_vocab_size=FINE_VOCAB[1], **common),
    }


def random_models(size: str = "tiny", seed: int = 0, bias: bool = False, logit_scale: float = 4.0,
                  weight_scale: float = 1.0) -> dict[str, torch.nn.Module]:
    """Randomly initialised text/coarse/fine models. `logit_scale` sharpens the output distributions so that
    sampling is not uniform noise (closer to how trained models behave).

    weight_scale: multiplies every block's attention input projection (`attn.c_attn`: queries, keys and values).
    At the default 1 a random model barely listens to its input: attention logits are small, so each position
    averages the whole context, and its own embedding outweighs what it reads; with the same seed, another text
    or voice draws mostly the same tokens. Scaled up (the parity tests use 40; attention logits grow with its
    square), each position attends to a few positions chosen by content and what it reads dominates, so each
    stage's output depends on the text, the voice and the previous stage's tokens: a slip in how an input is
    built changes the logits, not only an occasional draw. The same random draws are made whatever the scale.
    """
    if not weight_scale > 0:
        raise ValueError(f"weight_scale must be a positive number, got {weight_scale}")
    torch.manual_seed(seed)
    models = {}
    for kind, cfg in model_configs(size, bias).items():
        m = FineGPT(cfg) if kind == "fine" else GPT(cfg)
        with torch.no_grad():
            for name, p in m.named_parameters():
                if name.endswith(("wte.weight", "wpe.weight")) or ".wtes." in name:
                    p.normal_(0.0, 0.5)
                elif "ln_" in name:
                    p.copy_(torch.ones_like(p) if name.endswith("weight") else torch.zeros_like(p))
                    if name.endswith("weight"):
                        p.add_(torch.randn_like(p) * 0.1)
            if kind != "fine":
                m.lm_head.weight.mul_(logit_scale)
            if weight_scale != 1.0:
                for block in m.transformer.h:
                    block.attn.c_attn.weight.mul_(weight_scale)
        models[kind] = m.eval()
    return models


def suno_checkpoint(model: torch.nn.Module, *, compiled_prefix: bool = False, mask_buffers: bool = True,
                    legacy_vocab_size: bool = False) -> dict:
    """The dict suno's training code saved: model_args, model (state dict), best_val_loss (a numpy scalar)."""
    cfg = model.config
    args = dict(n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd, block_size=cfg.block_size,
                bias=cfg.bias, dropout=0.0)
    if legacy_vocab_size and cfg.input_vocab_size == cfg.output_vocab_size:
        args["vocab_size"] = cfg.input_vocab_size
    else:
        args |= dict(input_vocab_size=cfg.input_vocab_size, output_vocab_size=cfg.output_vocab_size)
    if isinstance(cfg, FineGPTConfig):
        args |= dict(n_codes_total=cfg.n_codes_total, n_codes_given=cfg.n_codes_given)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if mask_buffers and not isinstance(cfg, FineGPTConfig):  # older checkpoints carry the causal-mask buffer
        for i in range(cfg.n_layer):
            state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(8, 8)).view(1, 1, 8, 8)
    if compiled_prefix:
        state = {f"_orig_mod.{k}": v for k, v in state.items()}
    return {"model_args": args, "model": state, "best_val_loss": np.float64(2.5), "iter_num": 1000}


def write_suno_files(folder: Path, models: dict[str, torch.nn.Module], names=("text.pt", "coarse.pt", "fine.pt"),
                     **kw) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, name in zip(MODEL_KINDS, names, strict=True):
        torch.save(suno_checkpoint(models[kind], **kw), folder / name)
        paths.append(folder / name)
    return paths


TOKENIZER_WORDS = (
    "Hello hello I ' m Bark bark the a and is to of it you this that laughs laughter sighs music gasps clears throat "
    "MAN WOMAN Guten Tag Hola Bonjour ciao ja nein world speech audio test long text sentence"
).split()


def write_tokenizer(folder: Path) -> Path:
    """A small cased WordPiece (BERT) vocabulary covering letters, digits, punctuation and a few words."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = [chr(c) for c in range(33, 127)] + list("♪—…äöüßéèàçñ。！？।你好")
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(10)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += chars + [f"##{c}" for c in chars if c.isalnum()] + TOKENIZER_WORDS
    vocab = list(dict.fromkeys(vocab))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": False, "tokenize_chinese_chars": True, "strip_accents": None,
         "tokenizer_class": "BertTokenizer", "model_max_length": 512}))
    return folder


def codec_config(tiny: bool = True):
    from transformers import EncodecConfig

    if not tiny:
        return EncodecConfig()  # the real 24 kHz architecture
    return EncodecConfig(hidden_size=16, num_filters=4, num_residual_layers=1, codebook_size=C.CODEBOOK_SIZE,
                         codebook_dim=16, num_lstm_layers=1, target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0],
                         sampling_rate=C.SAMPLE_RATE, upsampling_ratios=[8, 5, 4, 2])


def legacy_weight_norm_names(weights: Path) -> Path:
    """Rename the weight-norm tensors of a saved model.safetensors to `weight_g` / `weight_v`, as the real Hub
    checkpoints (facebook/encodec_24khz, suno/bark-small's codec, facebook/hubert-base-ls960) hold them: they were
    saved before transformers built those layers with PyTorch's parametrizations (whose load hook renames them
    back: `torch.nn.utils.parametrizations.weight_norm`)."""
    from safetensors.torch import load_file, save_file

    state = {}
    for key, value in load_file(weights).items():
        for old, new in ((".weight_g", ".parametrizations.weight.original0"),
                         (".weight_v", ".parametrizations.weight.original1")):
            if key.endswith(new):
                key = key[: -len(new)] + old
        state[key] = value
    save_file(state, weights, metadata={"format": "pt"})
    return weights


def write_codec(folder: Path, tiny: bool = True, seed: int = 0, legacy_names: bool = True) -> Path:
    """A random EnCodec as a transformers folder; legacy_names: weight-norm tensors named as in the real one."""
    from transformers import EncodecModel

    torch.manual_seed(seed)
    EncodecModel(codec_config(tiny)).eval().save_pretrained(folder)
    if legacy_names:
        legacy_weight_norm_names(Path(folder) / "model.safetensors")
    return folder


def write_offline_folder(folder: Path, size: str = "tiny", seed: int = 0, cloning: bool = True, **kw) -> Path:
    """One folder that runs fully offline: text.pt, coarse.pt, fine.pt, tokenizer/ and codec/; with `cloning` also
    hubert/ and quantizer.pth (what voices from recordings need: the app finds them in the model folder); and the
    marker `hub.RANDOM_WEIGHTS_MARKER`, a small JSON file saying the weights are random (loaders report it as
    `BarkPipeline.random_weights`; the app shows a banner)."""
    folder = Path(folder)
    write_suno_files(folder, random_models(size, seed), **kw)
    write_tokenizer(folder / "tokenizer")
    write_codec(folder / "codec", tiny=size == "tiny", seed=seed)
    if cloning:
        write_hubert(folder / "hubert", seed=seed)
        write_quantizer(folder / "quantizer.pth", seed=seed)
    (folder / RANDOM_WEIGHTS_MARKER).write_text(json.dumps({
        "random_weights": True, "size": size, "seed": seed,
        "written_by": "bark_core.testing.random_weights.write_offline_folder",
        "note": "random weights in the real formats: the audio is noise; everything else is the real code"},
        indent=1), encoding="utf-8")
    return folder


def write_transformers_folder(folder: Path, models: dict[str, torch.nn.Module], codec_folder: Path,
                              legacy_names: bool = True) -> Path:
    """The same weights as a `BarkModel.save_pretrained` folder (config.json + model.safetensors); legacy_names:
    the codec's weight-norm tensors named as in the real suno/bark checkpoints (see `legacy_weight_norm_names`)."""
    from transformers import BarkConfig, BarkModel, EncodecModel

    def sub(cfg: GPTConfig) -> dict:
        d = dict(num_layers=cfg.n_layer, num_heads=cfg.n_head, hidden_size=cfg.n_embd, block_size=cfg.block_size,
                 input_vocab_size=cfg.input_vocab_size, output_vocab_size=cfg.output_vocab_size, bias=cfg.bias)
        if isinstance(cfg, FineGPTConfig):
            d |= dict(n_codes_total=cfg.n_codes_total, n_codes_given=cfg.n_codes_given)
        return d

    codec = EncodecModel.from_pretrained(str(codec_folder))
    config = BarkConfig(semantic_config=sub(models["text"].config), coarse_acoustics_config=sub(
        models["coarse"].config), fine_acoustics_config=sub(models["fine"].config),
        codec_config=codec.config.to_dict())
    bark = BarkModel(config).eval()
    parts = {"text": bark.semantic, "coarse": bark.coarse_acoustics, "fine": bark.fine_acoustics}
    for kind, hf in parts.items():
        ours = models[kind].state_dict()
        # transformers keeps its causal-mask buffers (`attn.bias`); every weight comes from our model.
        theirs = {k: v for k, v in hf.state_dict().items() if not k.endswith("attn.bias")}
        hf.load_state_dict({k: ours[hf_key_to_suno(k)] for k in theirs}, strict=False)
    bark.codec_model.load_state_dict(codec.state_dict())
    bark.save_pretrained(folder)
    if legacy_names:
        legacy_weight_norm_names(Path(folder) / "model.safetensors")
    write_tokenizer(Path(folder))
    return Path(folder)


def write_hubert(folder: Path, seed: int = 0, legacy_names: bool = True) -> Path:
    """A tiny random HuBERT (9 layers, the real 320x downsampling) as a transformers folder; legacy_names: its
    positional convolution's weight-norm tensors named as in facebook/hubert-base-ls960."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    config = HubertConfig(hidden_size=32, num_hidden_layers=9, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    HubertModel(config).eval().save_pretrained(folder)
    if legacy_names:
        legacy_weight_norm_names(Path(folder) / "model.safetensors")
    return Path(folder)


def write_quantizer(path: Path, input_size: int = 32, hidden_size: int = 24, version: int = 0,
                    with_info: bool = True, seed: int = 0) -> Path:
    """A random HuBERT quantizer in gitmylo's format: a torch zip of the state dict plus `<name>/.info` JSON."""
    import zipfile

    from ..voices.cloning import HubertQuantizer, QuantizerConfig

    torch.manual_seed(seed)
    config = QuantizerConfig(input_size, hidden_size, C.SEMANTIC_VOCAB_SIZE, version)
    torch.save(HubertQuantizer(config).state_dict(), path)
    if with_info:
        with zipfile.ZipFile(path, "a") as zf:
            top = zf.namelist()[0].split("/")[0]
            zf.writestr(f"{top}/.info", json.dumps(dict(input_size=input_size, hidden_size=hidden_size,
                                                         output_size=C.SEMANTIC_VOCAB_SIZE, version=version)))
    return Path(path)
