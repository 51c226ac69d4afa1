"""The Ray backend on a local loopback-only Ray: same records as the local pool, actor deaths survived.

One Ray session for the module (it takes seconds to start). Ray 2.60 replaces 127.0.0.1 by the
host's routable address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, so both are set; the fixture
checks that the node really is on loopback.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from lang_sam_tracker import batch

from lang_sam_tracker.cluster import ray_backend
from lang_sam_tracker.batch import UsageError
from lang_sam_tracker.cli.parser import build_parser, main_multiprocess, run_config_from_args
from lang_sam_tracker.results.jsonl import failures_path, read_jsonl
from lang_sam_tracker.cluster.ray_backend import plan_ray_slots, run_ray
from lang_sam_tracker.testing import scenes

PROMPT = "car . person"
TIMING = ("elapsed_s", "fps", "timing_s")
_make_ray_runners = ray_backend.make_ray_runners  # the real one, before a test patches it


@pytest.fixture(scope="module")
def ray_session():
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, logging_level=logging.WARNING)
    try:
        assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
        yield ray
    finally:
        ray.shutdown()
        patch.undo()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("ray_clips")
    return [
        str(scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=4), folder / f"clip{i}.mp4"))
        for i in range(4)
    ]


def _run_config(tmp_path: Path, name: str, videos: list[str], tiny_model_args, monkeypatch, *extra: str):
    for var in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
        monkeypatch.delenv(var, raising=False)
    listed = tmp_path / f"{name}.txt"
    listed.write_text("\n".join(videos) + "\n")
    args = build_parser(True).parse_args(
        ["--video_list", str(listed), "--text_prompt", PROMPT, "--output_jsonl", str(tmp_path / f"{name}.jsonl"),
         "--device", "cpu", "--num_workers", "2", "--detection_frequency", "100", *tiny_model_args, *extra]
    )
    return run_config_from_args(args)


def _without_timing(record: dict) -> dict:
    stats = {k: v for k, v in record["stats"].items() if k not in TIMING and k != "worker"}
    return {**record, "stats": stats}


# ------------------------------------------------------------------ planning and errors (no Ray needed)
def test_plan_gpu_actors():
    resources = {"CPU": 16.0, "GPU": 4.0}
    slots = plan_ray_slots(resources, None, None, None)
    assert [(s.num_gpus, s.num_cpus, s.gpu) for s in slots] == [(1.0, 1, 0)] * 4
    assert len(plan_ray_slots(resources, None, 0.5, None)) == 8, "fractional sharing: two actors per GPU"
    assert len(plan_ray_slots(resources, 3, None, "cuda")) == 3
    assert all(s.threads == 2 for s in plan_ray_slots(resources, None, 0.5, None))
    cpu = plan_ray_slots(resources, 2, None, "cpu")
    assert [(s.gpu, s.num_gpus, s.num_cpus, s.threads) for s in cpu] == [(None, 0.0, 8, 8)] * 2
    assert [s.label for s in cpu] == ["ray 0", "ray 1"]


@pytest.mark.parametrize(
    "resources, workers, share, device, message",
    [
        ({"CPU": 16.0, "GPU": 2.0}, 5, None, None, "need 5 GPUs; the Ray cluster has 2"),
        ({"CPU": 16.0, "GPU": 2.0}, None, 2.0, None, "must be in \\(0, 1\\]"),
        ({"CPU": 8.0}, None, 0.5, None, "needs GPUs"),
        ({"CPU": 8.0}, None, None, "cuda:0", "has no GPU"),
        ({"CPU": 2.0}, 3, None, None, "the Ray cluster has 2"),
    ],
)
def test_plan_rejects_what_the_cluster_cannot_run(resources, workers, share, device, message):
    with pytest.raises(UsageError, match=message):
        plan_ray_slots(resources, workers, share, device)


def test_missing_ray_is_a_one_line_usage_error(tmp_path, tiny_model_args, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    run = _run_config(tmp_path, "noray", ["a.mp4"], tiny_model_args, monkeypatch)
    with pytest.raises(UsageError, match=r"pip install 'lang-sam-tracker\[ray\]'"):
        run_ray(run)
    argv = ["--video_list", str(tmp_path / "noray.txt"), "--text_prompt", PROMPT, "--output_jsonl",
            str(tmp_path / "noray.jsonl"), "--backend", "ray", *tiny_model_args]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main_multiprocess(argv) == 2
    finally:
        root.handlers[:], root.level = handlers, level
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ERROR: --backend ray needs the ray package: pip install 'lang-sam-tracker[ray]' (or: pip install ray)"]
    with pytest.raises(SystemExit) as exc:
        main_multiprocess(argv[:-len(tiny_model_args) - 2] + ["--ray_address", "auto"])
    assert exc.value.code == 2, "--ray_address without --backend ray is a usage error"


# ------------------------------------------------------------------ on the local Ray
class _KillingRunner:
    """A RaySlotRunner whose actor is SIGKILLed right after it is handed one of the chosen videos."""

    def __init__(self, inner, kills: dict[str, int], ray) -> None:
        self.inner, self.kills, self.ray = inner, kills, ray
        self.slot = inner.slot
        self.restarts = 0
        self.killed: list[int] = []

    def submit(self, task):
        pid = self.ray.get(self.inner.ready())  # the actor is idle: this returns at once
        future = self.inner.submit(task)
        if self.kills.get(task.video_path, 0) > 0:
            self.kills[task.video_path] -= 1
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)
        return future

    def restart(self) -> None:
        self.restarts += 1
        self.inner.restart()

    def kill(self) -> None:
        self.inner.kill()

    def close(self) -> None:
        self.inner.close()


def _killing(kills: dict[str, int], runners: list[_KillingRunner]):
    """A stand-in for `make_ray_runners` that wraps each real runner in a _KillingRunner."""

    def make(ray, *args):
        made = [_KillingRunner(r, kills, ray) for r in _make_ray_runners(ray, *args)]
        runners.extend(made)
        return made

    return make


@pytest.mark.slow
def test_ray_matches_the_local_pool_and_survives_killed_actors(ray_session, clips, tmp_path, tiny_model_args, monkeypatch):
    """One actor killed once mid-batch: its video is redone on a fresh actor. A video that kills its
    actor on every attempt is retried a bounded number of times, then recorded as failed."""
    videos = clips + [str(tmp_path / "missing.mp4")]
    once, poison = videos[1], videos[2]
    local = _run_config(tmp_path, "local", videos, tiny_model_args, monkeypatch)
    on_ray = _run_config(tmp_path, "ray", videos, tiny_model_args, monkeypatch)
    kills, runners = {once: 1, poison: batch.MAX_CRASH_RETRIES + 1}, []
    monkeypatch.setattr(ray_backend, "make_ray_runners", _killing(kills, runners))

    local_summary = batch.run_multiprocess(local)
    ray_summary = run_ray(on_ray)

    assert (local_summary.completed, local_summary.failed, local_summary.exit_code) == (4, 1, 1)
    assert kills == {once: 0, poison: 0}
    assert sum(r.restarts for r in runners) == 1 + batch.MAX_CRASH_RETRIES + 1, "every dead actor was replaced"
    assert (ray_summary.completed, ray_summary.failed, ray_summary.exit_code) == (3, 2, 1)
    local_records = {r["video_path"]: r for r in read_jsonl(local.output_jsonl)}
    ray_records = list(read_jsonl(on_ray.output_jsonl))
    assert sorted(r["video_path"] for r in ray_records) == sorted(set(clips) - {poison}), "nothing lost, nothing twice"
    for record in ray_records:
        assert _without_timing(record) == _without_timing(local_records[record["video_path"]])
        worker = record["stats"]["worker"]
        assert worker["model_loads"] == 1, "models load once per actor (a replacement loads its own)"
        assert worker["cuda_visible_devices"] is None  # no GPU pinned: null, as in both scripts
    assert {r["stats"]["worker"]["slot"] for r in ray_records} == {"ray 0", "ray 1"}

    local_ledger = [(e["video_path"], e["error"], e["attempts"]) for e in read_jsonl(failures_path(local.output_jsonl))]
    ray_ledger = {e["video_path"]: e for e in read_jsonl(failures_path(on_ray.output_jsonl))}
    assert local_ledger == [(videos[-1], ray_ledger[videos[-1]]["error"], ray_ledger[videos[-1]]["attempts"])]
    assert set(ray_ledger) == {videos[-1], poison}
    assert ray_ledger[poison]["attempts"] == batch.MAX_CRASH_RETRIES + 1
    assert "worker died (ActorDiedError: The actor died unexpectedly" in ray_ledger[poison]["error"]
    for pid in (p for r in runners for p in r.killed):
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    # Resume: done videos are skipped without starting any actor.
    done_list = tmp_path / "done.txt"
    done_list.write_text("\n".join(r["video_path"] for r in ray_records) + "\n")
    started = len(runners)
    again = run_ray(dataclasses.replace(on_ray, video_list=done_list))
    assert (again.skipped, again.completed, again.exit_code, len(runners)) == (3, 0, 0, started)
