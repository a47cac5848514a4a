"""Which of Bark's 13 languages a text is in (py3langid, its model ships inside the package), and voice advice."""

from __future__ import annotations

import re

from ..constants import SUPPORTED_LANGUAGES

MIN_LETTERS = 8  # shorter text is too little to tell
_CUES = re.compile(r"\[[^\]]*\]|♪|—|\.\.\.")


class LanguageDetector:
    """Language identification restricted to Bark's languages. Build one and share it; it holds a small model."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._identifier.set_languages(list(SUPPORTED_LANGUAGES))

    def detect(self, text: str) -> tuple[str, float] | None:
        """(language code, probability) of the text without Bark's cues, or None when there is too little text."""
        plain = _CUES.sub(" ", text or "")
        if sum(ch.isalpha() for ch in plain) < MIN_LETTERS:
            return None
        lang, prob = self._identifier.classify(plain)
        return str(lang), float(prob)


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
    """A one-line hint when the text's language differs from the preset's, else None."""
    lang = voice_language(voice)
    if detected is None or lang is None or detected == lang:
        return None
    return (f"The text looks like **{detected}** but the voice {voice} is **{lang}**: Bark will speak with a "
            f"{lang} accent. Try v2/{detected}_speaker_0…9 for a native voice.")
