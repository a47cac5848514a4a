"""Which of Bark's 13 languages a text is in (py3langid, its model ships inside the package), and voice advice."""

from __future__ import annotations

import re

from ..constants import SUPPORTED_LANGUAGES
from .catalog import languages

MIN_LETTERS = 8  # shorter text is too little to tell
# Below this the guess is noise: py3langid gives 0.36-0.45 to English with "la la" or a name in it, and 0.69 and
# more to short real phrases ("Ciao, come stai?").
MIN_PROBABILITY = 0.6
_CUES = re.compile(r"\[[^\]]*\]|♪|—|\.\.\.")


class LanguageDetector:
    """Language identification restricted to Bark's languages. Build one and share it; it holds a small model."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._identifier.set_languages(list(SUPPORTED_LANGUAGES))

    def detect(self, text: str) -> tuple[str, float] | None:
        """(language code, probability) of the text without Bark's cues, or None when there is too little text
        or no language is likely enough (probability under MIN_PROBABILITY)."""
        plain = _CUES.sub(" ", text or "")
        if sum(ch.isalpha() for ch in plain) < MIN_LETTERS:
            return None
        lang, prob = self._identifier.classify(plain)
        return (str(lang), float(prob)) if prob >= MIN_PROBABILITY else None


def voice_language(name: str | None) -> str | None:
    """The language of a preset by its name ("v2/de_speaker_3" -> "de"; "announcer" -> "en"; others None)."""
    if not name:
        return None
    base = name.rsplit("/", 1)[-1]
    if base == "announcer":
        return "en"
    code = base.split("_", 1)[0]
    return code if code in SUPPORTED_LANGUAGES else None


def language_advice(detected: str | None, voice: str | None) -> str | None:
    """A one-line hint, languages by name, when the text's language differs from the preset's, else None."""
    lang = voice_language(voice)
    if detected is None or lang is None or detected == lang:
        return None
    names = languages()
    return (f"The text looks like **{names.get(detected, detected)}** but the voice {voice} is "
            f"**{names.get(lang, lang)}**: Bark will read it with {names.get(lang, lang)} pronunciation. Try "
            f"v2/{detected}_speaker_0…9 for a native voice.")
