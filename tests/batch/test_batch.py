"""The batch scripts end to end on the tiny models: slots, bad inputs, crashes, signals, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lang_sam_tracker.batch import ProcessSlotRunner, UsageError, plan_slots, read_video_list, run_batch
from lang_sam_tracker.cli.parser import build_parser, run_config_from_args
from lang_sam_tracker.identity.geometry import speckless_box
from lang_sam_tracker.results.jsonl import failures_path
from lang_sam_tracker.results.record import rle_to_mask, validate_record
from lang_sam_tracker.testing import scenes
from lang_sam_tracker.batch.tasks import Slot

ROOT = Path(__file__).resolve().parents[2]
MULTI = str(ROOT / "scripts" / "batch_track_videos_multiprocess.py")
SINGLE = str(ROOT / "scripts" / "batch_track_videos.py")


def make_videos(folder: Path, n: int, frames: int = 8, prefix: str = "clip") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        scene = scenes.three_movers(width=64, height=48, n_frames=frames)
        paths.append(str(scenes.write_video(scene, folder / f"{prefix}{i}.mp4")))
    return paths


def write_list(path: Path, videos: list[str]) -> Path:
    path.write_text("\n".join(videos) + "\n")
    return path


def run_script(script, args, env, timeout=300):
    return subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True, timeout=timeout)


def records(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]  # every line must be valid JSON


def worker_pids(parent: int) -> list[int]:
    """Pool workers of `parent` (spawned children, not the resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            pids.append(int(entry.name))
    return pids


def wait_for(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def line_count(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


# ----------------------------------------------------------------- slots and the list
@pytest.mark.parametrize(
    "gpu_ids, workers, gpus, expected",
    [
        ([0, 1], 4, 2, [0, 1, 0, 1]),
        ([0, 0, 1], None, 2, [0, 0, 1]),
        (None, None, 3, [0, 1, 2]),
        ([1], 2, 2, [1, 1]),
    ],
)
def test_gpu_slots_round_robin(gpu_ids, workers, gpus, expected):
    slots = plan_slots(gpu_ids, workers, None, gpus, cores=8)
    assert [s.gpu for s in slots] == expected
    assert all(s.threads == 8 // len(expected) for s in slots)


def test_cpu_fallback_and_bad_ids():
    slots = plan_slots([0, 1], 2, None, 0, cores=2)
    assert [s.gpu for s in slots] == [None, None] and [s.threads for s in slots] == [1, 1]
    assert plan_slots(None, None, "cpu", 4, cores=2)[0].gpu is None
    with pytest.raises(UsageError, match="out of range"):
        plan_slots([0, 2], None, None, 2)


def test_video_list_parsing(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"# header\r\na.mp4\r\n\r\n  b.mp4  \r\na.mp4\r\n# c.mp4\r\n")
    assert read_video_list(listing) == ["a.mp4", "b.mp4"]
    with pytest.raises(UsageError, match="missing.txt"):
        read_video_list(tmp_path / "missing.txt")


def test_workers_follow_slots_and_load_models_once(tmp_path, tiny_model_args, monkeypatch):
    """Fake GPU ids on CPU: each worker's CUDA_VISIBLE_DEVICES maps its slot through the job's list."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    videos = make_videos(tmp_path / "v", 5, frames=4)
    out = tmp_path / "r.jsonl"
    args = build_parser(True).parse_args(
        ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
         "--output_jsonl", str(out), "--device", "cpu", *tiny_model_args]
    )
    run = run_config_from_args(args)
    slots = [Slot(0, gpu=0), Slot(1, gpu=1)]
    summary = run_batch(run, lambda _stop: [ProcessSlotRunner(s, run, None, 30) for s in slots])
    assert summary.exit_code == 0 and summary.completed == 5
    seen = {}
    for rec in records(out):
        worker = rec["stats"]["worker"]
        expected = {"GPU 0": "5", "GPU 1": "7"}[worker["slot"]]
        assert worker["cuda_visible_devices"] == expected
        assert worker["model_loads"] == 1
        seen.setdefault(worker["slot"], 0)
        seen[worker["slot"]] += 1
    assert sum(seen.values()) == 5


# ----------------------------------------------------------------- faults
def test_mixed_list_records_good_and_ledgers_bad(tmp_path, tiny_model_args, subprocess_env):
    good = make_videos(tmp_path / "good", 2, frames=6)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    missing = str(bad_dir / "missing.mp4")
    empty = str(scenes.write_empty_file(bad_dir / "empty.mp4"))
    text = str(scenes.write_text_file(bad_dir / "text.mp4"))
    truncated = str(scenes.write_truncated(scenes.three_movers(64, 48, 30), bad_dir / "trunc.mp4", at_frame=10))
    audio = str(scenes.write_audio_only(bad_dir / "audio.mp4"))
    folder = str(tmp_path / "good")
    bad = [missing, empty, text, truncated, audio, folder]
    listing = tmp_path / "list.txt"
    lines = ["# my videos", good[0], "", *bad, good[1], good[0], "   "]
    listing.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    out = tmp_path / "out" / "r.jsonl"
    proc = run_script(MULTI, ["--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out),
                              "--num_workers", "1", *tiny_model_args], subprocess_env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    done = records(out)
    assert sorted(r["video_path"] for r in done) == sorted(good)
    for r in done:
        validate_record(r)
    failed = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert sorted(f["video_path"] for f in failed) == sorted(bad)
    for f in failed:  # the cause alone: the line has the video's path already
        assert "\n" not in f["error"] and f["error"] and f["video_path"] not in f["error"], f
    assert "[CPU 0] Processing:" in proc.stderr and "✓ Completed:" in proc.stderr and " tracked" in proc.stderr


def test_killed_worker_is_replaced_and_video_retried(tmp_path, tiny_model_args, subprocess_env):
    videos = make_videos(tmp_path / "v", 3, frames=25)
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen(
        [sys.executable, MULTI, "--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
         "--output_jsonl", str(out), "--num_workers", "1", *tiny_model_args],
        env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: line_count(out) >= 1, what="first record")
        time.sleep(0.5)  # let the worker get into the second video
        pids = worker_pids(proc.pid)
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "worker died" in stderr
    done = records(out)
    assert sorted(r["video_path"] for r in done) == sorted(videos)


def test_parent_killed_then_resume_loses_and_duplicates_nothing(tmp_path, tiny_model_args, subprocess_env):
    videos = make_videos(tmp_path / "v", 3, frames=12)
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, MULTI, "--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
           "--output_jsonl", str(out), "--num_workers", "1", *tiny_model_args]
    proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: line_count(out) >= 1, what="first record")
        workers = worker_pids(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    # The worker dies with its parent (PR_SET_PDEATHSIG): nothing keeps holding the models.
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), timeout=30, what="orphan workers to exit")
    with open(out, "ab") as f:  # as if the kill had landed mid-write
        f.write(b'{"video_path": "torn')
    rerun = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    done = records(out)
    assert sorted(r["video_path"] for r in done) == sorted(videos)
    assert "Resuming" in rerun.stderr


def test_sigterm_stops_cleanly_and_resume_completes(tmp_path, tiny_model_args, subprocess_env):
    videos = make_videos(tmp_path / "v", 4, frames=15)
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, MULTI, "--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
           "--output_jsonl", str(out), "--num_workers", "1", "--drain_timeout", "1", *tiny_model_args]
    proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: line_count(out) >= 1, what="first record")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        stop_seconds = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert stop_seconds < 15
    assert not failures_path(out).exists()  # an interrupt is never recorded as a failure
    first = records(out)
    assert 1 <= len(first) < len(videos)
    rerun = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    done = records(out)
    assert sorted(r["video_path"] for r in done) == sorted(videos)


@pytest.mark.parametrize("script", [SINGLE, MULTI])
def test_video_timeout_kills_and_records(tmp_path, tiny_model_args, subprocess_env, script):
    videos = make_videos(tmp_path / "v", 1, frames=300, prefix="long")
    out = tmp_path / "r.jsonl"
    workers = ["--num_workers", "1"] if script == MULTI else []
    proc = run_script(script, ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
                              "--output_jsonl", str(out), *workers, "--video_timeout", "3",
                              *tiny_model_args], subprocess_env)
    assert proc.returncode == 1, proc.stderr
    ledger = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert len(ledger) == 1 and "timed out after 3s" in ledger[0]["error"]
    assert line_count(out) == 0
    assert "Traceback" not in proc.stderr


def test_sidecar_layout_end_to_end_and_resume(tmp_path, tiny_model_args, subprocess_env):
    from lang_sam_tracker.results.reader import iter_frames, iter_record_lines

    videos = make_videos(tmp_path / "v", 1, frames=6)
    out = tmp_path / "out" / "r.jsonl"
    args = ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
            "--output_jsonl", str(out), "--sidecar", "--save_masks", *tiny_model_args]
    with pytest.raises(ValueError, match="--sidecar"):  # the CLI turns this into one line and exit 2
        run_config_from_args(build_parser(False).parse_args([*args, "--group_by", "object"]))
    proc = run_script(SINGLE, args, subprocess_env)
    assert proc.returncode == 0, proc.stderr
    lines = list(iter_record_lines(out))
    assert sorted(line.video_path for line in lines) == sorted(videos)
    for line in lines:
        record = line.read()
        validate_record(record)
        assert "frames" not in record and record["sidecar"].startswith("r.sidecars/")
        assert record["object_summary"] and record["stats"]["num_objects"] == len(record["object_summary"])
        frames = list(iter_frames(line))
        assert [f.frame_idx for f in frames] == list(range(6))
        assert all(rle_to_mask(o["mask"]).shape == (48, 64) for f in frames for o in f.objects)
        seen = {o["obj_id"] for f in frames for o in f.objects}
        assert seen == {s["obj_id"] for s in record["object_summary"]}
    assert not (tmp_path / "out" / ".r.jsonl.spool").exists()
    again = run_script(SINGLE, args, subprocess_env)
    assert again.returncode == 0 and "Nothing to do" in again.stderr


# ----------------------------------------------------------------- both scripts, both layouts
@pytest.mark.parametrize("script", [SINGLE, MULTI])
def test_scripts_end_to_end_object_layout_with_masks(tmp_path, tiny_model_args, subprocess_env, script):
    videos = make_videos(tmp_path / "v", 2, frames=6)
    out = tmp_path / "r.jsonl"
    args = ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car . person",
            "--output_jsonl", str(out), "--group_by", "object", "--save_masks", *tiny_model_args]
    proc = run_script(script, args, subprocess_env)
    assert proc.returncode == 0, proc.stderr
    done = records(out)
    assert sorted(r["video_path"] for r in done) == sorted(videos)
    for rec in done:
        validate_record(rec)
        assert "objects" in rec and "frames" not in rec
        assert rec["objects"], "random weights with threshold 0 always track something"
        for obj in rec["objects"]:
            assert obj["label"] in ("car", "person")
            for f in obj["frames"]:
                mask = rle_to_mask(f["mask"])
                assert mask.shape == (48, 64)
                ys, xs = mask.nonzero()
                x, y, w, h = f["bbox"]
                extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
                assert [x, y, x + w, y + h] == speckless_box(extent, mask, 1).tolist()  # the mask without specks
    # Resume: a second run does nothing and says so.
    again = run_script(script, args, subprocess_env)
    assert again.returncode == 0 and "Nothing to do" in again.stderr
    assert line_count(out) == 2


def test_no_resume_moves_old_results_aside(tmp_path, tiny_model_args, subprocess_env):
    videos = make_videos(tmp_path / "v", 1, frames=4)
    out = tmp_path / "r.jsonl"
    args = ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
            "--output_jsonl", str(out), *tiny_model_args]
    assert run_script(SINGLE, args, subprocess_env).returncode == 0
    proc = run_script(SINGLE, [*args, "--no-resume"], subprocess_env)
    assert proc.returncode == 0, proc.stderr
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("r.bak")]
    assert len(backups) == 1 and line_count(backups[0]) == 1 and line_count(out) == 1


def test_usage_and_model_errors_exit_2(tmp_path, tiny_model_args, subprocess_env):
    proc = run_script(SINGLE, ["--video_list", str(tmp_path / "nope.txt"), "--text_prompt", "car",
                               "--output_jsonl", str(tmp_path / "r.jsonl"), *tiny_model_args], subprocess_env)
    assert proc.returncode == 2 and "nope.txt" in proc.stderr and "Traceback" not in proc.stderr
    videos = make_videos(tmp_path / "v", 1, frames=4)
    bad_model = ["--model_path", str(tmp_path / "missing.pt"), "--sam_type", "sam2.1_hiera_tiny"]
    env = {**subprocess_env, "LANG_SAM_TRACKER_OFFLINE": "1"}
    proc = run_script(SINGLE, ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
                               "--output_jsonl", str(tmp_path / "r.jsonl"), *bad_model], env)
    assert proc.returncode == 2, proc.stderr
    assert "missing.pt" in proc.stderr and "https://" in proc.stderr and "Traceback" not in proc.stderr


def test_single_process_ctrl_c_keeps_finished_records(tmp_path, tiny_model_args, subprocess_env):
    videos = make_videos(tmp_path / "v", 3, frames=30)
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, SINGLE, "--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
           "--output_jsonl", str(out), *tiny_model_args]
    proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: line_count(out) >= 1, what="first record")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert 1 <= len(records(out)) < 3 and not failures_path(out).exists()


def test_resume_reports_records_made_with_other_settings(tmp_path, tiny_model_args, subprocess_env):
    videos = make_videos(tmp_path / "v", 1, frames=4)
    out = tmp_path / "r.jsonl"
    args = ["--video_list", str(write_list(tmp_path / "l.txt", videos)), "--text_prompt", "car",
            "--output_jsonl", str(out), *tiny_model_args]
    assert run_script(SINGLE, args, subprocess_env).returncode == 0
    same = run_script(SINGLE, args, subprocess_env)
    assert same.returncode == 0 and "different settings" not in same.stderr
    changed = run_script(SINGLE, [*args, "--detection_frequency", "2"], subprocess_env)
    assert changed.returncode == 0, changed.stderr
    assert "1 done record(s)" in changed.stderr and "different settings" in changed.stderr
    assert line_count(out) == 1  # kept, not redone
