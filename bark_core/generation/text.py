"""Text handling: whitespace normalisation and BERT tokenisation into the text model's id space."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from .. import constants as C

# Rough speaking rate of Bark voices, used only for estimates shown to users (never for generation).
BERT_TOKENS_PER_SECOND = 4.5


def normalize_text(text: str) -> str:
    """Collapse whitespace runs to one space and strip, as the reference does before tokenising."""
    return re.sub(r"\s+", " ", text).strip()


def check_text(text: object) -> str:
    """Return the normalised text, or raise ValueError for non-strings, empty text and control characters."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise ValueError("text contains invalid characters (unpaired surrogates); paste it as plain UTF-8 text")
    # Control characters that are not whitespace carry nothing to say (BERT drops them too).
    cleaned = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    norm = normalize_text(cleaned)
    if not norm:
        raise ValueError("text is empty: type something for Bark to say (e.g. 'Hello! [laughs]')")
    return norm


def tokenize(tokenizer, text: str) -> list[int]:
    """BERT ids of the normalised text, no special tokens (the reference's `_tokenize`)."""
    return tokenizer.encode(text, add_special_tokens=False)


def encode_text(tokenizer, text: str) -> np.ndarray:
    """Text -> (n,) int64 text-model ids (BERT ids + 10_048), n <= 256.

    Unlike the reference, text longer than the model's 256-token window is refused, never silently cut.
    """
    ids = tokenize(tokenizer, check_text(text))
    if len(ids) > C.TEXT_WINDOW:
        raise ValueError(
            f"text is {len(ids)} BERT tokens long; one Bark generation takes at most {C.TEXT_WINDOW} tokens "
            f"(about {C.TEXT_WINDOW / BERT_TOKENS_PER_SECOND:.0f} s of speech). Shorten it or split it into parts."
        )
    return np.asarray(ids, dtype=np.int64) + C.TEXT_ENCODING_OFFSET


def estimate_seconds(n_tokens: int) -> float:
    """Rough spoken duration of n BERT tokens (Bark stops at ~15 s whatever the text)."""
    return min(n_tokens / BERT_TOKENS_PER_SECOND, C.SEMANTIC_MAX_STEPS / C.SEMANTIC_RATE_HZ)
