"""Exports: MOTChallenge, CSV/Parquet, YouTube-VIS and the summary round-trip the records, from both layouts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from lang_sam_tracker.export.cli import main
from lang_sam_tracker.export.mot import load_mot
from lang_sam_tracker.results.reader import iter_frames
from lang_sam_tracker.results.record import rle_to_mask
from synthetic_tracks import FPS, Box, make_record, movers, write_results

ROOT = Path(__file__).resolve().parents[2]


def _scene() -> dict[int, list[Box]]:
    """Processed frames 0, 2, ..., 12 (as with --fps): object 1 leaves after frame 6, object 2 appears at 8, frame 10 is empty."""
    frames = {}
    for t in range(0, 14, 2):
        boxes = []
        if t <= 6:
            boxes.append(Box(1, "person", 0.81, 2 + t, 3, 12 + t, 15))
        if t >= 8 and t != 10:
            boxes.append(Box(2, "car", 0.67, 30, 20 + t, 44, 30 + t))
        if t != 10:
            boxes.append(Box(5, "person", 0.9, 40 - t, 2, 50 - t, 9))
        frames[t] = boxes
    return frames


def _truth(frames: dict[int, list[Box]]) -> set[tuple]:
    return {(t, b.obj_id, b.label, *b.xywh()) for t, boxes in frames.items() for b in boxes}


def _records(layout: str, results: Path) -> list[dict]:
    """The two videos of these tests in one layout: "frame", "object" (--group_by) or "sidecar" (--sidecar, for `results`)."""
    how = {"sidecar_for": results} if layout == "sidecar" else {"group_by": layout}
    return [
        make_record("videos/street.mp4", _scene(), total_frames=14, prompt="person . car", **how),
        make_record("other/lobby.mp4", movers(5), **how),
    ]


@pytest.fixture(params=["frame", "object", "sidecar"])
def layout(request) -> str:
    return request.param


@pytest.fixture
def results(tmp_path, layout):
    path = tmp_path / "results.jsonl"
    return write_results(path, _records(layout, path))


def test_iter_frames_gives_the_same_objects_from_both_layouts():
    by_frame = make_record("v.mp4", _scene(), total_frames=14, group_by="frame")
    by_object = make_record("v.mp4", _scene(), total_frames=14, group_by="object")
    listed = [(f.frame_idx, f.time_s, [(o["obj_id"], o["bbox"], o["mask"]) for o in f.objects]) for f in iter_frames(by_frame)]
    assert [f for f in listed if f[2]] == [
        (f.frame_idx, f.time_s, [(o["obj_id"], o["bbox"], o["mask"]) for o in f.objects]) for f in iter_frames(by_object)
    ]
    assert [f[0] for f in listed] == list(range(0, 14, 2)), "the per-frame layout lists the empty frame too"


@pytest.mark.parametrize("numbering", ["source", "processed"])
def test_mot_round_trip(results, layout, tmp_path, numbering):
    if numbering == "processed" and layout == "object":
        # the per-object layout does not list the empty frame 10: processed numbers are unknown, said in one line
        assert main([str(results), "--format", "mot", "--out", str(tmp_path / "mot"), "--mot_frames", numbering]) == 2
        return
    assert main([str(results), "--format", "mot", "--out", str(tmp_path / "mot"), "--mot_frames", numbering]) == 0
    rows = load_mot(tmp_path / "mot" / "street.txt")
    processed = sorted(_scene())
    back = set()
    for frame, mot_id, x, y, w, h, conf, *rest in rows:
        t = int(frame) - 1 if numbering == "source" else processed[int(frame) - 1]
        back.add((t, int(mot_id) - 1, int(x) - 1, int(y) - 1, int(w), int(h)))  # ids and corners are 1-based
        assert rest == [-1, -1, -1]
    assert back == {(t, i, *box) for t, i, _, *box in _truth(_scene())}
    ini = (tmp_path / "mot" / "street" / "seqinfo.ini").read_text()
    assert "name=street" in ini and "imWidth=64" in ini
    assert ("seqLength=14" if numbering == "source" else "seqLength=7") in ini
    assert (f"frameRate={FPS:g}" if numbering == "source" else "frameRate=5") in ini
    assert len(load_mot(tmp_path / "mot" / "lobby.txt")) == 10


def test_mot_files_are_read_by_trackeval_and_motmetrics(results, tmp_path):
    """The evaluation libraries' own MOTChallenge readers take the exported files."""
    import motmetrics as mm
    from trackeval.datasets import MotChallenge2DBox

    out = tmp_path / "trackers" / "ours" / "data"
    assert main([str(results), "--format", "mot", "--out", str(out)]) == 0
    events = mm.io.loadtxt(str(out / "street.txt"), fmt="mot15-2D")
    assert len(events) == sum(len(b) for b in _scene().values())
    assert set(events.index.get_level_values("Id")) == {2, 3, 6}
    first = events.loc[(1, 2)]
    assert [first["X"], first["Y"], first["Width"], first["Height"]] == [2, 3, 10, 12], "motmetrics reads back 0-based pixels"

    gt = tmp_path / "gt" / "street"
    (gt / "gt").mkdir(parents=True)
    (gt / "gt" / "gt.txt").write_text("1,1,3,4,10,12,1,1,1\n")
    config = {"GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"), "SKIP_SPLIT_FOL": True,
              "SEQ_INFO": {"street": 14}, "TRACKER_SUB_FOLDER": "data", "PRINT_CONFIG": False}
    raw = MotChallenge2DBox(config)._load_raw_file("ours", "street", is_gt=False)
    assert raw["num_timesteps"] == 14
    assert [len(ids) for ids in raw["tracker_ids"]] == [len(_scene().get(t, [])) for t in range(14)]
    np.testing.assert_array_equal(raw["tracker_dets"][0], [[3, 4, 10, 12], [41, 3, 10, 7]])  # 1-based corners
    np.testing.assert_allclose(raw["tracker_confidences"][0], [0.81, 0.9])


def test_csv_and_parquet_round_trip(results, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    assert main([str(results), "--format", "csv", "parquet", "--out", str(tmp_path / "t")]) == 0
    with open(tmp_path / "t" / "tracks.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    table = pq.read_table(tmp_path / "t" / "tracks.parquet").to_pylist()
    assert len(rows) == len(table) == 12 + 10
    for got in (rows, table):
        street = [r for r in got if r["video"] == "videos/street.mp4"]
        assert {(int(r["frame_idx"]), int(r["obj_id"]), r["label"], int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])) for r in street} == _truth(_scene())
        assert {float(r["time_s"]) for r in street} == {t / FPS for t in _scene() if _scene()[t]}
        assert {(int(r["obj_id"]), float(r["score"])) for r in street} == {(1, 0.81), (2, 0.67), (5, 0.9)}
        assert {r["text_prompt"] for r in street} == {"person . car"}


@pytest.mark.parametrize("rle", ["uncompressed", "compressed"])
def test_ytvis_round_trip_masks_decoded_by_pycocotools(results, layout, tmp_path, rle):
    assert main([str(results), "--format", "ytvis", "--out", str(tmp_path / "y"), "--ytvis_rle", rle]) == 0
    data = json.loads((tmp_path / "y" / "ytvis.json").read_text())
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "person"), (2, "car")], "categories from the prompt"
    video = next(v for v in data["videos"] if v["video_path"] == "videos/street.mp4")
    listed = list(range(0, 14, 2)) if layout != "object" else [0, 2, 4, 6, 8, 12]  # the per-object layout omits empty frame 10
    assert video["frame_idx"] == listed and video["length"] == len(listed)
    assert video["file_names"][1] == "street/00002.jpg"
    anns = [a for a in data["annotations"] if a["video_id"] == video["id"]]
    assert sorted(a["obj_id"] for a in anns) == [1, 2, 5]
    cat = {c["id"]: c["name"] for c in data["categories"]}
    truth = {(t, b.obj_id): b for t, boxes in _scene().items() for b in boxes}
    seen = 0
    for ann in anns:
        assert len(ann["segmentations"]) == len(ann["bboxes"]) == video["length"]
        for i, (seg, box) in enumerate(zip(ann["segmentations"], ann["bboxes"])):
            expected = truth.get((video["frame_idx"][i], ann["obj_id"]))
            if expected is None:
                assert seg is None and box is None
                continue
            seen += 1
            assert isinstance(seg["counts"], list if rle == "uncompressed" else str)
            if rle == "uncompressed":
                seg = mask_utils.frPyObjects(seg, *seg["size"])  # pycocotools' reader of uncompressed RLE
            mask = rle_to_mask(seg)  # pycocotools.mask.decode
            np.testing.assert_array_equal(mask, expected.mask())
            assert box == expected.xywh() and ann["areas"][i] == expected.mask().sum()
            assert cat[ann["category_id"]] == expected.label
    assert seen == 12


def test_summary_counts_objects_and_times(results, tmp_path):
    assert main([str(results), "--format", "summary", "--out", str(tmp_path / "s")]) == 0
    with open(tmp_path / "s" / "summary_videos.csv", newline="") as f:
        videos = {(r["video"], r["label"]): int(r["objects"]) for r in csv.DictReader(f)}
    assert videos == {("videos/street.mp4", "car"): 1, ("videos/street.mp4", "person"): 2, ("other/lobby.mp4", "person"): 2}
    with open(tmp_path / "s" / "summary_objects.csv", newline="") as f:
        objects = {int(r["obj_id"]): r for r in csv.DictReader(f) if r["video"] == "videos/street.mp4"}
    # object 1 on frames 0, 2, 4, 6 (times 0.0 ... 0.6); the processed rate is 7 frames over 1.2 s = 5 fps
    assert (float(objects[1]["first_seen_s"]), float(objects[1]["last_seen_s"]), int(objects[1]["frames_seen"])) == (0.0, 0.6, 4)
    assert float(objects[1]["visible_s"]) == pytest.approx(4 / 5.0)
    assert (float(objects[2]["first_seen_s"]), float(objects[2]["last_seen_s"]), int(objects[2]["frames_seen"])) == (0.8, 1.2, 2)
    assert float(objects[5]["mean_score"]) == pytest.approx(0.9)


def test_streaming_memory_does_not_grow_with_the_number_of_videos(tmp_path):
    """Exporting 80 videos peaks at about the memory of exporting 4: records are read and written one at a time.

    The files are written as a batch writes them, with their results index; a file without one is indexed on
    first read, in 1 MB chunks (a constant, shown flat by test_a_very_long_line_exports_with_flat_memory)."""
    record = make_record("v.mp4", movers(60, ids=(0, 1, 2), labels=("person",) * 3))
    formats = ["--format", "mot", "csv", "ytvis", "summary"]
    assert main([str(write_results(tmp_path / "warm.jsonl", [record])), *formats, "--out", str(tmp_path / "warm")]) == 0  # imports
    peaks = []
    for n in (4, 80):
        path = write_results(tmp_path / f"r{n}.jsonl", [dict(record, video_path=f"v{i}.mp4") for i in range(n)], index=True)
        tracemalloc.start()
        assert main([str(path), *formats, "--out", str(tmp_path / f"o{n}")]) == 0
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    size = (tmp_path / "r80.jsonl").stat().st_size
    print(f"peak traced memory: {peaks[0]} B for 4 videos, {peaks[1]} B for 80 ({size} B file)")
    assert peaks[1] < 1.3 * peaks[0], f"20x the videos should not grow the peak: {peaks[1]} B for 80 vs {peaks[0]} B for 4"


def test_sidecar_records_export_exactly_as_inline_ones(tmp_path):
    """--sidecar records (frames in a file per video) give the same files, byte for byte, as the inline layout."""
    inline = write_results(tmp_path / "inline.jsonl", _records("frame", tmp_path / "inline.jsonl"))
    side = tmp_path / "side" / "results.jsonl"
    side.parent.mkdir()
    write_results(side, _records("sidecar", side))
    assert '"frames":' not in side.read_text() and len(list((tmp_path / "side" / "results.sidecars").iterdir())) == 2
    formats = ["--format", "mot", "csv", "ytvis", "summary"]
    assert main([str(inline), *formats, "--out", str(tmp_path / "a")]) == 0
    assert main([str(side), *formats, "--out", str(tmp_path / "b")]) == 0
    names = sorted(str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(tmp_path / "b")) for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert {"street.txt", "lobby.txt", "tracks.csv", "ytvis.json", "summary_objects.csv"} <= set(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    rows = load_mot(tmp_path / "b" / "street.txt")
    assert {(int(r[0]) - 1, int(r[1]) - 1, int(r[2]) - 1, int(r[3]) - 1, int(r[4]), int(r[5])) for r in rows} == {
        (t, i, *box) for t, i, _, *box in _truth(_scene())
    }


_PEAK = (
    "import json, sys; from lang_sam_tracker.export.cli import main; from lang_sam_tracker.testing.long_record import peak_rss_mb; "
    "rc = main(sys.argv[1:]); print(json.dumps({'rc': rc, 'peak_mb': peak_rss_mb()}))"
)


@pytest.mark.parametrize("layout", ["frame", "object"])
def test_a_very_long_line_exports_with_flat_memory(tmp_path, layout):
    """A record line of ~95 MB (45,000 frames of 3 objects with masks, no results index yet) exports with about the
    peak RSS of a 3 MB one: the line is never loaded, frames are read and rows written one at a time."""
    from big_lines import OBJECTS, expected_rows, write_long_record

    formats = ["mot", "csv", "summary"]
    try:
        import pyarrow.parquet  # noqa: F401

        formats.append("parquet")
    except ImportError:
        pass
    peaks, sizes = {}, {}
    for name, frames in (("short", 1500), ("long", 45000)):
        path = tmp_path / f"{name}.jsonl"
        sizes[name] = write_long_record(path, frames, layout) / 2**20
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK, str(path), "--format", *formats, "--out", str(tmp_path / name)],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["rc"] == 0, proc.stderr
        peaks[name] = result["peak_mb"]
        with open(tmp_path / name / "tracks.csv") as f:
            assert sum(1 for _ in f) == 1 + expected_rows(frames)
        assert len(load_mot(tmp_path / name / "long.txt")) == expected_rows(frames)
        with open(tmp_path / name / "summary_objects.csv", newline="") as f:
            assert [int(r["frames_seen"]) for r in csv.DictReader(f)] == [frames] * OBJECTS
    print(f"{layout}: peak RSS {peaks['short']:.1f} MB for a {sizes['short']:.1f} MB line, {peaks['long']:.1f} MB for {sizes['long']:.1f} MB")
    assert sizes["long"] > 90
    # What may grow is bounded by constants (a 1 MB read window, a Parquet row group of table.ROW_GROUP rows), not by
    # the line: a third of its size at most. (Loading the line whole, as json.loads does, grew the peak by ~500 MB.)
    assert peaks["long"] - peaks["short"] < sizes["long"] / 3, f"peak RSS grew by {peaks['long'] - peaks['short']:.1f} MB"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lang_sam_tracker.export", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_bad_input_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    proc = _run(str(empty), "--format", "mot", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "empty.jsonl" in proc.stderr and "no video records" in proc.stderr

    no_masks = write_results(tmp_path / "nomask.jsonl", [make_record("v.mp4", movers(3), save_masks=False)])
    proc = _run(str(no_masks), "--format", "csv", "ytvis", "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "v.mp4" in proc.stderr and "--save_masks" in proc.stderr
    assert not list((tmp_path / "o2").iterdir()), "nothing half-written is left"

    proc = _run(str(tmp_path / "missing.jsonl"), "--format", "csv", "--out", str(tmp_path / "o3"))
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr and "not found" in proc.stderr

    broken = write_results(tmp_path / "broken.jsonl", [{"video_path": "x.mp4", "frames": [{"frame_idx": 0}]}])
    proc = _run(str(broken), "--format", "csv", "--out", str(tmp_path / "o4"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "x.mp4: malformed record" in proc.stderr
    broken = write_results(tmp_path / "broken2.jsonl", [{"video_path": "y.mp4", "text_prompt": "car", "frames": [{"frame_idx": 0}]}])
    proc = _run(str(broken), "--format", "csv", "--out", str(tmp_path / "o5"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "y.mp4: malformed record (KeyError" in proc.stderr

    from big_lines import write_long_record

    long = tmp_path / "long.jsonl"  # a line too long for the index to parse whole, with invalid JSON inside its frames
    write_long_record(long, 200)
    data = bytearray(long.read_bytes())
    at = data.index(b'"frame_idx": 150')
    data[at : at + 1] = b"!"
    long.write_bytes(bytes(data))
    proc = _run(str(long), "--format", "csv", "--out", str(tmp_path / "o6"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "long.mp4: malformed record" in proc.stderr


def test_sidecar_moved_away_is_one_line_exit_2(tmp_path):
    results = tmp_path / "run" / "results.jsonl"
    results.parent.mkdir()
    write_results(results, _records("sidecar", results))
    moved = tmp_path / "elsewhere.jsonl"
    moved.write_bytes(results.read_bytes())  # the results copied without their sidecar folder
    proc = _run(str(moved), "--format", "csv", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "videos/street.mp4: sidecar file not found" in proc.stderr and "results.sidecars" in proc.stderr
    assert not list((tmp_path / "o").iterdir()), "nothing half-written is left"


def test_ytvis_file_is_read_by_trackeval_youtube_vis(results, tmp_path):
    """TrackEval's YouTube-VIS reader (pycocotools underneath) takes the default (uncompressed) file as ground truth
    and the compressed file's annotations as results: scored against itself it is perfect, so every mask was decoded
    and matched."""
    import trackeval

    gt_dir = tmp_path / "gt" / "youtube_vis_val"
    assert main([str(results), "--format", "ytvis", "--out", str(gt_dir)]) == 0
    assert main([str(results), "--format", "ytvis", "--out", str(tmp_path / "c"), "--ytvis_rle", "compressed"]) == 0
    data = json.loads((tmp_path / "c" / "ytvis.json").read_text())
    tracker_dir = tmp_path / "trackers" / "youtube_vis_val" / "ours" / "data"
    tracker_dir.mkdir(parents=True)
    (tracker_dir / "results.json").write_text(json.dumps(
        [{k: a[k] for k in ("video_id", "category_id", "segmentations", "score")} for a in data["annotations"]]
    ))
    dataset = trackeval.datasets.YouTubeVIS({"GT_FOLDER": str(tmp_path / "gt") + "/", "TRACKERS_FOLDER": str(tmp_path / "trackers") + "/",
                                             "SPLIT_TO_EVAL": "val", "PRINT_CONFIG": False})
    evaluator = trackeval.Evaluator({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                                     "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False})
    res, _ = evaluator.evaluate([dataset], [trackeval.metrics.HOTA()])
    combined = res["YouTubeVIS"]["ours"]["COMBINED_SEQ"]
    for cls in ("person", "car"):
        hota = combined[cls]["HOTA"]
        assert hota["HOTA_TP"][0] > 0 and float(np.mean(hota["HOTA"])) == pytest.approx(1.0)


@pytest.mark.parametrize("layout", ["frame"])
def test_format_given_twice_adds_up(results, tmp_path):
    proc = _run(str(results), "--format", "mot", "--format", "csv", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "tracks.csv").is_file() and list((tmp_path / "o").glob("*.txt"))
