"""Reproducibility bundles: one `.zip` per take (audio, voices, tokens, settings) that re-creates the take.

    take.wav       the audio
    voice.npz      the take as a reusable voice
    tokens.npz     semantic_tokens, coarse_tokens, fine_tokens
    settings.json  text, voice, every sampling and long-form setting, seed, model and weight hashes, device,
                   precision, package versions
    prompt.npz     the voice the take was conditioned on, when it was not a named preset
"""

from __future__ import annotations

import dataclasses
import io
import json
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..generation.longform import LongFormSettings
from ..generation.result import BarkResult
from ..generation.settings import SAMPLING
from ..models.loading import TRANSFORMERS_LOCK
from ..version import __version__
from ..voices.catalog import is_preset_name
from ..voices.voice import Voice, read_npz

FORMAT = "bark-studio-take/1"
ALLOWED = {"take.wav", "voice.npz", "tokens.npz", "settings.json", "prompt.npz"}
REQUIRED = {"tokens.npz", "settings.json"}
MAX_BUNDLE_BYTES = 100 * 2**20  # unpacked; a 10-minute take is ~29 MB of WAV
SAMPLING_KEYS = tuple(s.name for s in SAMPLING)  # what settings.json records under "sampling"


def versions() -> dict[str, str]:
    import torch

    with TRANSFORMERS_LOCK:
        import transformers

    return {"bark_core": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def take_settings(pipe, result: BarkResult, voice: Voice | str | None, language: str,
                  long_form: LongFormSettings) -> dict:
    """Everything needed to re-create `result` with `pipe`."""
    s = result.settings
    voice_entry = (None if voice is None else {"preset": voice} if isinstance(voice, str)
                   else {"embedded": "prompt.npz", "label": voice.name})
    return {
        "format": FORMAT, "text": s["text"], "language": language, "voice": voice_entry, "seed": result.seed,
        "sampling": {k: s.get(k) for k in SAMPLING_KEYS}, "long_form": dataclasses.asdict(long_form),
        "model": {"name": pipe.name, "weights": pipe.weights_fingerprint()}, "device": pipe.device.type,
        "precision": pipe.precision, "versions": versions(), "chunks": list(result.chunks),
        # A take decoded in a batch (generate_takes): in fast mode its numbers depend on the batch.
        "batch": {"takes": s["takes"], "take": s["take"]} if s.get("takes", 1) > 1 else None,
    }


def write_bundle(path: str | Path, pipe, result: BarkResult, voice: Voice | str | None, language: str,
                 long_form: LongFormSettings) -> Path:
    """Write the take's bundle; `voice` is what it was conditioned on (preset name, Voice or None)."""
    path = Path(path)
    wav = io.BytesIO()
    import soundfile as sf

    sf.write(wav, np.clip(result.audio, -1, 1), result.sample_rate, format="WAV", subtype="PCM_16")
    tokens = io.BytesIO()
    np.savez(tokens, semantic_tokens=result.semantic_tokens, coarse_tokens=result.coarse_tokens,
             fine_tokens=result.fine_tokens)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("take.wav", wav.getvalue())
        zf.writestr("tokens.npz", tokens.getvalue())
        zf.writestr("settings.json", json.dumps(take_settings(pipe, result, voice, language, long_form), indent=1,
                                                ensure_ascii=False))
        try:
            zf.writestr("voice.npz", result.to_voice().to_npz_bytes())
        except ValueError:
            pass  # a take of a few tokens is too short to be a voice
        if isinstance(voice, Voice):
            zf.writestr("prompt.npz", voice.to_npz_bytes())
    return path


@dataclass(frozen=True)
class Bundle:
    settings: dict
    tokens: dict[str, np.ndarray]
    prompt: Voice | None


def read_bundle(path: str | Path) -> Bundle:
    """Open a bundle, refusing anything that is not exactly one (names, sizes, JSON, arrays are all checked)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ValueError(f"{path.name} is not a take bundle (.zip made by Bark Studio)") from None
    with zf:
        names = set(zf.namelist())
        strange = sorted(n for n in names if n not in ALLOWED)
        if strange:
            raise ValueError(f"{path.name} holds unexpected entries {strange[:5]}; a bundle holds only "
                             f"{sorted(ALLOWED)}")
        missing = sorted(REQUIRED - names)
        if missing:
            raise ValueError(f"{path.name} is missing {', '.join(missing)}")
        if sum(i.file_size for i in zf.infolist()) > MAX_BUNDLE_BYTES:
            raise ValueError(f"{path.name} unpacks to more than {MAX_BUNDLE_BYTES // 2**20} MiB; refusing")
        try:
            settings = json.loads(zf.read("settings.json").decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"settings.json in {path.name} is not valid JSON ({e})") from None
        tokens = read_npz(zf.read("tokens.npz"), "tokens.npz")
        prompt = (Voice.from_arrays(read_npz(zf.read("prompt.npz"), "prompt.npz"), name="bundled prompt")
                  if "prompt.npz" in names else None)
    _check_settings(settings, path.name)
    for key in ("semantic_tokens", "coarse_tokens", "fine_tokens"):
        if key not in tokens:
            raise ValueError(f"tokens.npz in {path.name} is missing {key}")
    voice = settings.get("voice") or {}
    if voice.get("embedded") and prompt is None:
        raise ValueError(f"{path.name} says its voice is embedded but holds no prompt.npz")
    # Only a preset by name: a string naming a file would read that file from the machine reproducing the take.
    if "preset" in voice and not is_preset_name(voice["preset"]):
        raise ValueError(f"{path.name} names the voice {voice['preset']!r}, which is not one of Bark's presets (a "
                         f"bundle names a preset or embeds its voice in prompt.npz)")
    return Bundle(settings, tokens, prompt)


def _check_settings(s: object, label: str) -> None:
    if not isinstance(s, dict) or s.get("format") != FORMAT:
        raise ValueError(f"{label} is not a Bark Studio take bundle (settings.json format must be {FORMAT!r})")
    for key, kind in (("text", str), ("seed", int), ("sampling", dict), ("long_form", dict), ("model", dict)):
        if not isinstance(s.get(key), kind):
            raise ValueError(f"settings.json in {label}: {key!r} is missing or not a {kind.__name__}")


def differences(pipe, settings: dict) -> list[str]:
    """What differs between the bundle's set-up and `pipe` (reasons the tokens may not be identical)."""
    out = []
    model = settings["model"]
    if model.get("weights") != pipe.weights_fingerprint():
        out.append(f"model weights differ (bundle: {model.get('name')}, here: {pipe.name})")
    if settings.get("device") != pipe.device.type:
        out.append(f"device differs (bundle: {settings.get('device')}, here: {pipe.device.type})")
    if settings.get("precision") != pipe.precision:
        out.append(f"precision differs (bundle: {settings.get('precision')}, here: {pipe.precision})")
    here = versions()
    for pkg in ("torch", "bark_core"):
        if settings.get("versions", {}).get(pkg) != here[pkg]:
            out.append(f"{pkg} version differs (bundle: {settings.get('versions', {}).get(pkg)}, here: {here[pkg]})")
    return out


def reproduce(pipe, bundle: Bundle, progress=None) -> tuple[BarkResult, list[str], bool]:
    """Re-generate the bundle's take with `pipe`. Returns (result, differences in set-up, tokens identical?)."""
    s = bundle.settings
    voice_entry = s.get("voice")
    voice = bundle.prompt if (voice_entry or {}).get("embedded") else (voice_entry or {}).get("preset")
    try:
        long_form = LongFormSettings(**s["long_form"])
        sampling = {k: s["sampling"].get(k) for k in SAMPLING_KEYS}
    except TypeError as e:
        raise ValueError(f"settings.json: long_form settings are not valid ({e})") from None
    batch = s.get("batch") or {}
    if batch.get("takes", 1) > 1:  # re-run the whole batch: in fast mode a take depends on its batch
        take = int(batch["take"])
        result = pipe.generate_takes(s["text"], n_takes=int(batch["takes"]), voice=voice, seed=s["seed"] - take,
                                     progress=progress, **sampling)[take]
    else:
        result = pipe.generate_long(s["text"], voice=voice, language=s.get("language", "en"), settings=long_form,
                                    seed=s["seed"], progress=progress, **sampling)
    same = all(np.array_equal(getattr(result, k), bundle.tokens[k])
               for k in ("semantic_tokens", "coarse_tokens", "fine_tokens"))
    return result, differences(pipe, s), same
