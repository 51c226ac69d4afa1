"""The parent side of a batch: read the list, skip what is done, feed the slots, write results.

Only this process writes the JSONL and the failure ledger. Slots are pluggable: a single-worker
process pool per GPU slot (the multi-GPU script), the parent itself (the single-process script),
or a Ray actor (`ray_backend`). A crashed slot is replaced and its video retried a bounded number
of times; any other failure is one ledger line; Ctrl-C / SIGTERM / SIGUSR1 stop cleanly.

- `listing`: the videos still to do (resume) of the list (`results.video_list`);
- `slots`: the GPUs and cores this job sees, and the slots planned on them;
- `runners`: the `SlotRunner` protocol, a process pool per slot, or this process itself;
- `results`: results and ledger lines, the summary and its exit code;
- `dispatch`: the loop that feeds the slots, with crash retries, timeouts, signals and drain;
- `leftovers`: orphan sidecars and partial annotated videos a killed or failed run left, removed;
- `launch`: the two scripts' entry points (`run_multiprocess`, `run_single_process`);
- `tasks`: what passes between parent and worker (`Slot`, `VideoTask`, `TaskResult`);
- `engine`: a slot's models and the processing of one video, failures as one-line results;
- `process_setup`: a worker process's pinning, signals, prctl and log forwarding;
- `worker`: the pool initialiser and task function that tie those together in a worker;
- `progress`: bars and log lines in the parent, frame reports from the workers.

Importing this package does not import torch (`cuda_device_count` does, when called).
"""

from ..errors import UsageError
from .dispatch import MAX_CRASH_RETRIES, run_batch
from .launch import prepare_models, run_multiprocess, run_single_process
from ..results.video_list import read_video_list
from .listing import pending_tasks
from .results import EXIT_FAILURES, EXIT_FATAL, EXIT_OK, EXIT_USAGE, BatchSummary, log_summary
from .runners import InlineSlotRunner, Interrupted, ProcessSlotRunner, SlotRunner, stop_signals_blocked
from .slots import available_cores, cuda_device_count, plan_slots

__all__ = [
    "EXIT_FAILURES",
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_CRASH_RETRIES",
    "BatchSummary",
    "InlineSlotRunner",
    "Interrupted",
    "ProcessSlotRunner",
    "SlotRunner",
    "UsageError",
    "available_cores",
    "cuda_device_count",
    "log_summary",
    "pending_tasks",
    "plan_slots",
    "prepare_models",
    "read_video_list",
    "run_batch",
    "run_multiprocess",
    "run_single_process",
    "stop_signals_blocked",
]
