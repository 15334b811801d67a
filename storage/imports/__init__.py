"""Bringing a group's notes in from documents it kept elsewhere: recognise the shape, parse it into a plan.

Each shape has its own module with two functions: ``score(text) -> float`` (how much the text looks like that
shape, 0 to 1) and ``parse(text) -> ImportPlan``. :func:`parse_document` picks the best-scoring shape unless
one is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from storage.errors import ValidationError
from storage.imports.plan import ImportPlan, Shape

__all__ = ["ImportPlan", "Shape", "detect_shape", "parse_document"]


MODULES = {
    Shape.RUNNING_LOG: "running_log",
    Shape.DAILY_POSTS: "daily_posts",
    Shape.OUTLINE: "outline",
    Shape.PAPER_LIST: "paper_list",
    Shape.EXPORT: "json_export",
}


def _modules() -> dict[str, ModuleType]:
    # Imported when first used: each shape module imports this package's plan.
    return {shape: importlib.import_module(f"storage.imports.{name}") for shape, name in MODULES.items()}


def detect_shape(text: str) -> str | None:
    """The shape the document looks most like, or None when it looks like none of them."""
    scores = {shape: module.score(text) for shape, module in _modules().items()}
    best = max(scores, key=lambda shape: scores[shape])
    return best if scores[best] > 0 else None


def parse_document(text: str, *, shape: str | None = None) -> ImportPlan:
    """The plan for a document: in the shape asked for, or in the one it looks like."""
    if shape is not None and shape not in Shape.ALL:
        raise ValidationError(f"`{shape}` is not a shape I know: use one of {', '.join(Shape.ALL)}.")
    chosen = shape or detect_shape(text)
    if chosen is None:
        raise ValidationError(
            "I can't tell what kind of document this is. Pick its `shape`: log (a running log), daily (daily "
            "posts), outline (a topic outline), list (a list of papers) or json (a paperclub export)."
        )
    plan: ImportPlan = _modules()[chosen].parse(text)
    return plan
