"""Finding model files: named presets, Hub repo ids and local directories, with readable failures.

Downloads go through huggingface_hub, so its cache, `HF_HUB_OFFLINE` and `local_files_only` apply. Every
failure to obtain a file becomes a `ModelFilesUnavailable` naming the repo, the file and the local fallback.

Before each download a TCP connection to the Hub's host is tried (`HubOptions.probe_timeout_s`): when none opens,
the file is taken from the cache or the failure is reported at once. Without the probe huggingface_hub retries an
unreachable host for each file before giving up (a voice picked in the app while offline would hang meanwhile).
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from .config import DEFAULT_CODEC, DEFAULT_TOKENIZER, PRESETS

SUNO_FILE_SETS = (("text_2.pt", "coarse_2.pt", "fine_2.pt"), ("text.pt", "coarse.pt", "fine.pt"))
TOKENIZER_PATTERNS = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
EMBEDDINGS_INDEX = "speaker_embeddings_path.json"  # a repo's index of its preset voices
# Written by `testing.random_weights.write_offline_folder` beside random checkpoints: what loads from such a folder
# runs the real code on weights that make noise (a page says so).
RANDOM_WEIGHTS_MARKER = "random-weights.json"
CODEC_PATTERNS = ["config.json", "*.safetensors", "preprocessor_config.json"]
HF_WEIGHT_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json", "generation_config.json",
                      *TOKENIZER_PATTERNS]
HF_BIN_PATTERNS = ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"]

LOCAL_HINT = (
    "To run without the Hub, put the files in a local folder and pass it instead: "
    "BarkPipeline.from_pretrained('/path/to/folder') (or `python app.py --model /path/to/folder`), with "
    "text_2.pt, coarse_2.pt, fine_2.pt (or text.pt, coarse.pt, fine.pt) and the subfolders tokenizer/ "
    "(bert-base-multilingual-cased) and codec/ (facebook/encodec_24khz)."
)
VOICES_HINT = (
    "To use the presets without the Hub, pass a folder of Bark voice files instead: "
    "BarkPipeline.from_pretrained(..., voices='/path/to/voices') (or `python app.py --voices /path/to/voices`), "
    "holding e.g. v2/en_speaker_6.npz. Meanwhile, generate with no voice or with your own .npz prompt."
)
CLONING_HINT = (
    "Voices from recordings need HuBERT and its quantizer; to run without the Hub, pass local copies: "
    "pipe.voice_cloner(hubert='/path/to/hubert', quantizer='/path/to/quantizer.pth') (or `python app.py --hubert "
    "/path/to/hubert --quantizer /path/to/quantizer.pth`). An .npz voice prompt works without them."
)


class ModelFilesUnavailable(ValueError):
    """A model, tokenizer, codec or voice file could not be found locally or downloaded."""


@dataclass(frozen=True)
class HubOptions:
    """How to reach the Hub: cache folder, offline-only, revision, token."""

    cache_dir: str | None = None
    local_files_only: bool = False
    revision: str | None = None
    token: str | bool | None = None
    probe_timeout_s: float | None = 3.0  # None: no probe (huggingface_hub's own retries decide)
    # progress(f"downloading {file}", bytes done, bytes total) while a file comes from the Hub (nothing is printed)
    progress: Callable[[str, int, int], None] | None = None


def has_random_weights(model: str | Path) -> bool:
    """Whether `model` is a local folder marked as holding random weights (`RANDOM_WEIGHTS_MARKER`)."""
    return (Path(model).expanduser() / RANDOM_WEIGHTS_MARKER).is_file()


def download_bar(progress: Callable[[str, int, int], None] | None, what: str):
    """A tqdm class for huggingface_hub's `tqdm_class` that prints nothing and passes each update of a bar counting
    bytes on as progress(f"downloading {what}", bytes done, bytes total); None without `progress`. (A snapshot's
    bar counting files is not passed on: its bytes are.)"""
    if progress is None:
        return None
    from tqdm.auto import tqdm

    class DownloadBar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # nothing on the console: the caller shows it
            self.counts_bytes = kwargs.get("unit") == "B"
            self.done = int(kwargs.get("initial") or 0)
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1):
            self.done += int(n or 0)
            if self.counts_bytes:
                progress(f"downloading {what}", self.done, int(self.total or 0))
            return super().update(n)

    return DownloadBar


def hub_host() -> tuple[str, int]:
    """The (host, port) huggingface_hub downloads from (`HF_ENDPOINT`, huggingface.co by default)."""
    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def hub_reachable(timeout_s: float) -> bool:
    """Whether a TCP connection to the Hub's host opens within `timeout_s`. True when a proxy is configured
    (only the proxy can tell) or huggingface_hub is offline anyway (`HF_HUB_OFFLINE`: it won't connect)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or {"https", "http", "all"} & set(urllib.request.getproxies()):
        return True
    try:
        socket.create_connection(hub_host(), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _reachable_options(opts: HubOptions) -> tuple[HubOptions, bool]:
    """`opts`, made cache-only when the probe finds the Hub unreachable; and whether it did."""
    if opts.local_files_only or opts.probe_timeout_s is None or hub_reachable(opts.probe_timeout_s):
        return opts, False
    return replace(opts, local_files_only=True), True


def _unavailable(repo_id: str, what: str, err: Exception, opts: HubOptions, unreachable: bool = False,
                 hint: str = LOCAL_HINT) -> ModelFilesUnavailable:
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    if unreachable:
        host, port = hub_host()
        why = f"it is not in the local cache and the Hub ({host}:{port}) could not be reached (no connection?)"
    elif isinstance(err, LocalEntryNotFoundError) or opts.local_files_only:
        why = "it is not in the local cache and downloads are off (offline mode or no connection)"
    elif isinstance(err, EntryNotFoundError):
        why = "the repo has no such file"
    elif isinstance(err, RepositoryNotFoundError):
        why = "no such repo (or it is private: log in with `hf auth login`)"
    else:
        why = f"the Hugging Face Hub could not be reached ({type(err).__name__})"
    return ModelFilesUnavailable(f"Could not get {what} from the Hugging Face Hub repo '{repo_id}': {why}. {hint}")


def hub_file(repo_id: str, filename: str, opts: HubOptions, hint: str = LOCAL_HINT) -> Path:
    """Download (or take from cache) one file of a Hub repo. hint: how to do without the Hub (in the error)."""
    from huggingface_hub import hf_hub_download

    opts, unreachable = _reachable_options(opts)
    try:
        return Path(hf_hub_download(repo_id, filename, cache_dir=opts.cache_dir, revision=opts.revision,
                                    local_files_only=opts.local_files_only, token=opts.token,
                                    tqdm_class=download_bar(opts.progress, filename)))
    except Exception as err:  # noqa: BLE001 - every Hub failure becomes one readable message
        raise _unavailable(repo_id, filename, err, opts, unreachable, hint) from err


def hub_snapshot(repo_id: str, patterns: list[str], opts: HubOptions, what: str, hint: str = LOCAL_HINT) -> Path:
    """Download (or take from cache) the files of a repo matching `patterns`; returns the snapshot folder."""
    from huggingface_hub import snapshot_download

    opts, unreachable = _reachable_options(opts)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, cache_dir=opts.cache_dir,
                                      revision=opts.revision, local_files_only=opts.local_files_only,
                                      token=opts.token, tqdm_class=download_bar(opts.progress, what)))
    except Exception as err:  # noqa: BLE001
        raise _unavailable(repo_id, what, err, opts, unreachable, hint) from err


@dataclass(frozen=True)
class ModelSource:
    """Where each part of a Bark model comes from.

    layout "suno": `suno_files` are text/coarse/fine `.pt` paths. layout "transformers": `hf_dir` holds config.json
    and weights (the codec may come from it too). tokenizer/codec: local folders, or Hub ids still to download.
    """

    name: str
    layout: str
    suno_files: tuple[Path, Path, Path] | None
    hf_dir: Path | None
    tokenizer: str | Path
    codec: str | Path | None  # None: the codec weights inside the transformers checkpoint


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "vocab.txt").exists() or (folder / "tokenizer.json").exists()


def _local_source(folder: Path, tokenizer: str | None, codec: str | None) -> ModelSource:
    tok = tokenizer or (folder / "tokenizer" if _has_tokenizer(folder / "tokenizer") else None)
    cod: str | Path | None = codec or (folder / "codec" if (folder / "codec" / "config.json").exists() else None)
    for names in SUNO_FILE_SETS:
        if all((folder / n).exists() for n in names):
            files = tuple(folder / n for n in names)
            return ModelSource(str(folder), "suno", files, None, tok or DEFAULT_TOKENIZER, cod or DEFAULT_CODEC)
    if (folder / "config.json").exists():
        tok = tok or (folder if _has_tokenizer(folder) else DEFAULT_TOKENIZER)
        return ModelSource(str(folder), "transformers", None, folder, tok, cod)
    raise ModelFilesUnavailable(
        f"{folder} holds no Bark model: expected text_2.pt/coarse_2.pt/fine_2.pt, text.pt/coarse.pt/fine.pt, "
        f"or a transformers Bark folder (config.json + weights)."
    )


def resolve_model(model: str, tokenizer: str | None, codec: str | None, opts: HubOptions) -> ModelSource:
    """Turn `model` ("bark", "bark-small", a Hub repo id or a local folder) into local files."""
    if not isinstance(model, (str, Path)) or not str(model).strip():
        raise ValueError(f"model must be 'bark', 'bark-small', a Hub repo id or a local folder; got {model!r}")
    folder = Path(model).expanduser()
    if folder.is_dir():
        return _local_source(folder, tokenizer, codec)
    if model in PRESETS:
        p = PRESETS[model]
        files = tuple(hub_file(p.repo_id, f, opts) for f in (p.text_file, p.coarse_file, p.fine_file))
        return ModelSource(model, "suno", files, None, tokenizer or DEFAULT_TOKENIZER, codec or DEFAULT_CODEC)
    if str(model).startswith((".", "/", "~")) or str(model).count("/") != 1:
        raise ValueError(f"model {model!r} is neither a folder that exists, a Hub repo id (owner/name), "
                         f"nor one of {sorted(PRESETS)}")
    return _remote_source(str(model), tokenizer, codec, opts)


def _missing_in_repo(err: ModelFilesUnavailable) -> bool:
    """The repo answered and has no such file (not: offline, or not cached)."""
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    cause = err.__cause__
    return isinstance(cause, EntryNotFoundError) and not isinstance(cause, LocalEntryNotFoundError)


def _remote_source(repo_id: str, tokenizer: str | None, codec: str | None, opts: HubOptions) -> ModelSource:
    try:
        hub_file(repo_id, "config.json", opts)
    except ModelFilesUnavailable as err:
        if not _missing_in_repo(err):
            raise
        for names in SUNO_FILE_SETS:  # no config.json: a repo of suno .pt files
            try:
                files = tuple(hub_file(repo_id, n, opts) for n in names)
            except ModelFilesUnavailable as e:
                if _missing_in_repo(e):
                    continue
                raise
            return ModelSource(repo_id, "suno", files, None, tokenizer or DEFAULT_TOKENIZER, codec or DEFAULT_CODEC)
        raise ModelFilesUnavailable(f"Hub repo '{repo_id}' holds no Bark model files. {LOCAL_HINT}") from None
    folder = hub_snapshot(repo_id, HF_WEIGHT_PATTERNS, opts, "the transformers Bark checkpoint")
    if not any(folder.glob("*.safetensors")):
        folder = hub_snapshot(repo_id, HF_WEIGHT_PATTERNS + HF_BIN_PATTERNS, opts, "the Bark weights")
    tok = tokenizer or (folder if _has_tokenizer(folder) else DEFAULT_TOKENIZER)
    return ModelSource(repo_id, "transformers", None, folder, tok, codec)


def local_or_hub(ref: str | Path, patterns: list[str], opts: HubOptions, what: str, hint: str = LOCAL_HINT) -> Path:
    """A local folder as is, or a Hub repo id downloaded (cached) for `patterns`."""
    folder = Path(ref).expanduser()
    if folder.is_dir():
        return folder
    return hub_snapshot(str(ref), patterns, opts, what, hint)
