"""Both models resolved in the parent before any worker starts, every missing one reported at once.

The SAM 2 checkpoint is a file or the official URL; the detector is a local save_pretrained
folder, a Hugging Face hub id (in the local cache, or on the hub), or groundingdino-py's config
and checkpoint with its BERT text encoder (a folder or a hub id). Nothing is downloaded here: a
source that is not on this machine is probed once, in parallel with the others, with a short
timeout and no retries, so a machine without network fails in seconds with one message instead
of minutes of hub retries. `LANG_SAM_TRACKER_OFFLINE=1` (or `HF_HUB_OFFLINE=1`) skips the probes
and keeps transformers off the network in this process and in the workers.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..detectors.sources import offline_switch
from ..segmenters.checkpoints import _is_package_config, checkpoint_url, get_model_spec, manual_download, torch_file_problem
from ..settings import ModelConfig
from ..detectors import DetectorConfig
from ..detectors.sources import (
    GATED_MODELS,
    config_text_encoder,
    gated_advice,
    hf_folder_problem,
    looks_like_path,
    resolve_text_encoder,
)
from ..errors import ModelLoadError, one_line

PROBE_TIMEOUT_S = 4.0
DEFAULT_HF_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class _Remote:
    """A model that is not on this machine: where it would come from and how to get it by hand."""

    what: str  # "SAM 2 checkpoint models/x.pt"
    url: str  # probed with one request
    fix: str
    hub_id: str | None = None  # a hub model: HTTP 401/404 means no such (or a gated) model


def apply_offline_switch() -> str | None:
    """With an offline switch set, also set the Hugging Face ones, for this process and the workers."""
    switch = offline_switch()
    if switch is not None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    return switch


def check_models(models: ModelConfig) -> None:
    """Raise one ModelLoadError naming every model that can be neither found here nor downloaded."""
    offline = apply_offline_switch()
    problems: list[str] = []
    remote: list[_Remote] = []
    if models.segmenter == "sam2":
        _check_sam2(models, problems, remote)
    if models.detector.backend == "hf":
        _check_hf_model(models.detector.model, "--detector_model", "detector", problems, remote)
    elif models.detector.backend == "groundingdino":
        _check_groundingdino(models.detector, problems, remote)
    if "sam3" in (models.segmenter, models.detector.backend):
        _check_sam3(models.sam3_model, problems, remote)
    if offline is not None:
        problems += [f"{r.what} is not on this machine and downloads are disabled by {offline}; {r.fix}" for r in remote]
    elif remote:
        problems += [p for p in probe_all(remote) if p is not None]
    if len(problems) == 1:
        raise ModelLoadError(problems[0])
    if problems:
        listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise ModelLoadError(f"{len(problems)} models cannot be loaded: {listed}")


# ------------------------------------------------------------------ SAM 2
def _check_sam2(models: ModelConfig, problems: list[str], remote: list[_Remote]) -> None:
    spec = get_model_spec(models.sam_type)
    path = Path(models.model_path).expanduser()
    if models.sam_config is not None:
        config = str(models.sam_config)
        if not (Path(config).expanduser().is_file() or _is_package_config(config)):
            problems.append(
                f"SAM 2 config {config} not found (--sam_config): give a yaml file or a sam2 package config such as {spec.config}"
            )
        if not path.exists():
            problems.append(
                f"SAM 2 checkpoint {path} not found (--model_path; with a custom --sam_config nothing is downloaded)"
            )
            return
    elif not path.exists():
        remote.append(_Remote(f"SAM 2 checkpoint {path} (--model_path)", checkpoint_url(spec), manual_download(path, spec)))
        return
    problem = torch_file_problem(path)
    if problem is not None:
        problems.append(f"--model_path {problem}; give the SAM 2 .pt checkpoint")


# ------------------------------------------------------------------ detectors
def _check_hf_model(name: str, flag: str, what: str, problems: list[str], remote: list[_Remote]) -> None:
    folder = Path(name).expanduser()
    if folder.is_dir():
        problem = hf_folder_problem(folder)
        if problem is not None:
            problems.append(f"{flag} {problem}; give a folder written by save_pretrained(), or a hub id")
        return
    if looks_like_path(name):
        problems.append(f"{flag} {name}: no such folder")
        return
    try:
        cached = hub_cache_has(name)
    except ValueError as exc:  # not a valid repo id
        problems.append(f"{flag} {name!r} is neither a folder nor a Hugging Face model id ({one_line(exc, 120)})")
        return
    if not cached:
        endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_HF_ENDPOINT).rstrip("/")
        fix = (
            f"on a machine with internet run `hf download {name}` and copy its Hugging Face cache "
            f"($HF_HOME, default ~/.cache/huggingface) here, or pass a local save_pretrained folder as {flag}"
        )
        remote.append(_Remote(f"{what} {name!r} ({flag})", f"{endpoint}/api/models/{name}", fix, hub_id=name))


def _check_sam3(name: str, problems: list[str], remote: list[_Remote]) -> None:
    """SAM 3 needs transformers 5; a gated hub id also needs a login with the licence accepted."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("transformers")
    except PackageNotFoundError:
        installed = "none"
    if not installed.split(".")[0].isdigit() or int(installed.split(".")[0]) < 5:
        problems.append(f"SAM 3 (--sam3_model {name}) needs transformers >= 5, this is {installed}: pip install 'transformers>=5'")
        return
    before = len(remote)
    _check_hf_model(name, "--sam3_model", "SAM 3", problems, remote)
    if name not in GATED_MODELS or len(remote) == before:
        return  # a folder, or already in the cache: nothing to download
    entry, fix = remote[-1], gated_advice(name)
    if offline_switch() is None and hub_token() is None:
        remote.pop()
        problems.append(f"{entry.what} is not on this machine and you are not logged in to Hugging Face; {fix}")
        return
    # the model card is public; whether this login may download is what a file request tells
    url = entry.url.replace(f"/api/models/{name}", f"/{name}/resolve/main/config.json")
    remote[-1] = _Remote(entry.what, url, fix, hub_id=name)


def hub_token() -> str | None:
    """The Hugging Face token a download would use (HF_TOKEN, or the one `hf auth login` stored)."""
    from huggingface_hub import get_token

    return get_token()


def hub_cache_has(repo_id: str) -> bool:
    """Whether the Hugging Face cache holds a usable snapshot of `repo_id` (config and weights).

    ValueError for a string that is not a valid repo id.
    """
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        config = try_to_load_from_cache(repo_id, "config.json")
    except HFValidationError as exc:
        raise ValueError(str(exc)) from None
    return isinstance(config, str) and hf_folder_problem(Path(config).parent) is None


def _check_groundingdino(det: DetectorConfig, problems: list[str], remote: list[_Remote]) -> None:
    config = Path(det.config or "").expanduser()
    if not config.is_file():
        problems.append(f"--detector_config {config} not found (a groundingdino-py config .py, e.g. GroundingDINO_SwinT_OGC.py)")
    else:
        encoder = config_text_encoder(config)
        if encoder is not None:
            local = resolve_text_encoder(encoder, config)
            flag = f"text_encoder_type of {config}"
            _check_hf_model(local, flag, "BERT text encoder", problems, remote)
    checkpoint = Path(det.checkpoint or "").expanduser()
    if not checkpoint.exists():
        problems.append(f"--detector_checkpoint {checkpoint} not found (the Grounding DINO .pth)")
        return
    problem = torch_file_problem(checkpoint)
    if problem is not None:
        problems.append(f"--detector_checkpoint {problem}")


# ------------------------------------------------------------------ probes
def probe_all(remote: list[_Remote], timeout_s: float = PROBE_TIMEOUT_S) -> list[str | None]:
    """One request per source, all at once; a problem per source that cannot be had (None: reachable)."""
    results: list[str | None] = [None] * len(remote)
    unanswered = f"no answer within {timeout_s:g}s"
    for i, r in enumerate(remote):
        results[i] = _unreachable(r, unanswered)
    threads = [threading.Thread(target=_probe_into, args=(r, timeout_s, results, i), daemon=True) for i, r in enumerate(remote)]
    for t in threads:
        t.start()
    for t in threads:  # name resolution ignores urllib's timeout: bound the wait here as well
        t.join(timeout_s + 1.0)
    return results


def _probe_into(r: _Remote, timeout_s: float, results: list[str | None], i: int) -> None:
    results[i] = _probe(r, timeout_s)


def _probe(r: _Remote, timeout_s: float) -> str | None:
    headers = {"User-Agent": "lang-sam-tracker"}
    if r.hub_id is not None:
        token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or hub_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(r.url, headers=headers, method="GET" if r.hub_id else "HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return None
    except urllib.error.HTTPError as exc:
        if r.hub_id in GATED_MODELS and exc.code in (401, 403):
            return f"{r.what} is not on this machine and your Hugging Face login may not download it (HTTP {exc.code}); {r.fix}"
        if r.hub_id is not None and exc.code in (401, 403, 404):
            host = urllib.parse.urlsplit(r.url).netloc
            return (
                f"{r.what} is not on this machine and {host} has no such model (HTTP {exc.code}): check the id; "
                "a gated model needs `hf auth login` or HF_TOKEN"
            )
        if exc.code == 404:
            return f"{r.what} is not on this machine and {r.url} does not exist (HTTP 404); {r.fix}"
        return None  # the server answers: the download reports anything else
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return _unreachable(r, f"no answer within {timeout_s:g}s")
        return _unreachable(r, one_line(reason, 120))


def _unreachable(r: _Remote, reason: str) -> str:
    host = urllib.parse.urlsplit(r.url).netloc or r.url
    return f"{r.what} is not on this machine and {host} cannot be reached ({reason}); {r.fix}"
