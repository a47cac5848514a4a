"""Language detection over Bark's 13 languages, and the voice-accent advice shown in the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bark_core.voices.language import LanguageDetector, language_advice, voice_language

TEXTS = json.loads((Path(__file__).parent / "data" / "texts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector()


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_detects_each_language(detector, lang):
    found, prob = detector.detect(f"[laughs] {TEXTS[lang]} ♪")
    assert found == lang and prob > 0.5


def test_too_little_text(detector):
    assert detector.detect("Hi! [laughs] ♪") is None


@pytest.mark.parametrize("name,lang", [("v2/de_speaker_3", "de"), ("fr_speaker_1", "fr"), ("announcer", "en"),
                                       ("speaker_4", None), (None, None)])
def test_voice_language(name, lang):
    assert voice_language(name) == lang


def test_advice_only_on_mismatch():
    assert language_advice("de", "v2/de_speaker_3") is None
    assert language_advice(None, "v2/de_speaker_3") is None
    tip = language_advice("de", "v2/en_speaker_6")
    assert tip == ("The text looks like **German** but the voice v2/en_speaker_6 is **English**: Bark will read it "
                   "with English pronunciation. Try v2/de_speaker_0…9 for a native voice.")


@pytest.mark.parametrize("text", ["Hello! [laughs] I'm Bark. ♪ la la ♪", "I am fine. La la la la la",
                                  "ok la la la"])
def test_no_guess_when_no_language_is_likely(detector, text):
    # English with "la la" in it was taken for Spanish (probability 0.36-0.45): no advice on such a guess.
    assert detector.detect(text) is None
