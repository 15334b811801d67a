"""The event loop never waits on the database: every SQLite statement runs on another thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from storage.db import create_schema, make_engine, make_sessions
from storage.identity import paper_key
from storage.notes import NoteService
from storage.papers import PaperService


async def test_sqlite_statements_run_off_the_event_loop_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[int] = set()
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(lambda sql: (threads.add(threading.get_ident()), statements.append(sql)))
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced_connect)
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    await create_schema(engine)
    sessions = make_sessions(engine)
    papers, notes = PaperService(sessions, None), NoteService(sessions)
    paper = await papers.ensure(paper_key("https://example.org/a"))
    note = await notes.add(guild_id=1, paper_id=paper.id, author_id=2, author_name="a", body="x", tags=["t"])
    await notes.edit(guild_id=1, note_id=note.id, editor_id=2, body="y")
    await notes.page(guild_id=1, tag="t")
    await engine.dispose()
    assert any("INSERT INTO notes" in s for s in statements)
    assert threads and threading.get_ident() not in threads
