"""The command tree: how slash commands and autocomplete enter the bot.

A burst of commands starts a few at a time. discord.py starts each command's task as it reads the command's
gateway event, and it reads every event that has arrived before it gives the event loop back: 200 commands at
once became 200 tasks whose first steps (the options read, the checks, the callback up to its first request,
about 0.2 ms each) all ran in the loop's next pass, 20 ms and more for every hundred, while every other
callback waited, the gateway's heartbeat and the answers already under way included. Here they start
:attr:`Tree.STARTS_PER_PASS` in each pass of the loop, in the order they arrived.

Each also asks arXiv in its server's turn (:mod:`bot.requesters`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import discord
from discord import app_commands

from bot.requesters import ask_as

__all__ = ["Tree"]

log = logging.getLogger(__name__)


class Tree(app_commands.CommandTree[Any]):
    """The bot's command tree: commands start a few each pass of the event loop, each in its server's turn."""

    STARTS_PER_PASS = 4  # bench.burst, 200 commands: the loop's longest stall 56-64 ms at once, 15-22 ms so

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arrived: deque[discord.Interaction[Any]] = deque()
        self._starting = False

    def _from_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # discord.py's ConnectionState hands every slash command and autocomplete here; its own version starts
        # the command's task at once (app_commands.CommandTree._from_interaction).
        self._arrived.append(interaction)
        if not self._starting:
            self._starting = True
            asyncio.get_running_loop().call_soon(self._start_next)

    def _start_next(self) -> None:
        if self.client.is_closed():  # the bot is stopping: commands not started yet are let go unanswered
            log.info("%d commands not started: the bot is stopping", len(self._arrived))
            self._arrived.clear()
            self._starting = False
            return
        for _ in range(min(self.STARTS_PER_PASS, len(self._arrived))):
            super()._from_interaction(self._arrived.popleft())
        if self._arrived:
            asyncio.get_running_loop().call_soon(self._start_next)  # runs in the loop's next pass
        else:
            self._starting = False

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Note whose turn the command's arXiv requests take; lets every interaction through.

        The check runs in the same task as the command it lets through (discord.py's ``CommandTree._call``).
        """
        ask_as(interaction.guild_id, interaction.user.id)
        return True
