"""The sbatch example parses, has the pieces a time-limited array job needs, and uses only real flags."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "scripts" / "slurm" / "batch_track_array.sbatch"
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9_-]*|-[a-z])\b")


def _command(text: str, marker: str) -> str:
    """The command line that contains `marker`, joined over its backslash continuations, from `marker` on."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    parts = [lines[start][lines[start].index(marker) + len(marker):]]
    i = start
    while lines[i].rstrip().endswith("\\"):
        i += 1
        parts.append(lines[i].lstrip("# "))
    return " ".join(p.rstrip("\\") for p in parts)


def _help(*command: str) -> str:
    return subprocess.run([sys.executable, *command, "--help"], capture_output=True, text=True, check=True, cwd=ROOT).stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_sbatch_example_parses():
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)


def test_sbatch_example_has_what_an_array_job_needs():
    text = SBATCH.read_text()
    directives = {m.group(1): m.group(2) for m in re.finditer(r"^#SBATCH --([a-z-]+)(?:=(\S+))?", text, flags=re.MULTILINE)}
    assert re.fullmatch(r"0-(\d+)(%\d+)?", directives["array"])
    num_shards = int(re.search(r"^NUM_SHARDS=(\d+)", text, flags=re.MULTILINE).group(1))
    assert directives["array"].split("%")[0] == f"0-{num_shards - 1}", "the array covers every shard once"
    assert directives["gres"].startswith("gpu:") and int(directives["cpus-per-task"]) >= 1
    assert directives["signal"] == "B:USR1@120"
    assert "%A" in directives["output"] and "%a" in directives["output"]
    assert re.search(r"^exec .*scripts/batch_track_videos_multiprocess\.py", text, flags=re.MULTILINE), "exec: python gets the signal"
    assert "requeue" in text and "lang_sam_tracker.results.merge" in text


def test_sbatch_example_uses_only_real_flags():
    text = SBATCH.read_text()
    batch_flags = set(FLAG.findall(_command(text, "scripts/batch_track_videos_multiprocess.py")))
    assert {"--shard_index", "--num_shards", "--output_jsonl", "--video_list", "--text_prompt"} <= batch_flags
    batch_help = _help("scripts/batch_track_videos_multiprocess.py")
    assert not [f for f in batch_flags if not re.search(rf"(?<![\w-]){re.escape(f)}\b", batch_help)]

    merge_flags = set(FLAG.findall(_command(text, "lang_sam_tracker.results.merge").split('"')[0]))
    assert {"-o", "--video_list"} <= merge_flags
    num_shards = re.search(r"^NUM_SHARDS=(\d+)", text, flags=re.MULTILINE).group(1)
    assert f"results.shard-*-of-{num_shards}.jsonl" in _command(text, "lang_sam_tracker.results.merge")
    merge_help = _help("-m", "lang_sam_tracker.results.merge")
    assert not [f for f in merge_flags if not re.search(rf"(?<![\w-]){re.escape(f)}\b", merge_help)]
