"""The benchmark scripts run end to end at toy sizes and print their tables, so they cannot rot.

Benchmarks never gate on their numbers (toy sizes on a shared machine mean nothing); these tests
check that every measurement runs and reports a number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lang_sam_tracker.testing.tiny_sam3 import sam3_available

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table(stdout: str) -> list[dict[str, str]]:
    """The markdown table of a benchmark's output, as one dict per row."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    assert len(lines) >= 3, stdout
    header = cells(lines[0])
    assert set(lines[1]) <= {"|", "-"}, lines[1]
    return [dict(zip(header, cells(line), strict=True)) for line in lines[2:]]


def test_gpu_bench_smoke_measures_every_mode(tmp_path):
    result = run_script("gpu_bench.py", "--smoke", "--compile", "--workdir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "## GPU benchmark (--smoke" in result.stdout
    rows = table(result.stdout)
    seen = {(r["mode"], r["detection"], r["objects"]) for r in rows}
    expected = {
        *((f"pipeline{c}", f"every {k}", str(n)) for c in ("", " (compiled)") for k in (1, 2) for n in (1, 2)),
        *((f"SAM 2 streaming alone{c}", "–", str(n)) for c in ("", " (compiled)") for n in (1, 2)),
        *(("sam2 vos_optimized (offline)", "–", str(n)) for n in (1, 2)),
        *((f"SAM 2 alone, births over 2 frames{c}", "–", str(n)) for c in ("", " (compiled)") for n in (1, 2)),
    }
    if sam3_available():
        expected |= {("pipeline (SAM 3)", f"every {k}", str(n)) for k in (1, 2) for n in (1, 2)}
        expected |= {("SAM 3 tracker alone", "–", str(n)) for n in (1, 2)}
    else:
        expected.add(("pipeline (SAM 3)", "–", "0"))
        rows = [r for r in rows if not r["notes"].startswith("skipped: needs transformers >= 5")]
    assert seen == expected
    for row in rows:
        assert float(row["fps"]) > 0, row
        assert not row["notes"].startswith("error"), row
    for row in rows:
        if row["mode"].startswith("pipeline"):
            assert float(row["vs SAM 2 alone"]) > 0, row
        if row["mode"].startswith("SAM 2 alone, births"):
            assert float(row["time vs 1 object"]) > 0, row


@pytest.mark.slow
def test_run_cpu_smoke_reports_each_measurement(tmp_path, tiny_dir):
    # 5 (spawned batch workers) is left out for time: tests/batch/test_batch.py runs the same batch code.
    result = run_script(
        "run_cpu.py", "--smoke", "--only", "1,2,3,4,6,7,9", "--workdir", str(tmp_path), "--models", str(tiny_dir)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "## CPU benchmarks (--smoke" in result.stdout
    assert "- CPU: " in result.stdout and "- torch " in result.stdout
    rows = table(result.stdout)
    assert [r["measurement"].split(".")[0] for r in rows] == ["1", "2", "3", "4", "6", "7", "9"]
    if not sam3_available():
        assert rows.pop()["B"] == "skipped: needs transformers >= 5"
    for row in rows:
        assert float(row["ratio B/A"]) > 0, row
        assert row["ok?"] in ("yes", "**missed**", "–"), row
    assert {r["target"] for r in rows} >= {"<= 1.10", "<= 1.20", ">= 0.90"}


def test_feed_bench_smoke_reports_host_cost_batched_objects_and_mask_crops(tmp_path):
    result = run_script("feed_bench.py", "--smoke", "--workdir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = table(result.stdout)
    assert [r["measurement"].split(".")[0] for r in rows] == ["1", "1", "2", "2", "2", "2", "2", "3", "3", "3"]
    assert {r["target"] for r in rows if r["measurement"].startswith("2.")} == {"<= 0.5", "<= 1.1", "–"}
    for row in rows:
        assert float(row["ratio B/A"]) > 0, row


def test_identity_bench_smoke_reports_each_crowd_size():
    result = run_script("identity_bench.py", "--smoke")
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert [row["identity step per frame (1 thread)"] for row in rows] == ["5 objects, 1920x1080", "10 objects, 1920x1080"]
    assert all(row["identity"].endswith(" ms") and float(row["identity"][:-3]) > 0 for row in rows)
