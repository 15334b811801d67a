"""Reading the ``source`` a moderator gives ``/feed add``: arXiv categories, an arXiv API query, or a feed URL.

Each source becomes one feed URL, spelled the same however the source was typed (``cs.lg, cs.CL`` and
``cs.CL+cs.LG`` are one feed), so that a feed shared by several channels or groups is fetched once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from storage.errors import ValidationError
from storage.feeds.categories import canonical_category, parse_category_source
from storage.feeds.kinds import FeedKind

__all__ = [
    "ARXIV_LISTING",
    "ARXIV_QUERY",
    "EXPECTED",
    "QUERY_FIELDS",
    "WEB",
    "Source",
    "normalise_query",
    "normalise_url",
    "resolve_source",
    "shown_url",
]

# Kinds of feed (storage.feeds.kinds.FeedKind).
ARXIV_LISTING = FeedKind.ARXIV_LISTING
ARXIV_QUERY = FeedKind.ARXIV_QUERY
WEB = FeedKind.WEB

EXPECTED = (
    'Give an arXiv category (`cs.LG`, `cs.LG+cs.CL`), an arXiv query (`ti:"model merging" AND cat:cs.LG`) '
    "or a feed address (`https://…`)."
)
QUERY_FIELDS = ("ti", "au", "abs", "cat", "all", "co", "jr", "rn", "id")
OPERATORS = ("AND", "OR", "ANDNOT")
QUERY_RESULTS = 100  # newest first; arXiv allows up to 2,000 a call
MAX_SOURCE_CHARS = 1000
MAX_URL_CHARS = 2000  # storage.models.Feed.url
ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org", "rss.arxiv.org"})

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"'})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FIELD_PREFIX = re.compile(rf"(?:^|[\s(])(?:{'|'.join(QUERY_FIELDS)})\s*:", re.IGNORECASE)
_OPERATOR = re.compile(rf"(?:^|[\s)])(?:{'|'.join(OPERATORS)})(?=[\s(]|$)")  # upper case only: "or" is a word
_SEPARATORS = re.compile(r"[\s+,;|]+")
_QUERY_TOKEN = re.compile(
    r"""\s*(?:
        (?P<open>\() | (?P<close>\)) |
        (?:(?P<field>[A-Za-z]+)\s*:\s*)?(?:"(?P<phrase>[^"]*)(?:"|$)|(?P<word>[^\s()"]+))
    )""",
    re.VERBOSE,
)
_WORD_FIELD = re.compile(r"^(?P<field>[A-Za-z]+):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Source:
    """A source as one feed: the URL to fetch, what kind of feed it is, and how /feed list names it.

    ``kind`` is :data:`WEB` for any other URL until the first fetch shows what it serves (a URL that turns out to
    be an arXiv listing is one).
    """

    url: str
    kind: str
    label: str
    categories: tuple[str, ...] = ()
    query: str | None = None


def shown_url(url: str) -> str:
    """A URL as members and logs may see it: a password or token in it (``user:pass@host``) masked."""
    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
    except ValueError:
        return url
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def _clean(text: str) -> str:
    """The source as typed, without the decoration chat clients add (smart quotes, backticks, <angle brackets>)."""
    text = _CONTROL.sub(" ", text or "").translate(_QUOTES).strip()
    for left, right in (("`", "`"), ("<", ">")):
        while len(text) >= 2 and text.startswith(left) and text.endswith(right):
            text = text[1:-1].strip()
    return " ".join(text.split())


def resolve_source(text: str, *, rss_base: str, api_base: str) -> Source:
    """The feed a moderator's ``source`` names; :class:`ValidationError` saying what is expected otherwise.

    - an ``http(s)`` URL is followed as given (normalised; an arXiv listing or API URL becomes the same feed as
      the category or query it names);
    - text with arXiv search fields (``ti: au: abs: cat: all: co: jr: rn: id:``) or ``AND``/``OR``/``ANDNOT``
      between terms is an arXiv API query, newest first;
    - otherwise one or more categories (``cs.LG``, ``cs.LG+cs.CL``, ``cs.lg, cs.cl``) make an arXiv listing.
    """
    cleaned = _clean(text)
    if not cleaned:
        raise ValidationError(EXPECTED)
    if len(cleaned) > MAX_SOURCE_CHARS:
        raise ValidationError(f"That source is too long (at most {MAX_SOURCE_CHARS} characters). {EXPECTED}")
    if _URL.match(cleaned):
        return _from_url(cleaned, rss_base=rss_base, api_base=api_base)
    has_field = _FIELD_PREFIX.search(cleaned) is not None
    if not has_field and (union := _category_union(cleaned)):
        return category_source(union, rss_base=rss_base)
    if has_field or _OPERATOR.search(cleaned):
        return query_source(cleaned, api_base=api_base)
    categories = parse_category_source(cleaned)  # raises, with a suggestion, for a mistyped category
    if categories:
        return category_source(categories, rss_base=rss_base)
    raise ValidationError(_words_hint(cleaned))


def _words_hint(text: str) -> str:
    """For plain words: how to search arXiv for them."""
    words = text.replace('"', "").strip()
    if len(words) > 60 or not re.fullmatch(r"[\w\s.'-]*\w[\w\s.'-]*", words):
        shown = text.replace("`", "'")
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        return f"`{shown}` is not a source I can follow: not an arXiv category, query or web address. {EXPECTED}"
    return (
        f'`{words}` is not an arXiv category. To follow papers about it, search arXiv: `all:"{words}"` '
        f'(or `ti:"{words}"` for titles only), a category like `cs.LG`, or a feed address.'
    )


def category_source(categories: tuple[str, ...], *, rss_base: str) -> Source:
    """The rss.arxiv.org listing (at ``rss_base``) of these categories, in one order whatever order they came in."""
    names = tuple(sorted(dict.fromkeys(categories), key=lambda name: (name.lower(), name)))
    if not names:
        raise ValidationError(EXPECTED)
    label = "+".join(names)
    return Source(url=f"{rss_base.rstrip('/')}/{label}", kind=ARXIV_LISTING, label=label, categories=names)


def query_source(text: str, *, api_base: str) -> Source:
    """An arXiv API search, newest submissions first."""
    query = normalise_query(text)
    params = urlencode(
        {"search_query": query, "sortBy": "submittedDate", "sortOrder": "descending", "max_results": QUERY_RESULTS}
    )
    joiner = "&" if "?" in api_base else "?"
    return Source(url=f"{api_base}{joiner}{params}", kind=ARXIV_QUERY, label=query, query=query)


def _category_union(text: str) -> tuple[str, ...] | None:
    """Categories joined by ``OR`` (``cs.LG OR cs.CL``): the same papers as the listing of both; None otherwise."""
    tokens = [token for token in _SEPARATORS.split(text) if token and token.lower() != "or"]
    if not tokens or any(canonical_category(token) is None for token in tokens):
        return None
    return parse_category_source(" ".join(tokens))


# Queries


def normalise_query(text: str) -> str:
    """An arXiv search query in one spelling: fields in lower case, operators in upper case, categories as arXiv
    spells them (bare ones given ``cat:``), phrases in straight quotes, single spaces.

    Raises :class:`ValidationError` for what arXiv could not read: an unknown field, a field with nothing after
    it, unbalanced parentheses, or an operator with a term missing on one side.
    """
    text = _clean(text)
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _QUERY_TOKEN.match(text, position)
        if match is None or match.end() == position:
            if not text[position:].strip():
                break
            raise ValidationError(f"I can't read the query near `{_shown(text[position:])}`. {EXPECTED}")
        position = match.end()
        tokens.append(_query_token(match))
    _check_query(tokens)
    return " ".join(tokens).replace("( ", "(").replace(" )", ")")


def _query_token(match: re.Match[str]) -> str:
    if match["open"]:
        return "("
    if match["close"]:
        return ")"
    field = (match["field"] or "").lower()
    phrase = match["phrase"]
    word = match["word"]
    if field and field not in QUERY_FIELDS:
        raise ValidationError(_unknown_field(field))
    if phrase is not None:
        phrase = " ".join(phrase.split())
        if not phrase:
            raise ValidationError('An empty phrase ("") can\'t be searched for. Put words between the quotes.')
        return f'{field}:"{phrase}"' if field else f'"{phrase}"'
    assert word is not None
    if not field:
        if word.upper() in OPERATORS:
            return word.upper()
        if (prefix := _WORD_FIELD.match(word)) is not None:
            name = prefix["field"].lower()
            if name in QUERY_FIELDS:
                raise ValidationError(f"`{name}:` needs a term right after it, like `{name}:transformer`.")
            raise ValidationError(_unknown_field(name))
        if ("." in word or "-" in word) and (category := canonical_category(word)) is not None:
            return f"cat:{category}"
        return word
    if field == "cat":
        word = canonical_category(word) or word
    return f"{field}:{word}"


def _unknown_field(name: str) -> str:
    fields = ", ".join(f"`{field}:`" for field in QUERY_FIELDS)
    return f"`{_shown(name)}:` is not an arXiv search field. The fields are {fields}."


def _check_query(tokens: list[str]) -> None:
    depth = 0
    previous: str | None = None  # "term", "op", "(" or None at the start
    for token in tokens:
        if token == "(":
            depth += 1
            previous = "("
        elif token == ")":
            depth -= 1
            if depth < 0:
                raise ValidationError("The query closes a parenthesis it never opened.")
            if previous in ("op", "("):
                raise ValidationError("The query has an empty group or an operator right before `)`.")
            previous = "term"
        elif token in OPERATORS:
            if previous in (None, "op", "("):
                raise ValidationError(f"`{token}` needs a term on each side, like `ti:transformer {token} au:smith`.")
            previous = "op"
        else:
            previous = "term"
    if depth:
        raise ValidationError("The query opens a parenthesis it never closes.")
    if previous == "op":
        raise ValidationError(f"`{tokens[-1]}` needs a term on each side, like `ti:transformer {tokens[-1]} au:smith`.")
    if previous is None:
        raise ValidationError(EXPECTED)


def _shown(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# URLs


def normalise_url(text: str) -> str:
    """An http(s) URL in one spelling: scheme and host in lower case, no default port, no fragment."""
    try:
        parts = urlsplit(text.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError as exc:
        shown = _shown(shown_url(text))
        raise ValidationError(f"`{shown}` is not a web address I can read ({exc}). {EXPECTED}") from None
    if scheme not in ("http", "https") or not host:
        raise ValidationError(f"`{_shown(shown_url(text))}` is not an http or https address. {EXPECTED}")
    if any(char.isspace() for char in text.strip()):
        raise ValidationError("A feed address can't contain spaces.")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if parts.username:
        credentials = parts.username + (f":{parts.password}" if parts.password is not None else "")
        host = f"{credentials}@{host}"
    url = urlunsplit((scheme, host, parts.path or "/", parts.query, ""))
    if len(url) > MAX_URL_CHARS:
        raise ValidationError(f"That address is too long (at most {MAX_URL_CHARS} characters).")
    return url


def _from_url(text: str, *, rss_base: str, api_base: str) -> Source:
    url = normalise_url(text)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    # An arXiv listing URL (real, or the configured listing base) is the same feed as its categories.
    base = normalise_url(rss_base).rstrip("/") + "/"
    rest: str | None = None
    if url.startswith(base) and not parts.query:
        rest = url[len(base) :]
    elif host in ARXIV_HOSTS and parts.path.startswith("/rss/") and not parts.query:
        rest = parts.path[len("/rss/") :]
    if rest is not None and rest.strip("/") and "/" not in rest.strip("/"):
        categories = parse_category_source(unquote(rest.strip("/")))
        if categories:
            return category_source(categories, rss_base=rss_base)
    # An arXiv API search URL is the same feed as its query, newest first.
    api = normalise_url(api_base)
    api_path = urlsplit(api).path
    same_api = url.split("?", 1)[0] == api.split("?", 1)[0]
    if same_api or (host in ARXIV_HOSTS and parts.path == api_path and api_path.endswith("/api/query")):
        searched = parse_qs(parts.query).get("search_query")
        if searched and searched[0].strip():
            return query_source(searched[0], api_base=api_base)
    return Source(url=url, kind=WEB, label=shown_url(url))  # the label is shown and stored: no password in it
