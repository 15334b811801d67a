"""arXiv's subject categories, and reading a moderator's category source (``cs.LG``, ``cs.LG+cs.CL``)."""

from __future__ import annotations

import logging
import re

from storage.errors import ValidationError

__all__ = [
    "ARCHIVES",
    "CATEGORIES",
    "TAXONOMY_URL",
    "canonical_category",
    "category_feed_url",
    "parse_category_source",
    "suggest_category",
]

log = logging.getLogger(__name__)

TAXONOMY_URL = "https://arxiv.org/category_taxonomy"
RSS_BASE = "https://rss.arxiv.org/rss/"
MAX_CATEGORIES = 20

_SUBJECTS: dict[str, str] = {
    "cs": """AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI OH OS PF PL
          RO SC SD SE SI SY""",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "math": """AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST""",
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "nlin": "AO CD CG PS SI",
    "physics": """acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph flu-dyn gen-ph
               geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph""",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "stat": "AP CO ME ML OT TH",
}

# Archives that have subject classes; each also has a listing of its own (rss.arxiv.org/rss/cs).
ARCHIVES: frozenset[str] = frozenset(_SUBJECTS)

# Archives that are categories in their own right, with no subject classes.
_STANDALONE = ("gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nucl-ex", "nucl-th", "quant-ph")

# Every current arXiv category (aliases such as math.IT = cs.IT and math.MP = math-ph included, since papers
# are listed under both names), plus the standalone archives. The whole-archive listings are in ARCHIVES.
CATEGORIES: frozenset[str] = frozenset(
    [f"{archive}.{subject}" for archive, subjects in _SUBJECTS.items() for subject in subjects.split()]
    + list(_STANDALONE)
)

_KNOWN: dict[str, str] = {name.lower(): name for name in CATEGORIES | ARCHIVES}
_SUBJECT_HOMES: dict[str, list[str]] = {}
for _name in sorted(CATEGORIES):
    if "." in _name:
        _SUBJECT_HOMES.setdefault(_name.split(".", 1)[1].lower(), []).append(_name)

_SEPARATORS = re.compile(r"[\s+,;|]+")
_WORD = r"[A-Za-z]+(?:-[A-Za-z]+)?"
_DOTTED = re.compile(rf"(?P<archive>{_WORD})\.(?P<subject>{_WORD})", re.ASCII)
_TOKEN = re.compile(rf"{_WORD}(?:\.{_WORD})?", re.ASCII)
_SUGGEST_CUTOFF = 75.0


def canonical_category(term: str) -> str | None:
    """``term`` spelled as arXiv spells it (``cs.lg`` -> ``cs.LG``), or None when it is not a category."""
    return _KNOWN.get(term.strip().lower())


def suggest_category(term: str) -> str | None:
    """The real category closest to a mistyped one (``cs.ML`` -> ``stat.ML``), or None."""
    from rapidfuzz import fuzz, process  # loaded on first use, not held from start (bench/idle_memory.py)

    term = term.strip()
    if not term:
        return None
    if (dotted := _DOTTED.fullmatch(term)) is not None:
        # Right subject class in the wrong archive (cs.ML): point at the archive that has it.
        homes = _SUBJECT_HOMES.get(dotted["subject"].lower(), [])
        if len(homes) == 1:
            return homes[0]
    found = process.extractOne(
        term.lower(), list(_KNOWN), scorer=fuzz.ratio, score_cutoff=_SUGGEST_CUTOFF, processor=None
    )
    return _KNOWN[found[0]] if found else None


def _looks_like_category(token: str) -> bool:
    """Shaped like a category even if it is not one: a known archive before a dot, or a typo of a real one."""
    if not _TOKEN.fullmatch(token):
        return False
    dotted = _DOTTED.fullmatch(token)
    if dotted is not None and dotted["archive"].lower() in _KNOWN:
        return True
    return suggest_category(token) is not None


def parse_category_source(text: str) -> tuple[str, ...] | None:
    """The arXiv categories a source names (``cs.LG``, ``cs.LG+cs.CL``, ``cs.lg, cs.cl``), or None if it names none.

    Raises :class:`ValidationError` naming a category-shaped term that is not a real category, with the
    closest real one when there is one.
    """
    tokens = [token for token in _SEPARATORS.split(text.strip()) if token]
    if not tokens or len(tokens) > MAX_CATEGORIES * 2:
        return None
    known = [canonical_category(token) for token in tokens]
    # Once one term is a real category, every other term must be one too; otherwise all of them must at least
    # look like categories, so that words ("transformers") and other sources are left to other readers.
    if not any(known) and not all(_looks_like_category(token) for token in tokens):
        return None
    unknown = [token for token, name in zip(tokens, known, strict=True) if name is None]
    if unknown:
        raise ValidationError(_unknown_message(unknown))
    names = tuple(dict.fromkeys(name for name in known if name))
    if len(names) > MAX_CATEGORIES:
        raise ValidationError(f"That is {len(names)} categories; a feed can follow at most {MAX_CATEGORIES}.")
    return names


def _unknown_message(unknown: list[str]) -> str:
    shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:37] + "..."
    message = f"`{shown}` is not an arXiv category."
    if (suggestion := suggest_category(unknown[0])) is not None:
        message += f" Did you mean `{suggestion}`?"
    if len(unknown) > 1:
        message += f" ({len(unknown) - 1} more unknown.)"
    return f"{message} The list is at {TAXONOMY_URL}"


def category_feed_url(categories: tuple[str, ...]) -> str:
    """The rss.arxiv.org listing for one or more categories (``https://rss.arxiv.org/rss/cs.LG+cs.CL``)."""
    if not categories:
        raise ValueError("at least one category is needed")
    return RSS_BASE + "+".join(categories)
