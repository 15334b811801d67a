"""Writing a file whole: written aside in its folder, then moved in place, so that no reader ever sees half of
it, and the file is there only once its writing is over."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_whole"]


def write_whole(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (blocking: from the event loop, run it in a thread). Raises
    OSError as writing does, and leaves nothing aside then."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
