"""User-facing errors: one line, exit code 2, never a traceback."""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Bad input the user can fix. The message is one line: what is wrong, where, what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class UserErrors(UserError):
    """Several one-line problems at once (every field a validation found wrong); the CLI prints one a line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = [" ".join(line.split()) for line in lines]
