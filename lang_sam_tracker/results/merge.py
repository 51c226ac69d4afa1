"""Combine per-shard results (and their failure ledgers) into one JSONL.

    python -m lang_sam_tracker.results.merge results.shard-*-of-16.jsonl -o results.jsonl --video_list videos.txt

Records are appended to the output durably (one fsynced line each), copied byte for byte from the
shard files: the keys come from each file's small index (`results_index`), so records are never
parsed, whatever their size. The first record of each resume key (resolved video path + prompt,
`keys`) is kept and later duplicates dropped, including records the output
already holds, so running the merge again after a rerun of some shards adds only what is new. The
output's ledger (results.failed.jsonl) is rewritten with the latest failure of every video that
failed somewhere and is done nowhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .jsonl import JsonlAppender, fsync_dir, failures_path, load_done, read_jsonl
from .keys import record_key, resolve_video_path
from .index import load_entries
from .video_list import read_video_list  # the list's own rules: comments, CRLF, duplicates
from ..shard import Shard, shard_in_name
from ..argtypes import accept_both_spellings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2
_LEDGER_SUFFIX = ".failed.jsonl"
_SHOW = 10  # videos named in the report per category; the counts are always complete


@dataclass
class MergeSummary:
    """What a merge found; `exit_code` is 1 when anything is failed or missing."""

    output: Path
    inputs: list[Path] = field(default_factory=list)
    read: int = 0  # input files that exist (results or ledger)
    added: int = 0
    already_in_output: int = 0  # input records whose video was in the output before this merge
    duplicates: int = 0  # input records whose video another input already gave
    failed: list[tuple[str, str]] = field(default_factory=list)  # resume keys
    missing: list[str] = field(default_factory=list)  # listed videos with no record and no failure
    missing_files: list[Path] = field(default_factory=list)  # inputs (or sibling shards) that do not exist
    checked_list: bool = False  # missing videos were checked against a --video_list

    @property
    def exit_code(self) -> int:
        return EXIT_INCOMPLETE if self.failed or self.missing or self.missing_files else EXIT_OK


def _results_file(path: Path) -> Path:
    """A ledger given as an input (a glob like results.shard-*.jsonl matches both) stands for its results file."""
    if path.name.endswith(_LEDGER_SUFFIX):
        return path.with_name(path.name[: -len(_LEDGER_SUFFIX)] + ".jsonl")
    return path


def _expected_shard_files(inputs: list[Path]) -> list[Path]:
    """Sibling shard files implied by the inputs' names (shard-03-of-16 implies 00..15) that were not given."""
    given = {p.resolve() for p in inputs}
    expected: list[Path] = []
    for path in inputs:
        shard = shard_in_name(path)
        if shard is None:
            continue
        tag = f".{shard.tag}"
        for index in range(shard.count):
            sibling = path.with_name(path.name.replace(tag, f".{Shard(index, shard.count).tag}", 1))
            if sibling.resolve() not in given and sibling not in expected:
                expected.append(sibling)
    return expected


def merge(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    video_list: str | os.PathLike | None = None,
    text_prompt: str | None = None,
) -> MergeSummary:
    """Merge `inputs` into `output`; with `video_list`, report listed videos done nowhere.

    A video counts as done for `text_prompt` when given, else for any prompt.
    """
    output = Path(output)
    summary = MergeSummary(output=output)
    for raw in inputs:
        path = _results_file(Path(raw))
        if path.resolve() == output.resolve():
            raise ValueError(f"{raw} is the merge output itself: give the shard files and a different -o")
        if ".bak-" in path.name:
            logger.warning("%s was moved aside by --no-resume: skipped", raw)
            continue
        if path not in summary.inputs:
            summary.inputs.append(path)
    if not summary.inputs:
        raise ValueError("no shard results to merge")
    listed = None
    if video_list is not None:
        listed = read_video_list(Path(video_list))
    absent = [p for p in summary.inputs + _expected_shard_files(summary.inputs) if not p.exists() and not failures_path(p).exists()]

    before = set(load_done(output))  # what the output held before this merge
    done = set(before)
    summary.read = sum(1 for p in summary.inputs if p.exists() or failures_path(p).exists())
    # as written, for --video_list: the merge may run from another folder than the shards did
    written = {(e.video_path, e.text_prompt) for e in load_entries(output, update=False) if e.is_record}
    failures: dict[tuple[str, str], dict] = {}
    with JsonlAppender(output, index=True) as out:
        for path in summary.inputs:
            if path.exists():
                _merge_records(path, out, before, done, written, summary)
            ledger = failures_path(path)
            if ledger.exists():
                for entry in read_jsonl(ledger):
                    if isinstance(entry.get("video_path"), str) and isinstance(entry.get("text_prompt"), str):
                        key = record_key(entry["video_path"], entry["text_prompt"], entry.get("resolved_path"))
                        if str(entry.get("time", "")) >= str(failures.get(key, {}).get("time", "")):
                            failures[key] = entry
    failed = {key: entry for key, entry in failures.items() if key not in done}
    summary.failed = sorted((entry["video_path"], entry["text_prompt"]) for entry in failed.values())
    _write_ledger(failures_path(output), sorted(failed.values(), key=lambda e: (e["video_path"], e["text_prompt"])))

    summary.missing_files = absent
    if listed is not None:
        summary.checked_list = True
        wanted = {key for key in done | written if text_prompt is None or key[1] == text_prompt}
        done_videos = {video for video, _ in wanted}
        failed_videos = {video for video, prompt in failed if text_prompt is None or prompt == text_prompt}
        failed_videos |= {e["video_path"] for e in failed.values() if text_prompt is None or e["text_prompt"] == text_prompt}
        summary.missing = [
            v for v in listed if not ({v, resolve_video_path(v)} & (done_videos | failed_videos))
        ]
        # A shard that owns no listed video never writes a file: its absence is not a loss.
        summary.missing_files = [p for p in absent if _owns_any(shard_in_name(p), listed)]
    return summary


def _merge_records(path: Path, out: JsonlAppender, before: set, done: set, written: set, summary: MergeSummary) -> None:
    """Copy the records of one shard file that the output does not hold yet; count each other one once:
    already in the output before this merge, or a duplicate of a record another shard gave."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for entry in load_entries(path):
            if not entry.is_record:
                logger.warning("%s: skipping a line without video_path/text_prompt (byte %d)", path, entry.offset)
                continue
            key = entry.key()
            written.add((entry.video_path, entry.text_prompt))
            if key in before:
                summary.already_in_output += 1
                continue
            if key in done:
                summary.duplicates += 1
                continue
            if entry.sidecar and not os.path.isabs(entry.sidecar) and path.parent.resolve() != out.path.parent.resolve():
                # a sidecar record is small: re-point its relative sidecar path at the output's folder
                os.lseek(fd, entry.offset, os.SEEK_SET)
                record = json.loads(os.read(fd, entry.length))
                record["sidecar"] = os.path.relpath(path.parent.resolve() / entry.sidecar, out.path.parent.resolve())
                out.append(record)
            else:
                out.copy_line(fd, entry)
            done.add(key)
            summary.added += 1
    finally:
        os.close(fd)


def _owns_any(shard: Shard | None, videos: list[str]) -> bool:
    return shard is None or bool(shard.select(videos))


def _write_ledger(path: Path, entries: list[dict]) -> None:
    """Replace the merged ledger atomically: it is derived from the shard ledgers, which stay."""
    if not entries:
        if path.exists():
            path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with JsonlAppender(tmp) as ledger:
        for entry in entries:
            ledger.append(entry)
    os.replace(tmp, path)
    fsync_dir(path)


def report(summary: MergeSummary) -> str:
    """The lines the command prints: counts, then the first few failed and missing videos."""
    lines = [
        (
            f"Merged {summary.read} of {len(summary.inputs)} shard file(s) into {summary.output}: {summary.added} record(s) added, "
            f"{summary.already_in_output} already there, {summary.duplicates} duplicate(s) dropped"
        ),
    ]
    for path in summary.missing_files:
        lines.append(f"Missing shard file: {path}" + ("" if summary.checked_list else " (or a shard with no videos: pass --video_list to tell)"))
    if summary.failed:
        lines.append(f"Failed: {len(summary.failed)} video(s), see {failures_path(summary.output)}")
        lines += [f"  {video}" for video, _ in summary.failed[:_SHOW]]
    if summary.missing:
        lines.append(f"Missing: {len(summary.missing)} listed video(s) with no record and no failure (rerun their shards)")
        lines += [f"  {video}" for video in summary.missing[:_SHOW]]
    more = max(0, len(summary.failed) - _SHOW) + max(0, len(summary.missing) - _SHOW)
    if more:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m lang_sam_tracker.results.merge",
        description="Combine the per-shard results of a sharded run (--shard_index/--num_shards, SLURM job arrays) "
        "and their failure ledgers into one JSONL, one record per video and prompt.",
        epilog="Exit status: 0 everything done; 1 some videos failed, listed videos are missing, or shard files are "
        "missing; 2 bad usage. Rerunning the merge after rerunning shards only adds the new records.",
    )
    parser.add_argument("shards", nargs="+", type=Path, help="shard results files (results.shard-*-of-16.jsonl); their ledgers are read beside them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="merged results file (appended to; records it already holds are kept and not duplicated); its ledger is OUTPUT.failed.jsonl")
    parser.add_argument("--video_list", type=Path, default=None, help="the list the shards ran: report listed videos done nowhere")
    parser.add_argument("--text_prompt", default=None, help="with --video_list: count a video as done only for this prompt (default: any prompt)")
    return accept_both_spellings(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from ..errors import TrackerError

    try:
        summary = merge(args.shards, args.output, args.video_list, args.text_prompt)
    except (TrackerError, ValueError, OSError) as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    print(report(summary))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
