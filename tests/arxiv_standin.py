"""A loopback stand-in for the arXiv API that answers with the real captures in tests/data/arxiv."""

from __future__ import annotations

import asyncio
import fnmatch
import html
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

DATA = Path(__file__).resolve().parent / "data" / "arxiv"

# These captures were taken from recorded JSON fixtures whose body had been stored as the Latin-1 reading of
# arXiv's UTF-8 bytes, then written back out as UTF-8: every non-ASCII character is doubly encoded. Reading
# the file as UTF-8 and writing it as Latin-1 gives back exactly the bytes arXiv sent.
DOUBLE_ENCODED = frozenset(
    {
        "api2026_error_malformed_id_abc.xml",
        "api2026_idlist_0000.0000_empty.xml",
        "api2026_idlist_1707.08567.xml",
        "api2026_idlist_oldstyle_astro-ph_0601001.xml",
        "api2026_idlist_oldstyle_quant-ph_0201082v1.xml",
        "api2026_idlist_two_ids_max1.xml",
        "api2026_search_testing_100.xml",
    }
)

API_CAPTURES = sorted(path.name for path in DATA.glob("api*.xml"))

_ENTRY = re.compile(r"<entry>.*?</entry>", re.S)
_ENTRY_ID = re.compile(r"<id>https?://arxiv\.org/abs/(?P<id>.+?)(?:v\d+)?</id>")
_ENTRY_TITLE = re.compile(r"<title>(?P<title>.*?)</title>", re.S)
_TITLE_PHRASE = re.compile(r'ti:"(?P<phrase>[^"]*)"')
_SEARCH_WORD = re.compile(r"[^\W_]+")
_CATEGORY_TERM = re.compile(r"\bcat:(?P<category>[\w.*-]+)")
_SUBMITTED = re.compile(r"submittedDate:\[(?P<start>\d{12}) TO (?P<end>\d{12})\]")
_COMMENT = re.compile(r"\s*<arxiv:comment>.*?</arxiv:comment>", re.S)
_OPENSEARCH = re.compile(r"<opensearch:(?P<name>itemsPerPage|totalResults|startIndex)>\d+</opensearch:(?P=name)>")


def search_words(text: str) -> list[str]:
    """Words as arXiv's title index sees them: accents folded, lower case, punctuation and hyphens split."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _SEARCH_WORD.findall(folded.lower())


def entry_xml(
    arxiv_id: str,
    title: str,
    *,
    authors: list[str],
    published: str,
    summary: str = "We study the problem and report results.",
    category: str = "cs.CL",
    version: int = 1,
    also: Sequence[str] = (),
) -> str:
    """An API entry in the shape of the real captures, for a paper a test invents (``published``: ISO date);
    ``also`` names the categories it is cross-listed in."""
    esc = html.escape
    stamp = f"{published}T17:59:59Z" if "T" not in published else published
    names = "".join(f"\n    <author>\n      <name>{esc(name)}</name>\n    </author>" for name in authors)
    cross = "".join(f'\n    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in also)
    return (
        f"<entry>\n    <id>http://arxiv.org/abs/{arxiv_id}v{version}</id>\n    <title>{esc(title)}</title>\n"
        f"    <updated>{stamp}</updated>\n"
        f'    <link href="https://arxiv.org/abs/{arxiv_id}v{version}" rel="alternate" type="text/html"/>\n'
        f'    <link href="https://arxiv.org/pdf/{arxiv_id}v{version}" rel="related" type="application/pdf" '
        f'title="pdf"/>\n    <summary>  {esc(summary)}</summary>\n'
        f'    <category term="{category}" scheme="http://arxiv.org/schemas/atom"/>{cross}\n'
        f"    <published>{stamp}</published>\n"
        f'    <arxiv:primary_category term="{category}"/>{names}\n  </entry>'
    )


def raw_capture(name: str) -> bytes:
    """A capture file's bytes exactly as stored."""
    return (DATA / name).read_bytes()


def capture(name: str) -> bytes:
    """The bytes arXiv sent for a capture (undoing the double encoding of the recorded ones)."""
    body = raw_capture(name)
    return body.decode("utf-8").encode("latin-1") if name in DOUBLE_ENCODED else body


class Catalog:
    """Real API entries by id, served back as id_list answers the way arXiv builds them."""

    SOURCES = (
        "api2026_search_testing_100.xml",
        "api2016_idlist_1111.2011v2.xml",
        "api2026_idlist_oldstyle_astro-ph_0601001.xml",
        "api2026_idlist_oldstyle_quant-ph_0201082v1.xml",
        "api2026_search_cs.AI_max20_2026-02-05.xml",
        "api2026_search_cat_math.NT_OR_math.AG_max3.xml",
    )

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        for name in self.SOURCES:
            for block in _ENTRY.findall(capture(name).decode("utf-8")):
                match = _ENTRY_ID.search(block)
                assert match, block[:200]
                self.entries.setdefault(match["id"], block)
        empty = capture("api2026_idlist_0000.0000_empty.xml").decode("utf-8")
        self.head = empty[: empty.rindex("</feed>")]

    def ids(self, count: int, *, new_style: bool = True) -> list[str]:
        """The first ``count`` ids in the catalog (new-style ones only by default)."""
        chosen = [i for i in self.entries if "/" not in i] if new_style else list(self.entries)
        return chosen[:count]

    def feed(self, ids: list[str]) -> bytes:
        """An id_list answer: the entries arXiv knows, in the order asked; unknown ids are left out."""
        return self.feed_of([self.entries[i] for i in ids if i in self.entries])

    def feed_of(self, blocks: list[str]) -> bytes:
        """A feed carrying these entry blocks."""
        return (self.head + "".join(f"  {block}\n" for block in blocks) + "</feed>\n").encode("utf-8")

    def page_of(self, blocks: list[str], *, total: int, start: int, per_page: int) -> bytes:
        """One page of a search's results, with arXiv's counts of the whole search."""
        counts = {"itemsPerPage": per_page, "totalResults": total, "startIndex": start}

        def count(m: re.Match[str]) -> str:
            return f"<opensearch:{m['name']}>{counts[m['name']]}</opensearch:{m['name']}>"

        return (_OPENSEARCH.sub(count, self.head) + "".join(f"  {b}\n" for b in blocks) + "</feed>\n").encode("utf-8")

    @staticmethod
    def title_of(block: str) -> str:
        """An entry's title as text."""
        match = _ENTRY_TITLE.search(block)
        return html.unescape(" ".join(match["title"].split())) if match else ""


@dataclass(frozen=True)
class Submitted:
    """A paper a test has arXiv know, found by category and submission date."""

    arxiv_id: str
    submitted: datetime  # its first version's, aware
    categories: tuple[str, ...]  # primary first
    block: str  # the API entry


@dataclass
class Reply:
    """What the fake arXiv sends back for one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/atom+xml"

    @classmethod
    def of(cls, name: str, status: int = 200, *, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
        """A reply carrying a real capture."""
        content_type = "text/html" if "html" in name else "text/plain" if ".txt." in name else "application/atom+xml"
        return cls(status, capture(name), headers or {}, delay, content_type)


@dataclass
class Seen:
    """One request as the fake arXiv received it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    done: float = 0.0

    @property
    def ids(self) -> list[str]:
        """The ids of an id_list request."""
        return [i for i in self.query.get("id_list", "").split(",") if i]


class FakeArxiv:
    """Records every request; replies from a script first, then from ``respond`` (the catalog by default)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.seen: list[Seen] = []
        self.script: deque[Reply] = deque()
        self.refused_ids: set[str] = set()
        self.name_refused_id = True  # arXiv's error feed names the first bad id; False serves the capture as is
        self.search_reply: Callable[[dict[str, str]], Reply] = lambda query: Reply.of(
            "api2026_search_cat_math.NT_OR_math.AG_max3.xml"
        )
        self.added: dict[str, str] = {}  # entries a test invents, found by title_search like the catalog's
        self.submitted: list[Submitted] = []  # papers a test invents, found by category and submission date
        self.revised: dict[str, str] = {}  # catalog entries a test gave a newer version, answered in id_list
        self.in_flight = 0
        self.max_in_flight = 0
        self.server: TestServer | None = None
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        """The API address to give the client."""
        assert self.server is not None
        return str(self.server.make_url("/api/query"))

    async def wait_for(self, count: int, *, answered: bool = False) -> None:
        """Wait until ``count`` requests have arrived (and, if ``answered``, the last of them was answered)."""

        def ready() -> bool:
            return len(self.seen) >= count and (not answered or self.seen[count - 1].done > 0)

        async with self._changed:
            await self._changed.wait_for(ready)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def then(self, *replies: Reply) -> FakeArxiv:
        """Queue replies for the next requests, in order."""
        self.script.extend(replies)
        return self

    def respond(self, query: dict[str, str]) -> Reply:
        """The default answer: id_list from the catalog (400 if a refused id is in it), searches by submission date
        from :attr:`submitted`, other searches as configured."""
        if query.get("id_list"):
            ids = query["id_list"].split(",")
            refused = [i for i in ids if i in self.refused_ids]
            if refused:
                reply = Reply.of("api2026_error_malformed_id_abc.xml", status=400)
                if self.name_refused_id:
                    reply.body = re.sub(rb"(?<=format.for.)abc\b", refused[0].encode(), reply.body)
                return reply
            known = {**self.catalog.entries, **self.revised}
            return Reply(body=self.catalog.feed_of([known[i] for i in ids if i in known]))
        if _SUBMITTED.search(query.get("search_query", "")):
            return self.date_search(query)
        return self.search_reply(query)

    def revise(self, arxiv_id: str, *, version: int, comment: str | None = None) -> str:
        """arXiv announces version ``version`` of a catalog paper, with the authors' ``comment`` (replacing the old
        one; None: none); id_list answers carry it from now on. Returns the new entry."""
        block = self.revised.get(arxiv_id) or self.catalog.entries[arxiv_id]
        escaped = re.escape(arxiv_id)
        block = re.sub(rf"(abs|pdf)/{escaped}(v\d+)?(?=[<\"])", rf"\g<1>/{arxiv_id}v{version}", block)
        block = _COMMENT.sub("", block)
        if comment is not None:
            text = html.escape(comment)
            block = block.replace("</entry>", f"  <arxiv:comment>{text}</arxiv:comment>\n  </entry>")
        self.revised[arxiv_id] = block
        return block

    def add_paper(self, arxiv_id: str, title: str, *, authors: list[str], published: str, summary: str = "") -> None:
        """Make a paper findable by title (see :func:`entry_xml`)."""
        summary = summary or f"We study {title.lower()} and report results."
        self.added[arxiv_id] = entry_xml(arxiv_id, title, authors=authors, published=published, summary=summary)

    def add_submitted(
        self,
        arxiv_id: str,
        title: str,
        *,
        submitted: datetime,
        categories: Sequence[str],
        authors: Sequence[str] = ("Ada Chen",),
        summary: str = "",
        version: int = 1,
    ) -> None:
        """Make a paper findable by ``cat:`` and ``submittedDate:`` (``categories``: primary first)."""
        stamp = submitted.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        block = entry_xml(
            arxiv_id,
            title,
            authors=list(authors),
            published=stamp,
            summary=summary or f"We study {title.lower()} and report results.",
            category=categories[0],
            version=version,
            also=categories[1:],
        )
        self.submitted.append(Submitted(arxiv_id, submitted, tuple(categories), block))

    def date_search(self, query: dict[str, str]) -> Reply:
        """Answer ``cat:X AND submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]`` as arXiv does: papers in any named
        category (``cs.*`` too) whose first version was submitted within the minutes given (GMT, both ends
        included), sorted by submission date, paged by start/max_results, with the whole search's count."""
        text = query.get("search_query", "")
        window = _SUBMITTED.search(text)
        assert window is not None, text
        start, end = window["start"], window["end"]
        patterns = [m["category"] for m in _CATEGORY_TERM.finditer(text)]
        found = [
            paper
            for paper in self.submitted
            if start <= paper.submitted.astimezone(UTC).strftime("%Y%m%d%H%M") <= end
            and any(fnmatch.fnmatchcase(c, p) for c in paper.categories for p in patterns)
        ]
        found.sort(key=lambda paper: paper.submitted, reverse=query.get("sortOrder") == "descending")
        first, count = int(query.get("start", "0")), int(query.get("max_results", "10"))
        blocks = [paper.block for paper in found[first : first + count]]
        return Reply(body=self.catalog.page_of(blocks, total=len(found), start=first, per_page=count))

    def date_searches(self) -> list[Seen]:
        """The searches by submission date received so far."""
        return [seen for seen in self.seen if "submittedDate:" in seen.query.get("search_query", "")]

    def title_search(self, query: dict[str, str]) -> Reply:
        """Answer ``ti:"…" OR ti:"…"`` as arXiv does: entries whose title holds one of the phrases (case and
        accents ignored), exact titles first, from the catalog and the added papers; paged by start/max_results."""
        phrases = [
            words for m in _TITLE_PHRASE.finditer(query.get("search_query", "")) if (words := search_words(m["phrase"]))
        ]
        exact: list[str] = []
        partial: list[str] = []
        for block in [*self.added.values(), *self.catalog.entries.values()]:
            title = search_words(self.catalog.title_of(block))
            hits = [p for p in phrases if any(title[i : i + len(p)] == p for i in range(len(title) - len(p) + 1))]
            if hits:
                (exact if title in hits else partial).append(block)
        start = int(query.get("start", "0"))
        count = int(query.get("max_results", "10"))
        return Reply(body=self.catalog.feed_of((exact + partial)[start : start + count]))

    def title_searches(self) -> list[Seen]:
        """The title searches received so far."""
        return [seen for seen in self.seen if "ti:" in seen.query.get("search_query", "")]

    async def handle(self, request: web.Request) -> web.Response:
        """Serve one request."""
        seen = Seen(request.path, dict(request.query), dict(request.headers), time.monotonic())
        self.seen.append(seen)
        await self._notify()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.script.popleft() if self.script else self.respond(seen.query)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return web.Response(
                status=reply.status, body=reply.body, headers=reply.headers, content_type=reply.content_type
            )
        finally:
            self.in_flight -= 1
            seen.done = time.monotonic()
            await self._notify()
