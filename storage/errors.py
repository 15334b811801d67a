"""Errors a member can cause and read: each carries a short message that says what to do instead."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is shown to the member as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PaperInputError(UserFacingError):
    """The text given for a paper names no paper."""


class NotFoundError(UserFacingError):
    """The thing asked for does not exist in this group (or belongs to another group)."""


class PermissionDeniedError(UserFacingError):
    """The member may not do this."""


class ValidationError(UserFacingError):
    """The input breaks one of the limits on stored data."""


class AlreadyNotedError(UserFacingError):
    """The member already has a note on this paper; they are offered to update it instead."""

    def __init__(self, message: str, *, note_id: int) -> None:
        super().__init__(message)
        self.note_id = note_id


class LimitReachedError(UserFacingError):
    """The server or member already has as much of something as the operator allows (a per-server cap)."""
