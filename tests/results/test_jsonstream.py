"""JsonCursor: values, members and skips read the same whatever the window size cuts through."""

from __future__ import annotations

import json

import pytest

from lang_sam_tracker.results.jsonstream import JsonCursor

ITEMS = [{"a": 0.95, "b": [1e-3, -2.5e2, 'x]}"[{', {"c": [12.25, 7]}], "d": None, "é": "ü\\"} for _ in range(4)]
RECORD = {"x": 0.95, "y": -12.5e-3, "s": "a]}", "frames": ITEMS, "z": 123456.75, "t": True, "n": 10}


@pytest.fixture
def fd(tmp_path):
    import os

    path = tmp_path / "doc.json"
    path.write_text(json.dumps(RECORD, ensure_ascii=False), encoding="utf-8")
    fd = os.open(path, os.O_RDONLY)
    yield fd
    os.close(fd)


@pytest.mark.parametrize("skip_frames", [False, True])
def test_every_window_size_reads_the_same(fd, skip_frames):
    """Windows of 1 to 80 bytes cut numbers after '.', 'e' or '-', strings with brackets, non-ASCII text."""
    want = {k: v for k, v in RECORD.items() if not (skip_frames and k == "frames")}
    for chunk in range(1, 81):
        cursor = JsonCursor(fd, chunk=chunk)
        got = {}
        for key in cursor.members():
            if key == "frames" and skip_frames:
                cursor.skip()
            else:
                got[key] = cursor.value()
        assert got == want, f"window of {chunk} bytes"
        assert cursor.peek() == ""


def test_skip_of_a_truncated_value_says_where(tmp_path):
    import os

    path = tmp_path / "cut.json"
    path.write_text(json.dumps(RECORD)[:-40])
    fd = os.open(path, os.O_RDONLY)
    try:
        cursor = JsonCursor(fd, chunk=16)
        with pytest.raises(ValueError, match="byte"):
            for _ in cursor.members():
                cursor.skip()
    finally:
        os.close(fd)
