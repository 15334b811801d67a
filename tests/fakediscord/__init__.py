"""Loopback fake Discord (REST + gateway) for driving a real discord.py bot in tests. See README.md."""

from .client import connect_bot, connected_bot, disconnect_bot, running_fake
from .models import CommandUnavailable, Guild, Interaction, Message, RejectedResponse
from .server import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_PERMISSIONS,
    FakeDiscord,
    shard_of,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_PERMISSIONS",
    "CommandUnavailable",
    "FakeDiscord",
    "Guild",
    "Interaction",
    "Message",
    "RejectedResponse",
    "connect_bot",
    "connected_bot",
    "disconnect_bot",
    "running_fake",
    "shard_of",
]
