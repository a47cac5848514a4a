"""Planning long text into chunks: where to cut, chosen over the whole text at once.

The text is cut into atoms (a word with its trailing space, a `[cue]`, a character of a word too long for one
chunk), and every gap between atoms gets a rank: the end of a sentence, the edge of a ♪…♪ song, clause punctuation,
before a conjunction, a word gap, a join without space, inside a word. A dynamic programme then picks the cuts that
keep every chunk within the budget and minimise, in order of weight: chunks under the minimum size (a fragment of a
few words, which Bark reads badly), cuts at poor gaps, the number of chunks and unbalanced sizes (sum of squared
fractions of the budget). Sizes are token counts of atoms added up, exact for BERT across spaces; each chunk is
checked with the real count afterwards and planned again, tighter, if it is over.

A ♪…♪ span that fits one chunk is never cut (like a cue); one that does not is cut, and each piece is opened and
closed with ♪ when it is generated (`sung_texts`), whose extra ♪ the planner counts in the piece's size.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NOTE = "♪"
# A cue like "[clears throat]" is one unit; otherwise words with their trailing space.
_WORDS = re.compile(r"\[[^\]\n]{0,40}\]\s*|\S+?(?=\[|\s|$)\s*|\s+")
_CUE = re.compile(r"\[[^\]\n]{0,40}\]")
# Leading whitespace and sound cues (not a speaker tag, which is written in capitals: [MAN], [WOMAN]).
_LEADING_CUES = re.compile(r"(?:\s|\[(?![^\]\n]*\b[A-Z]{2,}\b)[^\]\n]{0,40}\])*")
_CLAUSE_MARKS = tuple(",;:،，、；：—–…") + ("...",)
_CJK_MARKS = tuple("，、；：…。！？")  # clause and sentence marks written without a space after them
_CLOSERS = "\"'”’»)）」』"
CONJUNCTIONS = {
    "en": "and but or nor so yet because while whereas although though unless until since when whenever if then "
          "after before",
    "de": "und aber oder denn weil dass wenn als obwohl während sondern",
    "fr": "et mais ou donc car parce puis quand lorsque si tandis",
    "es": "y pero o porque cuando aunque mientras pues sino",
    "it": "e ma o perché quando mentre però oppure",
    "pt": "e mas ou porque quando enquanto embora pois",
    "pl": "i ale lub albo bo gdy jeśli że",
    "ru": "и но или а потому когда если что",
    "tr": "ve ama veya çünkü eğer ki",
    "hi": "और लेकिन या क्योंकि जब अगर कि",
}

# What a cut costs, by the gap it is in (the best gaps cost nothing), against one chunk more (CHUNK_COST) and
# balance (at most 1 per chunk). A fragment under the minimum size costs more than any cut; None: never cut here.
SENTENCE, SONG, CLAUSE, CONJUNCTION, WORD, JOIN, IN_WORD = 0.0, 0.0, 1.5, 2.5, 4.0, 6.0, 10.0
CHUNK_COST = 1.0
FRAGMENT_COST = 100.0


@dataclass
class _Atom:
    text: str
    size: int
    sentence_end: bool = False
    in_word: bool = False  # a character of a word split between characters (not its last)
    cue: bool = False


def plan(sentences: list[str], count: Callable[[str], int], language: str, cap: int, low: int) -> list[str]:
    """Chunks (consecutive slices of "".join(sentences)) of at most `cap` tokens each, counted by `count` on the
    text each is generated from (`sung_texts`), and none under `low` tokens (nor without a token) where the text
    allows it. Text of at most `cap` tokens is one chunk. A single atom over `cap` (a long cue, one character) is a
    chunk of its own."""
    text = "".join(sentences)
    atoms, total = _atoms_of(sentences, count, cap, low)
    # The pieces' counts add up to the text's for BERT: count the whole text only when it may fit (a count of
    # thousands of tokens makes transformers log a warning about the model's maximum length).
    if not atoms or (total <= 2 * cap and count(text.strip()) <= cap):
        return [text] if text else []
    note = count(NOTE)
    best = _segment(atoms, language, cap, low, note, strict=True)
    if best[0] and any(NOTE in a.text for a in atoms):
        # songs kept whole leave no plan without a fragment (or none within budget): allow cuts anywhere
        best = min(best, _segment(atoms, language, cap, low, note, strict=False), key=lambda plan: plan[:2])
    return _checked(best[2], count, language, cap, low, note)


def cues_with_their_sentence(sentences: list[str]) -> list[str]:
    """Sentences with each sound cue that opens one ("[sighs] By noon…") moved to the end of the sentence before
    it, with the spaces after it: Bark's cues mostly answer what was just said ("…I like pizza. [laughs] But…",
    as in Bark's README), so a cut between sentences goes after the cue. A speaker tag (a cue in capitals: [MAN],
    [WOMAN]) stays with the sentence it introduces. The text is unchanged: `"".join` is the same."""
    out: list[str] = []
    for sentence in sentences:
        lead = _LEADING_CUES.match(sentence).group() if out else ""
        if lead:
            out[-1] += lead
            sentence = sentence[len(lead):]
        if sentence:
            out.append(sentence)
    return out


def sung_texts(chunks: list[str]) -> list[str]:
    """The text Bark is given for each planned chunk: the chunk stripped and, where a ♪…♪ span runs across the cut
    before or after it, opened or closed with ♪ there, so that every piece of a cut song is sung. Chunks of text
    without a cut song are just stripped."""
    out, is_open = [], False
    for k, chunk in enumerate(chunks):
        text = chunk.strip()
        if is_open:
            text = f"{NOTE} {text}"
        is_open ^= _notes(chunk) % 2 == 1
        if is_open and k < len(chunks) - 1:
            text = f"{text} {NOTE}"
        out.append(text)
    return out


def _notes(text: str) -> int:
    """♪ marks outside cues (a ♪ inside "[...]" is part of the cue)."""
    return _CUE.sub("", text).count(NOTE)


def _atoms_of(sentences: list[str], count: Callable[[str], int], cap: int, low: int) -> tuple[list[_Atom], int]:
    """The atoms of the text, sentence by sentence: cues; BERT's word pieces before WordPiece (a run of letters, a
    punctuation mark, a CJK character), each with the space after it; the characters of a piece too big for two
    chunks of at least `low` tokens to share it and its neighbours (over min(cap, cap - 2 * low + 1) tokens); and
    the sum of the words' and cues' counts."""
    sizes: dict[str, int] = {}
    limit = max(min(cap, cap - 2 * low + 1), 1)
    total = 0

    def size(text: str) -> int:
        core = text.strip()
        if core not in sizes:
            sizes[core] = count(core) if core else 0
        return sizes[core]

    atoms: list[_Atom] = []
    for sentence in sentences:
        words = _WORDS.findall(sentence)
        if "".join(words) != sentence:  # the pattern must never lose text; if it would, go by characters
            words = list(sentence)
        for word in words:
            if _CUE.fullmatch(word.strip()):
                atoms.append(_Atom(word, size(word), cue=True))
                total += size(word)
                continue
            for piece in _pieces(word):
                total += size(piece)
                if size(piece) <= limit or len(piece.strip()) <= 1:
                    atoms.append(_Atom(piece, size(piece)))
                    continue
                core = piece.rstrip()  # its characters are atoms (the last keeps the space)
                chars = list(core[:-1]) + [core[-1] + piece[len(core):]]
                atoms += [_Atom(ch, size(ch), in_word=i < len(chars) - 1) for i, ch in enumerate(chars)]
        if atoms:
            atoms[-1].sentence_end = True
    return atoms, total


def _pieces(word: str) -> list[str]:
    """A word (with its trailing space) cut where BERT's basic tokenizer cuts it: around each punctuation mark and
    each CJK character (token counts add up across these cuts)."""
    core = word.rstrip()
    out, run = [], ""
    for ch in core:
        if _is_punctuation(ch) or _is_cjk(ch):
            out += [run, ch] if run else [ch]
            run = ""
        else:
            run += ch
    out = [p for p in out + [run] if p] or [""]
    out[-1] += word[len(core):]
    return out


def _is_punctuation(ch: str) -> bool:
    """BERT's rule: ASCII symbols count as punctuation, and every Unicode P* character."""
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(ch)[0] == "P"


def _is_cjk(ch: str) -> bool:
    """BERT's CJK ideograph blocks (each ideograph is a word of its own)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                             (0x2A700, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def _gaps(atoms: list[_Atom], language: str, cap: int, strict: bool) -> list[float | None]:
    """The cost of cutting after each atom but the last (None: never). strict: keep a ♪ with the words it opens or
    closes, and a ♪…♪ span that fits `cap` whole."""
    opened = _open_before(atoms)
    conjunctions = set((CONJUNCTIONS.get(language, "") + " " + CONJUNCTIONS["en"]).split())
    costs: list[float | None] = []
    for j in range(len(atoms) - 1):
        a, b = atoms[j], atoms[j + 1]
        spaced = a.text[-1:].isspace()
        tail = "".join(x.text for x in atoms[max(0, j - 2) : j + 1]).rstrip().rstrip(_CLOSERS)
        if strict and opened[j + 1] and ((not b.cue and b.text.startswith(NOTE))
                                         or (not a.cue and a.text.rstrip().endswith(NOTE))):
            costs.append(None)  # a ♪ sticks to the words it opens or closes
        elif a.sentence_end:
            costs.append(SENTENCE)
        elif (not a.cue and a.text.rstrip().endswith(NOTE)) or (not b.cue and b.text.startswith(NOTE)):
            costs.append(SONG)
        elif tail.endswith(_CLAUSE_MARKS) and (spaced or tail.endswith(_CJK_MARKS)):
            costs.append(CLAUSE)
        elif spaced and b.text.strip().strip(".,;:!?\"'()").lower() in conjunctions:
            costs.append(CONJUNCTION)
        else:
            costs.append(WORD if spaced else IN_WORD if a.in_word else JOIN)
    if strict:
        for start, end in _songs(atoms, opened):
            if sum(x.size for x in atoms[start : end + 1]) <= cap:  # a song that fits is kept whole
                for j in range(start, end):
                    costs[j] = None
    return costs


def _open_before(atoms: list[_Atom]) -> list[bool]:
    """opened[j]: a ♪ span is open before atom j (and opened[n] at the end of the text)."""
    opened, is_open = [False], False
    for a in atoms:
        if not a.cue:
            is_open ^= a.text.count(NOTE) % 2 == 1
        opened.append(is_open)
    return opened


def _songs(atoms: list[_Atom], opened: list[bool]) -> list[tuple[int, int]]:
    """(first atom, last atom) of each ♪ span; a span left open runs to the end."""
    spans, start = [], None
    for j in range(len(atoms)):
        if start is None and opened[j + 1] and not opened[j]:
            start = j
        elif start is not None and not opened[j + 1]:
            spans.append((start, j))
            start = None
    if start is not None:
        spans.append((start, len(atoms) - 1))
    return spans


def _segment(atoms: list[_Atom], language: str, cap: int, low: int, note: int,
             strict: bool) -> tuple[float, float, list[str]]:
    """The cheapest cuts (a dynamic programme over the gaps, each step over the chunks that can end there):
    (fragments, cost, chunks); fragments and cost are inf when no plan keeps within `cap`."""
    n = len(atoms)
    costs = _gaps(atoms, language, cap, strict)
    opened = np.array(_open_before(atoms), dtype=np.float64)
    prefix = np.concatenate([[0], np.cumsum([a.size for a in atoms])]).astype(np.float64)
    ends = prefix.tolist()
    best, back = np.full(n + 1, math.inf), np.zeros(n + 1, dtype=np.int64)
    best[0] = 0.0
    for k in range(1, n + 1):
        if k < n and costs[k - 1] is None:
            continue
        lo = min(bisect.bisect_left(ends, ends[k] - cap, 0, k), k - 1)
        starts = np.arange(lo, k)
        size = prefix[k] - prefix[lo:k] + note * (opened[lo:k] * (starts > 0) + (opened[k] if k < n else 0.0))
        cost = (best[lo:k] + CHUNK_COST + np.minimum(size / max(cap, 1), 1.0) ** 2 + (costs[k - 1] if k < n else 0.0)
                + FRAGMENT_COST * (size < max(low, 1)))
        cost[(size > cap) & (starts < k - 1)] = math.inf  # only a single atom may be over the budget
        j = int(np.argmin(cost))
        best[k], back[k] = cost[j], lo + j
    if best[n] == math.inf:
        return math.inf, math.inf, ["".join(a.text for a in atoms)]
    cuts = [n]
    while cuts[-1] > 0:
        cuts.append(int(back[cuts[-1]]))
    bounds = list(zip(cuts[:0:-1], cuts[-2::-1], strict=True))
    sizes = [prefix[k] - prefix[i] + note * ((i > 0) * opened[i] + (k < n) * opened[k]) for i, k in bounds]
    return (sum(size < max(low, 1) for size in sizes), float(best[n]),
            ["".join(a.text for a in atoms[i:k]) for i, k in bounds])


def _checked(chunks: list[str], count: Callable[[str], int], language: str, cap: int, low: int, note: int,
             depth: int = 0) -> list[str]:
    """The plan checked with the real count (the atoms' sizes add up only nearly for some counters): a chunk over
    `cap` is planned again with a tighter budget; then chunks under `low` join a neighbour they fit with."""
    out: list[str] = []
    for chunk, text in zip(chunks, sung_texts(chunks), strict=True):
        over = count(text) - cap
        atoms = _atoms_of([chunk], count, cap, low)[0] if over > 0 and depth < 4 else []
        if len(atoms) < 2:
            out.append(chunk)
            continue
        parts = _segment(atoms, language, max(cap - over, cap // 2, 1), low, note, strict=False)[2]
        out += _checked(parts, count, language, cap, low, note, depth + 1) if len(parts) > 1 else parts
    return _join_fragments(out, count, cap, low)


def _join_fragments(chunks: list[str], count: Callable[[str], int], cap: int, low: int) -> list[str]:
    """Each chunk under `low` tokens (real count) joined to a neighbour it fits with, the previous one first."""
    out, k = list(chunks), 0
    sizes = [count(text) for text in sung_texts(out)]
    while len(out) > 1 and k < len(out):
        if sizes[k] >= max(low, 1):
            k += 1
            continue
        for j in (k - 1, k):  # join out[j] and out[j + 1]
            if not 0 <= j < len(out) - 1:
                continue
            joined = out[:j] + [out[j] + out[j + 1]] + out[j + 2 :]
            size = count(sung_texts(joined)[j])
            if size <= cap:
                out, sizes, k = joined, sizes[:j] + [size] + sizes[j + 2 :], j
                break
        else:
            k += 1
    return out
