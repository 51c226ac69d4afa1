"""Merging shard results: one record per video, ledgers combined, failures and missing videos reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lang_sam_tracker.results.jsonl import JsonlAppender, failures_path, read_jsonl, record_failure
from lang_sam_tracker.results.merge import main, merge
from lang_sam_tracker.shard import shard_of

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "car . person"


def _record(video: str, marker: str = "") -> dict:
    return {"video_path": video, "text_prompt": PROMPT, "frames": [], "stats": {"note": marker}}


def _write(path: Path, records: list[dict]) -> Path:
    with JsonlAppender(path) as out:
        for r in records:
            out.append(r)
    return path


def _fail(results: Path, video: str, error: str, time: str) -> None:
    record_failure(results, video, PROMPT, error, 1)
    ledger = failures_path(results)
    lines = ledger.read_text().splitlines()  # pin the time so "latest" is decided by the test
    entry = json.loads(lines[-1])
    entry["time"] = time
    ledger.write_text("\n".join(lines[:-1] + [json.dumps(entry)]) + "\n")


def _keys(path: Path) -> list[str]:
    return [r["video_path"] for r in read_jsonl(path)]


def test_merge_drops_duplicates_and_reports_failed_and_missing(tmp_path):
    a = _write(tmp_path / "r.shard-0-of-2.jsonl", [_record("v1", "a"), _record("v2", "a")])
    b = _write(tmp_path / "r.shard-1-of-2.jsonl", [_record("v2", "b"), _record("v3", "b")])
    _fail(a, "v4", "first failure", "2026-01-01T00:00:00+00:00")
    _fail(a, "v3", "failed, then done in the other shard", "2026-01-01T00:00:00+00:00")
    _fail(b, "v4", "latest failure", "2026-01-02T00:00:00+00:00")
    listed = tmp_path / "list.txt"
    listed.write_text("v1\nv2\nv3\nv4\n# comment\nv5\n")

    out = tmp_path / "merged.jsonl"
    summary = merge([a, b], out, video_list=listed)

    records = list(read_jsonl(out))
    assert [r["video_path"] for r in records] == ["v1", "v2", "v3"]
    assert records[1]["stats"]["note"] == "a", "the first record of a key is kept"
    assert (summary.added, summary.duplicates) == (3, 1)
    assert summary.failed == [("v4", PROMPT)]
    ledger = list(read_jsonl(failures_path(out)))
    assert [(e["video_path"], e["error"]) for e in ledger] == [("v4", "latest failure")]
    assert summary.missing == ["v5"]
    assert summary.missing_files == []
    assert summary.exit_code == 1


def test_merge_again_adds_only_new_records_and_clears_fixed_failures(tmp_path, capsys):
    a = _write(tmp_path / "r.shard-0-of-2.jsonl", [_record("v1")])
    b = _write(tmp_path / "r.shard-1-of-2.jsonl", [_record("v2")])
    _fail(b, "v3", "decode error", "2026-01-01T00:00:00+00:00")
    out = tmp_path / "merged.jsonl"
    assert main([str(a), str(b), "-o", str(out)]) == 1
    assert failures_path(out).exists()

    _write(b, [_record("v3")])  # the shard was rerun and v3 succeeded this time
    # A shell glob like r.shard-*.jsonl also matches the ledgers: they stand for their results file.
    assert main([str(a), str(b), str(failures_path(b)), "-o", str(out)]) == 0
    assert _keys(out) == ["v1", "v2", "v3"]
    assert not failures_path(out).exists(), "no failure is left"
    report = capsys.readouterr().out.splitlines()[-1]
    assert "Merged 2 of 2 shard file(s)" in report  # the ledger given by the glob is its results file's
    assert "1 record(s) added, 2 already there, 0 duplicate(s) dropped" in report  # each record counted once


def test_missing_shard_files_are_reported_unless_the_shard_owns_no_video(tmp_path, capsys):
    videos = [f"clips/{i}.mp4" for i in range(40)]
    owned = {i: [v for v in videos if shard_of(v, 3) == i] for i in range(3)}
    a = _write(tmp_path / "r.shard-0-of-3.jsonl", [_record(v) for v in owned[0]])
    c = _write(tmp_path / "r.shard-2-of-3.jsonl", [_record(v) for v in owned[2]])

    summary = merge([a, c], tmp_path / "merged.jsonl")
    assert summary.missing_files == [tmp_path / "r.shard-1-of-3.jsonl"]
    assert summary.exit_code == 1

    listed = tmp_path / "list.txt"
    listed.write_text("\n".join(owned[0] + owned[2]) + "\n")
    assert merge([a, c], tmp_path / "merged2.jsonl", video_list=listed).exit_code == 0, "shard 1 owns nothing listed"

    listed.write_text("\n".join(videos) + "\n")
    assert main([str(a), str(c), str(tmp_path / "r.shard-1-of-3.jsonl"), "-o", str(tmp_path / "merged3.jsonl"), "--video_list", str(listed)]) == 1
    out = capsys.readouterr().out
    assert "Merged 2 of 3 shard file(s)" in out  # the missing one is not counted as merged
    assert "Missing shard file: " + str(tmp_path / "r.shard-1-of-3.jsonl") in out
    assert f"Missing: {len(owned[1])} listed video(s)" in out


def test_bad_usage_exits_2(tmp_path, capsys):
    a = _write(tmp_path / "r.shard-0-of-2.jsonl", [_record("v1")])
    assert main([str(a), "-o", str(a)]) == 2
    assert main([str(a), "-o", str(tmp_path / "m.jsonl"), "--video_list", str(tmp_path / "nope.txt")]) == 2
    assert not (tmp_path / "m.jsonl").exists(), "a bad list stops the merge before it writes"
    with pytest.raises(SystemExit) as exc:
        main(["-o", str(tmp_path / "m.jsonl")])
    assert exc.value.code == 2


def test_torn_and_foreign_lines_are_skipped(tmp_path):
    a = tmp_path / "r.shard-0-of-1.jsonl"
    a.write_text(json.dumps(_record("v1")) + "\n" + '{"no_key": 1}\n' + '{"video_path": "v2", "text_pr')
    summary = merge([a], tmp_path / "merged.jsonl")
    assert _keys(tmp_path / "merged.jsonl") == ["v1"]
    assert summary.added == 1


# ------------------------------------------------------------------ two real shards, then merge
def _pick_videos(n_per_shard: int) -> dict[int, list[str]]:
    """Relative paths (so the split does not depend on tmp_path): n good clips per shard of 2."""
    picked: dict[int, list[str]] = {0: [], 1: []}
    i = 0
    while min(len(v) for v in picked.values()) < n_per_shard:
        path = f"videos/clip_{i}.mp4"
        if len(picked[shard_of(path, 2)]) < n_per_shard:
            picked[shard_of(path, 2)].append(path)
        i += 1
    return picked


@pytest.mark.slow
def test_two_shard_processes_then_merge(tmp_path, tiny_model_args, subprocess_env, capsys):
    from lang_sam_tracker.testing import scenes

    picked = _pick_videos(2)
    (tmp_path / "videos").mkdir()
    for path in picked[0] + picked[1]:
        scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=4), tmp_path / path)
    unreadable = "videos/does_not_exist.mp4"
    listed = tmp_path / "videos.txt"
    listed.write_text("\n".join([picked[0][0], picked[1][0], unreadable, picked[0][1], picked[1][1]]) + "\n")

    env = {k: v for k, v in subprocess_env.items() if not k.startswith("SLURM_")}
    script = str(ROOT / "scripts" / "batch_track_videos_multiprocess.py")
    procs = [
        subprocess.Popen(
            [sys.executable, script, "--video_list", "videos.txt", "--text_prompt", PROMPT,
             "--output_jsonl", "out/results.jsonl", "--shard_index", str(i), "--num_shards", "2",
             "--device", "cpu", "--num_workers", "1", "--detection_frequency", "100", *tiny_model_args],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    bad_shard = shard_of(unreadable, 2)
    for i, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == (1 if i == bad_shard else 0), log
        assert f"shard-{i}-of-2: {2 + (i == bad_shard)} of the 5 listed videos" in log
        results = tmp_path / "out" / f"results.shard-{i}-of-2.jsonl"
        assert sorted(_keys(results)) == sorted(picked[i])
    assert not (tmp_path / "out" / "results.jsonl").exists(), "no process writes the unsharded file"
    bad_ledger = failures_path(tmp_path / "out" / f"results.shard-{bad_shard}-of-2.jsonl")
    assert [e["video_path"] for e in read_jsonl(bad_ledger)] == [unreadable]

    # A video both tasks processed (e.g. the list changed between submissions), and one added later.
    shard0, shard1 = (tmp_path / "out" / f"results.shard-{i}-of-2.jsonl" for i in range(2))
    with open(shard1, "ab") as f:
        f.write(shard0.read_bytes().splitlines(keepends=True)[0])
    with open(listed, "a") as f:
        f.write("videos/added_later.mp4\n")

    merged = tmp_path / "out" / "results.jsonl"
    code = main([str(shard0), str(shard1), "-o", str(merged), "--video_list", str(listed)])
    report = capsys.readouterr().out
    assert code == 1, report
    records = list(read_jsonl(merged))
    assert sorted(r["video_path"] for r in records) == sorted(picked[0] + picked[1]), "one record per video"
    originals = {r["video_path"]: r for path in (shard0, shard1) for r in read_jsonl(path)}
    assert all(r == originals[r["video_path"]] for r in records), "records are copied unchanged"
    assert [e["video_path"] for e in read_jsonl(failures_path(merged))] == [unreadable]
    assert "1 duplicate(s) dropped" in report
    assert f"Failed: 1 video(s), see {failures_path(merged)}\n  {unreadable}\n" in report
    assert "Missing: 1 listed video(s)" in report and "videos/added_later.mp4" in report


def test_merge_takes_sidecars_only_through_their_records(tmp_path):
    """A sidecar no record points to (left by a killed shard) never reaches the merged output: the
    merge copies records, whose sidecar paths are re-pointed at the shard's files; no file is copied."""
    shard_dir = tmp_path / "shards"
    sidecars = shard_dir / "r.shard-0-of-1.sidecars"
    sidecars.mkdir(parents=True)
    (sidecars / "v1_0123_1-aa.frames.jsonl").write_text('{"frame_idx": 0, "time_s": 0.0, "objects": []}\n')
    (sidecars / "v2_4567_1-bb.frames.jsonl").write_text('{"frame_idx": 0, "time_s": 0.0, "objects": []}\n')  # orphan
    record = {"video_path": "v1", "text_prompt": PROMPT, "sidecar": "r.shard-0-of-1.sidecars/v1_0123_1-aa.frames.jsonl"}
    shard = _write(shard_dir / "r.shard-0-of-1.jsonl", [record])
    out = tmp_path / "merged" / "r.jsonl"
    merge([shard], out)
    (merged,) = read_jsonl(out)
    assert (out.parent / merged["sidecar"]).resolve() == (sidecars / "v1_0123_1-aa.frames.jsonl").resolve()
    assert sorted(p.name for p in out.parent.rglob("*") if "frames" in p.name) == []
