"""``export`` and ``import``: a server's notes out to a file, and a document's notes in."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.base import (
    FAILED,
    OK,
    PROG,
    USAGE,
    CommandError,
    complain,
    on_database,
    operator_settings,
    require_database_file,
    say,
)
from bot.cli.text import embed_text, plain
from bot.files import write_whole

if TYPE_CHECKING:
    import argparse

    from storage.db import Sessions


def _write(text: str, output: Path | None) -> None:
    """The export to stdout, or whole into a file (written aside, then moved in place: never half a file)."""
    data = text.encode("utf-8")
    if output is None:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # `... | head`: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(FAILED) from None
        return
    try:
        write_whole(output, data)
    except OSError as exc:
        raise CommandError(f"can't write {output}: {exc.strerror or exc}") from None


def cmd_export(args: argparse.Namespace) -> int:
    """A server's notes, to stdout or a file."""
    from storage.exports import ExportService, render

    settings = operator_settings()
    require_database_file(settings, "check DATABASE_URL")

    async def snapshot(sessions: Sessions) -> Any:
        return await ExportService(sessions).snapshot(guild_id=args.guild)

    export = on_database(
        settings, snapshot, failed=f"export failed: {{reason}} (is the database set up? `{PROG} check` says)"
    )
    _write(render(export, args.format), args.output)
    if not export.notes:
        complain(f"server {args.guild} has no notes here: the export is empty (is the id right?)")
    elif args.output is not None:
        say(f"wrote {len(export.notes):,} notes on {len(export.papers):,} papers to {args.output}")
    return OK


def progress_bar(done: int, total: int) -> None:
    """``applying [#####.....] 400/1,000`` on stderr: redrawn in place on a terminal, a line per step elsewhere."""
    width = 30
    filled = width * done // max(total, 1)
    line = f"applying [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
    if sys.stderr.isatty():
        print(f"\r{line}", end="\n" if done >= total else "", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    """A document into a server: the dry run's report, or the notes written with a progress bar."""
    from bot.import_render import preview_embed, report_text
    from storage.errors import UserFacingError
    from storage.imports.importer import Author, ImportService, read_document
    from storage.imports.plan import Shape
    from storage.leases import LeaseService
    from storage.notes import NoteService

    settings = operator_settings()
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CommandError(f"can't read {args.file}: {exc.strerror or exc}", USAGE) from None
    try:
        preview = read_document(args.file.name, data, shape=args.shape)
    except UserFacingError as exc:
        raise CommandError(plain(exc.message), USAGE) from None
    if preview.plan.shape != Shape.EXPORT and args.member is None:
        raise CommandError("whose notes are these? give --member ID (a JSON export keeps its own authors)", USAGE)
    require_database_file(settings, f"run {PROG} migrate first")

    async def run(sessions: Sessions) -> Any:
        member = args.member or 0
        name = args.name
        if name is None and args.member is not None:
            page = await NoteService(sessions).page(guild_id=args.guild, author_id=args.member, limit=1)
            name = page.notes[0].author_name if page.notes else f"member {args.member}"
        author = Author(id=member, name=name or "")
        if args.dry_run:
            return author, None
        imports = ImportService(sessions, leases=LeaseService(sessions))  # the bot rolls back one stopped mid-way
        return author, await imports.apply(
            preview, guild_id=args.guild, member_id=member, author=author, progress=progress_bar
        )

    author, outcome = on_database(
        settings, run, failed=f"import failed: {{reason}} (is the database set up? `{PROG} check` says)"
    )
    who = author.name or "their original authors"
    shown = preview_embed(preview.plan, file_name=preview.file_name, author=who)
    if outcome is not None:
        shown.set_footer(text=None)  # "nothing has been changed yet" is the dry run's
    say(embed_text(shown))
    report = report_text(preview.plan, file_name=preview.file_name)
    if report:
        say()
        say(report.rstrip("\n"))
    if outcome is None:
        say()
        say("Dry run: nothing was changed. Run again without --dry-run to import.")
        return OK
    say()
    say(f"Imported into server {args.guild}: {outcome.notes_created:,} new notes, {outcome.notes_kept:,} already here.")
    for refused in outcome.notes_refused:
        say(f"  not saved: {refused}")
    if outcome.titles_queued:
        say(f"{outcome.titles_queued:,} titles are queued for arXiv: the running bot looks them up in the background.")
    return OK
