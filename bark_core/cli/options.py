"""The command line's shared options: flags and their values from the engine's SETTINGS, the option groups the
commands share, and what a person watching sees (status lines and progress bars on stderr, when it is a terminal).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from ..generation.settings import MAX_SEED, SAMPLING, Setting, check_seed, whole_number
from ..models.graphs import GRAPH_MODES
from ..models.loading import PRECISIONS
from ..voices.catalog import languages

PROG = "bark-studio"
EXIT_BAD_INPUT = 2
EXIT_TOKENS_DIFFER = 1  # `reproduce --strict`
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
EXIT_BROKEN_PIPE = 1  # stdout closed early, as Python's documentation of SIGPIPE advises
DEFAULT_MODEL = "bark-small"
DEFAULT_LANGUAGE = "en"  # for text whose voice does not say its language


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def sampling_flag(setting: Setting) -> str:
    """The flag of a sampling setting: its keyword with dashes, a unit suffix left to the help (`--text-temp`,
    `--max-duration` for max_duration_s)."""
    return "--" + setting.name.removesuffix("_s").replace("_", "-")


def sampling_allowed(setting: Setting) -> str:
    """What a sampling flag takes, in words: the setting's numbers, and 'none' (or its form value, such as top-k 0)
    where None means something."""
    numbers = setting.allowed().removesuffix(f" or None ({setting.none})") if setting.none else setting.allowed()
    if not setting.none:
        return numbers
    also = "" if setting.form_off is None else f" or {setting.form_off:g}"
    return f"{numbers}, or none{also} ({setting.none})"


def sampling_value(setting: Setting) -> Callable[[str], float | int | None]:
    """argparse type of a sampling flag (see `sampling_allowed`); the setting's own check decides."""

    def parse(text: str) -> float | int | None:
        if setting.none and text.strip().lower() == "none":
            return None
        try:
            value = int(text) if setting.integer else float(text)
            if setting.form_off is not None and value == setting.form_off:
                return None
            return setting.check(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {sampling_allowed(setting)}; got {text!r}") from None

    parse.__name__ = setting.name
    return parse


def sampling_help(setting: Setting) -> str:
    default = "none" if setting.default is None else f"{setting.default:g}"
    return f"{setting.help}: {sampling_allowed(setting)} (default: {default})".replace("%", "%%")


def seed_value(text: str) -> int:
    try:
        return check_seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}; got {text!r}") from None


def takes_value(text: str) -> int:
    try:
        return whole_number(int(text), "--takes", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}") from None


def add_model_options(p: argparse.ArgumentParser, from_bundle: bool = False) -> None:
    g = p.add_argument_group("model")
    default = " (default: the bundle's)" if from_bundle else f" (default: {DEFAULT_MODEL})"
    g.add_argument("--model", default=None if from_bundle else DEFAULT_MODEL,
                   help="bark, bark-small, a Hub repo id, or a local folder of suno .pt files or the transformers "
                        f"layout (`{PROG} demo-weights` writes an offline one){default}")
    g.add_argument("--voices", default=None, help="where preset voices come from: a folder of Bark .npz files "
                   "(v2/en_speaker_6.npz ...) or a Hub repo (default: the model folder's voices, else suno/bark)")
    g.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N "
                   "(default: auto)")
    g.add_argument("--precision", default=None if from_bundle else "exact", choices=PRECISIONS,
                   help="exact: fp32 on CPUs, token-identical to Bark's reference; fast: int8 weights on CPUs; "
                        "bf16: bf16 autocast on any device" + (" (default: the bundle's)" if from_bundle
                                                              else " (default: exact)"))
    g.add_argument("--graphs", default="auto", choices=GRAPH_MODES,
                   help="how decoding steps run: auto (CUDA graphs on a GPU, else eager), off, cuda, static, or "
                        "compile (torch.compile; the first generation compiles) (default: auto)")
    g.add_argument("--local-files-only", action="store_true",
                   help="never download: use local folders and the Hugging Face cache only")


def add_generation_options(p: argparse.ArgumentParser, batch: bool = False) -> None:
    g = p.add_argument_group("voice and seed" + (" (what a line does not set)" if batch else ""))
    g.add_argument("--voice", default=None, help="a preset name (e.g. v2/en_speaker_6; see `bark-studio voices`) "
                   "or a Bark .npz voice file (default: none, Bark picks a speaker)")
    seed = ("a line without a seed gets SEED + its line number - 1" if batch else
            "take k of --takes gets SEED + k - 1, the same take as --seed SEED+k-1 alone")
    g.add_argument("--seed", type=seed_value, default=None, help=f"the take's seed; {seed} (default: drawn at random "
                   "and reported)")
    g.add_argument("--language", default=None, choices=tuple(languages()),
                   help=f"the text's language, for splitting long text into sentences (default: the voice preset's "
                        f"language, else {DEFAULT_LANGUAGE})")
    s = p.add_argument_group("sampling", "Bark's sampling settings, the keywords of BarkPipeline.generate")
    for setting in SAMPLING:
        s.add_argument(sampling_flag(setting), dest=setting.name, type=sampling_value(setting),
                       default=argparse.SUPPRESS, metavar="N" if setting.integer else "X", help=sampling_help(setting))


def add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what is written besides the WAV")
    g.add_argument("--bundle", action="store_true", help=f"the reproducibility bundle (.zip beside the WAV: audio, "
                   f"tokens, voice and every setting; `{PROG} reproduce` re-makes the take from it)")
    g.add_argument("--tokens", action="store_true", help="the tokens of every stage (.tokens.npz beside the WAV: "
                   "semantic_tokens, coarse_tokens, fine_tokens, sample_rate, seed)")


def sampling_of(args: argparse.Namespace) -> dict:
    """The sampling settings given on the command line (the engine's defaults apply to the rest)."""
    return {s.name: getattr(args, s.name) for s in SAMPLING if hasattr(args, s.name)}


def quiet_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or status lines (they show only when stderr is a terminal)")
    return common


# ---------------------------------------------------------------------------------------------------------------
# what a person watching sees


def status(args: argparse.Namespace, message: str) -> None:
    """A status line on stderr, only where a person watches it (as the progress bars): stderr a terminal and no
    --quiet. Scripts see stdout and, on failure, the one error line."""
    if not args.quiet and sys.stderr.isatty():
        print(message, file=sys.stderr)


def quiet_libraries(args: argparse.Namespace) -> None:
    """Hugging Face's own progress bars (downloads, saving weights) follow the same rule as ours: shown only on a
    terminal, never with --quiet."""
    if args.quiet or not sys.stderr.isatty():
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as transformers_logging

        disable_progress_bars()
        transformers_logging.disable_progress_bar()


class StageBar:
    """The engine's progress callback (stage, done, total) as one tqdm bar on stderr; off with --quiet or when
    stderr is not a terminal."""

    def __init__(self, quiet: bool, label: str = "", position: int = 0):
        from tqdm import tqdm

        self.bar = tqdm(total=1, desc=label, leave=False, disable=True if quiet else None, unit="step",
                        position=position, dynamic_ncols=True)
        self.label, self.stage = label, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stage = stage
            self.bar.reset(total=total)
            self.bar.set_description(f"{self.label}{stage}")
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> StageBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
