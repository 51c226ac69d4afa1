"""Decoding: indices, timestamps and --fps sampling on CFR and VFR files, rotation, truncation, bad files."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest

from lang_sam_tracker.errors import VideoError
from lang_sam_tracker.testing import scenes as S
from lang_sam_tracker.video import VideoReader, probe_video

N = 60


def _racer(fps: float = 30.0, n: int = N) -> S.Scene:
    """One square moving 2 px per frame, so neighbouring frames are told apart by their pixels."""
    square = S.SceneObject(0, "box", (230, 60, 50), (10, 10), ((0, 0, 10), (n - 1, 2 * (n - 1), 20)))
    return S.Scene(2 * n + 16, 48, fps, n, (square,))


def _nearest_grid_frames(times: list[float], fps: float) -> list[int]:
    """Reference sampler over the whole timeline: for each grid point the nearest frame, each frame once."""
    times_a = np.asarray(times)
    chosen: list[int] = []
    k = 0
    while k / fps <= times_a[-1] + 1e-9:
        dist = np.abs(times_a - k / fps)
        i = int(np.flatnonzero(dist <= dist.min() + 1e-9)[0])  # ties go to the earlier frame
        if not chosen or chosen[-1] != i:
            chosen.append(i)
        k += 1
    return chosen


def _best_match(scene: S.Scene, rgb: np.ndarray, around: int) -> int:
    """Which source frame near `around` the decoded picture shows."""
    candidates = [i for i in range(around - 2, around + 3) if 0 <= i < scene.n_frames]
    errors = [np.abs(rgb.astype(int) - S.render_frame(scene, i)).mean() for i in candidates]
    return candidates[int(np.argmin(errors))]


def _new_decoder_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("decode:")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    vfr_scene = _racer(30.0)
    vfr_times = S.vfr_timestamps(N, 30.0, seed=5)
    return {
        "30": (S.write_video(_racer(30.0), d / "r30.mp4"), _racer(30.0)),
        "60": (S.write_video(_racer(60.0), d / "r60.mp4"), _racer(60.0)),
        "vfr": (S.write_video(vfr_scene, d / "vfr.mp4", timestamps=vfr_times), vfr_scene, vfr_times),
        "dir": d,
    }


def _read(path, **kw) -> tuple[VideoReader, list]:
    with VideoReader(path, **kw) as reader:
        frames = list(reader)
    return reader, frames


def test_every_frame_has_its_index_time_and_picture(clips):
    path, scene = clips["30"]
    reader, frames = _read(path)
    assert reader.info.total_frames == N and reader.info.original_fps == pytest.approx(30.0)
    assert reader.info.duration_s == pytest.approx(N / 30.0)
    assert [f.index for f in frames] == list(range(N))
    assert [f.time_s for f in frames] == pytest.approx([i / 30.0 for i in range(N)], abs=1e-6)
    assert all(_best_match(scene, f.rgb, f.index) == f.index for f in frames)
    assert reader.decode_seconds > 0


@pytest.mark.parametrize(
    ("clip", "fps", "expected"),
    [
        ("30", 10.0, list(range(0, N, 3))),
        ("60", 5.0, list(range(0, N, 12))),
        ("30", 7.0, [round(30 * k / 7) for k in range(14)]),
    ],
)
def test_fps_takes_the_frames_nearest_the_grid(clips, clip, fps, expected):
    path, scene = clips[clip]
    _, frames = _read(path, fps=fps)
    assert [f.index for f in frames] == expected
    assert [f.time_s for f in frames] == pytest.approx([i / scene.fps for i in expected], abs=1e-6)
    assert all(_best_match(scene, f.rgb, f.index) == f.index for f in frames)


def test_only_the_frames_the_sampler_keeps_are_converted_to_rgb(clips, monkeypatch):
    import lang_sam_tracker.video as video

    converted = []
    original = video._rotate
    monkeypatch.setattr(video, "_rotate", lambda rgb, rot: converted.append(rgb.shape) or original(rgb, rot))
    path, _ = clips["30"]
    _, frames = _read(path, fps=10.0)
    assert len(converted) == len(frames) == len(range(0, N, 3))


def test_fps_at_or_above_the_source_rate_gives_every_frame(clips):
    path, _ = clips["30"]
    for fps in (30.0, 45.0):
        _, frames = _read(path, fps=fps)
        assert [f.index for f in frames] == list(range(N))


def test_variable_frame_rate_timestamps_are_exact(clips):
    path, scene, times = clips["vfr"]
    reader, frames = _read(path)
    assert reader.info.total_frames == N
    assert [f.index for f in frames] == list(range(N))
    assert [f.time_s for f in frames] == pytest.approx(times, abs=1e-4)
    assert all(_best_match(scene, f.rgb, f.index) == f.index for f in frames)


@pytest.mark.parametrize("fps", [5.0, 12.0, 25.0])
def test_variable_frame_rate_sampling_follows_timestamps(clips, fps):
    path, _, _ = clips["vfr"]
    _, every = _read(path)
    _, frames = _read(path, fps=fps)
    idx = [f.index for f in frames]
    assert idx == _nearest_grid_frames([f.time_s for f in every], fps)
    assert len(idx) < len(every)
    assert len(set(idx)) == len(idx)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_is_applied(clips, rotation):
    scene = S.three_movers(width=64, height=48, n_frames=6)
    path = S.write_video(scene, clips["dir"] / f"rot{rotation}.mp4", rotation=rotation)
    with av.open(str(path)) as c:  # stored (coded) picture is portrait
        assert (c.streams.video[0].width, c.streams.video[0].height) == (48, 64)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (64, 48, rotation)
    _, frames = _read(path)
    for f in frames:
        assert f.rgb.shape == (48, 64, 3) and f.rgb.flags.c_contiguous
        err = np.abs(f.rgb.astype(int) - S.render_frame(scene, f.index)).mean()
        err_flipped = np.abs(f.rgb.astype(int) - S.render_frame(scene, f.index)[::-1, ::-1]).mean()
        assert err < 6 and err_flipped > 3 * err


def test_max_frames_caps_the_frames_yielded(clips):
    path, _ = clips["30"]
    _, frames = _read(path, fps=10.0, max_frames=4)
    assert [f.index for f in frames] == [0, 3, 6, 9]


def test_close_stops_the_decoder_thread_mid_video(clips):
    path, _ = clips["30"]
    before = set(threading.enumerate())
    reader = VideoReader(path, queue_size=2)
    it = iter(reader)
    assert next(it).index == 0
    reader.close()
    assert not _new_decoder_threads(before)


def test_leaving_the_loop_early_stops_the_decoder_thread(clips):
    path, _ = clips["30"]
    before = set(threading.enumerate())
    for frame in VideoReader(path, queue_size=2):
        break
    assert frame.index == 0
    assert not _new_decoder_threads(before)


def test_container_without_a_frame_count_is_counted(clips):
    path = S.write_video(_racer(30.0, n=20), clips["dir"] / "counted.mkv")
    with av.open(str(path)) as c:
        assert not c.streams.video[0].frames  # Matroska does not say
    assert probe_video(path).total_frames == 20


def test_mpeg4_codec_decodes(clips):
    scene = _racer(25.0, n=10)
    path = S.write_video(scene, clips["dir"] / "m4.avi", codec="mpeg4")
    _, frames = _read(path)
    assert [f.index for f in frames] == list(range(10))
    assert [f.time_s for f in frames] == pytest.approx([i / 25 for i in range(10)], abs=1e-6)


def test_truncated_file_names_the_last_good_frame(clips):
    path = S.write_truncated(_racer(30.0), clips["dir"] / "cut.mp4", at_frame=24)
    reader = VideoReader(path)
    seen = []
    with pytest.raises(VideoError) as err:
        with reader:
            for f in reader:
                seen.append(f.index)
    assert seen == list(range(24))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "after frame 23 of 60" in msg


def test_truncated_mid_packet_is_an_error_not_a_short_stream(clips):
    path = S.write_truncated(_racer(30.0), clips["dir"] / "cut_mid.mp4", at_frame=30, mid_packet=True)
    with pytest.raises(VideoError, match=r"decoding failed after frame \d+ of 60") as err:
        _read(path, fps=10.0)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kind", "make", "reason"),
    [
        ("missing", lambda p: p, "not found"),
        ("directory", lambda p: (p.mkdir(), p)[1], "directory"),
        ("empty", S.write_empty_file, "empty"),
        ("text", S.write_text_file, "cannot open"),
        ("audio", S.write_audio_only, "no video stream"),
        ("zero_frames", S.write_zero_frame_video, "zero frames"),
    ],
)
def test_bad_files_are_one_line_video_errors(tmp_path, kind, make, reason):
    path = make(tmp_path / f"{kind}.mp4")
    with pytest.raises(VideoError) as err:
        probe_video(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and reason in msg
    with pytest.raises(VideoError):
        VideoReader(path)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        VideoReader("whatever.mp4", fps=0)
    with pytest.raises(ValueError):
        VideoReader("whatever.mp4", max_frames=0)
