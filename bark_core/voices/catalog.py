"""The catalogue of Bark's preset voices (`catalog.json`, shipped with the package): names, languages, versions, and
for the v2 presets the gender and short note that Suno's speaker library gives (sources named in the file)."""

from __future__ import annotations

import difflib
import functools
import json
import re
from importlib import resources

LABEL_SEPARATOR = " · "


@functools.cache
def catalog() -> tuple[dict, ...]:
    """Every preset Bark ships (from catalog.json): dicts with name, language, version, description, gender ("male",
    "female", or "" where no source gives it), notes (the source's short note, or "") and sources (ids into
    `sources()`)."""
    return tuple(_catalog_file()["voices"])


def preset_names() -> tuple[str, ...]:
    return tuple(voice["name"] for voice in catalog())


def presets_for(language: str) -> list[str]:
    """Preset names for `language` ("any": all), as a picker lists them: v2 presets first, then v1, then the
    announcer and the unlabelled speakers."""
    voices = [voice for voice in catalog() if language == "any" or voice["language"] == language]
    order = {"v2": 0, "v1": 1}
    return [voice["name"] for voice in sorted(voices, key=lambda voice: (order[voice["version"]],
                                                                         voice["name"].count("_") < 2))]


def check_preset_name(name: str) -> str:
    """Return `name` if it is a known preset; otherwise ValueError with close matches."""
    names = preset_names()
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown voice preset {name!r}.{hint} Presets look like 'v2/en_speaker_6', 'de_speaker_3', "
                     f"'announcer'; or pass a path to an .npz file.")


def is_preset_name(name: object) -> bool:
    """Whether `name` is exactly one of Bark's preset names."""
    return isinstance(name, str) and name in _voices_by_name()


def preset_named_by(path: str) -> str | None:
    """The preset a path-like string names, if any: "v2/en_speaker_6.npz", "V2/EN_SPEAKER_6.NPZ" or a copy in suno's
    layout ".../assets/prompts/v2/en_speaker_6.npz" -> "v2/en_speaker_6"; "announcer.npz" -> "announcer"; None when
    the file's name (without its suffix, compared without case) is no preset's."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return None
    parts[-1] = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    lowered = {name.lower(): name for name in preset_names()}
    for k in range(min(2, len(parts)), 0, -1):  # "v2/name" first, then "name"
        match = lowered.get("/".join(parts[-k:]).lower())
        if match is not None:
            return match
    return None


@functools.cache
def _catalog_file() -> dict:
    return json.loads(resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8"))


def languages() -> dict[str, str]:
    """Bark's languages: code -> English name, in the catalogue's order."""
    return dict(_catalog_file()["languages"])


def sources() -> dict[str, dict]:
    """Where the catalogue's genders and notes come from: source id -> entry with title, url, covers, read (the date it
    was read) and read_via (the public copies it was read through)."""
    return {entry["id"]: dict(entry) for entry in _catalog_file()["sources"]}


def preset_label(name: str) -> str:
    """How a picker shows preset `name`: the name, its language's English name, its gender and its note, each part only
    where the catalogue knows it (a fact no source gives is left out, never guessed), joined by LABEL_SEPARATOR.

    "v2/en_speaker_6" -> "v2/en_speaker_6 · English · male · Suno Favorite"; "de_speaker_3" -> "de_speaker_3 · German";
    "speaker_0" -> "speaker_0". Raises ValueError, with close matches, for a name that is no preset.
    """
    voice = _voices_by_name()[check_preset_name(name)]
    language = languages().get(voice["language"] or "", "")
    return LABEL_SEPARATOR.join(part for part in (voice["name"], language, voice["gender"], voice["notes"]) if part)


@functools.cache
def _voices_by_name() -> dict[str, dict]:
    return {voice["name"]: voice for voice in catalog()}


def search_presets(query: str, names: list[str] | None = None) -> list[str]:
    """Presets whose label (`preset_label`) has a word starting with each word of `query`, in `names`' order
    (default: `presets_for("any")`). Case is ignored and the words may come in any order, so "German female",
    "female german" and "de 3" all find "v2/de_speaker_3"; a word matches from its start, so "male" does not match
    "female". An empty query matches every preset."""
    wanted = _words(query)
    names = presets_for("any") if names is None else names
    return [name for name in names
            if all(any(word.startswith(w) for word in _words(preset_label(name))) for w in wanted)]


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())
