"""Comparison grids (one text per row, one setting per column) and their ratings as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from ..generation.settings import SAMPLING, whole_number

MAX_CELLS = 12
MAX_GRID_AUDIO_S = 180.0
AXES = ("voice", "seed", "temperature", "model")
TEMPERATURE_AXIS = ("text_temp", "waveform_temp")  # the sampling settings a "temperature" column sets
# The sampling settings a rating records: all but the length cap, since each cell's own length is its duration_s.
RATED = tuple(s for s in SAMPLING if s.name != "max_duration_s")
RATING_COLUMNS = ("cell", "row", "column", "axis", "value", "text", "voice", "model", "seed",
                  *(s.name for s in RATED), "duration_s", "rtf", "rating", "favourite", "note")
_INT = {"cell", "row", "column", "seed", "rating"} | {s.name for s in RATED if s.integer}
_FLOAT = {"duration_s", "rtf"} | {s.name for s in RATED if not s.integer}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as the start of a formula


@dataclass(frozen=True)
class Cell:
    """One take of the grid: row (text line) x column (axis value), and the settings it runs with."""

    row: int
    column: int
    text: str
    value: str
    settings: dict  # generate_long keyword arguments plus "voice" and "model"


def parse_values(axis: str, voices: list[str], k_seeds: int | float | None, temperatures: str,
                 models: list[str]) -> list[str]:
    """The column values for `axis`, as strings (what the page shows and the CSV stores)."""
    if axis not in AXES:
        raise ValueError(f"compare along one of {AXES}; got {axis!r}")
    if axis == "voice":
        values = list(voices or [])
    elif axis == "seed":
        values = [str(i) for i in range(whole_number(k_seeds, "number of takes", 1, MAX_CELLS))]
    elif axis == "temperature":
        try:
            values = [str(float(t)) for t in temperatures.replace(";", ",").split(",") if t.strip()]
        except ValueError:
            raise ValueError(f"temperatures must be numbers separated by commas, like 0.5, 0.7, 0.9; "
                             f"got {temperatures!r}") from None
        if any(not 0 < float(v) <= 1.5 for v in values):
            raise ValueError("each temperature must be in (0, 1.5]")
    else:
        values = list(models or [])
    if not values:
        raise ValueError(f"pick at least one {axis} to compare")
    return values


def build_cells(lines: list[str], axis: str, values: list[str], base: dict) -> list[Cell]:
    """Row-major cells; `base` holds voice, model, seed and sampling settings shared by every cell."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    if not lines:
        raise ValueError("type a line of text to compare (one line per row)")
    n = len(lines) * len(values)
    if n > MAX_CELLS:
        raise ValueError(f"the grid would have {n} cells ({len(lines)} lines x {len(values)} {axis} values); at "
                         f"most {MAX_CELLS}")
    cells = []
    for r, line in enumerate(lines):
        for c, value in enumerate(values):
            s = dict(base)
            if axis == "voice":
                s["voice"] = value
            elif axis == "seed":
                s["seed"] = int(base["seed"]) + int(value)  # takes s, s+1, ...
            elif axis == "temperature":
                s.update(dict.fromkeys(TEMPERATURE_AXIS, float(value)))
            else:
                s["model"] = value
            cells.append(Cell(r, c, line, value if axis != "seed" else str(s["seed"]), s))
    return cells


def check_audio_budget(cells: list[Cell], seconds_of) -> None:
    """Refuse grids whose estimated total audio exceeds MAX_GRID_AUDIO_S (seconds_of: text -> seconds)."""
    total = sum(seconds_of(c.text) for c in cells)
    if total > MAX_GRID_AUDIO_S:
        raise ValueError(f"the grid would make about {total:.0f} s of audio; at most {MAX_GRID_AUDIO_S:.0f} s — "
                         f"use fewer or shorter lines")


def cell_record(index: int, cell: Cell, axis: str, voice: str, model: str, seed: int, duration_s: float,
                rtf: float) -> dict:
    """A filled cell (slot `index`) as a row of the ratings table, not rated yet: where it sits, its settings, its
    take's seed, length and real-time factor. cell, row and column count from 1, as the page does."""
    return dict(cell=index + 1, row=cell.row + 1, column=cell.column + 1, axis=axis, value=cell.value, text=cell.text,
                voice=voice, model=model, seed=seed, **{s.name: cell.settings[s.name] for s in RATED},
                duration_s=round(duration_s, 2), rtf=round(rtf, 2))


def rate(cells: list[dict], marks: list) -> list[dict]:
    """Filled cells with their marks: `marks` holds (stars "1".."5" or empty, favourite, note) per cell slot."""
    if not cells:
        raise ValueError("Fill the grid first.")
    rows = []
    for cell in cells:
        stars, fav, note = marks[3 * (cell["cell"] - 1) : 3 * cell["cell"]]
        rows.append({**cell, "rating": int(stars) if stars else None, "favourite": bool(fav), "note": note or None})
    return rows


def ratings_to_csv(rows: list[dict]) -> str:
    """Rated cells as CSV text, a header of RATING_COLUMNS. Text that a spreadsheet would run as a formula (a note
    "=HYPERLINK(…)") is written with a leading apostrophe, OWASP's advice against CSV injection."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RATING_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: _cell_text(row.get(k)) for k in RATING_COLUMNS})
    return buf.getvalue()


def _cell_text(value) -> object:
    if value is None:
        return ""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def ratings_from_csv(text: str) -> list[dict]:
    """Inverse of `ratings_to_csv` (numbers, booleans and empty cells restored)."""
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        if set(row) != set(RATING_COLUMNS):
            raise ValueError(f"a ratings CSV has the columns {', '.join(RATING_COLUMNS)}")
        d: dict = {}
        for k, v in row.items():
            if v == "":
                d[k] = None
            elif v.startswith("'") and v[1:].startswith(_FORMULA_STARTS):
                d[k] = v[1:]
            elif k in _INT:
                d[k] = int(v)
            elif k in _FLOAT:
                d[k] = float(v)
            elif k == "favourite":
                d[k] = v == "True"
            else:
                d[k] = v
        out.append(d)
    return out
