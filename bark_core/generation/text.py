"""Text handling: whitespace normalisation and BERT tokenisation into the text model's id space."""

from __future__ import annotations

import re
import sys
import unicodedata
import warnings

import numpy as np

from .. import constants as C

# Rough speaking rate of Bark voices, used only for estimates shown to users (never for generation).
BERT_TOKENS_PER_SECOND = 4.5
# The most audio one generation makes: the semantic stage stops after 768 steps at 49.9 per second (~15.4 s).
WINDOW_SECONDS = C.SEMANTIC_MAX_STEPS / C.SEMANTIC_RATE_HZ
# About how much text that is: more BERT tokens than this are estimated to take longer than one window to say.
WINDOW_TOKENS = int(WINDOW_SECONDS * BERT_TOKENS_PER_SECOND)
# Letters that render as nothing (Hangul fillers, the blank Braille pattern): text of only these says nothing.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
EMPTY_TEXT = ("text is empty: it has nothing Bark can say (only spaces or invisible characters); type something "
              "for Bark to say (e.g. 'Hello! [laughs]')")


class LongTextWarning(UserWarning):
    """Text accepted for one generation that is estimated to take longer to say than the ~15 s one generation
    makes: Bark will stop early or rush it. `BarkPipeline.generate_long` splits such text into chunks."""


def normalize_text(text: str) -> str:
    """Collapse whitespace runs to one space and strip, as the reference does before tokenising."""
    return re.sub(r"\s+", " ", text).strip()


def says_something(ch: str) -> bool:
    """Whether a character gives Bark something to say.

    Not: whitespace; what BERT's text cleaning drops (control, format and private-use characters — e.g. the zero-width
    space U+200B, the joiners U+200C/U+200D, the word joiner U+2060, the byte-order mark U+FEFF, the soft hyphen
    U+00AD — and U+FFFD); unassigned code points; combining marks and variation selectors on their own (BERT makes
    them [UNK]); letters that render as nothing (`BLANK_LETTERS`). A `[cue]` says something (Bark performs it).
    """
    category = unicodedata.category(ch)
    return not (ch.isspace() or category[0] in "CM" or ch == "\ufffd" or ch in BLANK_LETTERS)


def check_text(text: object) -> str:
    """Return the normalised text, or raise ValueError for non-strings, unpaired surrogates and text with nothing
    to say (no character for which `says_something` holds: empty, whitespace, invisible characters). Control
    characters that are not whitespace are removed (BERT drops them too, so the tokens are the same)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise ValueError("text contains invalid characters (unpaired surrogates); paste it as plain UTF-8 text")
    cleaned = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    norm = normalize_text(cleaned)
    if not any(says_something(ch) for ch in norm):
        raise ValueError(EMPTY_TEXT)
    return norm


def tokenize(tokenizer, text: str) -> list[int]:
    """BERT ids of the normalised text, no special tokens (the reference's `_tokenize`)."""
    return tokenizer.encode(text, add_special_tokens=False)


def encode_text(tokenizer, text: str) -> np.ndarray:
    """Text -> (n,) int64 text-model ids (BERT ids + 10_048), 1 <= n <= 256.

    ValueError for text `check_text` refuses, text of no BERT token at all (the empty-text error) and text longer
    than the model's 256-token window: unlike the reference, such text is refused, never silently cut.
    """
    ids = tokenize(tokenizer, check_text(text))
    if not ids:
        raise ValueError(EMPTY_TEXT)
    if len(ids) > C.TEXT_WINDOW:
        raise ValueError(
            f"text is {len(ids)} BERT tokens long; one Bark generation reads at most {C.TEXT_WINDOW} tokens and "
            f"makes at most ~{WINDOW_SECONDS:.0f} s of audio ({C.SEMANTIC_MAX_STEPS} semantic steps at "
            f"{C.SEMANTIC_RATE_HZ} per second: about {WINDOW_TOKENS} BERT tokens of speech). Use generate_long for "
            f"longer text: it splits the text into chunks and joins their audio."
        )
    return np.asarray(ids, dtype=np.int64) + C.TEXT_ENCODING_OFFSET


def encode_prompt(tokenizer, text: str) -> np.ndarray:
    """`encode_text` for a text given to one generation (`generate`, `generate_takes`, `stream`,
    `text_to_semantic`), with a `LongTextWarning` when its estimated speech is longer than one window."""
    ids = encode_text(tokenizer, text)
    if len(ids) / BERT_TOKENS_PER_SECOND > WINDOW_SECONDS:
        warnings.warn(
            f"this text is {len(ids)} BERT tokens, about {len(ids) / BERT_TOKENS_PER_SECOND:.0f} s of speech, but one "
            f"generation makes at most ~{WINDOW_SECONDS:.0f} s ({C.SEMANTIC_MAX_STEPS} semantic steps at "
            f"{C.SEMANTIC_RATE_HZ} per second; about {WINDOW_TOKENS} BERT tokens of speech): Bark will stop early "
            f"or rush it. Use generate_long, which splits long text into chunks.",
            LongTextWarning, stacklevel=_outside_package())
    return ids


def _outside_package() -> int:
    """The `stacklevel` that points a warning at the first caller outside bark_core (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("bark_core."):
        frame, level = frame.f_back, level + 1
    return level


def estimate_seconds(n_tokens: int) -> float:
    """Rough spoken duration of n BERT tokens, at most one window (Bark stops at ~15 s whatever the text)."""
    return min(n_tokens / BERT_TOKENS_PER_SECOND, WINDOW_SECONDS)
