"""Rules on what members write: note bodies, sections, tags and uploaded note files."""

from __future__ import annotations

import re
import unicodedata

from storage.errors import ValidationError

MAX_NOTE_CHARS = 100_000
MAX_FILE_BYTES = 1_000_000
MAX_TAGS = 10
MAX_TAG_CHARS = 40
NOTE_FILE_SUFFIXES = (".md", ".markdown", ".txt", ".text")
SECTION_NAMES = ("Summary", "Method", "Results", "Questions")

_TAG = re.compile(r"^[\w][\w.+-]*(?:/[\w][\w.+-]*)*$")
_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s*|\*\*|__)?\s*(?P<name>[A-Za-z][A-Za-z ]{1,30}?)\s*(?:\*\*|__)?\s*:?\s*#*\s*$"
)
_SECTION_ALIASES = {
    "summary": "Summary",
    "tldr": "Summary",
    "tl;dr": "Summary",
    "method": "Method",
    "methods": "Method",
    "approach": "Method",
    "results": "Results",
    "result": "Results",
    "findings": "Results",
    "questions": "Questions",
    "question": "Questions",
    "open questions": "Questions",
}


def clean_body(body: str) -> str:
    """A note body ready to store, or a ValidationError saying what is wrong with it."""
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()
    if not body.strip():
        raise ValidationError("The note is empty. Write something in it, or attach a `.md`/`.txt` file.")
    if "\x00" in body:
        raise ValidationError("The note contains a NUL character; paste it as plain text.")
    if len(body) > MAX_NOTE_CHARS:
        raise ValidationError(
            f"The note is {len(body):,} characters; the limit is {MAX_NOTE_CHARS:,}. Split it into two notes."
        )
    return body


def decode_note_file(filename: str, data: bytes) -> str:
    """The text of an uploaded note file, or a ValidationError saying why it can't be used."""
    return clean_body(decode_text_file(filename, data, suffixes=NOTE_FILE_SUFFIXES, max_bytes=MAX_FILE_BYTES))


def decode_text_file(
    filename: str, data: bytes, *, suffixes: tuple[str, ...], max_bytes: int, kind: str = "note"
) -> str:
    """The UTF-8 text of an uploaded file, or a ValidationError saying why it can't be used."""
    name = filename or "file"
    shown = " or ".join(f"`{suffix}`" for suffix in dict.fromkeys(suffix for suffix in suffixes[:3]))
    if not name.lower().endswith(suffixes):
        raise ValidationError(f"`{name}` is not a {kind} file: attach a {shown} file.")
    if not data:
        raise ValidationError(f"`{name}` is empty (0 bytes).")
    if len(data) > max_bytes:
        raise ValidationError(
            f"`{name}` is {len(data) / 1e6:.1f} MB; {kind} files can be at most {max_bytes / 1e6:g} MB."
        )
    if b"\x00" in data:
        raise ValidationError(f"`{name}` looks like a binary file, not text. Attach a {shown} file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"`{name}` is not UTF-8 text (byte {exc.start} is invalid). Save it as UTF-8.") from exc
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise ValidationError(f"`{name}` looks like a binary file, not text. Attach a {shown} file.")
    if not text.strip():
        raise ValidationError(f"`{name}` is empty: it holds only blank lines.")
    return text


def compose_body(sections: dict[str, str]) -> str:
    """One markdown body from the modal's sections, each under its own heading."""
    parts = [f"## {name}\n{text.strip()}" for name, text in sections.items() if text and text.strip()]
    if not parts:
        raise ValidationError("The note is empty: fill in at least one section.")
    return clean_body("\n\n".join(parts))


def section_name(line: str) -> str | None:
    """The section a heading line opens (``## Method``, ``**Results**``, ``Questions:``), if any."""
    if len(line) > 40:
        return None
    m = _HEADING.match(line)
    if not m:
        return None
    stripped = line.strip()
    decorated = stripped.startswith(("#", "**", "__")) or stripped.endswith(":")
    name = m["name"].strip().lower()
    return _SECTION_ALIASES.get(name) if decorated or name in _SECTION_ALIASES else None


def split_sections(body: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first section heading, and each (section, text) in order."""
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        name = None if in_fence else section_name(line)
        if name:
            sections.append((name, []))
        elif sections:
            sections[-1][1].append(line)
        else:
            preamble.append(line)
    return "\n".join(preamble).strip(), [(name, "\n".join(lines).strip()) for name, lines in sections]


def modal_sections(body: str) -> dict[str, str] | None:
    """The body as the edit form's four sections, or None when it does not fit the form."""
    preamble, sections = split_sections(body)
    fields = dict.fromkeys(SECTION_NAMES, "")
    if preamble:
        fields["Summary"] = preamble
    for name, text in sections:
        if fields[name]:
            fields[name] += "\n\n" + text
        else:
            fields[name] = text
    if any(len(text) > 4000 for text in fields.values()):
        return None
    return fields


def first_line(body: str, limit: int = 140) -> str:
    """The first line of real text in a note, for lists and digests."""
    for line in body.split("\n"):
        stripped = line.strip().strip("#").strip()
        if stripped and not section_name(line) and not stripped.startswith("```"):
            return stripped if len(stripped) <= limit else stripped[: limit - 1].rstrip() + "…"
    return ""


def questions(body: str) -> list[str]:
    """The open questions a note lists in its Questions section."""
    _, sections = split_sections(body)
    found: list[str] = []
    for name, text in sections:
        if name != "Questions":
            continue
        for line in text.split("\n"):
            item = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).strip()
            if item:
                found.append(item)
    return found


def parse_tags(text: str | None) -> list[str]:
    """Tags from what a member typed (``llms/prompting, #rl eval``), lower-cased and unique, in order."""
    if not text:
        return []
    names: list[str] = []
    for raw in re.split(r"[,\s]+", text):
        name = raw.strip().lstrip("#").strip("/").lower()
        if not name:
            continue
        if len(name) > MAX_TAG_CHARS:
            raise ValidationError(f"The tag `{name[:50]}` is too long: at most {MAX_TAG_CHARS} characters.")
        if not _TAG.match(name):
            raise ValidationError(
                f"`{name[:50]}` is not a tag: use letters, digits, `-` or `.`, nested with `/` (`llms/prompting`)."
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_TAGS:
        raise ValidationError(f"That is {len(names)} tags; a note can carry at most {MAX_TAGS}.")
    return names
