"""The errors a user can cause, and the exit codes the CLI maps them to."""

from __future__ import annotations

from collections.abc import Iterable

EXIT_USAGE = 2  # invalid flag, config value, recipe or data file: nothing was written
EXIT_DIVERGED = 3  # a run stopped on a NaN/Inf loss (status "diverged")
EXIT_FAILED = 4  # a run failed after it started, or a sweep finished with failures
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM: resumable


class RsmoothError(Exception):
    """An error caused by the user's input; the CLI prints it on one line, exit code 2."""

    exit_code = EXIT_USAGE


class ConfigError(RsmoothError):
    """A config field has a value outside what is allowed."""

    def __init__(self, field: str, value: object, allowed: Iterable[object] | str) -> None:
        self.field = field
        self.value = value
        if isinstance(allowed, str):
            self.allowed = allowed
        else:
            self.allowed = "one of " + ", ".join(str(a) for a in allowed)
        super().__init__(f"invalid {field}: {value!r} (allowed: {self.allowed})")

    def reason(self) -> str:
        """The message without the field's name, for callers that name the field themselves."""
        return f"{self.value!r} (allowed: {self.allowed})"


class DataError(RsmoothError):
    """A data set is missing or its files are unreadable."""


class RecipeError(RsmoothError):
    """A recipe file is malformed."""


class RunFailedError(RsmoothError):
    """A run failed after it started (disk full, folder removed, ...); its last checkpoint is
    intact and --resume continues it."""

    exit_code = EXIT_FAILED
