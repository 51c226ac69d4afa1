"""Flag parsing: out-of-range values are usage errors (exit 2) with a message naming the flag."""

import pytest

from lang_sam_tracker.cli.parser import build_parser, run_config_from_args

BASE = ["--video_list", "l.txt", "--text_prompt", "car", "--output_jsonl", "r.jsonl"]


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--match_threshold", "1.5"),
        ("--min_hits", "0"),
        ("--retire_after", "-1"),
        ("--duplicate_iou", "0"),
        ("--detection_frequency", "0"),
        ("--fps", "-1"),
        ("--box_threshold", "2"),
        ("--nms_iou", "abc"),
        ("--num_workers", "0"),
        ("--shard_index", "-1"),
    ],
)
def test_out_of_range_flags_are_usage_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser(True).parse_args([*BASE, flag, value])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


def test_defaults_come_from_the_tracker_config():
    from lang_sam_tracker.identity import IdentityConfig

    args = build_parser(False).parse_args(BASE)
    assert args.min_hits == IdentityConfig.min_hits and args.lost_window == IdentityConfig.lost_window
    assert run_config_from_args(args).tracker.identity == IdentityConfig()
    assert not hasattr(args, "gpu_ids")  # multi-GPU flags only on the multiprocess script
