"""Exceptions whose message is the one line a user sees."""


class TrackerError(Exception):
    """Base class: the message names the file (or model) and the cause, on one line."""


class UsageError(TrackerError):
    """Bad flags, paths or a list that can never work: exit 2 before any work."""


class ModelLoadError(TrackerError):
    """A model or checkpoint cannot be found, downloaded or loaded (exit code 2 in the batch scripts)."""


class VideoError(TrackerError):
    """A video cannot be opened or decoded (recorded in the failure ledger; the batch goes on)."""


def one_line(text: object, limit: int = 400) -> str:
    """Whitespace and newlines collapsed, length capped: ledger entries and log lines stay one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
