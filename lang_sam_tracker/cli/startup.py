"""The one check the parent runs before any worker, results file or model exists.

Everything that would make every video fail, or the run crash, is a usage error here (exit 2,
one line naming the flag and the fix): the prompt, the list, the output paths, the device
flags, and both models (`model_sources`). Cheap checks come first; torch is imported only to
count CUDA devices, and only when a flag asks for a GPU.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..settings import RunConfig
from ..errors import UsageError

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def check_startup(run: RunConfig, multiprocess: bool, ray: bool = False) -> None:
    """Raise UsageError (or ModelLoadError) for a run that cannot work; return quietly otherwise."""
    from .model_sources import check_models

    check_prompt(run.text_prompt)
    check_video_list(run.video_list)
    check_output_file(run.output_jsonl, "--output_jsonl")
    if run.output_video_dir is not None:
        check_output_dir(run.output_video_dir, "--output_video_dir")
    check_device_flags(run, multiprocess and not ray)
    check_models(run.models)
    if not ray:  # Ray places actors on the cluster's GPUs, not this machine's
        check_cuda_flags(run, multiprocess)


def check_prompt(text: str) -> None:
    from ..detectors.prompt import parse_prompt

    try:
        parse_prompt(text)
    except ValueError:
        raise UsageError(f'--text_prompt {text!r} names no class: give one ("car") or several separated by dots ("person . dog")') from None


def check_video_list(path: Path) -> None:
    """The list file, video, folder or glob must name at least one video. Listed videos that do not
    exist are not an error here: the batch skips them (one warning) before any model loads."""
    import glob

    from ..batch import read_video_list

    text = str(path)
    if glob.has_magic(text) and not Path(path).exists():
        if not read_video_list(path):
            raise UsageError(f"--video_list {text!r} matches no file (relative patterns start from {Path.cwd()})")
        return
    if not Path(path).exists():
        raise UsageError(f"--video_list {path} not found (relative paths start from {Path.cwd()})")
    if not read_video_list(path):
        if Path(path).is_dir():
            raise UsageError(f"--video_list {path} is a folder with no video in it (searched recursively by extension: .mp4, .mov, .avi, .mkv, ...)")
        raise UsageError(f"--video_list {path} lists no video (only blank lines or # comments): put one video path per line")


def _first_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_dir(folder: Path) -> str | None:
    """Why no file can be created in `folder` (tried for real: permission bits lie to root and on
    read-only mounts), or None. The probe file is anonymous and gone when closed."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def _check_creatable(path: Path, flag: str, what: str) -> None:
    """`path` does not exist yet: its first existing ancestor must be a folder we can write into."""
    ancestor = _first_existing(path.parent)
    if not ancestor.is_dir():
        raise UsageError(f"{flag} {path}: {ancestor} is a file, so the {what} cannot be created under it; choose another path")
    why = _writable_dir(ancestor)
    if why is not None:
        raise UsageError(f"{flag} {path}: the {what} cannot be created in {ancestor} ({why}); choose a writable location")


def check_output_file(path: Path, flag: str) -> None:
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder: give a file path such as {path / 'results.jsonl'}")
    if path.exists():
        try:
            with open(path, "ab"):  # opened for appending, nothing written
                pass
        except OSError as exc:
            raise UsageError(f"{flag} {path} cannot be appended to ({exc.strerror or exc}): fix its permissions or choose another file") from None
        return
    _check_creatable(path, flag, "results file")


def check_output_dir(path: Path, flag: str) -> None:
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{flag} {path} is a file: give a folder (it is created if missing)")
        why = _writable_dir(path)
        if why is not None:
            raise UsageError(f"{flag} {path} is not writable ({why}): fix its permissions or choose another folder")
        return
    _check_creatable(path / "x", flag, "folder")


def check_device_flags(run: RunConfig, local_pool: bool) -> None:
    """Flag combinations, without touching CUDA."""
    device = run.device
    if device is not None and not _DEVICE.match(device):
        raise UsageError(f"--device {device!r} is not a torch device: use cpu, cuda or cuda:N")
    if run.gpu_ids is not None:
        if not local_pool:
            raise UsageError("--gpu_ids does not apply with --backend ray (Ray assigns the GPUs); drop it")
        if device is not None and not device.startswith("cuda"):
            raise UsageError(f"--gpu_ids needs CUDA, but --device is {device}: drop one of the two")
        negative = [g for g in run.gpu_ids if g < 0]
        if negative:
            raise UsageError(f"--gpu_ids {negative}: ids start at 0 (relative to CUDA_VISIBLE_DEVICES)")


def check_cuda_flags(run: RunConfig, multiprocess: bool) -> None:
    """A GPU asked for by --gpu_ids or --device must exist (imports torch, only then)."""
    wants_gpu = run.gpu_ids is not None or (run.device or "").startswith("cuda")
    if not wants_gpu:
        return
    from ..batch.slots import cuda_device_count

    count = cuda_device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    seen = f"CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else "CUDA_VISIBLE_DEVICES unset"
    flag = f"--gpu_ids {' '.join(map(str, run.gpu_ids))}" if run.gpu_ids is not None else f"--device {run.device}"
    if count == 0:
        fallback = "drop it to run CPU workers" if multiprocess else "use --device cpu"
        raise UsageError(f"{flag}: no CUDA device is visible ({seen}); {fallback}, or check the driver with nvidia-smi")
    ids = list(run.gpu_ids or [])
    if run.device and ":" in run.device:
        ids.append(int(run.device.split(":", 1)[1]))
    bad = sorted({g for g in ids if g >= count})
    if bad:
        raise UsageError(f"{flag}: GPU id(s) {bad} out of range, this job sees {count} GPU(s) ({seen}; ids are relative to it)")
