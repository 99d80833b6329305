"""The token vocabulary of the tool-use task family (:mod:`hrlkit.tasks.tool_tasks`) for the collection's tiny LMs.

A response such as ``<think> what is 12 * 3 ? </think> <python> 12 * 3 </python> <result> 36 </result>
<answer> \\boxed{36} </answer>`` becomes one token per protocol tag, per word, per arithmetic symbol and per digit:
numbers are spelled digit by digit, so the model has to compute (or call the calculator) rather than recall a number
as one token. Words come from a fixed list (the question templates, the knowledge base's passages and every place
and capital name), so the vocabulary has a few hundred entries and decoding gives back the text exactly.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

__all__ = ["SPECIAL", "TAGS", "ToolVocab"]

SPECIAL = ("<pad>", "<bos>", "<eos>", "<unk>")
TAGS = ("<think>", "</think>", "<search>", "</search>", "<python>", "</python>", "<result>", "</result>",
        "<answer>", "</answer>", "\\boxed{", "}")
SYMBOLS = ("+", "-", "*", "/", "(", ")", ".", ",", "?", ":", "//")
DIGITS = tuple("0123456789")
_PIECE = re.compile(r"\\boxed\{|</?[a-z]+>|//|\d|[a-z]+|[+\-*/().,?:}]|\S")


class ToolVocab:
    """Token ↔ id over a fixed word list; ``encode`` refuses what it cannot spell back."""

    def __init__(self, words: Iterable[str]) -> None:
        extra = sorted({w for w in words} - set(SPECIAL) - set(TAGS) - set(SYMBOLS) - set(DIGITS))
        bad = [w for w in extra if not re.fullmatch(r"[a-z]+", w)]
        if bad:
            raise ValueError(f"vocabulary words must be lower-case letters only, got {bad[:5]}")
        self.tokens: tuple[str, ...] = SPECIAL + TAGS + SYMBOLS + DIGITS + tuple(extra)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.pad, self.bos, self.eos, self.unk = (self.ids[t] for t in SPECIAL)

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self.ids[token]

    def encode(self, text: str, strict: bool = True) -> list[int]:
        """Ids of ``text``'s pieces (tags, words, symbols, single digits). Strict (for training text): two numbers
        may not follow each other without a separator (decoding could not tell them apart) and an unknown piece is
        an error. Not strict (for what a tool returns): an unknown piece becomes <unk>."""
        pieces = _PIECE.findall(text.lower() if not strict else text)
        out = []
        for piece in pieces:
            if piece not in self.ids and strict:
                raise ValueError(f"{piece!r} is not in the vocabulary")
            out.append(self.ids.get(piece, self.unk))
        digit_runs = re.findall(r"\d+(?:\s+\d+)+", text)
        if digit_runs and strict:
            raise ValueError(f"two numbers follow each other without a separator: {digit_runs[0]!r}")
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``: pieces joined by single spaces, except between the digits of a number and inside
        ``\\boxed{…}``; padding, <bos> and <eos> are dropped."""
        text, previous = [], ""
        for i in ids:
            token = self.tokens[int(i)]
            if token in SPECIAL[:3]:
                continue
            glued = (token in DIGITS and previous in DIGITS) or previous == "\\boxed{" or \
                (token == "}" and previous != "")
            text.append(token if glued or not text else " " + token)
            previous = token
        return "".join(text)
