"""The `bark-studio` command line (also `python -m bark_core`): say, batch, voice, voices, reproduce, demo-weights.

It drives the engine through its public API only. Progress bars (tqdm, on stderr when it is a terminal) live
here: the engine never prints. Bad input is one line on stderr and exit code 2 (never a traceback); Ctrl-C exits
with 130. What was written is printed on stdout, one file per line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..version import __version__
from ..voices.catalog import languages
from .batch import LINE_KEYS, MANIFEST, run_batch
from .commands import run_demo_weights, run_reproduce, run_say, run_voice, run_voices
from .options import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_TOKENS_DIFFER,
    PROG,
    Parser,
    add_generation_options,
    add_model_options,
    add_output_options,
    quiet_option,
    seed_value,
    takes_value,
)


def add_say(commands, common) -> None:
    p = commands.add_parser("say", parents=[common], help="text -> a WAV (any length; takes; bundle, tokens)",
                            description="Say a text: write a 24 kHz 16-bit WAV. Text of any length: long text is "
                            "split into sentences and generated in one voice (long-form); text that fits one "
                            "generation gives exactly BarkPipeline.generate's take.",
                            epilog=f'example: {PROG} say "Hello! [laughs]" -o hello.wav --voice v2/en_speaker_6 '
                            "--seed 7")
    p.add_argument("text", help="what to say (cues such as [laughs] and ♪ work as in Bark); - reads stdin")
    p.add_argument("-o", "--output", required=True, help="the WAV to write (with --takes N: NAME-1.wav ... "
                   "NAME-N.wav)")
    p.add_argument("--takes", type=takes_value, default=1, help="how many takes, one after another, with seeds "
                   "SEED, SEED+1, ... (default: 1)")
    add_output_options(p)
    add_generation_options(p)
    add_model_options(p)
    p.set_defaults(run=run_say)


def add_batch(commands, common) -> None:
    p = commands.add_parser("batch", parents=[common], help="one take per line of a text or JSONL file",
                            description="One take per non-blank line of LINES, written as OUTDIR/NNNN.wav (NNNN: "
                            f"the line number) with OUTDIR/{MANIFEST}, one JSON record per take: its line, files, "
                            "seed and every setting. Resumable: lines whose WAV exists are skipped, so run the same "
                            "command again after an interruption. A .jsonl file has one object per line with "
                            f"\"text\" and any of {', '.join(k for k in LINE_KEYS if k != 'text')} (null: none "
                            "or off); the options below apply to what a line does not set.",
                            epilog=f"example: {PROG} batch lines.txt -o takes/ --voice v2/en_speaker_6 --seed 1;  "
                            'a JSONL line: {"text": "Hi!", "voice": "v2/de_speaker_3", "seed": 7, "text_temp": 0.6, '
                            '"name": "greeting"}')
    p.add_argument("lines", help="a text file (one text per line) or a .jsonl file (one JSON object per line)")
    p.add_argument("-o", "--output", required=True, help="the folder to write into (made if missing)")
    add_output_options(p)
    add_generation_options(p, batch=True)
    add_model_options(p)
    p.set_defaults(run=run_batch)


def add_voice(commands, common) -> None:
    p = commands.add_parser("voice", parents=[common], help="a voice (.npz) from a recording",
                            description="Make a Bark voice (.npz history prompt) from a recording of one speaker "
                            "(wav, flac, ogg or mp3; a few seconds to a few minutes of clean speech), with the "
                            "model's codec, HuBERT and a HuBERT quantizer.",
                            epilog=f"example: {PROG} voice me.wav -o me.npz;  then: {PROG} say \"Hi\" -o hi.wav "
                            "--voice me.npz")
    p.add_argument("recording", help="the recording")
    p.add_argument("-o", "--output", required=True, help="the voice file to write (.npz)")
    g = p.add_argument_group("voice cloning")
    g.add_argument("--hubert", default=None, help="HuBERT: a Hub id or a local folder (default: "
                   "the model folder's hubert/, else facebook/hubert-base-ls960)")
    g.add_argument("--quantizer", default=None, help="the HuBERT quantizer: a .pth file or owner/repo/file.pth "
                   "(default: the model folder's quantizer.pth, else GitMylo/bark-voice-cloning's)")
    add_model_options(p)
    p.set_defaults(run=run_voice)


def add_voices(commands, common) -> None:
    p = commands.add_parser("voices", parents=[common], help="the catalogue of preset voices",
                            description="List Bark's preset voices, one per line: the name (what --voice takes), "
                            "its language, and the gender and note Suno's speaker library gives, where one does.",
                            epilog=f"example: {PROG} voices --language de")
    p.add_argument("--language", default=None, choices=tuple(languages()),
                   help="only the presets of this language (default: all)")
    p.set_defaults(run=run_voices)


def add_reproduce(commands, common) -> None:
    p = commands.add_parser("reproduce", parents=[common], help="re-make a take from its bundle (.zip)",
                            description="Re-make a take from its reproducibility bundle (written by the app or "
                            "by --bundle) and say whether its tokens are the bundle's, and what differs in the "
                            "set-up (weights, device, precision, versions) when they are not.",
                            epilog=f"example: {PROG} reproduce take.zip -o again.wav")
    p.add_argument("bundle_file", metavar="bundle", help="the take's bundle (.zip)")
    p.add_argument("-o", "--output", required=True, help="the WAV to write")
    p.add_argument("--strict", action="store_true",
                   help=f"exit with code {EXIT_TOKENS_DIFFER} when the tokens differ from the bundle's")
    add_model_options(p, from_bundle=True)
    p.set_defaults(run=run_reproduce)


def add_demo_weights(commands, common) -> None:
    from ..testing.random_weights import SIZES

    p = commands.add_parser("demo-weights", parents=[common], help="write an offline random-weights model folder",
                            description="Write a model folder of random weights in the real file formats (suno "
                            ".pt checkpoints, tokenizer, codec), which runs with no download: its audio is noise, "
                            "but everything around it is real. For trying the tools offline.",
                            epilog=f'example: {PROG} demo-weights tiny-bark && {PROG} say "Hello" -o hello.wav '
                            "--model tiny-bark")
    p.add_argument("folder", help="the folder to write (new or empty)")
    p.add_argument("--size", default="tiny", choices=tuple(SIZES),
                   help="tiny (seconds to write and run) or the real models' sizes (default: tiny)")
    p.add_argument("--seed", type=seed_value, default=0, help="the seed of the random weights (default: 0)")
    p.set_defaults(run=run_demo_weights)


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Bark text-to-audio from the command line: say, batch, voices from "
                    "recordings, the preset catalogue, reproducing takes. Each command's --help lists its options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    common = quiet_option()
    for add in (add_say, add_batch, add_voice, add_voices, add_reproduce, add_demo_weights):
        add(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 done, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # stdout's reader stopped early (`| head`): no message, and nothing more to print
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (ValueError, OSError) as e:  # bad input: the engine's messages, files that cannot be read or written
        message = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.strerror and e.filename else str(e)
        print(f"{PROG} {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
