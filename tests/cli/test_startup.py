"""The start-up check: settings that can never work are one usage error (exit 2) before any model,
worker or results file exists; both models are resolved up front, quickly, even without network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lang_sam_tracker import batch

from lang_sam_tracker.cli import parser as cli


ROOT = Path(__file__).resolve().parents[2]
SINGLE = str(ROOT / "scripts" / "batch_track_videos.py")
MULTI = str(ROOT / "scripts" / "batch_track_videos_multiprocess.py")


@pytest.fixture
def job(tmp_path, tiny_model_args):
    """A valid job: a list with one (not even decoded) video, the tiny models, results under out/."""
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\nclip.mp4\n")
    out = tmp_path / "out" / "r.jsonl"
    return {"list": listing, "out": out, "args": ["--video_list", str(listing), "--text_prompt", "car",
                                                  "--output_jsonl", str(out), *tiny_model_args]}


def run_main(main, args, capsys) -> tuple[int, list[str]]:
    code = main(args)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def set_flag(args: list[str], flag: str, *values: str) -> list[str]:
    """`args` with `flag` given `values` (replaced when present, appended otherwise)."""
    out = list(args)
    if flag in out:
        i = out.index(flag)
        del out[i : i + 2]
    return [*out, flag, *values]


# name: (flag, its value; {tmp} a folder, {file} a text file, {empty} an empty list, {comments} a
# list of comments only), what the one line must say
CASES = {
    "empty prompt": ("--text_prompt", "", "names no class"),
    "dot prompt": ("--text_prompt", ".", "names no class"),
    "dots prompt": ("--text_prompt", " . . ", "names no class"),
    "results under a file": ("--output_jsonl", "{file}/r.jsonl", "is a file"),
    "results deep under a file": ("--output_jsonl", "{file}/x/y/r.jsonl", "is a file"),
    "results is a folder": ("--output_jsonl", "{tmp}", "is a folder"),
    "results cannot be created": ("--output_jsonl", "/proc/1/nope/r.jsonl", "cannot be created"),
    "video dir is a file": ("--output_video_dir", "{file}", "is a file"),
    "empty list": ("--video_list", "{empty}", "lists no video"),
    "list of comments": ("--video_list", "{comments}", "lists no video"),
    "list is a folder": ("--video_list", "{tmp}", "is a folder"),
    "missing list": ("--video_list", "{tmp}/nope.txt", "nope.txt"),
    "bad device": ("--device", "gpu0", "not a torch device"),
    "missing sam config": ("--sam_config", "{tmp}/nope.yaml", "nope.yaml"),
    "text as checkpoint": ("--model_path", "{file}", "is not a torch checkpoint"),
    "folder that is no model": ("--detector_model", "{tmp}", "no config.json"),
    "confirmation beyond its window": ("--min_hits", "6", "cannot exceed --confirm_window (5)"),
}


def case_value(template: str, tmp_path: Path) -> str:
    files = {"file": tmp_path / "a_file.txt", "empty": tmp_path / "empty.txt", "comments": tmp_path / "comments.txt"}
    for name, text in (("file", "x"), ("empty", ""), ("comments", "# only\n\n   \n# comments\n")):
        files[name].write_text(text)
    return template.format(tmp=tmp_path, **files)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("main", [cli.main_single, cli.main_multiprocess], ids=["single", "multi"])
def test_settings_that_cannot_work_are_one_usage_error(case, main, job, tmp_path, capsys, no_model_loads):
    flag, template, expected = CASES[case]
    code, lines = run_main(main, set_flag(job["args"], flag, case_value(template, tmp_path)), capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert flag in lines[0] and expected in lines[0], lines
    assert not job["out"].exists() and not job["out"].parent.exists()  # no results file, not even its folder


def test_gpu_flags_without_cuda_are_usage_errors(job, capsys, no_model_loads, monkeypatch):
    monkeypatch.setattr(batch.slots, "cuda_device_count", lambda: 0)
    for args, main in [(["--gpu_ids", "0"], cli.main_multiprocess), (["--gpu_ids", "0", "1"], cli.main_multiprocess),
                       (["--device", "cuda"], cli.main_single), (["--device", "cuda:1"], cli.main_multiprocess)]:
        code, lines = run_main(main, [*job["args"], *args], capsys)
        assert code == 2 and len(lines) == 1, lines
        assert args[0] in lines[0] and "no CUDA device is visible" in lines[0], lines
    monkeypatch.setattr(batch.slots, "cuda_device_count", lambda: 2)
    for ids in (["5"], ["-1"], ["0", "2"]):
        code, lines = run_main(cli.main_multiprocess, [*job["args"], "--gpu_ids", *ids], capsys)
        assert code == 2 and len(lines) == 1 and "--gpu_ids" in lines[0], lines
    code, lines = run_main(cli.main_multiprocess, [*job["args"], "--gpu_ids", "0", "--device", "cpu"], capsys)
    assert code == 2 and "--gpu_ids needs CUDA" in lines[0]
    assert not job["out"].parent.exists()


def test_cpu_workers_are_capped_at_the_cores(caplog):
    with caplog.at_level("WARNING", logger="lang_sam_tracker"):
        slots = batch.plan_slots(None, 64, None, 0, cores=2)
    assert len(slots) == 2 and all(s.threads == 1 for s in slots)
    assert "--num_workers 64 on 2 cores: running 2 CPU worker(s)" in caplog.text
    assert len(batch.plan_slots(None, 2, "cpu", 0, cores=2)) == 2  # as many as cores: no warning needed


def test_flag_errors_are_a_short_usage_line_and_the_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main_single(["--video_list", "l.txt", "--text_prompt", "car", "--output_jsonl", "r.jsonl", "--fps", "-1"])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("usage: ") and "(see --help)" in lines[0]
    assert "--fps" in lines[1] and "error:" in lines[1]


def test_missing_models_are_all_named_in_one_line_offline(job, tmp_path, capsys, no_model_loads, monkeypatch):
    """LANG_SAM_TRACKER_OFFLINE alone (HF_HUB_OFFLINE unset) keeps both models off the network."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("LANG_SAM_TRACKER_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    monkeypatch.setattr("lang_sam_tracker.cli.model_sources.probe_all", lambda *a: pytest.fail("network probed"))
    args = [*job["args"][:6], "--model_path", str(tmp_path / "sam.pt"), "--sam_type", "sam2.1_hiera_tiny",
            "--detector_model", "nobody/no-such-detector-xyz"]
    code, lines = run_main(cli.main_single, args, capsys)
    assert code == 2 and len(lines) == 1, lines
    line = lines[0]
    assert "2 models cannot be loaded" in line and "sam.pt" in line and "nobody/no-such-detector-xyz" in line
    assert line.count("downloads are disabled by LANG_SAM_TRACKER_OFFLINE") == 2
    assert "wget https://dl.fbaipublicfiles.com/" in line and "hf download nobody/no-such-detector-xyz" in line
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # handed on to the workers (and transformers here)


def test_groundingdino_backend_files_are_checked_up_front(job, tmp_path, capsys, no_model_loads, tiny_gdino_original):
    config, checkpoint = tiny_gdino_original
    base = [*job["args"], "--detector_backend", "groundingdino"]
    code, lines = run_main(cli.main_single, [*base, "--detector_config", str(config),
                                             "--detector_checkpoint", str(tmp_path / "none.pth")], capsys)
    assert code == 2 and len(lines) == 1 and "--detector_checkpoint" in lines[0] and "none.pth" in lines[0], lines
    broken = tmp_path / "cfg.py"
    broken.write_text(config.read_text().replace(str(Path(config).parent / "bert"), str(tmp_path / "no_bert")))
    code, lines = run_main(cli.main_single, [*base, "--detector_config", str(broken),
                                             "--detector_checkpoint", str(checkpoint)], capsys)
    assert code == 2 and len(lines) == 1 and "no_bert" in lines[0], lines


# ----------------------------------------------------------------- as a user runs it
def _clean_env(subprocess_env, tmp_path) -> dict:
    env = {k: v for k, v in subprocess_env.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LANG_SAM_TRACKER_OFFLINE", "HF_ENDPOINT")}
    env["HF_HOME"] = str(tmp_path / "hf_home")  # an empty cache
    return env


def test_no_network_both_models_reported_within_seconds(tmp_path, subprocess_env):
    """Default flags on a machine whose hub never answers and whose checkpoint URL refuses: exit 2
    in seconds (not minutes of retries), one line naming both models, nothing written."""
    silent = socket.socket()  # accepts connections (the kernel does) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    env = _clean_env(subprocess_env, tmp_path)
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
    env["LANG_SAM_TRACKER_SAM2_MIRROR"] = f"http://127.0.0.1:{closed_port}/sam2"
    listing = tmp_path / "list.txt"
    listing.write_text("clip.mp4\n")
    out = tmp_path / "out" / "r.jsonl"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, MULTI, "--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out),
         "--model_path", str(tmp_path / "models" / "sam2.1_hiera_large.pt")],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    seconds = time.monotonic() - start
    silent.close()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert seconds < 10, seconds
    assert len(lines) == 1, lines
    assert "2 models cannot be loaded" in lines[0]
    assert "sam2.1_hiera_large.pt" in lines[0] and "Connection refused" in lines[0]
    assert "IDEA-Research/grounding-dino-base" in lines[0] and "no answer within" in lines[0]
    assert not out.parent.exists() and not (tmp_path / "models").exists()


def test_help_and_usage_errors_import_no_models(tmp_path, subprocess_env):
    """--help and usage errors import neither torch, transformers nor sam2 (what makes them take
    well under a second: the models are imported only when a run needs them). Checked on what is
    imported, not on wall time, so a loaded machine cannot make it flaky."""
    probe = ("import runpy, sys; sys.argv = [sys.argv[1], *sys.argv[2:]]\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "except SystemExit as e:\n    code = e.code\n"
             "heavy = sorted(m for m in ('torch', 'transformers', 'sam2') if m in sys.modules)\n"
             "print('HEAVY', heavy, file=sys.stderr); sys.exit(code)\n")
    usage = ["--video_list", str(tmp_path / "l.txt"), "--text_prompt", " . ", "--output_jsonl", str(tmp_path / "r.jsonl")]
    (tmp_path / "l.txt").write_text("a.mp4\n")
    for script, args, code in [(SINGLE, ["--help"], 0), (MULTI, ["--help"], 0), (MULTI, usage, 2), (SINGLE, ["--fps"], 2)]:
        proc = subprocess.run([sys.executable, "-c", probe, script, *args], env=subprocess_env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, proc.stderr
        assert "HEAVY []" in proc.stderr, proc.stderr
