"""Evaluation against MOTChallenge ground truth: known answers, TrackEval's own pipeline as the reference, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lang_sam_tracker.evaluate.cli import main
from lang_sam_tracker.evaluate.score import Options, evaluate, parse_class_map
from lang_sam_tracker.export.cli import main as export_main
from synthetic_tracks import Box, make_record, movers, write_gt, write_results

ROOT = Path(__file__).resolve().parents[2]


def _scores(tmp_path: Path, records: list[dict], *args: str) -> list[dict]:
    n = len(list(tmp_path.glob("results*.jsonl")))
    results = write_results(tmp_path / ("results.jsonl" if n == 0 else f"results{n}.jsonl"), records)
    out = tmp_path / "report.json"
    assert main([str(results), "--gt", str(tmp_path / "gt"), "--out", str(out), "--fractions", *args]) == 0
    return json.loads(out.read_text())["rows"]


def _layout(layout: str, results: Path) -> dict:
    """make_record's arguments for a layout: "frame", "object" (--group_by) or "sidecar" (--sidecar, for `results`)."""
    return {"sidecar_for": results} if layout == "sidecar" else {"group_by": layout}


@pytest.mark.parametrize("layout", ["frame", "object", "sidecar"])
def test_perfect_result_scores_one(tmp_path, layout):
    truth = movers(12, ids=(0, 1, 2), labels=("person",) * 3)
    write_gt(tmp_path / "gt", "walk", truth)
    rows = _scores(tmp_path, [make_record("clips/walk.mp4", truth, save_masks=False, **_layout(layout, tmp_path / "results.jsonl"))])
    assert [r["video"] for r in rows] == ["clips/walk.mp4", "OVERALL"]
    for row in rows:
        assert (row["HOTA"], row["DetA"], row["AssA"], row["LocA"], row["IDF1"], row["MOTA"]) == (1.0,) * 6
        assert (row["IDSW"], row["FP"], row["FN"], row["GT_dets"], row["GT_ids"], row["frames"]) == (0, 0, 0, 36, 3, 12)


def test_a_known_id_swap_gives_the_known_switches_and_idf1(tmp_path):
    truth = movers(10)
    pred = {t: [Box(b.obj_id if t < 5 else 1 - b.obj_id, b.label, b.score, b.x0, b.y0, b.x1, b.y1) for b in boxes] for t, boxes in truth.items()}
    write_gt(tmp_path / "gt", "swap", truth)
    row = _scores(tmp_path, [make_record("swap.mp4", pred, save_masks=False)])[0]
    # By hand: 20 ground-truth boxes, all matched (IoU 1). Each of the 2 objects changes tracker id once: 2 switches,
    # MOTA = 1 - 2/20. Best one-to-one id pairing keeps 5 of 10 frames per object: IDTP = 10, IDFP = IDFN = 10,
    # IDF1 = 2*10 / (2*10 + 10 + 10) = 0.5. HOTA: DetA = 1; every match's pair shares 5 of 10 + 10 - 5 frames,
    # AssA = 5/15 = 1/3, HOTA = sqrt(1 * 1/3).
    assert (row["IDSW"], row["FP"], row["FN"], row["GT_dets"]) == (2, 0, 0, 20)
    assert row["MOTA"] == pytest.approx(1 - 2 / 20)
    assert row["IDF1"] == pytest.approx(0.5)
    assert row["DetA"] == pytest.approx(1.0)
    assert row["AssA"] == pytest.approx(1 / 3)
    assert row["HOTA"] == pytest.approx(np.sqrt(1 / 3))


def _noisy_sequence(seed: int = 3, n: int = 30) -> tuple[dict, dict, list[str]]:
    """Ground truth of 4 movers plus a distractor and an ignored row, and a tracker output with jitter, misses,
    a false-positive track, an id swap and boxes on the distractor and the ignored row."""
    rng = np.random.default_rng(seed)
    truth: dict[int, list[Box]] = {}
    pred: dict[int, list[Box]] = {}
    for t in range(n):
        truth[t] = [Box(k, "person", 0.9, 2 + k * 15 + t // 3, 3 + (t * (k + 1)) % 20, 12 + k * 15 + t // 3, 19 + (t * (k + 1)) % 20) for k in range(4)]
        pred[t] = []
        for b in truth[t]:
            if rng.random() < 0.12:
                continue  # a miss
            obj_id = b.obj_id if not (b.obj_id in (0, 1) and t >= 17) else 1 - b.obj_id  # ids 0 and 1 swap at frame 17
            dx, dy = rng.integers(-1, 2, size=2)
            pred[t].append(Box(obj_id, "person", 0.8, b.x0 + dx, b.y0 + dy, b.x1 + dx, b.y1 + dy))
        if 5 <= t < 12:
            pred[t].append(Box(9, "person", 0.4, 50, 36, 58, 44))  # a false-positive track
        pred[t].append(Box(7, "person", 0.5, 30, 40, 36, 46))  # on the distractor: dropped, not a false positive
        if t % 4 == 0:
            pred[t].append(Box(8, "person", 0.5, 2, 40, 8, 46))  # on an ignored (consider = 0) row: a false positive
    extra = [f"{t + 1},50,31,41,6,6,1,8,1" for t in range(n)] + [f"{t + 1},51,3,41,6,6,0,1,1" for t in range(n)]
    return truth, pred, extra


def test_scores_equal_trackeval_run_on_the_exported_mot_files(tmp_path):
    """The reference: TrackEval's own MOTChallenge pipeline (its reader, preprocessing, HOTA, CLEAR and Identity)
    run on the MOT file `export` writes gives the numbers `evaluate` reports."""
    import trackeval

    truth, pred, extra = _noisy_sequence()
    write_gt(tmp_path / "gt", "MOT17-90", truth, extra_rows=extra)
    record = make_record("MOT17-90.mp4", pred, total_frames=30, save_masks=False)
    ours = _scores(tmp_path, [record])[0]

    trackers = tmp_path / "trackers" / "ours" / "data"
    assert export_main([str(tmp_path / "results.jsonl"), "--format", "mot", "--out", str(trackers)]) == 0
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"), "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": {"MOT17-90": None}, "PRINT_CONFIG": False, "BENCHMARK": "MOT17",
    })
    evaluator = trackeval.Evaluator({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                                     "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "OUTPUT_EMPTY_CLASSES": False})
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()]
    res, _ = evaluator.evaluate([dataset], metrics)
    ref = res["MotChallenge2DBox"]["ours"]["MOT17-90"]["pedestrian"]
    for field in ("HOTA", "DetA", "AssA", "LocA"):
        assert ours[field] == pytest.approx(float(np.mean(ref["HOTA"][field])), abs=1e-9), field
    assert ours["MOTA"] == pytest.approx(ref["CLEAR"]["MOTA"], abs=1e-9)
    assert (ours["IDSW"], ours["FP"], ours["FN"]) == (ref["CLEAR"]["IDSW"], ref["CLEAR"]["CLR_FP"], ref["CLEAR"]["CLR_FN"])
    assert ours["IDF1"] == pytest.approx(ref["Identity"]["IDF1"], abs=1e-9)
    assert ours["MOTP"] == pytest.approx(ref["CLEAR"]["MOTP"], abs=1e-9)
    assert (ours["MT"], ours["ML"], ours["Frag"]) == (ref["CLEAR"]["MT"], ref["CLEAR"]["ML"], ref["CLEAR"]["Frag"])
    assert all(type(ours[c]) is int for c in ("IDSW", "FP", "FN", "MT", "ML", "Frag", "GT_dets", "frames"))
    # the data is not trivial: every kind of error is present
    assert ours["IDSW"] >= 2 and ours["FP"] > 7 and ours["FN"] > 0 and 0.5 < ours["HOTA"] < 0.95


def test_every_layout_scores_the_same(tmp_path):
    """The noisy sequence (misses, a false-positive track, an id swap, a distractor) scores the same from --group_by
    frame records, --sidecar records and --group_by object records (every source frame processed, so the per-object
    layout's empty frames are known)."""
    truth, pred, extra = _noisy_sequence()
    pred[12] = []  # a processed frame where nothing was seen: absent from the per-object layout, its misses still count
    write_gt(tmp_path / "gt", "MOT17-91", truth, extra_rows=extra)
    rows = {}
    for n, layout in enumerate(["frame", "sidecar", "object"]):
        results = tmp_path / ("results.jsonl" if n == 0 else f"results{n}.jsonl")
        rows[layout] = _scores(tmp_path, [make_record("MOT17-91.mp4", pred, total_frames=30, save_masks=False, **_layout(layout, results))])
    assert rows["frame"][0]["FN"] > 4 and rows["frame"][0]["frames"] == 30
    assert rows["sidecar"] == rows["frame"]
    assert rows["object"] == rows["frame"]


def test_only_processed_frames_are_scored(tmp_path):
    truth = movers(12)
    write_gt(tmp_path / "gt", "sub", truth)
    every_third = {t: boxes for t, boxes in truth.items() if t % 3 == 0}
    row = _scores(tmp_path, [make_record("sub.mp4", every_third, total_frames=12, save_masks=False)])[0]
    assert row["frames"] == 4 and row["GT_dets"] == 8 and row["MOTA"] == 1.0 and row["HOTA"] == 1.0


def test_ground_truth_numbered_from_zero(tmp_path):
    truth = movers(6)
    write_gt(tmp_path / "gt", "zero", truth, first_frame=0)
    row = _scores(tmp_path, [make_record("zero.mp4", truth, save_masks=False)], "--gt_first_frame", "0")[0]
    assert row["MOTA"] == 1.0 and row["GT_dets"] == 12


def test_class_map_scores_each_prompt_label_against_its_classes(tmp_path):
    truth = {t: [Box(0, "person", 0.9, 2 + t, 4, 12 + t, 14), Box(1, "car", 0.8, 2 + t, 20, 20 + t, 30)] for t in range(8)}
    lines = [f"{t + 1},{b.obj_id + 1},{b.x0 + 1},{b.y0 + 1},{b.x1 - b.x0},{b.y1 - b.y0},1,{1 if b.label == 'person' else 3},1"
             for t, boxes in truth.items() for b in boxes]
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "road.txt").write_text("\n".join(lines) + "\n")  # the flat layout: GT/<sequence>.txt
    record = make_record("road.mp4", truth, save_masks=False, prompt="person . car")

    rows = _scores(tmp_path, [record], "--class_map", "person=1", "--class_map", "car=3")
    assert [(r["class"], r["MOTA"], r["GT_dets"], r["Pred_dets"]) for r in rows[:2]] == [("person", 1.0, 8, 8), ("car", 1.0, 8, 8)]
    assert rows[2]["video"] == "OVERALL" and rows[2]["GT_dets"] == 16 and rows[2]["HOTA"] == 1.0

    default = _scores(tmp_path, [record])[0]  # '*=1': every prediction against class 1, so the car boxes are false positives
    assert (default["FP"], default["GT_dets"]) == (8, 8) and default["MOTA"] == pytest.approx(0.0)


def test_seq_map_names_the_sequence(tmp_path):
    truth = movers(5)
    write_gt(tmp_path / "gt", "MOT17-02-FRCNN", truth)
    (tmp_path / "map.txt").write_text("# video,sequence\ncam/front door.mp4,MOT17-02-FRCNN\n")
    row = _scores(tmp_path, [make_record("cam/front door.mp4", truth, save_masks=False)], "--seq_map", str(tmp_path / "map.txt"))[0]
    assert row["sequence"] == "MOT17-02-FRCNN" and row["MOTA"] == 1.0


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lang_sam_tracker.evaluate", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_missing_sequence_is_partial_exit_1_or_usage_exit_2(tmp_path):
    write_gt(tmp_path / "gt", "known", movers(4))
    both = write_results(tmp_path / "both.jsonl", [make_record("known.mp4", movers(4), save_masks=False), make_record("unknown.mp4", movers(4), save_masks=False)])
    proc = _run(str(both), "--gt", str(tmp_path / "gt"))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "unknown.mp4: no ground truth for sequence 'unknown'" in proc.stderr
    assert "known.mp4" in proc.stdout and "OVERALL" in proc.stdout

    only_unknown = write_results(tmp_path / "unknown.jsonl", [make_record("unknown.mp4", movers(4), save_masks=False)])
    proc = _run(str(only_unknown), "--gt", str(tmp_path / "gt"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert all(line.startswith("error: ") for line in proc.stderr.strip().splitlines())

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    proc = _run(str(empty), "--gt", str(tmp_path / "gt"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "no video records" in proc.stderr

    proc = _run(str(both), "--gt", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "--gt" in proc.stderr and "not found" in proc.stderr

    proc = _run(str(both), "--gt", str(tmp_path / "gt"), "--class_map", "person")
    assert proc.returncode == 2 and "--class_map 'person'" in proc.stderr


def test_missing_evaluation_libraries_is_one_line(tmp_path, monkeypatch, capsys):
    write_gt(tmp_path / "gt", "v", movers(3))
    results = write_results(tmp_path / "r.jsonl", [make_record("v.mp4", movers(3), save_masks=False)])
    monkeypatch.setitem(sys.modules, "trackeval", None)  # import trackeval now raises ImportError
    monkeypatch.setitem(sys.modules, "trackeval.metrics", None)
    assert main([str(results), "--gt", str(tmp_path / "gt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lang-sam-tracker[eval]" in err


def test_api_reports_problems_without_raising(tmp_path):
    write_gt(tmp_path / "gt", "a", movers(3))
    results = write_results(tmp_path / "r.jsonl", [make_record("a.mp4", movers(3), save_masks=False), make_record("b.mp4", movers(3), save_masks=False)])
    report = evaluate(results, Options(gt_dir=tmp_path / "gt", classes=parse_class_map(None)))
    assert report.exit_code == 1 and len(report.problems) == 1 and [r["video"] for r in report.rows] == ["a.mp4", "OVERALL"]


def test_the_table_reads_in_percent_with_integer_counts_and_aligns_wide_names(tmp_path, capsys):
    from lang_sam_tracker.evaluate.cli import text_width

    truth = movers(6, ids=(0, 1), labels=("person",) * 2)
    write_gt(tmp_path / "gt", "步行者", truth)
    results = write_results(tmp_path / "results.jsonl", [make_record("clips/步行者.mp4", truth, save_masks=False)])
    assert main([str(results), "--gt", str(tmp_path / "gt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, row = lines[0].split(), lines[1].split()
    values = dict(zip(header, row))
    assert values["HOTA"] == values["MOTA"] == values["MOTP"] == values["IDF1"] == "100.0"
    assert values["IDSW"] == values["FP"] == "0" and values["MT"] == "2" and values["ML"] == "0" and values["Frag"] == "0"
    assert len({text_width(line) for line in lines}) == 1, "columns misaligned:\n" + "\n".join(lines)
    assert main([str(results), "--gt", str(tmp_path / "gt"), "--fractions"]) == 0
    values = dict(zip(*(line.split() for line in capsys.readouterr().out.splitlines()[:2])))
    assert values["HOTA"] == "1.000" and values["IDSW"] == "0"
