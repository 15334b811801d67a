"""Paper identity: every way a member may name a paper, turned into one canonical key.

Keys look like ``arxiv:2403.17887`` (the version is kept apart), ``arxiv:hep-th/9901001``,
``doi:10.1038/nature14539`` or ``url:https://example.org/paper``. Free text is not an identifier:
it comes back as a :class:`TitleQuery` for a title lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from storage.errors import PaperInputError

__all__ = ["PaperKey", "TitleQuery", "find_arxiv_keys", "paper_key", "parse_paper", "title_key"]

# arXiv's archives from before the 2007 identifier scheme (archive/YYMMNNN).
OLD_ARCHIVES = frozenset(
    """acc-phys adap-org alg-geom ao-sci astro-ph atom-ph bayes-an chao-dyn chem-ph cmp-lg comp-gas cond-mat cs
    dg-ga funct-an gr-qc hep-ex hep-lat hep-ph hep-th math math-ph mtrl-th nlin nucl-ex nucl-th patt-sol physics
    plasm-ph q-alg q-bio quant-ph solv-int supr-con""".split()
)

_NEW_ID = re.compile(r"(?P<yymm>\d{4})\.(?P<num>\d{4,5})(?:v(?P<v>\d+))?", re.ASCII)
_OLD_ID = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.(?P<subj>[A-Za-z]{2}))?/(?P<yymm>\d{4})(?P<num>\d{3})(?:v(?P<v>\d+))?",
    re.ASCII,
)
_ARXIV_PREFIX = re.compile(r"^arxiv\s*:\s*", re.IGNORECASE)
_ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org", "browse.arxiv.org", "lanl.arxiv.org"})
_ARXIV_PATH = re.compile(r"^/(?:abs|pdf|html|format|ps)/(?P<id>.+?)(?:\.pdf)?/*$", re.IGNORECASE)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_PREFIX = re.compile(r"^doi\s*:\s*", re.IGNORECASE)
_DOI_HOSTS = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(?P<id>.+)$", re.IGNORECASE)
# Looks like someone meant an arXiv id (digits and a dot), so free-text lookup would only confuse.
_ID_LIKE = re.compile(r"^(?:arxiv\s*:\s*)?\d{3,}[.\d]*(?:v\d*)?$", re.IGNORECASE)
_URL_LIKE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.|(?:[a-z0-9-]+\.)+[a-z]{2,}/)", re.IGNORECASE)
_TRACKING_PARAMS = re.compile(r"^(?:utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref_src)$", re.IGNORECASE)
_FIND_ARXIV = re.compile(
    r"(?<![\w.-])(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
    r"(?P<id>\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Za-z]{2})?/\d{7}(?:v\d+)?)(?![\w])",
    re.IGNORECASE,
)
# A link, a DOI or an arXiv id as written in a message: up to whitespace, brackets, quotes or a markdown mark.
_FIND_LINKS = re.compile(
    r"(?<![\w/])(?:https?://[^\s<>()\[\]|\"'`]+|doi:\s?10\.\d{4,9}/[^\s<>()\[\]|\"'`]+|arxiv:\s?[\w./-]+)",
    re.IGNORECASE,
)

EXPECTED = "Expected an arXiv id (`2403.17887`, `hep-th/9901001`), a DOI, a link, or words from the title."
MAX_INPUT = 1000
MIN_TITLE_LETTERS = 3


@dataclass(frozen=True, slots=True)
class PaperKey:
    """A paper's canonical key, plus the version the member named (arXiv only)."""

    key: str
    version: int | None = None

    @property
    def scheme(self) -> str:
        """``arxiv``, ``doi``, ``url``, or ``title`` for a group's paper known only by its title."""
        return self.key.split(":", 1)[0]

    @property
    def value(self) -> str:
        """The key without its scheme."""
        return self.key.split(":", 1)[1]

    @property
    def arxiv_id(self) -> str | None:
        """The arXiv id without version, for arXiv papers."""
        return self.value if self.scheme == "arxiv" else None

    @property
    def abs_url(self) -> str:
        """The page a member opens to read about the paper."""
        if self.scheme == "arxiv":
            return f"https://arxiv.org/abs/{self.value}"
        if self.scheme == "doi":
            return f"https://doi.org/{self.value}"
        if self.scheme == "title":  # no page of its own yet: arXiv's search for the title finds it
            words = self.value.split("/", 1)[-1]
            return f"https://arxiv.org/search/?{urlencode({'query': words, 'searchtype': 'title'})}"
        return self.value


def display_title(key: str, title: str | None) -> str:
    """A paper's title, or its identifier (the key without its scheme) while it has none."""
    return title or key.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class TitleQuery:
    """Free text that names a paper by (part of) its title."""

    text: str


def _new_style(yymm: str, num: str, version: str | None, raw: str) -> PaperKey:
    year, month = int(yymm[:2]), int(yymm[2:])
    if not 1 <= month <= 12:
        raise PaperInputError(f"`{raw}` is not an arXiv id: month `{yymm[2:]}` does not exist. {EXPECTED}")
    if year < 7 or (year == 7 and month < 4):
        raise PaperInputError(f"`{raw}` is not an arXiv id: new-style ids start in April 2007 (0704). {EXPECTED}")
    if len(num) == 4 and (year, month) > (14, 12):
        raise PaperInputError(f"`{raw}` is not an arXiv id: since 2015 the number has five digits. {EXPECTED}")
    if len(num) == 5 and (year, month) < (15, 1):
        raise PaperInputError(f"`{raw}` is not an arXiv id: before 2015 the number has four digits. {EXPECTED}")
    return PaperKey(f"arxiv:{yymm}.{num}", _version(version))


def _old_style(archive: str, yymm: str, num: str, version: str | None, raw: str) -> PaperKey:
    if archive not in OLD_ARCHIVES:
        raise PaperInputError(f"`{raw}` is not an arXiv id: there is no archive `{archive}`. {EXPECTED}")
    month = int(yymm[2:])
    if not 1 <= month <= 12:
        raise PaperInputError(f"`{raw}` is not an arXiv id: month `{yymm[2:]}` does not exist. {EXPECTED}")
    return PaperKey(f"arxiv:{archive}/{yymm}{num}", _version(version))


def _version(version: str | None) -> int | None:
    if version is None:
        return None
    number = int(version)
    if number < 1:
        raise PaperInputError(f"`v{version}` is not an arXiv version: versions start at v1.")
    return number


def _arxiv_id(text: str, raw: str) -> PaperKey | None:
    """An arXiv id in any of its written forms, or None when ``text`` is not one."""
    text = _ARXIV_PREFIX.sub("", text.strip())
    if m := _NEW_ID.fullmatch(text):
        return _new_style(m["yymm"], m["num"], m["v"], raw)
    if m := _OLD_ID.fullmatch(text):
        return _old_style(m["archive"], m["yymm"], m["num"], m["v"], raw)
    return None


def _doi(doi: str, raw: str) -> PaperKey:
    doi = doi.strip().rstrip(".,;")
    if not _DOI.fullmatch(doi):
        raise PaperInputError(f"`{raw}` is not a DOI: a DOI looks like `10.1038/nature14539`. {EXPECTED}")
    if m := _ARXIV_DOI.fullmatch(doi):
        # arXiv's own DOIs (10.48550/arXiv.<id>) name an arXiv paper.
        if key := _arxiv_id(m["id"], raw):
            return key
    return PaperKey(f"doi:{doi.lower()}")


def _from_url(text: str, raw: str) -> PaperKey:
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise PaperInputError(f"`{raw}` is not a link I can read. {EXPECTED}") from exc
    if parts.scheme.lower() not in ("http", "https") or "." not in host:
        raise PaperInputError(f"`{raw}` is not a web link. {EXPECTED}")
    if host in _ARXIV_HOSTS:
        m = _ARXIV_PATH.match(parts.path)
        key = _arxiv_id(m["id"], raw) if m else None
        if key is None:
            raise PaperInputError(f"`{raw}` is an arXiv link, but not to a paper (`arxiv.org/abs/<id>`). {EXPECTED}")
        return key
    if host in _DOI_HOSTS:
        return _doi(parts.path.lstrip("/"), raw)
    netloc = host if port is None or port in (80, 443) else f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    )
    path = parts.path.rstrip("/")
    written = "url:" + urlunsplit((parts.scheme.lower(), netloc, path, query, ""))
    if len(written) > KEY_CHARS:
        raise PaperInputError(f"That link is too long to name a paper (over {KEY_CHARS - 4} characters). {EXPECTED}")
    return PaperKey(written)


def parse_paper(text: str) -> PaperKey | TitleQuery:
    """Turn what a member typed into a :class:`PaperKey`, or a :class:`TitleQuery` for free text.

    Raises :class:`PaperInputError` with a message saying what was expected.
    """
    raw = " ".join(text.split())
    if not raw:
        raise PaperInputError(f"The paper is empty. {EXPECTED}")
    if len(raw) > MAX_INPUT:
        raise PaperInputError(f"That is too long to name a paper ({len(raw)} characters). {EXPECTED}")
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    stripped = raw.strip("<>")  # Discord wraps links in <> to hide previews
    if key := _arxiv_id(stripped, shown):
        return key
    if _DOI_PREFIX.match(stripped):
        return _doi(_DOI_PREFIX.sub("", stripped), shown)
    if stripped.startswith("10.") and "/" in stripped and " " not in stripped:
        return _doi(stripped, shown)
    if _URL_LIKE.match(stripped) and " " not in stripped:
        return _from_url(stripped, shown)
    if _ID_LIKE.fullmatch(stripped) or (_ARXIV_PREFIX.match(stripped) and " " not in stripped.strip()):
        raise PaperInputError(f"`{shown}` is not an arXiv id. {EXPECTED}")
    if sum(ch.isalpha() for ch in raw) < MIN_TITLE_LETTERS:
        raise PaperInputError(f"`{shown}` does not name a paper. {EXPECTED}")
    return TitleQuery(raw)


TITLE_KEY_CHARS = KEY_CHARS = 300  # the papers.key column


def title_key(guild_id: int, normalised_title: str) -> str:
    """The key of a group's paper known only by its (normalised) title: ``title:<guild>/<words>``.

    Title-only papers belong to the group whose document named them, so nothing another group imports (a wrong
    title, an abstract pasted from a website) ever shows up as another group's paper.
    """
    prefix = f"title:{guild_id}/"
    return prefix + normalised_title[: TITLE_KEY_CHARS - len(prefix)].rstrip()


def paper_key(text: str) -> PaperKey:
    """Like :func:`parse_paper`, but free text is an error: only identifiers and links are accepted."""
    parsed = parse_paper(text)
    if isinstance(parsed, TitleQuery):
        raise PaperInputError(f"`{parsed.text[:80]}` is not a paper id or link. {EXPECTED}")
    return parsed


def find_arxiv_keys(text: str) -> list[PaperKey]:
    """Every arXiv paper linked in a message, each once, in order of appearance."""
    seen: dict[str, PaperKey] = {}
    for m in _FIND_ARXIV.finditer(text):
        try:
            key = _arxiv_id(m["id"], m["id"])
        except PaperInputError:
            continue
        if key is not None and key.key not in seen:
            seen[key.key] = key
    return list(seen.values())


def find_paper_keys(text: str) -> list[PaperKey]:
    """Every paper a message names by a link, a DOI or an arXiv id, each once, in order of appearance."""
    found: list[tuple[int, PaperKey]] = []
    for m in _FIND_LINKS.finditer(text):
        try:
            found.append((m.start(), paper_key(m[0].rstrip(".,;:!?*_~"))))
        except PaperInputError:
            continue
    found.extend((m.start(), key) for m in _FIND_ARXIV.finditer(text) for key in find_arxiv_keys(m[0]))
    seen: dict[str, PaperKey] = {}
    for _, key in sorted(found, key=lambda item: item[0]):
        seen.setdefault(key.key, key)
    return list(seen.values())
