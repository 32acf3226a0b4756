"""User-facing errors: one line, exit code 2, never a traceback."""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Bad input the user can fix. The message is one line: what is wrong, where, what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
