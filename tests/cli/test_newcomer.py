"""What a newcomer types: dashed flags, videos and folders as --video_list, comma prompts, a second
run on the same results file, a rerun with missing videos; and the closing summary."""

from __future__ import annotations

import json
import os

import pytest

from lang_sam_tracker.cli.parser import build_parser, main_single
from lang_sam_tracker.results.jsonl import failures_path
from lang_sam_tracker.results.lock import ResultsLock
from lang_sam_tracker.testing import scenes

REQUIRED = ["--video_list", "l.txt", "--text_prompt", "car", "--output_jsonl", "r.jsonl"]


def test_every_flag_takes_dashes_too_with_one_spelling_in_help(capsys):
    parser = build_parser(multiprocess=True)
    args = parser.parse_args(["--video-list", "l.txt", "--text-prompt", "car", "--output-jsonl", "r.jsonl", "--save-masks",
                              "--detection-frequency", "3", "--min-hits", "2", "--no-resume", "--gpu-ids", "0", "1"])
    assert (args.video_list.name, args.text_prompt, args.save_masks, args.detection_frequency, args.min_hits) == ("l.txt", "car", True, 3, 2)
    assert args.resume is False and args.gpu_ids == [0, 1]
    text = parser.format_help()
    assert "--text_prompt" in text and "--save-masks" not in text and "--min-hits" not in text
    assert text.count("--text-prompt") == 1 and "also be spelled with dashes (--text-prompt)" in text  # said once, in the epilog


@pytest.mark.parametrize("abbreviation", ["--save_mask", "--text_prom", "--detection_freq"])
def test_abbreviations_are_refused(abbreviation, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser(multiprocess=False).parse_args([*REQUIRED, abbreviation, "1"])
    assert exit_.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_detect_batch_size_is_chosen_for_the_device_unless_given():
    from lang_sam_tracker.settings import default_detect_batch_size

    parser = build_parser(multiprocess=False)
    assert parser.parse_args(REQUIRED).detect_batch_size is None
    assert "on CUDA" in parser.format_help()
    assert default_detect_batch_size("cpu") == 1 and default_detect_batch_size("cuda:0") > 1


@pytest.fixture
def clips(tmp_path):
    (tmp_path / "clips" / "day").mkdir(parents=True)
    paths = [scenes.write_video(scenes.three_movers(width=64, height=48, n_frames=3), tmp_path / "clips" / name)
             for name in ("a.mp4", "day/b.MOV")]
    (tmp_path / "clips" / "notes.txt").write_text("not a video\n")
    return paths


def _run(tmp_path, tiny_model_args, *args) -> int:
    return main_single([*args, "--device", "cpu", *tiny_model_args])


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_video_a_folder_or_a_glob_is_a_video_list(tmp_path, clips, tiny_model_args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.jsonl"
    assert _run(tmp_path, tiny_model_args, "--video_list", "clips/a.mp4", "--text_prompt", "car", "--output_jsonl", str(out)) == 0
    assert [r["video_path"] for r in _records(out)] == ["clips/a.mp4"]
    # the folder adds b.MOV (found recursively, any case of extension), a.mp4 is done already
    assert _run(tmp_path, tiny_model_args, "--video_list", "clips", "--text_prompt", "car", "--output_jsonl", str(out)) == 0
    assert sorted(os.path.basename(r["video_path"]) for r in _records(out)) == ["a.mp4", "b.MOV"]
    from lang_sam_tracker.batch import read_video_list

    assert read_video_list("clips/*.mp4") == ["clips/a.mp4"]
    assert read_video_list("clips/**/*.MOV") == ["clips/day/b.MOV"]


def test_comma_prompts_resume_as_the_dotted_one_and_keep_the_text_given(tmp_path, clips, tiny_model_args, capsys):
    out = tmp_path / "r.jsonl"
    common = ["--video_list", str(clips[0]), "--output_jsonl", str(out), "--output_video_dir", str(tmp_path / "videos")]
    assert _run(tmp_path, tiny_model_args, *common, "--text_prompt", "person. car") == 0
    assert _run(tmp_path, tiny_model_args, *common, "--text_prompt", "Person, car") == 0  # the same prompt: nothing to do
    (record,) = _records(out)
    assert record["text_prompt"] == "person . car" and record["text_prompt_as_given"] == "person. car"
    assert "Nothing to do" in capsys.readouterr().err
    assert _run(tmp_path, tiny_model_args, *common, "--text_prompt", "dog") == 0  # another prompt: its own video
    assert len(_records(out)) == 2 and len(list((tmp_path / "videos").glob("*.mp4"))) == 2
    assert len({r["output_video"] for r in _records(out)}) == 2
    said = capsys.readouterr().err  # the closing summary: where the videos went, how many objects
    objects = _records(out)[1]["stats"]["num_objects"]
    assert f"Annotated videos: {tmp_path / 'videos'}" in said and f"Objects: {objects} tracked in the 1 video completed" in said


def test_missing_videos_are_skipped_before_any_model_loads_and_ledgered_once(tmp_path, clips, tiny_model_args, monkeypatch, capsys):
    from lang_sam_tracker.batch.worker import Engine

    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'gone1.mp4'}\n{tmp_path / 'gone2.mp4'}\n")
    out = tmp_path / "r.jsonl"

    def no_models(self):
        raise AssertionError("models loaded although no listed video exists")

    monkeypatch.setattr(Engine, "load", no_models)
    for _ in range(2):  # a rerun finds them missing again
        assert _run(tmp_path, tiny_model_args, "--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out)) == 1
        said = [line for line in capsys.readouterr().err.splitlines() if "not found, skipped" in line]
        assert len(said) == 1 and "gone1.mp4" in said[0] and "gone2.mp4" in said[0]
    ledger = [json.loads(line) for line in failures_path(out).read_text().splitlines()]
    assert sorted(os.path.basename(e["video_path"]) for e in ledger) == ["gone1.mp4", "gone2.mp4"]  # once each
    monkeypatch.undo()
    listing.write_text(f"{tmp_path / 'gone1.mp4'}\n{clips[0]}\n")  # the rest run
    assert _run(tmp_path, tiny_model_args, "--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(out)) == 1
    assert [r["video_path"] for r in _records(out)] == [str(clips[0])]


def test_a_second_run_on_the_same_results_file_stops_at_once_naming_the_first(tmp_path, clips, tiny_model_args, capsys):
    out = tmp_path / "r.jsonl"
    with ResultsLock(out):  # the first run, still going
        code = _run(tmp_path, tiny_model_args, "--video_list", str(clips[0]), "--text_prompt", "car", "--output_jsonl", str(out))
    assert code == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and f"pid {os.getpid()}" in errors[0] and str(out) in errors[0]
    assert not out.exists()
    # once the first run is over, the lock is free (the kernel's, so a killed run leaves none either)
    assert _run(tmp_path, tiny_model_args, "--video_list", str(clips[0]), "--text_prompt", "car", "--output_jsonl", str(out)) == 0
