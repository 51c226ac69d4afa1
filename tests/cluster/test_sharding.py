"""Sharding a video list: a stable, order-free split, SLURM array defaults, per-shard file names."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lang_sam_tracker.results.jsonl import failures_path
from lang_sam_tracker.cluster.shards import resolve_shard
from lang_sam_tracker.shard import Shard, shard_in_name, shard_of

VIDEOS = [f"/data/clips/{c}/video_{i:04d}.mp4" for c in ("cars", "people", "mixed") for i in range(70)]
SLURM_VARS = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_STEP")


@pytest.mark.parametrize("n", [1, 3, 7])
def test_every_video_in_exactly_one_shard(n):
    shards = [Shard(i, n).select(VIDEOS) for i in range(n)]
    counts = Counter(v for shard in shards for v in shard)
    assert set(counts) == set(VIDEOS)
    assert set(counts.values()) == {1}
    assert all(shards), "every shard gets some of 210 videos"
    for i, shard in enumerate(shards):
        assert shard == [v for v in VIDEOS if v in set(shard)], "a shard keeps the list's order"
        assert all(shard_of(v, n) == i for v in shard)


@pytest.mark.parametrize("n", [3, 7])
def test_shards_are_stable_under_reordering_and_additions(n):
    shuffled = VIDEOS[:]
    random.Random(0).shuffle(shuffled)
    grown = shuffled + [f"/data/new/extra_{i}.mp4" for i in range(50)]
    for i in range(n):
        original = set(Shard(i, n).select(VIDEOS))
        assert set(Shard(i, n).select(shuffled)) == original
        assert set(Shard(i, n).select(grown)) & set(VIDEOS) == original, "adding videos moves none of the others"


def test_assignment_does_not_depend_on_the_python_process():
    """sha1, not the salted built-in hash(): another interpreter with another hash seed agrees."""
    code = (
        "import sys; from lang_sam_tracker.shard import shard_of; "
        "print(','.join(str(shard_of(l.rstrip('\\n'), 7)) for l in sys.stdin))"
    )
    expected = ",".join(str(shard_of(v, 7)) for v in VIDEOS)
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code], input="\n".join(VIDEOS) + "\n", capture_output=True, text=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            check=True,
        ).stdout.strip()
        assert out == expected


def test_split_is_balanced():
    videos = [f"/scratch/batch_{i // 1000}/clip_{i}.mp4" for i in range(10_000)]
    sizes = Counter(shard_of(v, 16) for v in videos)
    assert len(sizes) == 16
    assert min(sizes.values()) > 0.85 * 625 and max(sizes.values()) < 1.15 * 625


def test_shard_file_names():
    shard = Shard(3, 16)
    assert shard.tag == "shard-03-of-16"
    out = shard.results_path("outputs/results.jsonl")
    assert out == Path("outputs/results.shard-03-of-16.jsonl")
    assert failures_path(out) == Path("outputs/results.shard-03-of-16.failed.jsonl")
    assert Shard(2, 7).results_path("r.out") == Path("r.out.shard-2-of-7")
    assert shard_in_name(out) == shard
    assert shard_in_name(failures_path(out)) == shard
    assert shard_in_name("outputs/results.jsonl") is None
    with pytest.raises(ValueError, match="0..15"):
        Shard(16, 16)


def _env(**values):
    return {f"SLURM_ARRAY_TASK_{k}": str(v) for k, v in values.items()}


def test_slurm_array_defaults():
    assert resolve_shard(None, None, _env(ID=5, MIN=3, COUNT=4)) == Shard(2, 4)
    # --array=3-9:3 gives ids 3, 6, 9
    assert resolve_shard(None, None, _env(ID=9, MIN=3, COUNT=3, STEP=3)) == Shard(2, 3)
    # Resubmitting only ids 3 and 7 of a 16-way split: MIN/COUNT changed, the fixed count keeps the shard.
    assert resolve_shard(None, 16, _env(ID=7, MIN=3, COUNT=2)) == Shard(7, 16)
    assert resolve_shard(4, None, _env(ID=9, MIN=0, COUNT=8)) == Shard(4, 8)
    assert resolve_shard(2, 5, _env(ID=9, MIN=0, COUNT=10)) == Shard(2, 5), "explicit flags win"
    assert resolve_shard(None, None, {}) is None
    assert resolve_shard(None, None, _env(ID=0, MIN=0, COUNT=1)) is None, "a one-task array is not a split"
    assert resolve_shard(0, 1, {}) is None


@pytest.mark.parametrize(
    "index, count, env, message",
    [
        (None, 16, _env(ID=16, MIN=0, COUNT=17), "--array=0-15"),
        (None, 4, {}, "needs --shard_index"),
        (2, None, {}, "needs --num_shards"),
        (None, None, _env(ID=4, MIN=3, COUNT=3, STEP=3), "pass --shard_index and --num_shards"),
        (None, None, _env(ID="x", MIN=0, COUNT=2), "not an integer"),
        (5, 5, {}, "0..4"),
    ],
)
def test_bad_shard_settings_are_usage_errors(index, count, env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        resolve_shard(index, count, env)


def test_cli_runs_one_shard_into_its_own_file(monkeypatch, tmp_path):
    from lang_sam_tracker.cli.parser import build_parser, run_config_from_args

    for var in SLURM_VARS:
        monkeypatch.delenv(var, raising=False)
    base = ["--video_list", "v.txt", "--text_prompt", "car", "--output_jsonl", str(tmp_path / "results.jsonl")]
    for multiprocess in (True, False):
        run = run_config_from_args(build_parser(multiprocess).parse_args(base + ["--shard_index", "3", "--num_shards", "16"]))
        assert run.shard == Shard(3, 16)
        assert run.output_jsonl == tmp_path / "results.shard-03-of-16.jsonl"
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "12")
    run = run_config_from_args(build_parser(True).parse_args(base + ["--num_shards", "16"]))
    assert run.output_jsonl == tmp_path / "results.shard-12-of-16.jsonl"
    unsharded = run_config_from_args(build_parser(True).parse_args(base + ["--num_shards", "1"]))
    assert unsharded.shard is None and unsharded.output_jsonl == tmp_path / "results.jsonl"
