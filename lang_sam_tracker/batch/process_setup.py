"""Setting up a worker process: pin it to its slot (GPU, threads), leave the stop signals to the
parent, die with the parent (prctl), and forward its log records to the parent."""

from __future__ import annotations

import ctypes
import logging
import logging.handlers
import os
import signal
import sys

from .tasks import Slot

logger = logging.getLogger(__name__)

# What the parent decides about; a worker ignores them (see worker.init_process_worker).
STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR1", None)) if s is not None)


def visible_devices_for(gpu: int, parent_visible: str | None) -> str:
    """CUDA_VISIBLE_DEVICES for a worker on `gpu`, an index into the GPUs the job can see."""
    if parent_visible is None or parent_visible.strip() == "":
        return str(gpu)
    visible = [d.strip() for d in parent_visible.split(",") if d.strip()]
    if gpu >= len(visible):
        raise ValueError(f"GPU id {gpu} is out of range: this job sees {len(visible)} GPU(s) ({parent_visible})")
    return visible[gpu]


def pin_process(slot: Slot) -> None:
    """Bind this process to its slot; must run before torch initialises CUDA or its thread pool."""
    if slot.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices_for(slot.gpu, os.environ.get("CUDA_VISIBLE_DEVICES"))
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    threads = torch_threads(slot)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def torch_threads(slot: Slot) -> int:
    """The slot's share of the cores, capped by OMP_NUM_THREADS when it is set: on a machine shared
    with other processes fewer threads than cores can be many times faster (OpenMP threads spin
    while they wait for a core)."""
    user = os.environ.get("OMP_NUM_THREADS", "").strip()
    share = max(1, slot.threads)
    return min(share, int(user)) if user.isdigit() and int(user) > 0 else share


def die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the parent dies, so no orphan keeps holding GPU memory."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:  # pragma: no cover - exotic libc
        logger.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def ignore_stop_signals() -> None:
    """The parent decides what Ctrl-C / SIGTERM mean; a worker must not turn them into failures.
    The parent spawned us with these signals blocked (so none lands while we import); ignore, then unblock."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class _ParentLogHandler(logging.handlers.QueueHandler):
    """Hands log records to the parent, which writes them with its own format (and around its progress bars)."""

    def __init__(self, progress_queue, label: str) -> None:
        super().__init__(progress_queue)
        self.label = label

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = super().prepare(record)  # message formatted, args and traceback dropped: picklable
        record.slot = self.label  # the parent's format puts it in front
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait(("log", record))


def log_to_parent(slot: Slot, progress_queue, log_level: int) -> None:
    root = logging.getLogger()
    if progress_queue is None:
        logging.basicConfig(level=log_level, format=f"[{slot.label}] %(message)s")
        return
    handler = _ParentLogHandler(progress_queue, slot.label)
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    logging.captureWarnings(True)
    for noisy in ("transformers", "hydra", "urllib3", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, log_level))


def worker_device(slot: Slot, requested: str | None = None) -> str:
    """The torch device inside a pinned worker: its single visible GPU, or the CPU (no GPU slot,
    or `--device cpu`)."""
    if slot.gpu is None or (requested or "").startswith("cpu"):
        return "cpu"
    return "cuda:0"
