"""The two scripts' entry points: check the models once, plan the slots, build their runners, run."""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
from pathlib import Path

from ..settings import RunConfig
from ..errors import UsageError
from .tasks import Slot
from . import slots
from .dispatch import run_batch
from .results import BatchSummary
from .runners import InlineSlotRunner, ProcessSlotRunner

logger = logging.getLogger("lang_sam_tracker")


def prepare_models(run: RunConfig) -> None:
    """Check (and download, once, here) the SAM 2 checkpoint before any worker starts."""
    from ..segmenters.checkpoints import ensure_checkpoint, get_model_spec

    m = run.models
    if m.segmenter != "sam2":
        return  # SAM 3 comes from the Hugging Face cache, checked by the start-up check
    spec = get_model_spec(m.sam_type)
    if m.sam_config is None:
        ensure_checkpoint(Path(m.model_path), spec)
    elif not Path(m.model_path).is_file():
        raise UsageError(f"checkpoint {m.model_path} not found (needed with --sam_config {m.sam_config})")


def run_multiprocess(run: RunConfig, drain_timeout_s: float = 10.0) -> BatchSummary:
    """One single-worker process pool per slot (GPU slots, or CPU workers without CUDA)."""
    prepare_models(run)
    planned = slots.plan_slots(run.gpu_ids, run.num_workers, run.device, 0 if (run.device or "").startswith("cpu") else slots.cuda_device_count())
    logger.info("Workers: %s", ", ".join(f"[{s.label}]" for s in planned))
    ctx = mp.get_context("spawn")
    progress_queue = ctx.Queue()
    level = logging.getLogger().getEffectiveLevel()
    try:
        return run_batch(
            run, lambda _stop: [ProcessSlotRunner(s, run, progress_queue, level) for s in planned], progress_queue, drain_timeout_s
        )
    finally:
        progress_queue.close()
        progress_queue.cancel_join_thread()


def run_single_process(run: RunConfig, drain_timeout_s: float = 10.0) -> BatchSummary:
    """The same engine in this process: models load once, videos run one after another."""
    prepare_models(run)
    device = run.device or ("cuda:0" if slots.cuda_device_count() > 0 else "cpu")
    slot = Slot(index=0, gpu=None if device.startswith("cpu") else _gpu_index(device), threads=slots.available_cores())
    if device.startswith("cpu") and run.device is None:
        logger.warning("No CUDA device is visible: running on the CPU")
    progress_queue: queue.Queue = queue.Queue()
    return run_batch(run, lambda _stop: [InlineSlotRunner(slot, run, device, progress_queue)], progress_queue, drain_timeout_s)


def _gpu_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0
