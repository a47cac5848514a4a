"""Frozen settings of each generation stage, the sampling settings a caller passes (defined once, in `SAMPLING`),
and the checks of what a caller may pass (seeds, whole numbers, temperatures, tokens)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from .. import constants as C

MAX_TEMPERATURE = 10.0
MAX_SEED = 2**63 - 1


def _scalar(x: object) -> object:
    """A numpy scalar or 0-d numeric array as the Python number it holds (np.bool_ becomes a bool, refused below)."""
    if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype != object):
        return x.item()
    return x


def _is_number(x: object) -> bool:
    """A real number, not a bool, finite (Python ints of any size are finite; math.isfinite would overflow)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return isinstance(x, int) or math.isfinite(x)


def whole_number(value: object, what: str, low: int | None = None, high: int | None = None,
                 extra: str = "", *, wording: str = "in {low}..{high}") -> int:
    """`value` as an int, or ValueError "{what} must be a whole number ...". The one integer check: ints and
    numpy integers (scalars or 0-d arrays) pass, so do floats with no fractional part (a web form's number field
    sends 3.0); bools, NaN, infinities and strings do not. `extra` is appended to the allowed range ("or None
    (off)"); `wording` words a range with both ends ("from {low} to {high}" reads better for a count)."""
    value = _scalar(value)
    ok = _is_number(value) and (isinstance(value, int) or float(value).is_integer())
    number = int(value) if ok else None
    if number is not None and (low is None or number >= low) and (high is None or number <= high):
        return number
    if low is not None and high is not None:
        bounds = " " + wording.format(low=low, high=high)
    else:
        bounds = f" >= {low}" if low is not None else (f" <= {high}" if high is not None else "")
    raise ValueError(f"{what} must be a whole number{bounds}{extra}; got {value!r}")


def check_temperature(name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    value = _scalar(value)
    if not _is_number(value) or not 0 < value <= MAX_TEMPERATURE:
        allowed = f"a number in (0, {MAX_TEMPERATURE:g}]" + (" or None (greedy)" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


class Sampling(TypedDict, total=False):
    """The sampling settings every generation call takes as keywords (`**sampling: Unpack[Sampling]`). What each
    means, its default and what it allows: `SAMPLING`."""

    text_temp: float
    waveform_temp: float
    fine_temp: float | None
    top_k: int | None
    top_p: float | None
    min_eos_p: float | None
    max_duration_s: float | None


@dataclass(frozen=True)
class Setting:
    """One sampling setting: its keyword, how a person reads it, its default and what values it allows.

    `none` says what None means for it ("" if None is not allowed); `form_off` is the value a form field uses for
    None (e.g. top-k 0), so that pages and command lines can offer it without an empty field."""

    name: str
    label: str
    help: str
    default: float | int | None
    low: float
    high: float
    low_open: bool = False  # the lower bound itself is not allowed
    integer: bool = False
    none: str = ""
    form_off: float | int | None = None
    why: str = ""  # appended to the error message: why the range is what it is

    def allowed(self) -> str:
        """What values are allowed, in words (for messages)."""
        if self.integer:
            text = f"a whole number >= {self.low:g}"
        elif math.isinf(self.high):
            text = f"a number {'>' if self.low_open else '>='} {self.low:g}"
        else:
            text = f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        return text + (f" or None ({self.none})" if self.none else "")

    def check(self, value: object) -> float | int | None:
        """The value if allowed (whole numbers as int), else ValueError naming the setting and what it allows."""
        if value is None and self.none:
            return None
        value = _scalar(value)
        if self.integer:
            return whole_number(value, self.name, int(self.low), extra=f" or None ({self.none})" if self.none else "")
        try:
            number = float(value) if _is_number(value) else math.nan
        except OverflowError:  # an int too big for a float
            number = math.inf
        if not (math.isfinite(number) and (self.low < number if self.low_open else self.low <= number)
                and number <= self.high):
            raise ValueError(f"{self.name} must be {self.allowed()}; got {value!r}{self.why}")
        return number


SAMPLING: tuple[Setting, ...] = (
    Setting("text_temp", "text temperature", "randomness of the semantic tokens (what is said, and how)",
            C.DEFAULT_TEXT_TEMP, 0, MAX_TEMPERATURE, low_open=True),
    Setting("waveform_temp", "waveform temperature", "randomness of the coarse codes (voice and rough sound)",
            C.DEFAULT_WAVEFORM_TEMP, 0, MAX_TEMPERATURE, low_open=True),
    Setting("fine_temp", "fine temperature", "randomness of the fine codes (detail)",
            C.DEFAULT_FINE_TEMP, 0, MAX_TEMPERATURE, low_open=True, none="greedy"),
    Setting("top_k", "top-k", "sample only among the k likeliest tokens (semantic and coarse stages)",
            None, 1, math.inf, integer=True, none="off", form_off=0),
    Setting("top_p", "top-p", "sample only within the smallest set of tokens whose probability reaches p",
            None, 0, 1, low_open=True, none="off", form_off=1.0),
    Setting("min_eos_p", "min_eos_p", "end the speech once the end token's probability reaches this: higher goes "
            "on longer, lower ends sooner. Long text: every chunk uses the value given (none given: the lower "
            "long-form chunk default, so that each chunk ends cleanly)", C.DEFAULT_MIN_EOS_P, 0, 1, low_open=True,
            none="only at the end token", why=" (at 0 every take would end before its first token; a higher "
            "min_eos_p lets Bark go on longer)"),
    Setting("max_duration_s", "max duration (s)", "stop the semantic stage after this many seconds",
            None, 0, math.inf, low_open=True, none="no limit", form_off=0),
)
SETTINGS: dict[str, Setting] = {s.name: s for s in SAMPLING}
DEFAULT_SAMPLING: Sampling = {s.name: s.default for s in SAMPLING}  # type: ignore[assignment]


def check_sampling(sampling: Mapping[str, object]) -> Sampling:
    """Every sampling setting, checked, with defaults for those not given; ValueError for an unknown name (listing
    the known ones) or a value a setting does not allow."""
    unknown = [k for k in sampling if k not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown sampling setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"the settings are {', '.join(SETTINGS)}")
    return {s.name: s.check(sampling.get(s.name, s.default)) for s in SAMPLING}  # type: ignore[return-value]


@dataclass(frozen=True)
class SamplingParams:
    """How one distribution is sampled: temperature, then optional top-k / nucleus (top-p) filtering."""

    temperature: float = C.DEFAULT_TEXT_TEMP
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        check_temperature("temperature", self.temperature)
        SETTINGS["top_k"].check(self.top_k)
        SETTINGS["top_p"].check(self.top_p)


@dataclass(frozen=True)
class SemanticSettings:
    """Text -> semantic stage. Generation stops at EOS, when p(EOS) >= min_eos_p, or after max_duration_s."""

    sampling: SamplingParams = SamplingParams(C.DEFAULT_TEXT_TEMP)
    min_eos_p: float | None = C.DEFAULT_MIN_EOS_P
    max_duration_s: float | None = None

    def __post_init__(self) -> None:
        SETTINGS["min_eos_p"].check(self.min_eos_p)
        SETTINGS["max_duration_s"].check(self.max_duration_s)


@dataclass(frozen=True)
class CoarseSettings:
    """Semantic -> coarse stage: windows of `sliding_window_len` tokens, each re-prefilled with history."""

    sampling: SamplingParams = SamplingParams(C.DEFAULT_WAVEFORM_TEMP)
    max_coarse_history: int = C.MAX_COARSE_HISTORY
    sliding_window_len: int = C.SLIDING_WINDOW_LEN

    def __post_init__(self) -> None:
        whole_number(self.max_coarse_history, "max_coarse_history", C.MIN_COARSE_HISTORY, C.MAX_COARSE_HISTORY)
        room = C.CONTEXT_WINDOW - C.COARSE_SEMANTIC_WINDOW
        whole_number(self.sliding_window_len, "sliding_window_len", 1, room - self.max_coarse_history,
                     extra=f" (max_coarse_history + sliding_window_len <= {room})")


@dataclass(frozen=True)
class FineSettings:
    """Coarse -> fine stage. temperature None means greedy (argmax)."""

    temperature: float | None = C.DEFAULT_FINE_TEMP

    def __post_init__(self) -> None:
        check_temperature("fine_temp", self.temperature, allow_none=True)


@dataclass(frozen=True)
class StageSettings:
    """The settings of all three token stages of one generation."""

    semantic: SemanticSettings
    coarse: CoarseSettings
    fine: FineSettings

    @classmethod
    def build(cls, **sampling: object) -> StageSettings:
        """From `generate`'s sampling keywords (`Sampling`; those not given take their defaults). top-k and top-p
        apply to the semantic and coarse stages. ValueError names a setting that is unknown or out of range."""
        s = check_sampling(sampling)
        return cls(SemanticSettings(SamplingParams(s["text_temp"], s["top_k"], s["top_p"]), s["min_eos_p"],
                                    s["max_duration_s"]),
                   CoarseSettings(SamplingParams(s["waveform_temp"], s["top_k"], s["top_p"])),
                   FineSettings(s["fine_temp"]))

    def arguments(self) -> Sampling:
        """The sampling keywords that build these settings (what results record as their settings)."""
        s = self.semantic
        return Sampling(text_temp=s.sampling.temperature, waveform_temp=self.coarse.sampling.temperature,
                        fine_temp=self.fine.temperature, top_k=s.sampling.top_k, top_p=s.sampling.top_p,
                        min_eos_p=s.min_eos_p, max_duration_s=s.max_duration_s)


def check_seed(seed: object) -> int:
    """A seed as an int in 0..MAX_SEED, or ValueError."""
    return whole_number(seed, "seed", 0, MAX_SEED, extra=" (or None for a random seed)")


def check_tokens(arr: object, what: str, ndim: int, high: int) -> np.ndarray:
    """A stage's token input as int64, or a ValueError saying what shape and range are allowed."""
    a = np.asarray(arr)
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer) or a.ndim != ndim or a.size == 0:
        raise ValueError(f"{what} must be a non-empty {ndim}-D integer array; got dtype {a.dtype}, shape {a.shape}")
    if a.min() < 0 or a.max() >= high:
        raise ValueError(f"{what} must be in 0..{high - 1}; found {a.min()}..{a.max()}")
    return a.astype(np.int64)
