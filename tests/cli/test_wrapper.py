"""The shell wrapper: paths relative to where it is run from, the list checked first, an honest banner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lang_sam_tracker.testing import scenes

WRAPPER = Path(__file__).resolve().parents[2] / "run_batch_tracking_multiprocess.sh"


def run_wrapper(cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(WRAPPER)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_wrapper_run_from_another_directory_uses_the_callers_paths(tmp_path, tiny_model_args, subprocess_env):
    caller = tmp_path / "my_project"
    (caller / "clips").mkdir(parents=True)
    scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=4), caller / "clips" / "a.mp4")
    (caller / "mine.txt").write_text("# relative to the caller\nclips/a.mp4\n")
    env = {**subprocess_env, "PYTHON": sys.executable, "VIDEO_LIST": "mine.txt", "OUTPUT_JSONL": "out/results.jsonl",
           "NUM_WORKERS": "1", "EXTRA_ARGS": " ".join(tiny_model_args)}
    proc = run_wrapper(caller, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Video list:          mine.txt (1 video path(s) listed)" in proc.stdout
    assert "Workers:             1" in proc.stdout and f"Working directory:   {caller}" in proc.stdout
    records = [json.loads(line) for line in (caller / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["video_path"] for r in records] == ["clips/a.mp4"]
    assert "1 record(s) in out/results.jsonl" in proc.stdout


def test_wrapper_checks_the_list_first_and_says_what_workers_it_will_get(tmp_path, subprocess_env):
    env = {**subprocess_env, "PYTHON": "false", "VIDEO_LIST": "missing.txt"}  # python must not even start
    proc = run_wrapper(tmp_path, env, timeout=30)
    assert proc.returncode == 2
    assert proc.stdout == "" and "VIDEO_LIST missing.txt not found" in proc.stderr and str(tmp_path) in proc.stderr
    (tmp_path / "l.txt").write_text("a.mp4\n")
    proc = run_wrapper(tmp_path, {**env, "VIDEO_LIST": "l.txt"}, timeout=30)
    assert "Workers:             one per visible GPU; 1 CPU worker if none" in proc.stdout  # not "(one per GPU)"
    assert not (tmp_path / "outputs").exists()  # the wrapper creates nothing itself


def test_wrapper_passes_its_arguments_and_help_runs_nothing(tmp_path, tiny_model_args, subprocess_env):
    env = {**subprocess_env, "PYTHON": sys.executable, "VIDEO_LIST": "missing.txt"}
    proc = subprocess.run(["bash", str(WRAPPER), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--video_list" in proc.stdout and "=====" not in proc.stdout
    assert not list(tmp_path.iterdir()), "--help wrote something"
    scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=3), tmp_path / "a.mp4")
    env = {**env, "NUM_WORKERS": "1", "OUTPUT_JSONL": "default.jsonl"}
    proc = subprocess.run(
        ["bash", str(WRAPPER), "--video-list", "a.mp4", "--text_prompt", "person, car", "--output_jsonl", "mine.jsonl", *tiny_model_args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "mine.jsonl").read_text().splitlines()]
    assert record["text_prompt"] == "person . car" and not (tmp_path / "default.jsonl").exists()
    assert "1 record(s) in mine.jsonl" in proc.stdout
