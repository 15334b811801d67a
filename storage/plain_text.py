"""Text from feeds and the arXiv API as plain text: whitespace collapsed, LaTeX letters and accents as Unicode."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["LATEX_COMMAND", "collapse", "latex_letters", "unlatex"]

_LATEX_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
}
_LATEX_ACCENT = re.compile(r"\\(?P<accent>['`^\"~=.]|[uvHckr](?=[\s{]))\s*(?:\{\s*(?P<braced>\w)\s*\}|(?P<bare>\w))")
LATEX_COMMAND = re.compile(r"\\(?P<name>[A-Za-z]+)\*?")
_LATEX_LETTERS = {
    "o": "ø",
    "O": "Ø",
    "l": "ł",
    "L": "Ł",
    "ss": "ß",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "i": "i",  # dotless i and j only ever carry an accent
    "j": "j",
}
_LATEX_LETTER = re.compile(r"\\(?P<name>ss|ae|AE|oe|OE|aa|AA|[oOlLij])(?![A-Za-z])(?:\s*\{\})?")
_LATEX_GROUP = re.compile(r"\{(?P<inner>[^{}\\$]*)\}")


def latex_letters(text: str) -> str:
    """LaTeX accents and special letters as Unicode (``G\\"unther`` -> ``Günther``), braces left in place."""
    text = _LATEX_LETTER.sub(lambda m: _LATEX_LETTERS[m["name"]], text)
    return _LATEX_ACCENT.sub(lambda m: (m["braced"] or m["bare"]) + _LATEX_ACCENTS[m["accent"]], text)


def unlatex(text: str) -> str:
    """A name written in LaTeX as plain Unicode (``S{\\o}ren G\\"unther`` -> ``Søren Günther``)."""
    if "\\" not in text:
        return text
    return unicodedata.normalize("NFC", _LATEX_GROUP.sub(lambda m: m["inner"], latex_letters(text)))


def collapse(text: object) -> str:
    """The text with every run of whitespace one space, trimmed; empty for None or empty."""
    return " ".join(str(text).split()) if text else ""
