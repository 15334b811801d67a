"""Caches bounded in bytes: what feeds and members write has any length, so a count of entries bounds nothing.

Each cache counts an entry as its arguments plus its result (:func:`footprint`) and drops the least recently used
entries once the total passes its budget; an entry larger than the whole budget is computed and not kept.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import cachetools

__all__ = ["bytes_bounded", "footprint"]

P = ParamSpec("P")
R = TypeVar("R")

_ATOMS = (str, bytes, int, float, bool, type(None))


def footprint(obj: object, seen: set[int] | None = None) -> int:
    """The bytes an object holds with everything it contains (strings, containers, dataclasses, patterns).

    A container met twice counts once; a string counts wherever it appears (erring high, and quick for the
    common case of a few strings).
    """
    if isinstance(obj, _ATOMS):
        return sys.getsizeof(obj)
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    children: Any
    if isinstance(obj, re.Pattern):
        children = (obj.pattern,)  # the compiled program is in getsizeof already
    elif isinstance(obj, dict):
        children = (*obj.keys(), *obj.values())
    elif isinstance(obj, tuple | list | set | frozenset):
        children = obj
    elif dataclasses.is_dataclass(obj):
        children = [getattr(obj, field.name) for field in dataclasses.fields(obj)]
    else:
        children = ()
    return size + sum(footprint(child, seen) for child in children)


def bytes_bounded(budget: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Memoise a function of hashable arguments in at most ``budget`` bytes (arguments and results together).

    Safe to share between threads: the filters run in worker threads, several feeds at once. The cache is the
    function's ``cache`` attribute (a :class:`cachetools.LRUCache`; ``currsize`` is in bytes); ``cache_clear()``
    empties it, as with :func:`functools.lru_cache`.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        cache: cachetools.LRUCache[Any, tuple[Any, int]] = cachetools.LRUCache(
            maxsize=budget, getsizeof=lambda entry: entry[1]
        )

        @cachetools.cached(cache, lock=threading.Lock())
        def sized(*args: P.args, **kwargs: P.kwargs) -> tuple[R, int]:
            value = func(*args, **kwargs)
            seen: set[int] = set()  # what the result shares with the arguments counts once
            size = footprint(args, seen) + footprint(value, seen) + (footprint(kwargs, seen) if kwargs else 0)
            return value, size

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            return sized(*args, **kwargs)[0]

        wrapper.cache = cache  # type: ignore[attr-defined]
        wrapper.cache_clear = sized.cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate
