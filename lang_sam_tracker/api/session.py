"""`Tracker`: the models loaded once, then one video (or many) tracked from Python.

    from lang_sam_tracker import Tracker

    tracker = Tracker(device="cuda")                  # the CLI's defaults; any CLI flag as a keyword
    result = tracker.track("clip.mp4", "person . car")
    for frame in result.frames:
        for obj in frame.objects:
            print(frame.frame_idx, frame.time_s, obj.obj_id, obj.label, obj.score, obj.box)
    result.save("results.jsonl")                      # the CLI's record format, appended

The models are built through the batch workers' own code (`batch.worker.Engine`), so a result is
the record the CLI would write for the same flags. Nothing is written to disk unless asked: the
record is built in memory (no spool files), an annotated video only with `output_video=`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .track_result import TrackResult, result_of_record

# CLI flags that describe a batch run rather than the tracking: not Tracker options.
_RUN_ONLY = frozenset({
    "video_list", "text_prompt", "output_jsonl", "output_video_dir", "resume", "sidecar", "shard_index", "num_shards",
    "drain_timeout", "video_timeout", "log_every", "log_level", "help",
})


def _flags_to_argv(parser: argparse.ArgumentParser, options: dict[str, Any]) -> list[str]:
    """Keyword options as the command line would give them, so argparse applies its own types,
    ranges and defaults: `Tracker(...)` takes exactly what the CLI takes."""
    actions = {a.dest: a for a in parser._actions}
    argv: list[str] = []
    for name, value in options.items():
        action = actions.get(name)
        if action is None or name in _RUN_ONLY or not action.option_strings:
            known = sorted(d for d, a in actions.items() if a.option_strings and d not in _RUN_ONLY)
            raise TypeError(f"Tracker() got an unknown option {name!r}; options are the CLI's flags: {', '.join(known)}")
        flag = action.option_strings[0]
        if value is None:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(flag if value else f"--no-{flag[2:]}")
        elif action.nargs == 0:  # store_true
            if value:
                argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


class _ArgumentError(ValueError):
    pass


def _raise(message: str) -> None:
    raise _ArgumentError(message)


class Tracker:
    """Grounding DINO + SAM 2 loaded once on `device`, reused for every `track` call.

    `device`: "cuda", "cuda:1", "cpu"; default CUDA when present, else the CPU. Every other keyword
    is a flag of `lang-sam-track` with the same name and default (`sam_type`, `model_path`,
    `detector_model`, `box_threshold`, `detection_frequency`, `fps`, `save_masks`, `group_by`,
    `min_hits`, ...); an unknown one is a TypeError, a bad value a ValueError, as the CLI's usage errors.
    Models are checked (and the SAM 2 checkpoint downloaded once, as the CLI does) here, and loaded
    on the first `track` or `load()`.
    """

    def __init__(self, device: str | None = None, **options: Any) -> None:
        from ..batch import slots
        from ..batch.launch import prepare_models
        from ..batch.engine import Engine
        from ..batch.tasks import Slot
        from ..cli.model_sources import check_models
        from ..cli.parser import build_parser, run_config_from_args
        from ..cli.startup import check_cuda_flags, check_device_flags

        parser = build_parser(multiprocess=False)
        parser.error = _raise  # usage errors as exceptions, not an exit
        argv = ["--video_list", "-", "--text_prompt", "-", "--output_jsonl", os.devnull, "--num_shards", "1"]
        try:
            args = parser.parse_args(argv + _flags_to_argv(parser, options))
        except _ArgumentError as exc:
            raise ValueError(f"Tracker(): {exc}") from None
        self.config = run_config_from_args(args)
        if device is None:
            device = "cuda:0" if slots.cuda_device_count() > 0 else "cpu"
        self.device = self.config.device = str(device)
        check_device_flags(self.config, local_pool=False)  # the CLI's one-line errors: a bad name, a GPU not there
        check_cuda_flags(self.config, multiprocess=False)
        check_models(self.config.models)
        prepare_models(self.config)
        gpu = None if self.device.startswith("cpu") else int(self.device.split(":", 1)[1]) if ":" in self.device else 0
        self._engine = Engine(self.config, Slot(0, gpu=gpu, threads=slots.available_cores()), self.device)

    def load(self) -> "Tracker":
        """Load the models now (otherwise the first `track` does)."""
        if self._engine.tracker is None:
            self._engine.load()
        return self

    def track(self, video: str | os.PathLike, prompt: str, output_video: str | os.PathLike | None = None) -> TrackResult:
        """Track every object matching `prompt` ("car", "person . dog", "person, dog") through `video`.

        Returns the result in memory; with `output_video` an annotated H.264 MP4 is also written
        there. Raises FileNotFoundError for a missing video and the CLI's one-line errors
        (`TrackerError`) for one that cannot be decoded.
        """
        from ..detectors.prompt import parse_prompt

        if not Path(video).is_file():
            raise FileNotFoundError(f"{video}: no such video file")
        parse_prompt(prompt)  # a ValueError naming the prompt, before any frame is decoded
        self.load()
        load_s, self._engine._pending_load_s = self._engine._pending_load_s, 0.0
        record = self._engine.tracker.process(
            os.fspath(video), prompt, output_video=Path(output_video) if output_video is not None else None, load_seconds=load_s
        )
        return result_of_record(record)

    def __repr__(self) -> str:
        m = self.config.models
        return f"Tracker(device={self.device!r}, sam_type={m.sam_type!r}, detector={m.detector.model!r})"
