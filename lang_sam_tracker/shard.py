"""One shard of a video list: which videos a job owns, and the file names its results go to.

A video's shard is a stable hash (SHA-1) of its path exactly as written in the list, so it does
not depend on the list's order, on the other videos, or on the Python process (never the salted
built-in `hash()`): adding videos to the list moves none of the others. Deciding which shard a
process runs (flags, SLURM job arrays) is `cluster.shards`'; combining shards is `results.merge`'s.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# results.shard-03-of-16.jsonl: the part `Shard.tag` adds to a file name.
_SHARD_TAG = re.compile(r"\.shard-(\d+)-of-(\d+)(?=\.|$)")


def shard_of(video_path: str, num_shards: int) -> int:
    """The shard (0-based) that owns `video_path` when the list is split `num_shards` ways."""
    if num_shards < 1:
        raise ValueError(f"the number of shards must be at least 1, got {num_shards}")
    digest = hashlib.sha1(video_path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"--num_shards must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"--shard_index must be in 0..{self.count - 1} for --num_shards {self.count}, got {self.index}")

    @property
    def tag(self) -> str:
        """`shard-03-of-16`: the index is zero-padded to the width of the count, so names sort."""
        return f"shard-{self.index:0{len(str(self.count))}d}-of-{self.count}"

    def select(self, videos: Iterable[str]) -> list[str]:
        """The videos this shard owns, in list order."""
        return [v for v in videos if shard_of(v, self.count) == self.index]

    def results_path(self, output_jsonl: str | os.PathLike) -> Path:
        """This shard's own results file: results.jsonl -> results.shard-03-of-16.jsonl.

        Its failure ledger follows from it (results.shard-03-of-16.failed.jsonl).
        """
        p = Path(output_jsonl)
        if p.suffix == ".jsonl":
            return p.with_name(f"{p.stem}.{self.tag}.jsonl")
        return p.with_name(f"{p.name}.{self.tag}")


def shard_in_name(path: str | os.PathLike) -> Shard | None:
    """The shard a results file was written by, read back from its name (None if it has no tag)."""
    match = _SHARD_TAG.search(Path(path).name)
    if match is None:
        return None
    try:
        return Shard(int(match.group(1)), int(match.group(2)))
    except ValueError:
        return None
