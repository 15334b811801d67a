"""Daily paper posts copied out of a channel: a dated series header, a title, prose, and a link near the end.

Headers name the series and a date (``**Mike's Daily Paper, 22.11.2024:**``, ``⚡️🚀 Mike's Daily Paper - 28.11.24:
⚡️🚀 <title>``, ``Yaniv's and Mike's Daily Paper: 2025-01-08``). The same paper posted twice becomes one note with
each post under its date; a date whose year breaks the sequence is flagged, never changed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from storage.imports.dates import find_date, flag_out_of_sequence
from storage.imports.links import ARXIV, DOI, URL, Ref, find_refs, may_hold_ref, without_refs
from storage.imports.plan import (
    ImportPlan,
    Leftover,
    NoteStatus,
    PlannedNote,
    PlannedPaper,
    Shape,
    normalise_title,
    to_tag,
)
from storage.note_text import MAX_TAGS, section_name

__all__ = ["parse", "score"]

_SERIES = re.compile(
    r"^[^\w\n]{0,16}?(?P<series>(?:[A-Z][\w-]*['’`]s\s+(?:(?:and|&)\s+)?){1,3}Daily\s*(?:Paper|Article|Read)s?)"
    r"(?!\w)(?P<rest>.*)$",
    re.IGNORECASE,
)
_HASHTAGS = re.compile(r"^\s*(?:#[^\W\d][\w.+/-]*[\s,]*)+$")
_HASHTAG = re.compile(r"#([^\W\d][\w.+/-]*)")
_SECTION_LINE = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*([A-Za-z][A-Za-z ]{1,30}?)\s*:?\s*(?:\*\*|__)?\s*:?\s*$")
_PARTIAL = re.compile(r"\((?:partially finished|partial|section [\w.]+ only)\)", re.IGNORECASE)
_REVIEW_PREFIX = re.compile(r"^\s*(?:\*\*)?\s*(?:paper review|title)\s*:\s*", re.IGNORECASE)
_DECOR = " \t*_:|,;–—-~#>•·"
_EDGE_CATEGORIES = frozenset({"So", "Sk", "Mn", "Me", "Cf", "Cs", "Co"})  # emoji, variation selectors, joiners
# A link line carries little besides its link (``Paper: <https://arxiv.org/abs/…>``, ``[paper](…)``).
_LINK_LINE_TEXT = 100
# Lines at a post's end where its own link sits.
_KEY_ZONE = 4
# Text after a link that starts a post without a header of its own must be at least this long.
_MIN_HEADERLESS_CHARS = 200


@dataclass(frozen=True, slots=True)
class _Header:
    date_text: str | None
    day: date | None
    title: str  # what follows the date on the header line ("" when the title is on a later line)
    bold_open: bool = False  # the title opens ``**`` on the header line and closes it on a later one


@dataclass(slots=True)
class _Post:
    line: int  # 1-based
    day: date | None
    title: str
    title_line: int
    body: str
    key: str | None = None
    version: int | None = None
    tags: list[str] = field(default_factory=list)
    status: str = NoteStatus.DONE


def _strip_decor(text: str) -> str:
    """Text without the emoji, bold marks and separators posts put around headers and titles."""
    start, end = 0, len(text)
    while start < end and (text[start] in _DECOR or unicodedata.category(text[start]) in _EDGE_CATEGORIES):
        start += 1
    while end > start and (text[end - 1] in _DECOR or unicodedata.category(text[end - 1]) in _EDGE_CATEGORIES):
        end -= 1
    return text[start:end]


def _clean_title(text: str) -> str:
    title = _strip_decor(_REVIEW_PREFIX.sub("", text.replace("**", "").replace("__", "")))
    if title.startswith(")") and "(" not in title:
        title = _strip_decor(title[1:])
    if len(title) > 1 and title[0] in "\"“'" and title[-1] in "\"”'":
        title = title[1:-1].strip()
    return title


def _read_header(line: str) -> _Header | None:
    m = _SERIES.match(line)
    if m is None:
        return None
    rest = m["rest"]
    found = find_date(rest[:48])
    # Only separators (or a post number) between the series and its date: prose that names the series is no header.
    if found is not None and len(rest[: found.start].strip()) <= 24:
        after = rest[found.end :]
        return _Header(found.text, found.day, _clean_title(after), after.count("**") % 2 == 1)
    if not _strip_decor(rest):
        return _Header(None, None, "")
    if rest.lstrip()[:1] in (":", "–", "—", "-"):
        return _Header(None, None, _clean_title(rest))
    return None


def _is_link_line(line: str) -> bool:
    """A line that is mostly a paper link: the arXiv or DOI a post closes with."""
    refs = find_refs(line)
    papers = any(ref.kind != URL for ref in refs)
    return papers and len(without_refs(line, refs).strip()) <= _LINK_LINE_TEXT


def _bare_link(line: str) -> bool:
    """A line that holds a link and hardly anything else (``Paper: <https://arxiv.org/abs/…>``)."""
    rest = without_refs(line, find_refs(line))
    return len(_strip_decor(rest.replace("[paper]", "").replace("()", ""))) <= 40


def _title_like(line: str) -> bool:
    text = _clean_title(line)
    return (
        8 <= len(text) <= 250
        and line.replace("**", "").rstrip(" \t*_")[-1:] not in (".", ",", ";", ":", "!")
        and not may_hold_ref(line)
        and section_name(line) is None
        and not _HASHTAGS.match(line)
    )


class _Reader:
    """One pass over a document's lines: posts, leftovers."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.leftovers: list[Leftover] = []

    def posts(self) -> tuple[list[_Post], list[tuple[int, str, date]]]:
        """Every post in document order, and the header dates (line, as written, day) for the sequence check."""
        lines = self.lines
        headers = [(i, h) for i, line in enumerate(lines) if (h := _read_header(line)) is not None]
        teasers = {i: self._teaser(i, headers[n - 1][0]) for n, (i, _) in enumerate(headers) if n > 0}
        first = headers[0][0] if headers else len(lines)
        for i in range(first):
            if lines[i].strip():
                self.leftovers.append(Leftover(i + 1, lines[i].strip()[:200], "before the first post"))
        posts: list[_Post] = []
        dated: list[tuple[int, str, date]] = []
        for n, (i, header) in enumerate(headers):
            end = len(lines) if n + 1 == len(headers) else headers[n + 1][0]
            nxt_teaser = teasers.get(end)
            if nxt_teaser is not None:
                end = nxt_teaser
            if header.date_text is not None and header.day is None:
                self.leftovers.append(Leftover(i + 1, header.date_text, "not a calendar date"))
            if header.day is not None and header.date_text is not None:
                dated.append((i + 1, header.date_text, header.day))
            teaser = teasers.get(i)
            ranges = self._split(i + 1, end)
            for r, (start, stop) in enumerate(ranges):
                post = self._post(i, header if r == 0 else None, header.day, start, stop)
                if not post.title and not post.key:
                    self.leftovers.append(
                        Leftover(post.line, lines[post.line - 1].strip()[:200], "a post naming no paper")
                    )
                    continue
                if r == 0 and teaser is not None:
                    post.body = lines[teaser].strip() + "\n\n" + post.body
                posts.append(post)
        return posts, dated

    def _teaser(self, header: int, previous_header: int) -> int | None:
        """The one-line headline just before a header, after the previous post's closing link."""
        lines = self.lines
        t = header - 1
        if t >= 0 and not lines[t].strip():
            t -= 1
        if t <= previous_header or not lines[t].strip() or len(lines[t]) > 140 or may_hold_ref(lines[t]):
            return None
        if _HASHTAGS.match(lines[t]):
            return None
        u = t - 1
        while u > previous_header and not lines[u].strip():
            u -= 1
        return t if u > previous_header and (_is_link_line(lines[u]) or _HASHTAGS.match(lines[u])) else None

    def _split(self, start: int, end: int) -> list[tuple[int, int]]:
        """A header's lines as posts: a post may follow the previous one's link without a header of its own."""
        lines = self.lines
        links = [j for j in range(start, end) if _is_link_line(lines[j])]
        ranges: list[tuple[int, int]] = []
        for n, j in enumerate(links[:-1]):
            k = j + 1
            while k < links[n + 1] and (not lines[k].strip() or _HASHTAGS.match(lines[k])):
                k += 1
            if k >= links[n + 1] or not _title_like(lines[k]):
                continue
            if sum(len(lines[x].strip()) for x in range(k + 1, links[n + 1])) < _MIN_HEADERLESS_CHARS:
                continue
            ranges.append((start, k))
            start = k
        ranges.append((start, end))
        return ranges

    def _post(self, header_at: int, header: _Header | None, day: date | None, start: int, stop: int) -> _Post:
        lines = self.lines
        title, title_line, body_from, preamble = self._title(header, start, stop)
        post = _Post(
            line=(header_at if header else title_line) + 1, day=day, title=title, title_line=title_line + 1, body=""
        )
        key_line = self._key(post, start, stop)
        # The closing link is the paper's key (exports write it back); kept in the body it would end the last section.
        skip = key_line if key_line is not None and _bare_link(lines[key_line]) else -1
        kept: list[str] = list(preamble)
        for j in range(body_from, stop):
            line = lines[j]
            if j == skip:
                continue
            if _HASHTAGS.match(line):
                post.tags.extend(tag for word in _HASHTAG.findall(line) if (tag := to_tag(word)))
                continue
            m = _SECTION_LINE.match(line)
            name = section_name("## " + m[1]) if m else None
            kept.append(f"## {name}" if name else line)
        post.tags = list(dict.fromkeys(post.tags))[:MAX_TAGS]
        if _PARTIAL.search(post.title):
            post.title = _strip_decor(_PARTIAL.sub("", post.title))
            post.status = NoteStatus.PARTIAL
        post.body = "\n".join(kept).strip("\n").rstrip() or post.title or "WIP"
        if post.body.strip().upper() == "WIP":
            post.status = NoteStatus.WIP
        elif _PARTIAL.search("\n".join(post.body.split("\n", 3)[:3])):
            post.status = NoteStatus.PARTIAL
        return post

    def _title(self, header: _Header | None, start: int, stop: int) -> tuple[str, int, int, list[str]]:
        """The title, its line, where the body starts, and preamble lines that go before the body."""
        lines = self.lines
        if header is not None and header.title and not header.bold_open:
            return header.title, start - 1, start, []
        if header is not None and header.title:
            last, raw = start, header.title
            while last < min(stop, start + 2) and "**" not in lines[last]:
                raw += " " + lines[last].strip() if lines[last].strip() else ""
                last += 1
            if last < stop and "**" in lines[last]:
                return _clean_title(raw + " " + lines[last].strip()), start - 1, last + 1, []
            return header.title, start - 1, start, []
        seen = [j for j in range(start, stop) if lines[j].strip()][:4]
        preamble: list[str] = []
        pick = seen[0] if seen else None
        for n, j in enumerate(seen):
            text = lines[j].strip()
            if _REVIEW_PREFIX.match(text) and not _clean_title(text):
                continue  # a bare "Paper Review:" line announces the title below it
            bold = text.startswith("**")
            if header is None or bold or _title_like(text) or n == len(seen) - 1 or len(preamble) == 2:
                pick = j
                break
            preamble.append(lines[j])
        if pick is None:
            return "", start, start, []
        raw, last = lines[pick].strip(), pick
        # A bold title may run over two or three lines.
        while raw.count("**") % 2 == 1 and last + 1 < stop and last - pick < 2:
            last += 1
            if lines[last].strip():
                raw += " " + lines[last].strip()
        return _clean_title(raw), pick, last + 1, preamble

    def _key(self, post: _Post, start: int, stop: int) -> int | None:
        """Set the paper's key from the link among the post's last lines, and say on which line it is.

        An id cut short is reported, not guessed.
        """
        lines = self.lines
        zone = [j for j in range(stop - 1, start - 1, -1) if lines[j].strip() and not _HASHTAGS.match(lines[j])]
        arxiv: list[tuple[int, Ref]] = []
        others: list[tuple[int, Ref]] = []
        for j in zone[:_KEY_ZONE]:
            line = lines[j]
            if len(line.strip()) > 400:
                continue
            refs = find_refs(line)
            arxiv.extend((j, ref) for ref in refs if ref.kind == ARXIV)
            others.extend((j, ref) for ref in refs if ref.kind == DOI)
            # A link in a sentence is something the post mentions; only a line that is mostly links may close it.
            if len(without_refs(line, refs).strip()) <= _LINK_LINE_TEXT:
                others.extend((j, ref) for ref in refs if ref.kind == URL)
        for j, ref in arxiv[:1] + sorted(others, key=lambda item: item[1].kind != DOI):
            if ref.key is None:
                self.leftovers.append(Leftover(j + 1, lines[j].strip()[:200], ref.why))
                if ref.kind == ARXIV:
                    return None  # an id cut short is reported, not guessed
                continue
            post.key, post.version = ref.key.key, ref.key.version
            return j
        return None


def _merge(posts: list[_Post]) -> tuple[list[PlannedNote], int]:
    """Notes from posts, the same paper (same key, or same title where a key is missing) posted twice as one."""
    groups: list[list[_Post]] = []
    by_key: dict[str, int] = {}
    by_title: dict[str, int] = {}
    for post in posts:
        title = normalise_title(post.title)
        at = by_key.get(post.key) if post.key else None
        if at is None and title:
            at = by_title.get(title)
            if at is not None and post.key and any(p.key and p.key != post.key for p in groups[at]):
                at = None
        if at is None:
            at = len(groups)
            groups.append([])
        groups[at].append(post)
        if post.key:
            by_key.setdefault(post.key, at)
        if title:
            by_title.setdefault(title, at)
    notes = [_note(group) for group in groups]
    return notes, len(posts) - len(groups)


def _note(group: list[_Post]) -> PlannedNote:
    first = group[0]
    keyed = next((post for post in group if post.key), first)
    paper = PlannedPaper(title=first.title or None, key=keyed.key, version=keyed.version, line=first.title_line)
    if len(group) == 1:
        body = first.body
    else:
        body = "\n\n".join(f"## {_day_heading(post.day)}\n{post.body}" for post in group)
    tags = list(dict.fromkeys(tag for post in group for tag in post.tags))[:MAX_TAGS]
    done = [post for post in group if post.status == NoteStatus.DONE]
    status = NoteStatus.DONE if done else first.status
    return PlannedNote(paper, body, tags, status, first.day, first.line, merged=len(group))


def _day_heading(day: date | None) -> str:
    return day.strftime("%d.%m.%Y") if day else "Undated post"


def parse(text: str) -> ImportPlan:
    """The notes a copy of a daily-posts channel holds: one per paper, dated by its post."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    reader = _Reader(lines)
    posts, dated = reader.posts()
    notes, merged = _merge(posts)
    plan = ImportPlan(shape=Shape.DAILY_POSTS, notes=notes, duplicates_merged=merged, lines=len(lines))
    plan.flagged = flag_out_of_sequence(dated)
    plan.leftovers = sorted(reader.leftovers, key=lambda leftover: leftover.line)
    return plan


def score(text: str) -> float:
    """How much the text looks like daily posts: series headers with dates (``Mike's Daily Paper - 28.11.24``)."""
    headers = dated = 0
    for line in text.split("\n"):
        header = _read_header(line)
        if header is not None:
            headers += 1
            dated += header.date_text is not None
    if not headers:
        return 0.0
    return min(1.0, 0.5 + 0.1 * dated + 0.03 * headers)
