"""The project's one error type for user-facing problems (bad input, config or model file)."""

from __future__ import annotations

from os import PathLike


class TaggerError(ValueError):
    """An error caused by the user's input; `str()` is one line, `FILE:LINE: problem` where known."""

    def __init__(self, message: str, path: str | PathLike | None = None, line: int | None = None):
        self.message = " ".join(str(message).split())  # always one line
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or ""
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}" if where else self.message
