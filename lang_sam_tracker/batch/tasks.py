"""What passes between the parent and a worker: the slot a worker is pinned to, the video it is
given, and the result it hands back (picklable, for a process pool or a Ray actor)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Slot:
    """One worker's place: a GPU (relative to the GPUs this job can see) or a CPU share."""

    index: int
    gpu: int | None = None
    threads: int = 1

    @property
    def label(self) -> str:
        return f"GPU {self.gpu}" if self.gpu is not None else f"CPU {self.index}"


@dataclass
class VideoTask:
    video_path: str
    text_prompt: str
    output_video: str | None = None
    attempt: int = 1
    resolved_path: str | None = None  # the resume key's path (`keys.resolve_video_path`), set by the parent


@dataclass
class TaskResult:
    """What a worker hands back: a record, or a one-line error."""

    video_path: str
    record: dict | None = None
    error: str | None = None
    fatal: bool = False  # the models cannot be loaded: the whole run stops (exit 3)
    poisoned: bool = False  # a CUDA error broke this worker's context: replace the worker
    worker: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.record is not None
