"""The page's sampling fields, derived from `generation.settings.SAMPLING` (where each setting is defined once):
what a field shows (label, help, initial value, span) and how its value becomes the engine's keyword.

A form cannot leave a number "off", so a setting whose None means "off" takes its `form_off` value in the page
(top-k 0, top-p 1, max duration 0). Messages name a field as the page labels it and say what it allows, in words
("top-k must be 0 (off) or more"), never a Python name: `for_people` also strips the qualified names that engine
messages carry for Python callers ("(LongFormSettings.max_chars)").
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping

from ..generation.settings import MAX_SEED, SAMPLING, SETTINGS, Setting

RANDOM_SEED_BELOW = 2**32  # a drawn seed: short enough to read out and type back


def initial_value(s: Setting) -> float | int:
    """What the field shows at first: the default, or the form's "off" value when the default is None."""
    value = s.form_off if s.default is None else s.default
    assert value is not None, f"{s.name}: a page field needs a default or a form_off value"
    return value


def is_slider(s: Setting) -> bool:
    """A slider suits a setting with a finite span no wider than 1 (top-p, min_eos_p); the others get a number
    field (a 0..10 temperature slider would put every useful value in its first tenth)."""
    return not s.integer and math.isfinite(s.high) and s.high - s.low <= 1


def allowed_in_page(s: Setting) -> str:
    """What the field accepts, in words: "0 (off) or more", "more than 0 and at most 1 (1 = off)", "from 0 to 1"."""
    off = s.form_off
    if off is not None and math.isinf(s.high) and (off < s.low or (off == s.low and s.low_open)):
        return f"{off:g} ({s.none}) or more"  # the off value sits just below the range: one open-ended span
    if math.isinf(s.high):
        span = f"more than {s.low:g}" if s.low_open else f"{s.low:g} or more"
    elif s.low_open:
        span = f"more than {s.low:g} and at most {s.high:g}"
    else:
        span = f"from {s.low:g} to {s.high:g}"
    return span + (f" ({off:g} = {s.none})" if off is not None else "")


def from_page(s: Setting, value: object) -> float | int | None:
    """A field's value as the engine's keyword value: the form's "off" value (or an emptied field, for a setting
    that has an off) becomes None; an emptied field of a setting without one, or anything outside the setting's
    range, is a ValueError naming the field (an empty fine temperature is not silently greedy sampling)."""
    if s.form_off is not None and (value is None or value == s.form_off):
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{s.label} is empty: enter a number {allowed_in_page(s)}")
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if s.integer and number and not float(value).is_integer():
        raise ValueError(f"{s.label} must be a whole number; got {value!r}")
    try:
        return s.check(value)
    except ValueError:
        raise ValueError(f"{s.label} must be {allowed_in_page(s)}; got {value!r}") from None


def sampling_from_page(values: Mapping[str, object]) -> dict:
    """The page's sampling fields (keyed by setting name; a field not given takes its initial value) -> the
    engine's sampling keywords. ValueError names the first field out of range, or an unknown name."""
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the settings are "
                         f"{', '.join(SETTINGS)}")
    return {s.name: from_page(s, values.get(s.name, initial_value(s))) for s in SAMPLING}


def seed_from_page(seed: object, random_seed: bool) -> int:
    """The take's seed: drawn here when `random_seed` (so the take can report it), else the field's whole number."""
    if random_seed:
        return secrets.randbelow(RANDOM_SEED_BELOW)
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        raise ValueError(f"seed is empty: enter a whole number from 0 to {MAX_SEED}, or tick 'random seed'")
    whole = isinstance(seed, (int, float)) and not isinstance(seed, bool) and math.isfinite(seed) \
        and float(seed).is_integer()
    if not whole or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED} (or tick 'random seed'); got {seed!r}")
    return int(seed)


_PYTHON_NAME = re.compile(r"\s*\((?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*\)")


# What a Python caller may pass as a voice and a page offers elsewhere: the page's own way to give a voice file.
_PATH_ADVICE = ("or pass a path to an .npz file", 'or upload an .npz under "Your own voice"')


def for_people(message: str) -> str:
    """An engine message as a page shows it: qualified Python names in parentheses, which tell a Python caller
    which setting to change ("... per generation (LongFormSettings.max_chars)"), are left out, and advice to pass
    a voice file's path points to the page's upload instead."""
    return _PYTHON_NAME.sub("", message).replace(*_PATH_ADVICE)


def changed_settings(sampling: Mapping[str, object]) -> str:
    """The sampling settings that differ from their defaults, as the page labels them ("max duration (s) 0.3,
    top-k 50"); "" when none does. `sampling`: engine keywords, as `sampling_from_page` returns them."""
    return ", ".join(f"{s.label} {sampling[s.name]:g}" for s in SAMPLING
                     if s.name in sampling and sampling[s.name] is not None and sampling[s.name] != s.default)
