"""Where a batch runs: the GPUs and cores this job can see, and the slots planned on them."""

from __future__ import annotations

import logging
import os

from ..errors import UsageError
from .progress import plural
from .tasks import Slot

logger = logging.getLogger("lang_sam_tracker")


def cuda_device_count() -> int:
    """GPUs this job can see, without creating a CUDA context in the parent."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # a broken driver means no GPU, not a crash
        return 0


def available_cores() -> int:
    """Cores this process may run on (a SLURM or container CPU limit, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plan_slots(
    gpu_ids: list[int] | None,
    num_workers: int | None,
    device: str | None,
    gpu_count: int,
    cores: int | None = None,
) -> list[Slot]:
    """GPU slots round-robin over `gpu_ids` (`0 0 1` gives GPU 0 two slots); CPU slots without CUDA."""
    cores = cores or available_cores()
    if num_workers is not None and num_workers < 1:
        raise UsageError("--num_workers must be at least 1")
    use_cpu = (device or "").startswith("cpu") or gpu_count == 0
    if use_cpu:
        if gpu_count == 0 and not (device or "").startswith("cpu"):
            logger.warning("No CUDA device is visible: running on CPU workers (slow; fine for small jobs and tests)")
        n = num_workers or 1
        if n > cores:
            logger.warning(
                "--num_workers %d on %s: running %d CPU worker(s); more would only compete for the cores and memory",
                n, plural(cores, "core"), cores,
            )
            n = cores
        threads = max(1, cores // n)
        return [Slot(index=i, gpu=None, threads=threads) for i in range(n)]
    ids = list(gpu_ids) if gpu_ids else list(range(gpu_count))
    bad = [g for g in ids if g < 0 or g >= gpu_count]
    if bad:
        raise UsageError(f"--gpu_ids {bad} out of range: this job sees {gpu_count} GPU(s) (ids are relative to CUDA_VISIBLE_DEVICES)")
    n = num_workers or len(ids)
    threads = max(1, cores // n)
    return [Slot(index=i, gpu=ids[i % len(ids)], threads=threads) for i in range(n)]
