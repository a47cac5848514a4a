"""Long-form: splitting in 13 languages without losing a character, voice carry on the tokens, joins and caps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bark_core import constants as C
from bark_core.generation.longform import LongFormSettings, chunk_token_range, join_audio, split_text, sung_texts
from bark_core.generation.settings import StageSettings
from bark_core.generation.text import estimate_seconds, normalize_text

TEXTS = json.loads((Path(__file__).parent / "data" / "texts.json").read_text(encoding="utf-8"))
SENTENCE_END = tuple(".!?。！？।")
CUE = re.compile(r"\[[^\]\n]{0,40}\]")


def words_and_marks(s: str) -> int:
    """A real-BERT-like count: one token per word or punctuation mark (the tiny test vocabulary counts ~3x more)."""
    return len(re.findall(r"\w+|[^\w\s]", s))


@pytest.fixture(scope="module")
def tiny_count(pipe):
    return lambda s: len(pipe.tokenizer.encode(s, add_special_tokens=False)) if s else 0


@pytest.fixture(scope="module", params=["tiny BERT", "real-BERT-like"])
def count(request, tiny_count):
    return tiny_count if request.param == "tiny BERT" else words_and_marks


def within(chunk: str, count, cfg: LongFormSettings) -> bool:
    n = count(chunk.strip())
    return n <= cfg.max_chunk_tokens and estimate_seconds(n) <= cfg.max_chunk_seconds


def unsplittable(chunk: str, count, most: int) -> bool:
    """What may be over the budget on its own: one cue, one character, or one word within it that the ♪ added at a
    cut song push over (a budget of two or three tokens)."""
    core = chunk.strip()
    return len(core) <= 1 or bool(CUE.fullmatch(core)) or (len(core.split()) == 1 and count(core) <= most)


def check_plan(text: str, chunks: list[str], count, cfg: LongFormSettings) -> list[str]:
    """Every property of a plan; returns the texts generated (`sung_texts`)."""
    least, most = chunk_token_range(cfg)
    sung = sung_texts(chunks)
    assert "".join(chunks) == normalize_text(text)  # nothing lost or duplicated (before ♪ is added at cuts)
    for c, t in zip(chunks, sung, strict=True):
        assert within(t, count, cfg) or unsplittable(c, count, most), (t, count(t), most)
        assert len(chunks) == 1 or count(t) >= max(least, 1), (t, count(t), least, chunks)  # no fragment
    # Cues are never cut: each cue of the text lies whole in one chunk.
    starts = [0]
    for c in chunks:
        starts.append(starts[-1] + len(c))
    for m in CUE.finditer(normalize_text(text)):
        assert any(a <= m.start() and m.end() <= b for a, b in zip(starts, starts[1:], strict=False)), m.group()
    # Every piece of a cut song is opened and closed with ♪.
    seen = 0
    for k, (c, t) in enumerate(zip(chunks, sung, strict=True)):
        if seen % 2:
            assert t.startswith("♪"), (k, sung)
        seen += CUE.sub("", c).count("♪")
        if seen % 2 and k < len(chunks) - 1:
            assert t.endswith("♪"), (k, sung)
        odd_ok = k == len(chunks) - 1 and seen % 2
        assert CUE.sub("", t).count("♪") % 2 == 0 or odd_ok, (k, sung)
    return sung


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_split_all_languages_at_sentences(tiny_count, lang):
    from sentencex import segment

    count = tiny_count
    text = normalize_text(" ".join([TEXTS[lang]] * 3))
    sizes = [count(s.strip()) for s in segment(lang, text)]
    # Every sentence fits and so does any sentence with the shortest, but not all: the plan packs whole sentences.
    cfg = LongFormSettings(max_chunk_tokens=max(sizes) + min(sizes), max_chunk_seconds=15.0)
    chunks = split_text(text, count, lang, cfg)
    assert len(chunks) > 1
    check_plan(text, chunks, count, cfg)
    # Every chunk ends a sentence (。！？ for zh/ja and । for hi included).
    assert all(c.rstrip()[-1] in SENTENCE_END for c in chunks), chunks


def test_long_sentence_splits_at_clauses_then_words_never_mid_cue(count):
    sentence = ("This one sentence goes on, and on, and on; it has clauses [clears throat] and cues "
                "[laughs] and words, many words, far too many words for one chunk of Bark's window. ") * 2
    cfg = LongFormSettings(max_chunk_seconds=3.0)
    chunks = split_text(sentence, count, "en", cfg)
    check_plan(sentence, chunks, count, cfg)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a[-1] == " " or b[0] == " ", (a, b)  # never mid-word


FOX = ("The quick brown fox jumps over the lazy dog near the quiet river bank, while the evening light fades slowly "
       "behind the distant hills.")
JUNGLE = ("♪ In the jungle, the mighty jungle, the lion sleeps tonight, near the village, the peaceful village, the "
          "lion sleeps tonight ♪ And then he said hello.")


def test_the_fox_is_cut_at_its_comma_not_into_a_one_word_fragment(tiny_count):
    """The issue's sentence, on the tiny vocabulary (102 tokens: three chunks): no chunk of a word or two, and the
    comma, not a word gap next to it, is where the second clause starts."""
    chunks = split_text(FOX, tiny_count, "en", LongFormSettings())
    check_plan(FOX, chunks, tiny_count, LongFormSettings())
    assert len(chunks) == 3 and chunks[1].endswith("bank, ") and chunks[2].startswith("while ")
    sizes = [tiny_count(c.strip()) for c in chunks]
    assert abs(sizes[0] - sizes[1]) <= 4, sizes  # the first clause, too long for one chunk, is cut in its middle
    assert all(len(c.split()) >= 6 for c in chunks)


@pytest.mark.parametrize("text,cut_after", [
    # Clause punctuation first, then a conjunction, then the middle word gap.
    ("We walked along the shore for hours and hours, talking about everything we had ever hoped to see one day.",
     "hours, "),
    ("We walked along the shore for hours and hours talking about everything because we had hoped to see it all.",
     "everything "),
    ("We walked along the shore for hours talking about everything we had ever hoped to see in the whole world.",
     None),
])
def test_an_over_long_clause_is_cut_at_its_best_boundary(text, cut_after):
    cfg = LongFormSettings(max_chunk_seconds=4.0)  # 18 tokens: each sentence needs two chunks (real-BERT-like)
    chunks = split_text(text, words_and_marks, "en", cfg)
    check_plan(text, chunks, words_and_marks, cfg)
    assert len(chunks) == 2, chunks
    if cut_after:
        assert chunks[0].endswith(cut_after), chunks
    else:  # no punctuation or conjunction: the most balanced word gap
        sizes = [words_and_marks(c) for c in chunks]
        assert abs(sizes[0] - sizes[1]) <= 1, chunks


@pytest.mark.parametrize("text", [
    "Yes. " + "This sentence is long enough to fill most of one chunk on its own, or nearly so. " * 2,
    "This sentence is long enough to fill most of one chunk on its own, or nearly so. " * 2 + "Okay then.",
    "Hi! This sentence is long enough to fill most of one chunk on its own, or nearly so. No. "
    "This sentence is long enough to fill most of one chunk on its own, or nearly so. Fine.",
])
def test_no_fragment_when_a_neighbour_can_take_it(count, text):
    cfg = LongFormSettings(max_chunk_seconds=5.0)
    chunks = split_text(text, count, "en", cfg)
    assert len(chunks) > 1
    check_plan(text, chunks, count, cfg)


def test_a_song_that_fits_is_kept_whole_and_one_that_does_not_is_sung_in_every_piece(tiny_count):
    chunks = split_text(JUNGLE, tiny_count, "en", LongFormSettings())
    sung = check_plan(JUNGLE, chunks, tiny_count, LongFormSettings())
    assert len(sung) > 2 and sung[-1] == "And then he said hello."
    assert all(t.startswith("♪ ") and t.endswith(" ♪") for t in sung[:-1]), sung
    # The same song fits a larger budget: it is one chunk, never cut, though it has commas and the text is long.
    verse = "♪ Row, row, row your boat, gently down the stream ♪"
    text = "This is a sentence before the song, and it is long. " + verse + " And this one comes after it, also long."
    for count in (tiny_count, words_and_marks):
        cfg = LongFormSettings(max_chunk_tokens=count(verse) + 2, max_chunk_seconds=15.0)
        chunks = split_text(text, count, "en", cfg)
        check_plan(text, chunks, count, cfg)
        assert len(chunks) > 1 and any(verse in c for c in chunks), chunks
    cfg = LongFormSettings(max_chunk_seconds=6.0)
    # Lines of a verse, each its own ♪…♪, stay sung whichever way they are packed.
    lines = " ".join(f"♪ This is line number {i} of the song that we sing ♪" for i in range(8))
    for count in (tiny_count, words_and_marks):
        sung = check_plan(lines, split_text(lines, count, "en", cfg), count, cfg)
        assert all(t.startswith("♪") and t.endswith("♪") for t in sung), sung


ALPHABET = st.sampled_from(list("abc XYZ éü,.;!?。！？।你好") + [
    "[laughs] ", "♪", "♪ ", " ♪", "\n", "  ", "—", "...", " and ", " but ", "while ", "Hello world. ",
    "the lion sleeps tonight ", "in the jungle, ", "Yes. "])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ALPHABET, max_size=120).map("".join), st.sampled_from(["en", "zh", "hi", "ja", "de"]),
       st.floats(0.5, 11.0))
def test_plan_properties(count, text, lang, seconds):
    """Nothing lost or duplicated, within budget, no fragment under the minimum unless the whole text is that short,
    cues whole, every piece of a cut song opened and closed with ♪."""
    cfg = LongFormSettings(max_chunk_seconds=seconds)
    check_plan(text, split_text(text, count, lang, cfg), count, cfg)


def test_join_lengths():
    parts = [np.ones(1000, np.float32), np.ones(500, np.float32), np.ones(700, np.float32)]
    audio, starts = join_audio(parts, 1000, silence_s=0.25, crossfade_s=0.0)
    assert len(audio) == 2200 + 2 * 250 and starts == [0, 1250, 2000]
    audio, starts = join_audio(parts, 1000, silence_s=0.25, crossfade_s=0.1)
    assert len(audio) == 2200 - 2 * 100 and starts == [0, 900, 1300]
    np.testing.assert_allclose(audio, 1.0, atol=1e-6)  # a cross-fade of equal signals is seamless


LONG = "Hello world. This is a test. The bark is long. The text is long. Hello again."
KW = dict(max_duration_s=0.6, seed=5)


def expected_chunks(pipe, text, voice, cfg, seed, voices_for):
    """Re-run each chunk alone, from the same generator stream, with the voice the carry mode names."""
    g = pipe.make_generators(seed)
    stages = StageSettings.build(min_eos_p=cfg.chunk_min_eos_p, max_duration_s=KW["max_duration_s"])
    chunks = sung_texts(split_text(text, lambda s: len(pipe.tokenizer.encode(s, add_special_tokens=False)), "en",
                                   cfg))
    out = []
    for k, chunk in enumerate(chunks):
        out.append(pipe.run_cascade(chunk, voices_for(k, out, voice), stages, g))
    return chunks, out


@pytest.mark.parametrize("carry,every", [("previous", None), ("original", None), ("previous", 2)])
def test_carry_modes_on_tokens(pipe, carry, every):
    cfg = LongFormSettings(max_chunk_seconds=2.0, carry=carry, reanchor_every=every)
    voice = pipe.resolve_voice("v2/en_speaker_3")
    long = pipe.generate_long(LONG, voice=voice, settings=cfg, **KW)

    def voices_for(k, done, original):
        if k == 0:
            return original
        if carry == "previous" and not (every and k % every == 0):
            return done[-1].to_voice()
        return original

    chunks, parts = expected_chunks(pipe, LONG, voice, cfg, KW["seed"], voices_for)
    assert len(chunks) >= 3 and long.chunks == tuple(chunks)
    for k, part in enumerate(parts):
        s0, f0 = long.semantic_starts[k], long.frame_starts[k]
        np.testing.assert_array_equal(long.semantic_tokens[s0 : s0 + len(part.semantic_tokens)],
                                      part.semantic_tokens)
        np.testing.assert_array_equal(long.fine_tokens[:, f0 : f0 + part.fine_tokens.shape[1]], part.fine_tokens)
    silence = int(cfg.silence_s * C.SAMPLE_RATE)
    assert len(long.audio) == sum(len(p.audio) for p in parts) + (len(parts) - 1) * silence
    assert long.sample_starts[1] == len(parts[0].audio) + silence


def test_no_voice_first_chunk_becomes_the_voice(pipe):
    cfg = LongFormSettings(max_chunk_seconds=2.0, carry="original")
    long = pipe.generate_long(LONG, settings=cfg, **KW)

    def voices_for(k, done, original):
        return None if k == 0 else done[0].to_voice()

    _, parts = expected_chunks(pipe, LONG, None, cfg, KW["seed"], voices_for)
    np.testing.assert_array_equal(long.fine_tokens, np.concatenate([p.fine_tokens for p in parts], axis=1))
    assert long.settings["chunk_voices"][0] is None and long.settings["chunk_voices"][1] == "previous chunk"


def test_same_seed_same_long_output_and_progress(pipe):
    events = []
    cfg = LongFormSettings(max_chunk_seconds=2.0)
    a = pipe.generate_long(LONG, settings=cfg, progress=lambda *e: events.append(e), **KW)
    b = pipe.generate_long(LONG, settings=cfg, **KW)
    np.testing.assert_array_equal(a.audio, b.audio)
    n = len(a.chunks)
    assert {e[0].split(" ")[1] for e in events} == {f"{k}/{n}" for k in range(1, n + 1)}
    assert events[-1][0] == f"chunk {n}/{n} decode"
    assert a.to_voice().semantic_prompt.shape[0] == len(a.semantic_tokens) - a.semantic_starts[-1]


def test_short_text_is_exactly_generate(pipe):
    a = pipe.generate_long("Hello world.", voice="announcer", **KW)
    b = pipe.generate("Hello world.", voice="announcer", **KW)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.chunks == ("Hello world.",)


def test_caps(pipe):
    with pytest.raises(ValueError, match="at most 100 are accepted"):
        pipe.generate_long("word " * 50, settings=LongFormSettings(max_chars=100))
    with pytest.raises(ValueError, match="min of audio"):
        pipe.generate_long("Hello world. " * 200, settings=LongFormSettings(max_audio_s=60))
    with pytest.raises(ValueError, match="carry must be"):
        LongFormSettings(carry="sometimes")


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_streamed_long_form_is_the_same_take_and_plays_chunk_by_chunk(pipe, fast_pipe, mode):
    """on_preview streams every chunk (fast mode interleaving its stages) from the chunks' shared random streams:
    the take is the unstreamed one, token for token, and the first chunk's audio plays before the last chunk's
    stages have run."""
    p = pipe if mode == "exact" else fast_pipe
    cfg = LongFormSettings(max_chunk_seconds=2.0)
    events = []
    streamed = p.generate_long(LONG, voice="v2/en_speaker_3", settings=cfg, **KW,
                               progress=lambda stage, done, total: events.append(stage),
                               on_preview=lambda audio: events.append(audio))
    plain = p.generate_long(LONG, voice="v2/en_speaker_3", settings=cfg, **KW)
    for key in ("semantic_tokens", "coarse_tokens", "fine_tokens", "audio"):
        np.testing.assert_array_equal(getattr(streamed, key), getattr(plain, key))
    n = len(plain.chunks)
    previews = [e for e in events if not isinstance(e, str)]
    assert n >= 3 and previews and all(a.dtype == np.float32 and a.ndim == 1 for a in previews)
    first_preview = next(i for i, e in enumerate(events) if not isinstance(e, str))
    last_chunk = next(i for i, e in enumerate(events) if isinstance(e, str) and e == f"chunk {n}/{n} semantic")
    assert first_preview < last_chunk
    # Chunk previews follow each other with the take's silence between them, about as long as the take.
    gap = int(cfg.silence_s * C.SAMPLE_RATE)
    assert sum(1 for a in previews if len(a) == gap and not a.any()) >= n - 1
    assert abs(sum(len(a) for a in previews) - len(plain.audio)) <= n * 2 * C.SAMPLES_PER_FRAME
    assert 0 < streamed.timings["first_audio"] < streamed.timings["total"]


PARAGRAPHS = ("The little dog ran along the river all morning, looking for its friend. [sighs]\n\nBy noon the sun came "
              "out. The dog played in the park until everyone was tired. [laughs] In the evening, the dog went home. "
              "[MAN] Good dog. [WOMAN] Very good dog. [clears throat] Time for bed, everyone, it is late now.")


def test_a_sound_cue_stays_with_the_sentence_it_follows_and_a_speaker_tag_with_the_one_it_opens():
    cfg = LongFormSettings(max_chunk_tokens=14, min_chunk_seconds=0.5)
    chunks = split_text(PARAGRAPHS, words_and_marks, "en", cfg)
    check_plan(PARAGRAPHS, chunks, words_and_marks, cfg)
    assert len(chunks) > 4
    assert not any(re.match(r"\s*\[(sighs|laughs|clears throat)\]", c) for c in chunks[1:]), chunks
    assert any(c.rstrip().endswith("friend. [sighs]") for c in chunks), chunks
    assert not any(re.search(r"\[(MAN|WOMAN)\]\s*$", c) for c in chunks), chunks  # a tag never ends a chunk


@pytest.mark.parametrize("sentences,expected", [
    (["One. ", "[sighs]", "\n\n", "Two."], ["One. [sighs]\n\n", "Two."]),
    (["One. ", "[laughs] [gasps] Two."], ["One. [laughs] [gasps] ", "Two."]),
    (["One. ", "[MAN] Two. "], ["One. ", "[MAN] Two. "]),
    (["[laughs] One. ", "Two."], ["[laughs] One. ", "Two."]),  # nothing before the first: it stays
])
def test_cues_with_their_sentence(sentences, expected):
    from bark_core.generation.chunking import cues_with_their_sentence

    assert cues_with_their_sentence(sentences) == expected
