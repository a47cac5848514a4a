"""The preset catalogue as data: every preset's fields, sourced genders and notes (never guessed), picker labels."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from bark_core.voices import catalog as cat
from bark_core.voices.catalog import catalog, preset_label, sources

FIELDS = {"name", "language", "version", "description", "gender", "notes", "sources"}
GENDERS = {"male", "female", ""}  # "": no source gives it


def test_every_preset_has_every_field_and_271_are_listed():
    voices = catalog()
    assert len(voices) == len({v["name"] for v in voices}) == 271
    for v in voices:
        assert set(v) == FIELDS, v["name"]
        assert v["version"] in {"v1", "v2"} and v["language"] in {*cat.languages(), None}
        assert isinstance(v["description"], str) and v["description"], v["name"]
        assert isinstance(v["notes"], str) and isinstance(v["sources"], list)


def test_existing_fields_keep_their_values():
    six = next(v for v in catalog() if v["name"] == "v2/en_speaker_6")
    assert (six["language"], six["version"], six["description"]) == ("en", "v2", "English speaker 6 (v2)")
    announcer = next(v for v in catalog() if v["name"] == "announcer")
    assert announcer["description"] == "English announcer, with music and effects"


def test_genders_come_from_the_allowed_set_and_cover_the_v2_library():
    assert {v["gender"] for v in catalog()} <= GENDERS
    v2 = [v for v in catalog() if v["version"] == "v2"]
    assert len(v2) == 130 and all(v["gender"] for v in v2)
    # Suno's v2 library lists no v1 preset, the announcer or the unlabelled speakers: those stay unknown.
    assert all(v["gender"] == v["notes"] == "" for v in catalog() if v["version"] != "v2")


@pytest.mark.parametrize("name,gender,notes", [
    ("v2/en_speaker_9", "female", ""), ("v2/en_speaker_5", "male", "Grainy"),
    ("v2/en_speaker_6", "male", "Suno Favorite"), ("v2/ko_speaker_0", "female", ""),
    ("v2/fr_speaker_9", "male", "Auditorium"), ("v2/ru_speaker_1", "male", "Echoes"),
    ("v2/zh_speaker_6", "female", "Background Noise"), ("v2/pt_speaker_0", "male", ""),
])
def test_facts_read_as_the_source_gives_them(name, gender, notes):
    v = next(v for v in catalog() if v["name"] == name)
    assert (v["gender"], v["notes"]) == (gender, notes)


def test_every_fact_names_a_listed_source_and_no_source_is_claimed_without_a_fact():
    listed = sources()
    assert listed, "catalog.json lists no sources"
    for entry in listed.values():
        assert entry["url"].startswith("https://") and entry["covers"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["read"])
        assert entry["read_via"] and all(copy["gives"] for copy in entry["read_via"])
    for v in catalog():
        if v["gender"] or v["notes"]:
            assert v["sources"] and set(v["sources"]) <= set(listed), v["name"]
        else:
            assert v["sources"] == [], v["name"]


@pytest.mark.parametrize("name,label", [
    ("v2/en_speaker_6", "v2/en_speaker_6 · English · male · Suno Favorite"),
    ("v2/de_speaker_3", "v2/de_speaker_3 · German · female"),
    ("de_speaker_3", "de_speaker_3 · German"),
    ("announcer", "announcer · English"),
    ("speaker_0", "speaker_0"),
])
def test_labels_show_only_what_is_known(name, label):
    assert preset_label(name) == label


def test_every_label_starts_with_the_name_and_has_no_empty_part():
    for v in catalog():
        parts = preset_label(v["name"]).split(cat.LABEL_SEPARATOR)
        assert parts[0] == v["name"] and all(parts)


def test_label_of_an_unknown_preset_is_refused_with_close_matches():
    with pytest.raises(ValueError, match="unknown voice preset.*v2/en_speaker_6"):
        preset_label("v2/en_speaker_66")


def test_catalogue_file_keeps_its_format():
    text = resources.files("bark_core.voices").joinpath("catalog.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("query", ["German female", "female german", "GERMAN Fem"])
def test_search_finds_by_every_word_in_any_order(query):
    found = cat.search_presets(query)
    assert found == ["v2/de_speaker_3", "v2/de_speaker_8"]


def test_search_matches_words_from_their_start():
    males = cat.search_presets("male")
    assert males and all(" · male" in preset_label(n) for n in males)  # "male" is not "female"
    assert "v2/en_speaker_6" in cat.search_presets("en 6") and cat.search_presets("v2/en_speaker_6") == [
        "v2/en_speaker_6"]


def test_search_with_no_words_lists_everything_and_nonsense_nothing():
    assert cat.search_presets("  ") == cat.presets_for("any")
    assert cat.search_presets("klingon") == []
