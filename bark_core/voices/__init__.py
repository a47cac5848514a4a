"""Voices (history prompts): the `Voice` type and its `.npz` files, the preset catalogue and where presets load
from, voices made from recordings, and language hints."""
