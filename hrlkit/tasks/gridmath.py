"""GridMath: a synthetic "multimodal math" task family standing in for MLLM reasoning benchmarks (MathVista etc.).

The *image* is a 4×4 grid of cells, each a colour (``COLOURS``) and a digit 0–9; a fixed random
:class:`VisualEncoder` turns it into 16 visual tokens. The *question* is a list of words (:data:`VOCAB`), and a
tiny causal LM must answer ``<think> chain </think> <box> n </box> <eos>`` (:func:`target_words`), scored by
:func:`reward` (R1-ShareVL's 0.9·accuracy + 0.1·format).

Question types (:data:`QUESTION_TYPES`, :data:`N_TEMPLATES` paraphrase templates each); every position in a
question refers to the ORIGINAL, untransformed grid:

| qtype           | args            | answer                                        | cells involved (difficulty) |
|-----------------|-----------------|-----------------------------------------------|-----------------------------|
| ``sum_colour``  | ``(colour,)``   | sum of the digits of the ``colour`` cells     | cells of that colour        |
| ``count_colour``| ``(colour,)``   | number of ``colour`` cells                    | cells of that colour        |
| ``max_row``     | ``(row,)``      | largest digit of row ``row`` (1..4, from top) | 4 (the row)                 |
| ``diag_sum``    | ``()``          | sum of the main-diagonal digits (TL → BR)     | 4 (the diagonal)            |
| ``count_greater``| ``(t,)``       | number of cells whose digit is > ``t``        | cells with digit > t        |

``colour`` is a colour name (``"red"``), ``row`` is 1-based as written in the question, ``t`` is 0..8.

Splits (:data:`SPLITS`): :func:`sample_problem` draws the difficulty ``k`` uniformly from the split's range and
then builds a grid with exactly ``k`` involved cells:

* ``"train"`` (in distribution): ``1 <= difficulty <= 4`` (:data:`TRAIN_MAX_DIFFICULTY`); all five types.
* ``"hard"`` (out of distribution): ``5 <= difficulty <= 8``; only the types whose difficulty can vary
  (``sum_colour``, ``count_colour``, ``count_greater``) — ``max_row`` and ``diag_sum`` always involve 4 cells,
  so they are train-only and asking for them in ``"hard"`` raises ``ValueError``.

Share-GRPO question variants (R1-ShareVL, arXiv 2505.16673, Sec. 3): :func:`make_variant` keeps the underlying
question and answer, picks a paraphrase template and, with probability ``transform_prob``, applies one of
:data:`TRANSFORMS` to the image and prepends an explanatory prefix (``TRANSFORM_PREFIXES``) saying how to undo
it. Geometric transforms move the cells; ``"noise"`` re-colours only cells whose colour cannot change the answer.
The reasoning chain of a variant is that of the original question (it reasons about the original grid).

All randomness comes from an explicit ``numpy.random.Generator``; nothing here touches a global RNG.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COLOURS",
    "GRID",
    "N_TEMPLATES",
    "SPLITS",
    "TRAIN_MAX_DIFFICULTY",
    "TRANSFORMS",
    "GEOMETRIC_TRANSFORMS",
    "TRANSFORM_PREFIXES",
    "SPECIAL_TOKENS",
    "Vocab",
    "VOCAB",
    "QuestionType",
    "QUESTION_TYPES",
    "Problem",
    "number_words",
    "answer_of",
    "chain_of",
    "difficulty_of",
    "render_question",
    "transform_prefix",
    "transform_grid",
    "undo_transform",
    "noise_grid",
    "sample_problem",
    "paraphrases",
    "make_variant",
    "target_words",
    "prompt_words",
    "parse_response",
    "reward",
    "stack_grids",
    "VisualEncoder",
]

COLOURS: tuple[str, ...] = ("red", "green", "blue")
#: Side of the square grid (GRID × GRID cells).
GRID: int = 4
N_CELLS: int = GRID * GRID
N_DIGITS: int = 10
#: Every question type has exactly this many paraphrase templates (indices 0..N_TEMPLATES-1).
N_TEMPLATES: int = 4
#: Inclusive difficulty range (number of cells involved in the answer) of each split.
SPLITS: dict[str, tuple[int, int]] = {"train": (1, 4), "hard": (5, 8)}
TRAIN_MAX_DIFFICULTY: int = SPLITS["train"][1]
#: Largest threshold of ``count_greater`` (t = 9 would make every answer 0).
MAX_THRESHOLD: int = 8
#: Fraction of eligible cells re-coloured by the ``"noise"`` transform (at least one cell is always re-coloured).
NOISE_FRACTION: float = 0.3

TRANSFORMS: tuple[str, ...] = ("rot90cw", "rot90ccw", "rot180", "vflip", "hflip", "hvflip", "noise")
GEOMETRIC_TRANSFORMS: tuple[str, ...] = TRANSFORMS[:-1]

#: Explanatory prefix prepended to the question of a transformed variant: the transform's own token, then words.
TRANSFORM_PREFIXES: dict[str, tuple[str, ...]] = {
    "rot90cw": ("<rot90cw>", *"the image is rotated a quarter turn clockwise , rotate it back .".split()),
    "rot90ccw": ("<rot90ccw>", *"the image is rotated a quarter turn counterclockwise , rotate it back .".split()),
    "rot180": ("<rot180>", *"the image is rotated a half turn , rotate it back .".split()),
    "vflip": ("<vflip>", *"the image is flipped upside down , flip it back .".split()),
    "hflip": ("<hflip>", *"the image is mirrored left to right , flip it back .".split()),
    "hvflip": ("<hvflip>", *"the image is flipped upside down and mirrored left to right , flip it back .".split()),
    "noise": ("<noise>", *"some cell colours are changed where they do not matter , ignore them .".split()),
}

#: (transform applied, transform that undoes it)
_INVERSE: dict[str, str] = {
    "rot90cw": "rot90ccw", "rot90ccw": "rot90cw", "rot180": "rot180",
    "vflip": "vflip", "hflip": "hflip", "hvflip": "hvflip",
}

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<think>", "</think>", "<box>", "</box>")
DIGITS: tuple[str, ...] = tuple(str(d) for d in range(N_DIGITS))
SYMBOLS: tuple[str, ...] = ("+", "-", "=", "x")
#: Word that opens the ``max_row`` reasoning chain.
MAX_WORD: str = "max"


# --------------------------------------------------------------------------------------
# Question types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionType:
    """One question type: its paraphrase templates and how many cells it involves.

    Templates are word tuples; the placeholder ``"{arg}"`` is replaced by the question's single argument
    (a colour name, a 1-based row or a threshold). ``fixed_difficulty`` is the number of involved cells when it
    does not depend on the grid (``None`` otherwise); ``colour_question`` marks questions about one colour.
    """

    name: str
    description: str
    templates: tuple[tuple[str, ...], ...]
    fixed_difficulty: int | None
    colour_question: bool


def _templates(*texts: str) -> tuple[tuple[str, ...], ...]:
    """Split template strings into word tuples."""
    return tuple(tuple(t.split()) for t in texts)


QUESTION_TYPES: dict[str, QuestionType] = {
    "sum_colour": QuestionType(
        "sum_colour", "sum of the digits of the <colour> cells",
        _templates(
            "what is the sum of the digits in the {arg} cells ?",
            "add up all the numbers written in {arg} cells .",
            "compute the total of the {arg} digits .",
            "if you add every digit that sits in a {arg} cell , what do you get ?",
        ),
        None, True),
    "count_colour": QuestionType(
        "count_colour", "how many cells are <colour>",
        _templates(
            "how many cells are {arg} ?",
            "count the {arg} cells .",
            "what is the number of cells coloured {arg} ?",
            "how many of the cells have the colour {arg} ?",
        ),
        None, True),
    "max_row": QuestionType(
        "max_row", "largest digit in row <row> (1..4, counted from the top of the original grid)",
        _templates(
            "what is the largest digit in row {arg} from the top ?",
            "find the maximum number in row {arg} , counting rows from the top .",
            "in row {arg} from the top , what is the highest digit ?",
            "look at row {arg} counted from the top and give its largest number .",
        ),
        GRID, False),
    "diag_sum": QuestionType(
        "diag_sum", "sum of the digits on the main diagonal (top left to bottom right of the original grid)",
        _templates(
            "what is the sum of the digits on the main diagonal ?",
            "add up the numbers on the diagonal from the top left to the bottom right .",
            "compute the total of the digits from the top left corner down to the bottom right corner .",
            "what do the main diagonal digits add up to ?",
        ),
        GRID, False),
    "count_greater": QuestionType(
        "count_greater", "how many cells have a digit greater than <t>",
        _templates(
            "how many cells have a digit greater than {arg} ?",
            "count the numbers that are larger than {arg} .",
            "what is the number of digits above {arg} ?",
            "how many of the digits exceed {arg} ?",
        ),
        None, False),
}
assert all(len(q.templates) == N_TEMPLATES for q in QUESTION_TYPES.values())


# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------


class Vocab:
    """Fixed word-level vocabulary; a word's id is its position in ``tokens``."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: list[str] = list(tokens)
        self.token_to_id: dict[str, int] = {w: i for i, w in enumerate(self.tokens)}
        if len(self.token_to_id) != len(self.tokens):
            raise ValueError("Vocab: duplicate tokens")
        missing = [w for w in SPECIAL_TOKENS if w not in self.token_to_id]
        if missing:
            raise ValueError(f"Vocab: missing special tokens {missing}")
        ids = [self.token_to_id[w] for w in SPECIAL_TOKENS]
        (self.pad_id, self.bos_id, self.eos_id, self.think_id,
         self.end_think_id, self.box_id, self.end_box_id) = ids

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, word: object) -> bool:
        return word in self.token_to_id

    def encode(self, words: Sequence[str]) -> list[int]:
        """Ids of ``words``; ``KeyError`` naming the first unknown word."""
        try:
            return [self.token_to_id[w] for w in words]
        except KeyError as err:
            raise KeyError(f"word {err.args[0]!r} is not in the GridMath vocabulary") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids`` (any iterable of integers: list, numpy array, 1-D tensor)."""
        return [self.tokens[int(i)] for i in ids]


def _build_vocab() -> Vocab:
    """Specials, digits, symbols, transform tokens, colours, then every other word in sorted order."""
    head = [*SPECIAL_TOKENS, *DIGITS, *SYMBOLS, *(TRANSFORM_PREFIXES[t][0] for t in TRANSFORMS), *COLOURS]
    words: set[str] = {MAX_WORD}
    for qt in QUESTION_TYPES.values():
        for template in qt.templates:
            words.update(w for w in template if w != "{arg}")
    for prefix in TRANSFORM_PREFIXES.values():
        words.update(prefix[1:])
    return Vocab(head + sorted(words - set(head)))


VOCAB: Vocab = _build_vocab()


# --------------------------------------------------------------------------------------
# Answers and reasoning chains (on the original grid)
# --------------------------------------------------------------------------------------


def number_words(n: int) -> list[str]:
    """Decimal digits of a non-negative integer as words: ``10 -> ["1", "0"]``."""
    n = int(n)
    if n < 0:
        raise ValueError(f"number_words: negative numbers are not used in GridMath, got {n}")
    return list(str(n))


def _check_grid(grid: np.ndarray) -> np.ndarray:
    """Validate a (4, 4, 2) grid of (colour index, digit) and return it as an int array."""
    grid = np.asarray(grid)
    if grid.shape != (GRID, GRID, 2):
        raise ValueError(f"grid must have shape {(GRID, GRID, 2)}, got {grid.shape}")
    if not np.issubdtype(grid.dtype, np.integer):
        raise ValueError(f"grid must be integer, got {grid.dtype}")
    if grid[..., 0].min() < 0 or grid[..., 0].max() >= len(COLOURS):
        raise ValueError(f"grid colours must be in 0..{len(COLOURS) - 1}")
    if grid[..., 1].min() < 0 or grid[..., 1].max() >= N_DIGITS:
        raise ValueError(f"grid digits must be in 0..{N_DIGITS - 1}")
    return grid


def _check_args(qtype: str, args: tuple) -> None:
    """Raise ``ValueError`` unless ``args`` suits ``qtype``."""
    if qtype not in QUESTION_TYPES:
        raise ValueError(f"unknown question type {qtype!r}; allowed: {sorted(QUESTION_TYPES)}")
    if qtype == "diag_sum":
        ok = len(args) == 0
    elif QUESTION_TYPES[qtype].colour_question:
        ok = len(args) == 1 and args[0] in COLOURS
    elif qtype == "max_row":
        ok = len(args) == 1 and int(args[0]) == args[0] and 1 <= args[0] <= GRID
    else:  # count_greater
        ok = len(args) == 1 and int(args[0]) == args[0] and 0 <= args[0] <= MAX_THRESHOLD
    if not ok:
        raise ValueError(f"bad args {args!r} for question type {qtype!r}")


def _involved_digits(grid: np.ndarray, qtype: str, args: tuple) -> np.ndarray:
    """Digits of the cells involved in the answer, row-major order of the original grid."""
    grid = _check_grid(grid)
    _check_args(qtype, args)
    colours, digits = grid[..., 0], grid[..., 1]
    if QUESTION_TYPES[qtype].colour_question:
        return digits[colours == COLOURS.index(args[0])]
    if qtype == "max_row":
        return digits[int(args[0]) - 1]
    if qtype == "diag_sum":
        return np.diagonal(digits).copy()
    return digits[digits > int(args[0])]  # count_greater


def difficulty_of(grid: np.ndarray, qtype: str, args: tuple) -> int:
    """Number of cells involved in the answer (on the original grid)."""
    return int(_involved_digits(grid, qtype, args).size)


def answer_of(grid: np.ndarray, qtype: str, args: tuple) -> int:
    """The answer of question (``qtype``, ``args``) on the ORIGINAL grid."""
    vals = _involved_digits(grid, qtype, args)
    if qtype in ("sum_colour", "diag_sum"):
        return int(vals.sum())
    if qtype == "max_row":
        return int(vals.max())
    return int(vals.size)  # count_colour, count_greater


def chain_of(grid: np.ndarray, qtype: str, args: tuple) -> list[str]:
    """Reasoning words for the ``<think>`` part, on the ORIGINAL grid.

    Sums: the involved digits joined by ``+``, then ``= answer`` (``3 + 5 + 2 = 1 0``); counts: one ``1`` per
    counted cell (``1 + 1 + 1 = 3``); ``max_row``: ``max`` and the row's digits (``max 3 7 2 5 = 7``). With no
    involved cell the chain is ``0 = 0``.
    """
    vals = _involved_digits(grid, qtype, args)
    answer = answer_of(grid, qtype, args)
    if qtype == "max_row":
        return [MAX_WORD, *(str(int(v)) for v in vals), "=", *number_words(answer)]
    if qtype in ("count_colour", "count_greater"):
        terms = ["1"] * int(vals.size)
    else:
        terms = [str(int(v)) for v in vals]
    body: list[str] = []
    for i, term in enumerate(terms or ["0"]):
        body += ([] if i == 0 else ["+"]) + [term]
    return [*body, "=", *number_words(answer)]


def render_question(qtype: str, args: tuple, template: int) -> list[str]:
    """Words of paraphrase ``template`` of question (``qtype``, ``args``), without any transform prefix."""
    _check_args(qtype, args)
    _check_template(template)
    arg = str(args[0]) if args else ""
    return [arg if w == "{arg}" else w for w in QUESTION_TYPES[qtype].templates[template]]


def _check_template(template: int) -> int:
    """Validate a template index."""
    if int(template) != template or not 0 <= template < N_TEMPLATES:
        raise ValueError(f"template must be an integer in 0..{N_TEMPLATES - 1}, got {template!r}")
    return int(template)


# --------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Problem:
    """One GridMath question about one image.

    ``grid`` is the image the model SEES (read-only; transformed for a transformed variant), while ``answer``,
    ``chain`` and ``difficulty`` always refer to the original grid. ``question`` holds the words after any
    paraphrase and transform prefix; ``template`` is the paraphrase index. Equality is identity (numpy field).
    """

    grid: np.ndarray
    qtype: str
    args: tuple
    question: list[str]
    answer: int
    chain: list[str]
    transform: str | None
    difficulty: int
    template: int = 0


def _make_problem(grid: np.ndarray, qtype: str, args: tuple, template: int) -> Problem:
    """Untransformed problem with answer, chain and difficulty computed from ``grid``."""
    grid = np.array(_check_grid(grid), dtype=np.int64)
    grid.setflags(write=False)
    return Problem(grid=grid, qtype=qtype, args=tuple(args), question=render_question(qtype, args, template),
                   answer=answer_of(grid, qtype, args), chain=chain_of(grid, qtype, args), transform=None,
                   difficulty=difficulty_of(grid, qtype, args), template=template)


def _random_grid(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform colours and digits, flat (16,) arrays."""
    return rng.integers(0, len(COLOURS), size=N_CELLS), rng.integers(0, N_DIGITS, size=N_CELLS)


def _to_grid(colours: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """(16,) colours and digits -> (4, 4, 2) grid."""
    return np.stack([colours, digits], axis=-1).reshape(GRID, GRID, 2)


def _sample_colour_question(rng: np.random.Generator, k: int) -> tuple[np.ndarray, tuple]:
    """Exactly ``k`` cells of the asked colour; the others uniformly among the other colours."""
    c = int(rng.integers(len(COLOURS)))
    colours = (c + rng.integers(1, len(COLOURS), size=N_CELLS)) % len(COLOURS)
    colours[rng.permutation(N_CELLS)[:k]] = c
    digits = rng.integers(0, N_DIGITS, size=N_CELLS)
    return _to_grid(colours, digits), (COLOURS[c],)


def _sample_max_row(rng: np.random.Generator, k: int) -> tuple[np.ndarray, tuple]:
    """Uniform grid, uniform row 1..4 (``k`` unused: always 4 cells)."""
    colours, digits = _random_grid(rng)
    return _to_grid(colours, digits), (int(rng.integers(1, GRID + 1)),)


def _sample_diag_sum(rng: np.random.Generator, k: int) -> tuple[np.ndarray, tuple]:
    """Uniform grid (``k`` unused: always 4 cells)."""
    colours, digits = _random_grid(rng)
    return _to_grid(colours, digits), ()


def _sample_count_greater(rng: np.random.Generator, k: int) -> tuple[np.ndarray, tuple]:
    """Uniform threshold t in 0..8; exactly ``k`` digits in t+1..9, the others in 0..t."""
    t = int(rng.integers(0, MAX_THRESHOLD + 1))
    colours, _ = _random_grid(rng)
    digits = rng.integers(0, t + 1, size=N_CELLS)
    cells = rng.permutation(N_CELLS)[:k]
    digits[cells] = rng.integers(t + 1, N_DIGITS, size=k)
    return _to_grid(colours, digits), (t,)


_SAMPLERS: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, tuple]]] = {
    "sum_colour": _sample_colour_question,
    "count_colour": _sample_colour_question,
    "max_row": _sample_max_row,
    "diag_sum": _sample_diag_sum,
    "count_greater": _sample_count_greater,
}


def _split_qtypes(split: str, qtypes: Sequence[str] | None) -> list[str]:
    """Question types usable in ``split`` (those whose difficulty can fall in the split's range)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    lo, hi = SPLITS[split]
    names = list(QUESTION_TYPES) if qtypes is None else list(qtypes)
    unknown = [q for q in names if q not in QUESTION_TYPES]
    if unknown or not names:
        raise ValueError(f"qtypes must be a non-empty subset of {sorted(QUESTION_TYPES)}, got {qtypes!r}")
    fits = [q for q in names if QUESTION_TYPES[q].fixed_difficulty is None
            or lo <= QUESTION_TYPES[q].fixed_difficulty <= hi]
    if qtypes is not None and len(fits) < len(names):
        bad = sorted(set(names) - set(fits))
        raise ValueError(f"question types {bad} always involve {GRID} cells, outside split {split!r} ({lo}..{hi})")
    return fits


def sample_problem(rng: np.random.Generator, *, split: str = "train", qtypes: Sequence[str] | None = None,
                   template: int | None = None) -> Problem:
    """Draw one untransformed problem.

    The question type is uniform over ``qtypes`` (default: all types allowed in ``split``), the difficulty
    uniform over the split's range (:data:`SPLITS`; fixed at 4 for ``max_row`` / ``diag_sum``), the paraphrase
    ``template`` uniform over 0..N_TEMPLATES-1 when ``None``.
    """
    names = _split_qtypes(split, qtypes)
    lo, hi = SPLITS[split]
    qtype = names[int(rng.integers(len(names)))]
    k = int(rng.integers(lo, hi + 1))
    grid, args = _SAMPLERS[qtype](rng, k)
    tmpl = int(rng.integers(N_TEMPLATES)) if template is None else _check_template(template)
    return _make_problem(grid, qtype, args, tmpl)


def paraphrases(problem: Problem) -> list[list[str]]:
    """All N_TEMPLATES text variants of the problem's question (no transform prefix)."""
    return [render_question(problem.qtype, problem.args, k) for k in range(N_TEMPLATES)]


# --------------------------------------------------------------------------------------
# Image transforms and Share-GRPO question variants
# --------------------------------------------------------------------------------------


def transform_prefix(transform: str | None) -> list[str]:
    """Explanatory prefix words of ``transform`` (empty for ``None``)."""
    if transform is None:
        return []
    if transform not in TRANSFORM_PREFIXES:
        raise ValueError(f"transform must be None or one of {TRANSFORMS}, got {transform!r}")
    return list(TRANSFORM_PREFIXES[transform])


def transform_grid(grid: np.ndarray, transform: str) -> np.ndarray:
    """Apply a geometric transform (cells move, contents unchanged); returns a new array.

    ``rot90cw`` / ``rot90ccw``: quarter turn clockwise / counterclockwise; ``rot180``: half turn;
    ``vflip``: upside down (rows reversed); ``hflip``: mirrored left-right (columns reversed); ``hvflip``: both
    (the same permutation as ``rot180``, listed separately as in the paper's transform set).
    """
    grid = np.asarray(grid)
    if transform == "rot90cw":
        out = np.rot90(grid, k=-1, axes=(0, 1))
    elif transform == "rot90ccw":
        out = np.rot90(grid, k=1, axes=(0, 1))
    elif transform == "rot180":
        out = np.rot90(grid, k=2, axes=(0, 1))
    elif transform == "vflip":
        out = grid[::-1]
    elif transform == "hflip":
        out = grid[:, ::-1]
    elif transform == "hvflip":
        out = grid[::-1, ::-1]
    else:
        raise ValueError(f"transform must be one of {GEOMETRIC_TRANSFORMS}, got {transform!r}")
    return out.copy()


def undo_transform(grid: np.ndarray, transform: str) -> np.ndarray:
    """Inverse of :func:`transform_grid`: ``undo_transform(transform_grid(g, t), t) == g``."""
    if transform not in _INVERSE:
        raise ValueError(f"transform must be one of {GEOMETRIC_TRANSFORMS}, got {transform!r}")
    return transform_grid(grid, _INVERSE[transform])


def noise_grid(grid: np.ndarray, qtype: str, args: tuple, rng: np.random.Generator, *,
               fraction: float = NOISE_FRACTION) -> np.ndarray:
    """Re-colour cells whose colour cannot change the answer; returns a new array.

    Colour questions: only cells of the other colours, each re-coloured to a different colour that is not the
    asked one. Position / threshold questions: any cell, re-coloured to a different colour. Each eligible cell is
    picked with probability ``fraction``, and at least one is (when any is eligible). Digits never change.
    """
    grid = np.array(_check_grid(grid), dtype=np.int64)
    _check_args(qtype, args)
    colours = grid[..., 0].reshape(-1)
    asked = COLOURS.index(args[0]) if QUESTION_TYPES[qtype].colour_question else None
    eligible = np.flatnonzero(colours != asked) if asked is not None else np.arange(N_CELLS)
    if eligible.size == 0:
        return grid
    chosen = eligible[rng.random(eligible.size) < fraction]
    if chosen.size == 0:
        chosen = eligible[[int(rng.integers(eligible.size))]]
    for cell in chosen:
        allowed = [c for c in range(len(COLOURS)) if c != colours[cell] and c != asked]
        colours[cell] = allowed[int(rng.integers(len(allowed)))]
    grid[..., 0] = colours.reshape(GRID, GRID)
    return grid


def make_variant(problem: Problem, rng: np.random.Generator, *, template: int, transform_prob: float = 0.3,
                 force_transform: str | None = None) -> Problem:
    """Share-GRPO question variant: same question and answer, paraphrase ``template``, maybe a transformed image.

    With probability ``transform_prob`` (or always, naming it, with ``force_transform``) one transform drawn
    uniformly from :data:`TRANSFORMS` is applied to the image and its explanatory prefix prepended to the
    question words. ``answer``, ``chain``, ``difficulty`` are those of ``problem`` (they refer to the original
    grid). ``problem`` must be untransformed. ``rng`` is used as: one uniform draw for the coin, one for the
    transform, then the noise draws — the same whatever ``force_transform`` is, so streams stay aligned.
    """
    if problem.transform is not None:
        raise ValueError("make_variant expects an untransformed problem (make variants of the original)")
    if not 0.0 <= transform_prob <= 1.0:
        raise ValueError(f"transform_prob must be in [0, 1], got {transform_prob}")
    if force_transform is not None and force_transform not in TRANSFORMS:
        raise ValueError(f"force_transform must be None or one of {TRANSFORMS}, got {force_transform!r}")
    template = _check_template(template)
    apply = rng.random() < transform_prob
    drawn = TRANSFORMS[int(rng.integers(len(TRANSFORMS)))]
    transform = force_transform if force_transform is not None else (drawn if apply else None)
    if transform is None:
        grid = problem.grid
    elif transform == "noise":
        grid = noise_grid(problem.grid, problem.qtype, problem.args, rng)
    else:
        grid = transform_grid(problem.grid, transform)
    if grid is not problem.grid:
        grid.setflags(write=False)
    question = transform_prefix(transform) + render_question(problem.qtype, problem.args, template)
    return Problem(grid=grid, qtype=problem.qtype, args=problem.args, question=question, answer=problem.answer,
                   chain=list(problem.chain), transform=transform, difficulty=problem.difficulty, template=template)


# --------------------------------------------------------------------------------------
# Prompt, target and reward
# --------------------------------------------------------------------------------------


def prompt_words(problem: Problem) -> list[str]:
    """``["<bos>", *question]`` — the text part of the prompt (visual tokens come from :class:`VisualEncoder`)."""
    return ["<bos>", *problem.question]


def target_words(problem: Problem) -> list[str]:
    """Supervised response: ``<think> chain </think> <box> answer </box> <eos>``."""
    return ["<think>", *problem.chain, "</think>", "<box>", *number_words(problem.answer), "</box>", "<eos>"]


def parse_response(response_words: Sequence[str]) -> tuple[bool, int | None]:
    """``(well_formed, boxed number or None)``.

    Well formed: exactly ``<think> w* </think> <box> d+ </box>``, optionally followed by ``<eos>`` (and trailing
    ``<pad>``s, which are dropped), where the ``w`` contain no special token and the ``d`` are digits. The boxed
    number is the integer the digits spell (leading zeros allowed).
    """
    words = list(response_words)
    while words and words[-1] == "<pad>":
        words.pop()
    if words and words[-1] == "<eos>":
        words.pop()
    if len(words) < 5 or words[0] != "<think>" or "</think>" not in words:
        return False, None
    end = words.index("</think>")
    if any(w in SPECIAL_TOKENS for w in words[1:end]):
        return False, None
    box = words[end + 1:]
    if len(box) < 3 or box[0] != "<box>" or box[-1] != "</box>" or not all(w in DIGITS for w in box[1:-1]):
        return False, None
    return True, int("".join(box[1:-1]))


def reward(response_words: Sequence[str], answer: int) -> tuple[float, float, float]:
    """R1-ShareVL score: ``(0.9·accuracy + 0.1·format, accuracy, format)``; accuracy needs a well-formed box."""
    ok, value = parse_response(response_words)
    fmt = 1.0 if ok else 0.0
    acc = 1.0 if ok and value == int(answer) else 0.0
    return 0.9 * acc + 0.1 * fmt, acc, fmt


def stack_grids(problems: Sequence[Problem]) -> np.ndarray:
    """(B, 4, 4, 2) array of the grids the model sees."""
    return np.stack([p.grid for p in problems])


# --------------------------------------------------------------------------------------
# Vision encoder
# --------------------------------------------------------------------------------------


class VisualEncoder:
    """Fixed random "vision encoder": one visual token per cell, row-major over the image AS SEEN.

    Features = one-hot colour (3) + one-hot digit (10) + one-hot row (4) + one-hot col (4) = 21, mapped by a fixed
    random linear map (seeded, never trained; N(0, 0.5²) entries so that the four active features give unit
    pre-activation variance) to ``d_vis``, then tanh. The notebook adds a learnable projector d_vis -> d_model.
    """

    N_FEATURES: int = len(COLOURS) + N_DIGITS + 2 * GRID

    def __init__(self, d_vis: int = 32, seed: int = 0) -> None:
        if d_vis < 1:
            raise ValueError(f"d_vis must be >= 1, got {d_vis}")
        self.d_vis = int(d_vis)
        self.seed = int(seed)
        rng = np.random.default_rng(seed)
        self.weight: np.ndarray = rng.normal(0.0, 0.5, size=(self.N_FEATURES, self.d_vis)).astype(np.float32)

    def features(self, grids: np.ndarray) -> np.ndarray:
        """(B, 4, 4, 2) -> (B, 16, 21) float32 one-hot features."""
        grids = np.asarray(grids)
        if grids.ndim != 4 or grids.shape[1:] != (GRID, GRID, 2):
            raise ValueError(f"grids must have shape (B, {GRID}, {GRID}, 2), got {grids.shape}")
        b = grids.shape[0]
        colours = grids[..., 0].reshape(b, N_CELLS)
        digits = grids[..., 1].reshape(b, N_CELLS)
        rows, cols = np.divmod(np.arange(N_CELLS), GRID)
        eye_c = np.eye(len(COLOURS), dtype=np.float32)
        eye_d = np.eye(N_DIGITS, dtype=np.float32)
        eye_p = np.eye(GRID, dtype=np.float32)
        pos = np.concatenate([eye_p[rows], eye_p[cols]], axis=-1)  # (16, 8)
        return np.concatenate([eye_c[colours], eye_d[digits], np.broadcast_to(pos, (b, N_CELLS, 2 * GRID))],
                              axis=-1)

    def __call__(self, grids: np.ndarray) -> np.ndarray:
        """(B, 4, 4, 2) -> (B, 16, d_vis) float32 visual tokens; a single (4, 4, 2) grid gives (16, d_vis)."""
        grids = np.asarray(grids)
        if grids.ndim == 3:
            return self(grids[None])[0]
        return np.tanh(self.features(grids) @ self.weight).astype(np.float32)
