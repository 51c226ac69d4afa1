"""Split one video list over many independent jobs (SLURM job arrays, or any scheduler): which
shard this process runs (`resolve_shard`). The shard itself (`Shard`, `shard_of`) is `..shard`'s.

Each shard writes its own results and failure files, named from `--output_jsonl`, because
O_APPEND is not reliable on network filesystems; `python -m lang_sam_tracker.results.merge` combines them afterwards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ..shard import Shard

logger = logging.getLogger(__name__)


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None


def resolve_shard(
    shard_index: int | None, num_shards: int | None, env: Mapping[str, str] | None = None
) -> Shard | None:
    """The shard this process runs, from the flags or, inside a SLURM job array, its environment.

    - Both flags: exactly that shard.
    - Neither flag, inside a job array: shard (TASK_ID - TASK_MIN) / TASK_STEP of TASK_COUNT. Fine
      for a first submission; resubmitting only some ids (`--array=3,7`) changes MIN and COUNT.
    - `--num_shards N` alone, inside a job array: the shard is SLURM_ARRAY_TASK_ID itself
      (array ids 0..N-1), so a resubmission of only the failed ids keeps each id's shard.
    - `--shard_index I` alone: the count is the array's task count.
    - Outside a job array without flags, or `--num_shards 1`: no sharding (None).
    """
    env = os.environ if env is None else env
    if num_shards == 1:  # one shard in all: no split, even inside a job array
        Shard(shard_index or 0, 1)
        return None
    task_id = _env_int(env, "SLURM_ARRAY_TASK_ID")
    if shard_index is None and num_shards is None:
        if task_id is None:
            return None
        task_min = _env_int(env, "SLURM_ARRAY_TASK_MIN")
        count = _env_int(env, "SLURM_ARRAY_TASK_COUNT")
        step = _env_int(env, "SLURM_ARRAY_TASK_STEP") or 1
        if task_min is None or count is None:
            raise ValueError(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN/COUNT are not: pass --shard_index and --num_shards"
            )
        offset = task_id - task_min
        if offset % step or not 0 <= offset // step < count:
            raise ValueError(
                f"cannot derive a shard from SLURM array task {task_id} (min {task_min}, step {step}, count {count}): "
                "pass --shard_index and --num_shards explicitly"
            )
        shard = Shard(offset // step, count)
        logger.info("SLURM array task %d (min %d, count %d): running %s", task_id, task_min, count, shard.tag)
    elif shard_index is None:
        if task_id is None:
            raise ValueError("--num_shards needs --shard_index outside a SLURM job array")
        if not 0 <= task_id < num_shards:
            raise ValueError(
                f"SLURM_ARRAY_TASK_ID {task_id} is not a shard of --num_shards {num_shards}: "
                f"use --array=0-{num_shards - 1} (or a subset), or pass --shard_index"
            )
        shard = Shard(task_id, num_shards)
        logger.info("SLURM array task %d: running %s", task_id, shard.tag)
    elif num_shards is None:
        count = _env_int(env, "SLURM_ARRAY_TASK_COUNT")
        if count is None:
            raise ValueError("--shard_index needs --num_shards outside a SLURM job array")
        shard = Shard(shard_index, count)
    else:
        shard = Shard(shard_index, num_shards)
    return shard if shard.count > 1 else None
