"""Run the batch on a Ray cluster: one actor per slot, fed by the same parent loop as the local pool.

Each actor is a pinned worker (`worker.init_process_worker`) whose models load once, on its first
video. The driver hands videos out one at a time as actors come free (`batch.run_batch`), so a
fast GPU takes more videos; results come back as futures and only the driver writes the JSONL and
the ledger. An actor that dies (killed, segfault, node lost) fails its future (`ActorDied`),
which the loop treats like a dead worker process: a fresh actor replaces it and the video is
retried a bounded number of times, then recorded as failed. Ray's own actor restarts stay off:
they would retry a poison video forever instead of counting its crashes.

Ray is an optional dependency, imported only here.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..results import spool
from ..batch import BatchSummary, SlotRunner, UsageError, prepare_models, run_batch
from ..settings import RunConfig
from ..batch.tasks import Slot, TaskResult, VideoTask
from ..batch.worker import init_process_worker, run_in_process_worker

logger = logging.getLogger("lang_sam_tracker")

ACTOR_START_TIMEOUT_S = 300.0
MISSING_RAY = "--backend ray needs the ray package: pip install 'lang-sam-tracker[ray]' (or: pip install ray)"


def import_ray():
    """The `ray` module, or a one-line usage error (exit 2) when it is not installed."""
    try:
        import ray
    except ImportError:
        raise UsageError(MISSING_RAY) from None
    return ray


@dataclass(frozen=True)
class RaySlot(Slot):
    """A slot that is a Ray actor: Ray picks its GPU, so `gpu` is 0 (the first GPU Ray gives it)."""

    num_gpus: float = 0.0
    num_cpus: float = 1.0

    @property
    def label(self) -> str:
        return f"ray {self.index}"


def plan_ray_slots(
    resources: Mapping[str, float],
    num_workers: int | None,
    gpus_per_worker: float | None,
    device: str | None,
) -> list[RaySlot]:
    """Actors for the cluster's `resources` (`ray.cluster_resources()`).

    GPU actors when the cluster has GPUs (unless `--device cpu`): `gpus_per_worker` each (default
    1; 0.5 puts two actors on a GPU), as many as fit by default. CPU actors otherwise: one by
    default, each reserving its share of the cluster's CPUs as torch threads.
    """
    cpus = int(resources.get("CPU", 0))
    gpus = float(resources.get("GPU", 0))
    device = device or ""
    if device.startswith("cuda") and gpus == 0:
        raise UsageError(f"--device {device}, but the Ray cluster has no GPU")
    if not device.startswith("cpu") and gpus > 0:
        share = 1.0 if gpus_per_worker is None else gpus_per_worker
        if not 0 < share <= 1:
            raise UsageError(f"--gpus_per_worker must be in (0, 1] on GPUs (a worker uses one GPU), got {share:g}")
        n = num_workers or int(gpus / share + 1e-9)
        if n * share > gpus + 1e-9:
            raise UsageError(f"{n} worker(s) x {share:g} GPU need {n * share:g} GPUs; the Ray cluster has {gpus:g}")
        if n > cpus:
            raise UsageError(f"{n} worker(s) need a CPU each; the Ray cluster has {cpus}")
        threads = max(1, cpus // n)
        return [RaySlot(index=i, gpu=0, threads=threads, num_gpus=share, num_cpus=1) for i in range(n)]
    if gpus_per_worker:
        raise UsageError(f"--gpus_per_worker {gpus_per_worker:g} needs GPUs, but the workers run on CPU")
    if gpus == 0 and not device.startswith("cpu"):
        logger.warning("The Ray cluster has no GPU: running CPU actors (slow; fine for small jobs and tests)")
    n = num_workers or 1
    if n > cpus:
        raise UsageError(f"{n} CPU worker(s) need a CPU each; the Ray cluster has {cpus}")
    threads = max(1, cpus // n)
    return [RaySlot(index=i, gpu=None, threads=threads, num_gpus=0.0, num_cpus=threads) for i in range(n)]


class SlotActor:
    """The body of one Ray actor (wrapped with `ray.remote` at run time, so importing needs no ray)."""

    def __init__(self, slot: RaySlot, run: RunConfig, progress_queue, log_level: int) -> None:
        # Ray set CUDA_VISIBLE_DEVICES to this actor's GPU(s) (or nothing for a CPU actor): the
        # slot's GPU 0 indexes into it, exactly as a local worker indexes into SLURM's list.
        init_process_worker(slot, run, progress_queue, log_level)

    def ready(self) -> int:
        return os.getpid()

    def process(self, task: VideoTask) -> TaskResult:
        # The actor may run on another node: its spooled frames travel inline, through Ray.
        result = run_in_process_worker(task)
        if result.record is not None:
            spool.inline(result.record)
        return result


class ActorDied(Exception):
    """An actor that died mid-video, in one line (Ray's own message spans a dozen)."""

    @classmethod
    def from_ray(cls, exc: BaseException) -> ActorDied:
        text = str(exc)
        first = next((line.strip() for line in text.splitlines() if line.strip()), "the actor died")
        details = [f"pid {m.group(1)}" for m in [re.search(r"\bpid: (\d+)", text)] if m]
        details += [f"worker exit {m.group(1)}" for m in [re.search(r"Worker exit type: (\w+)", text)] if m]
        return cls(f"{type(exc).__name__}: {first}" + (f" ({', '.join(details)})" if details else ""))


class RaySlotRunner:
    """`batch.SlotRunner` over one Ray actor; restart = kill it and start a fresh one."""

    def __init__(self, slot: RaySlot, actor_class, actor_args: tuple) -> None:
        self.slot = slot
        self._actor_class = actor_class
        self._actor_args = actor_args
        self._actor = self._new_actor()

    def _new_actor(self):
        return self._actor_class.options(
            num_cpus=self.slot.num_cpus, num_gpus=self.slot.num_gpus, max_restarts=0
        ).remote(*self._actor_args)

    def ready(self):
        """An ObjectRef that resolves to the actor's pid once it runs (or fails if it cannot start)."""
        return self._actor.ready.remote()

    def submit(self, task: VideoTask) -> Future:
        """The video's result as a concurrent Future; a dead actor fails it with a one-line `ActorDied`."""
        import ray

        relayed: Future = Future()

        def relay(done: Future) -> None:
            try:
                relayed.set_result(done.result())
            except ray.exceptions.RayActorError as exc:
                relayed.set_exception(ActorDied.from_ray(exc))
            except BaseException as exc:  # noqa: BLE001 - handed on to the loop, not swallowed
                relayed.set_exception(exc)

        self._actor.process.remote(task).future().add_done_callback(relay)
        return relayed

    def kill(self) -> None:
        import ray

        ray.kill(self._actor, no_restart=True)

    def restart(self) -> None:
        self.kill()
        self._actor = self._new_actor()

    def close(self) -> None:
        self.kill()


def make_ray_runners(ray, slots: list[RaySlot], run: RunConfig, progress_queue, log_level: int) -> list[RaySlotRunner]:
    """Start one actor per slot and wait until every one runs (a cluster too small fails here, exit 2)."""
    actor_class = ray.remote(SlotActor)
    runners = [RaySlotRunner(s, actor_class, (s, run, progress_queue, log_level)) for s in slots]
    started = False
    try:
        ray.get([r.ready() for r in runners], timeout=ACTOR_START_TIMEOUT_S)
        started = True
    except ray.exceptions.GetTimeoutError:
        raise UsageError(
            f"Ray could not start {len(slots)} actor(s) in {ACTOR_START_TIMEOUT_S:g}s: "
            "the cluster lacks the CPUs/GPUs they need (see --num_workers, --gpus_per_worker)"
        ) from None
    except ray.exceptions.RayError as exc:  # the last line of Ray's report is the cause
        cause = next((line.strip() for line in reversed(str(exc).splitlines()) if line.strip()), type(exc).__name__)
        raise UsageError(f"a Ray actor could not start: {cause}") from None
    finally:
        if not started:
            for r in runners:
                r.close()
    return runners


def init_ray(ray, address: str | None) -> bool:
    """Connect to `address` (`auto` or host:port), or start a local Ray; True when this call did either
    (the caller then disconnects, which also stops a local Ray it started).

    The job ships this package to the actors (`py_modules`), so the nodes run the driver's code
    even where it is not installed; the models and videos must still be at the same paths there.
    """
    if ray.is_initialized():
        return False
    import lang_sam_tracker

    if not sys.stderr.isatty():  # actor log lines without colour codes in SLURM logs
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")

    options: dict[str, Any] = {"runtime_env": {"py_modules": [lang_sam_tracker]}, "logging_level": logging.WARNING}
    if address is None:
        options["include_dashboard"] = False
    ray.init(address=address, **options)
    return True


def run_ray(
    run: RunConfig,
    address: str | None = None,
    gpus_per_worker: float | None = None,
    drain_timeout_s: float = 10.0,
) -> BatchSummary:
    """The batch on Ray actors (the driver is this process): same records, resume, ledger and exit codes."""
    ray = import_ray()
    if run.gpu_ids:
        raise UsageError("--gpu_ids does not apply to --backend ray (Ray assigns GPUs): use --num_workers and --gpus_per_worker")
    prepare_models(run)
    started = init_ray(ray, address)
    from ray.util.queue import Queue

    progress_queue = None
    try:
        resources = ray.cluster_resources()
        slots = plan_ray_slots(resources, run.num_workers, gpus_per_worker, run.device)
        logger.info(
            "Ray: %g CPU(s), %g GPU(s); workers: %s",
            resources.get("CPU", 0),
            resources.get("GPU", 0),
            ", ".join(f"[{s.label}]" + (f" {s.num_gpus:g} GPU" if s.num_gpus else f" {s.threads} CPU") for s in slots),
        )
        # Frame counts for the progress lines; the queue's own actor must not hold a CPU.
        progress_queue = Queue(actor_options={"num_cpus": 0})
        level = logging.getLogger().getEffectiveLevel()
        make: Callable[[Callable[[], bool]], list[SlotRunner]] = lambda _stop: make_ray_runners(
            ray, slots, run, progress_queue, level
        )
        return run_batch(run, make, progress_queue, drain_timeout_s)
    finally:
        if progress_queue is not None:
            progress_queue.shutdown(force=True)
        if started:
            _shutdown_quietly(ray)


def _shutdown_quietly(ray) -> None:
    """Stop the local Ray we started; a late Ctrl-C during its second or two must not end in a traceback."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.shutdown()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
