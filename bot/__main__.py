"""``python -m bot``: run the bot, or an operator command (``python -m bot --help`` lists them)."""

from __future__ import annotations

import sys

from bot.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
