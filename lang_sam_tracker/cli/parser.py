"""Command-line interface shared by the batch scripts: flags, logging, exit codes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from ..argtypes import accept_both_spellings, iou_fraction, non_negative_float, non_negative_int, positive_float, positive_int, unit_float
from ..settings import DEFAULT_MODEL_PATH, DEFAULT_SAM_TYPE, DETECT_BATCH_CPU, DETECT_BATCH_CUDA, ModelConfig, RunConfig, TrackerConfig
from ..detectors import add_detector_arguments, detector_config_from_args
from .pipeline import add_pipeline_arguments, apply_pipeline
from ..errors import TrackerError
from ..batch.progress import SLOT_THREAD_PREFIX
from ..cluster.shards import resolve_shard
from ..identity.settings import IdentityConfig

logger = logging.getLogger("lang_sam_tracker")

EXIT_USAGE = 2


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows a flag's default unless its help already says it or there is none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """A usage error is a short usage line and the error, not the whole option list."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(
            2,
            f"usage: {self.prog} --video_list LIST --text_prompt TEXT --output_jsonl FILE [options] (see --help)\n"
            f"{self.prog}: error: {message}\n",
        )


# Identity flags: (name = IdentityConfig field, type, help); defaults come from IdentityConfig.
_IDENTITY_FLAGS = (
    ("min_hits", positive_int, "a new object is reported once this many detections confirm it (its frames since the first one included)"),
    ("confirm_window", positive_int, "... within its first this-many detection frames; otherwise it leaves SAM 2 without a trace"),
    ("retire_after", non_negative_float, "seconds of detection evidence judged for retirement: an object SAM 2 still follows but detections matched on under --min_hit_rate of this window's detection frames is retired, unless established and moving or sure (see --establish_after, --sure_after). With sparse detection the window stretches to 4 detection frames (--fps 2 --detection_frequency 5: 10 s), so retirement takes longer"),
    ("min_hit_rate", unit_float, "see --retire_after; also the support an object needs over its life to become established, and a candidate on a remembered ghost to be confirmed"),
    ("establish_after", non_negative_float, "an object detections confirmed across this many seconds (on --min_hit_rate of its detection frames) is established: while SAM 2 sees it moving (--min_motion) and looking like itself it stays reported through a detector blind spell however long"),
    ("min_motion", non_negative_float, "object sizes a mask must travel within the --retire_after window to count as moving (a still, unsupported object that is not sure, see --sure_after, is retired; still and weakly supported: a ghost)"),
    ("sure_after", non_negative_float, "an established object is sure (kept through a detector blind spell even standing still) once its detections up to the latest one span this many seconds and --sure_evidence detection frames, with a hit rate above --min_hit_rate at 97.5%% confidence (Wilson bound; a poster hit on a third of frames never is). Sparse detection takes longer: ~10 s at --fps 5 --detection_frequency 5, 25 s at --fps 2 --detection_frequency 5"),
    ("sure_evidence", positive_int, "see --sure_after: the fewest detection frames that can make an object sure"),
    ("ghost_memory", non_negative_float, "seconds a ghost (a still region SAM 2 followed without the detector's support) is remembered; a candidate on it must move, or prove a hit rate of --min_hit_rate over --retire_after seconds (97.5%% Wilson bound), before it is confirmed. At most 64 are kept"),
    ("max_absent", non_negative_float, "seconds an object SAM 2 no longer sees stays in SAM 2, which often re-finds it after an occlusion"),
    ("exit_absent", non_negative_float, "the same for an object last seen at the frame border (it left)"),
    ("lost_window", non_negative_float, "seconds an object that left SAM 2 can come back with its id (re-identification)"),
    ("match_threshold", unit_float, "how well a detection box must hold a track's mask to match it (mask share inside the box x sqrt(box share covered))"),
    ("cover_fraction", unit_float, "an unmatched detection this much covered by one track's mask is part of that track, not a new object"),
    ("reanchor_iou", unit_float, "correct SAM 2 with an uncontested detection box when the mask's box has this IoU or less with it (0: never)"),
    ("duplicate_iou", iou_fraction, "two tracks whose masks overlap this much are one object: one is dropped"),
    ("reid_similarity", unit_float, "minimum appearance similarity (cosine of SAM 2 features pooled under the mask) to give a returning object its old id"),
    ("reid_margin", unit_float, "a runner-up this close to the best re-identification makes it ambiguous: a new id instead of a guess"),
    ("reid_speed", non_negative_float, "how fast (object sizes per second) the uncertainty of a gone object's constant-velocity prediction grows; re-identification gates at 3 standard deviations and scores appearance minus 0.05 x (distance in standard deviations)^2"),
    ("drift_similarity", unit_float, "a track whose mask no longer looks like it (similarity below this) has drifted: it is not reported there"),
    ("drift_after", non_negative_float, "seconds a drifted track may stay off its appearance (after one correction) before it leaves SAM 2 as lost"),
)


def build_parser(multiprocess: bool) -> argparse.ArgumentParser:
    from ..segmenters.checkpoints import SAM2_MODELS

    what = "on every GPU slot in parallel" if multiprocess else "in this one process"
    parser = _Parser(
        description=(
            f"Detect every object matching a text prompt (Grounding DINO), segment and track it through each "
            f"video (SAM 2), {what}, and append one JSON line per video to --output_jsonl."
        ),
        epilog="Every flag may also be spelled with dashes (--text-prompt). Exit status: 0 all videos done, 1 some "
        "failed (see RESULTS.failed.jsonl), 2 bad usage or models that cannot be loaded (nothing ran), 3 a worker could "
        "not load the models after the run started (finished videos are kept; rerun to resume), 128+N stopped by "
        "signal N (rerun to resume).",
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    io = parser.add_argument_group("input and output")
    io.add_argument("--video_list", type=Path, required=True, help="what to track: a text file with one video path per line (# comments and blank lines are skipped), one video file, a folder (its videos, found recursively by extension) or a quoted glob ('clips/*.mp4'). Listed videos that do not exist are reported once and skipped")
    io.add_argument("--text_prompt", required=True, help='what to look for: one class ("car") or several separated by dots, commas or semicolons ("person . dog", "person, dog")')
    io.add_argument("--output_jsonl", type=Path, required=True, help="results file: one JSON record per finished video, appended")
    io.add_argument("--output_video_dir", type=Path, default=None, help="also write an annotated H.264 MP4 per video into this folder")
    io.add_argument("--save_masks", action="store_true", help="add each object's mask as COCO RLE to the record")
    io.add_argument("--group_by", choices=["frame", "object"], default="frame", help="record layout: a list of frames with their objects, or of objects with their frames")
    io.add_argument(
        "--sidecar", action="store_true",
        help="for long videos: write each video's frames (and masks) to its own file, one frame per line, in "
        "RESULTS.sidecars/ beside --output_jsonl; the JSONL line then holds video_info, the per-object summary, "
        "stats and the sidecar's path (relative to the results folder). Frame layout only",
    )
    io.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True, help="skip videos already in --output_jsonl (same file, by its resolved absolute path, and same prompt); --no-resume moves the old file aside and starts afresh")

    sam = parser.add_argument_group("SAM 2")
    sam.add_argument("--sam_type", default=DEFAULT_SAM_TYPE, choices=sorted(SAM2_MODELS), help="SAM 2 model type (selects the config and the official checkpoint URL)")
    sam.add_argument("--model_path", default=DEFAULT_MODEL_PATH, help="SAM 2 checkpoint; downloaded from the official URL on first use if missing. The default path is used when "
        "it exists in the working folder; otherwise the checkpoint is kept in ~/.cache/lang_sam_tracker/sam2/ "
        "($LANG_SAM_TRACKER_HOME/sam2/), downloaded there once for every folder")
    sam.add_argument("--sam_config", default=None, help="custom SAM 2 yaml (fine-tuned variants); overrides the config of --sam_type")
    sam.add_argument(
        "--max_frames", type=int, default=60,
        help="memory horizon in processed frames: SAM 2's own memory windows are always kept; conditioning frames "
        "(detector prompts) older than this are dropped except each object's latest, so memory stays flat on long "
        "videos. 0 keeps every conditioning frame",
    )

    sam.add_argument(
        "--max_cond_frames", type=non_negative_int, default=ModelConfig.max_cond_frames,
        help="conditioning frames (box prompts) each object keeps; SAM 2 attends to all of them on every frame. "
        "0 keeps every one",
    )
    sam.add_argument(
        "--sam2_exact", action="store_true",
        help="preprocess frames with PIL on the CPU and run one SAM 2 forward per object: masks bit-identical to "
        "sam2's offline predictor, but slower (default: resize on the device, objects batched)",
    )
    sam.add_argument("--compile", action="store_true", help="torch.compile SAM 2's modules (GPUs; the first frames pay for compilation)")

    add_detector_arguments(parser)
    add_pipeline_arguments(parser)

    trk = parser.add_argument_group("tracking")
    trk.add_argument("--detection_frequency", type=positive_int, default=TrackerConfig.detection_frequency, help="run the detector on every k-th processed frame (new objects are picked up on those frames)")
    trk.add_argument("--fps", type=positive_float, default=None, help="process the frames nearest to a grid of this rate (by timestamp); default: every frame")
    trk.add_argument(
        "--detect_batch_size", type=positive_int, default=None,
        help=f"detection frames per detector forward pass (look-ahead; results are the same, only speed changes); "
        f"default: chosen for the device, {DETECT_BATCH_CUDA} on CUDA, {DETECT_BATCH_CPU} on the CPU",
    )

    ident = parser.add_argument_group("identities (durations in seconds of video)")
    for flag, kind, text in _IDENTITY_FLAGS:
        ident.add_argument(f"--{flag}", type=kind, default=getattr(IdentityConfig, flag), help=text)

    run = parser.add_argument_group("execution")
    default_device = "auto: one worker per GPU, CPU workers without CUDA" if multiprocess else "cuda:0 when present, else cpu"
    run.add_argument("--device", default=None, help=f"torch device ('cpu', 'cuda', 'cuda:1'); default {default_device}")
    if multiprocess:
        run.add_argument("--gpu_ids", type=int, nargs="+", default=None, help="GPU ids (relative to CUDA_VISIBLE_DEVICES) assigned round-robin to workers; repeat an id to give a GPU several workers (default: all visible GPUs)")
        run.add_argument("--num_workers", type=positive_int, default=None, help="number of worker processes (default: one per listed GPU; 1 on CPU); with --backend ray, actors (default: as many as the cluster's GPUs fit at --gpus_per_worker; 1 on CPU)")
    run.add_argument("--drain_timeout", type=non_negative_float, default=10.0, help="on Ctrl-C/SIGTERM/SIGUSR1, seconds to let videos in flight finish before stopping (a second signal stops at once)")
    run.add_argument("--video_timeout", type=positive_float, default=None, help="kill and record as failed a video that takes longer than this many seconds (off by default)")
    run.add_argument("--log_every", type=positive_float, default=30.0, help="seconds between plain progress lines (videos done, and frames done / total and fps of each video in flight) when stderr is not a terminal")
    run.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")

    dist = parser.add_argument_group("many machines (SLURM job arrays, Ray)")
    dist.add_argument(
        "--shard_index", type=non_negative_int, default=None,
        help="run only shard I (0-based) of the list, split by a stable hash of each path as written (the same video "
        "always lands in the same shard, whatever the list's order). Results go to the shard's own files named from "
        "--output_jsonl (results.shard-03-of-16.jsonl, ledger results.shard-03-of-16.failed.jsonl); combine them with "
        "`python -m lang_sam_tracker.results.merge`. Default inside a SLURM job array: see --num_shards",
    )
    dist.add_argument(
        "--num_shards", type=positive_int, default=None,
        help="split the list into N shards (1: no split). Inside a SLURM job array with neither flag, the shard is "
        "(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT; with --num_shards alone it is "
        "SLURM_ARRAY_TASK_ID itself (use --array=0-(N-1)), which stays right when only failed array ids are resubmitted",
    )
    if multiprocess:
        dist.add_argument(
            "--backend", choices=["local", "ray"], default="local",
            help="local: one worker process per slot on this machine; ray: one Ray actor per slot on a Ray cluster "
            "(needs: pip install 'lang-sam-tracker[ray]'), videos handed out as actors come free, only this process writes",
        )
        dist.add_argument(
            "--ray_address", default=None,
            help="with --backend ray: 'auto' or HOST:PORT of a running cluster (the nodes must see the same model and video "
            "paths); default: start a local Ray on this machine (or use RAY_ADDRESS when set)",
        )
        dist.add_argument(
            "--gpus_per_worker", type=positive_float, default=None,
            help="with --backend ray: GPUs each actor reserves, fractions allowed (0.5: two actors per GPU); default 1 on "
            "GPU clusters, 0 on CPU. Workers default to as many as fit (see --num_workers); --gpu_ids does not apply",
        )
    return accept_both_spellings(parser)


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    from ..segmenters.checkpoints import resolve_model_path

    apply_pipeline(args)
    shard = resolve_shard(args.shard_index, args.num_shards)
    model_path = resolve_model_path(args.model_path, args.sam_type)
    return RunConfig(
        video_list=args.video_list,
        text_prompt=args.text_prompt,
        output_jsonl=shard.results_path(args.output_jsonl) if shard else args.output_jsonl,
        shard=shard,
        output_video_dir=args.output_video_dir,
        models=ModelConfig(
            sam_type=args.sam_type,
            model_path=model_path if args.sam_config is None else args.model_path,
            sam_config=args.sam_config,
            max_frames=args.max_frames or None,
            max_cond_frames=args.max_cond_frames or None,
            sam2_exact=args.sam2_exact,
            compile=args.compile,
            detector=detector_config_from_args(args),
            segmenter=args.tracker,
            sam3_model=args.sam3_model,
        ),
        tracker=TrackerConfig(
            detection_frequency=args.detection_frequency,
            fps=args.fps,
            identity=IdentityConfig(**{flag: getattr(args, flag) for flag, _, _ in _IDENTITY_FLAGS}),
            detect_batch_size=args.detect_batch_size,
            save_masks=args.save_masks,
            group_by=args.group_by,
        ),
        device=args.device,
        gpu_ids=getattr(args, "gpu_ids", None),
        num_workers=getattr(args, "num_workers", None),
        resume=args.resume,
        sidecar=args.sidecar,
        video_timeout=args.video_timeout,
        log_every_s=args.log_every,
    )


class _Formatter(logging.Formatter):
    """Progress lines as the seed printed them; level names only where they matter; what a worker
    logs (in its process, or in the single-process script's video thread) starts with its slot."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        slot = getattr(record, "slot", None)
        if slot is None and record.threadName.startswith(SLOT_THREAD_PREFIX):
            slot = record.threadName[len(SLOT_THREAD_PREFIX) :]
        if slot is not None and not message.startswith(f"[{slot}]"):
            message = f"[{slot}] {message}"
        return message if record.levelno == logging.INFO else f"{record.levelname}: {message}"


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (hydra, transformers, sam2's CPU warnings) only at DEBUG.
    for noisy in ("transformers", "hydra", "urllib3", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _main(argv: list[str] | None, multiprocess: bool) -> int:
    parser = build_parser(multiprocess)
    args = parser.parse_args(argv)
    ray_backend = multiprocess and args.backend == "ray"
    if multiprocess and not ray_backend and (args.ray_address is not None or args.gpus_per_worker is not None):
        parser.error("--ray_address and --gpus_per_worker need --backend ray")
    setup_logging(args.log_level)
    run = None
    try:
        run = run_config_from_args(args)
        from ..results.lock import ResultsLock
        from .startup import check_startup

        check_startup(run, multiprocess, ray_backend)  # before any model, worker or results file
        with ResultsLock(run.output_jsonl):  # one run per results file: a second one stops here, before any work
            from .. import batch

            drain = args.drain_timeout
            if ray_backend:
                from ..cluster.ray_backend import run_ray

                summary = run_ray(run, args.ray_address, args.gpus_per_worker, drain)
            else:
                summary = batch.run_multiprocess(run, drain) if multiprocess else batch.run_single_process(run, drain)
    except (TrackerError, ValueError) as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before the batch took over the signals (checks, downloads, model checks)
        logger.warning("Interrupted before any video started; nothing was written")
        return 128 + signal.SIGINT
    batch.log_summary(run, summary)
    return summary.exit_code


def main_multiprocess(argv: list[str] | None = None) -> int:
    """`scripts/batch_track_videos_multiprocess.py`."""
    return _main(argv, multiprocess=True)


def main_single(argv: list[str] | None = None) -> int:
    """`scripts/batch_track_videos.py`."""
    return _main(argv, multiprocess=False)
