"""SAM 2 models: the `--sam_type` registry, checkpoint download, and strict loading.

`build_sam2_streaming` builds the streaming predictor through sam2's own builder
(`build_sam2_video_predictor`, with its video post-processing overrides) and only swaps the
class, so official configs and checkpoints load unchanged. Checkpoints are loaded with
``weights_only=True`` and must match the config exactly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..detectors.sources import offline_switch
from ..errors import ModelLoadError, one_line

if TYPE_CHECKING:  # torch is imported where a model is loaded, so the CLI's checks stay fast
    import torch

    from .sam2_predictor import SAM2StreamingPredictor

logger = logging.getLogger(__name__)

DEFAULT_SAM_TYPE = "sam2.1_hiera_large"
DEFAULT_MODEL_PATH = Path("models/sam2/checkpoints/sam2.1_hiera_large.pt")
# Any of these set to 1/true/yes/on: never touch the network, fail at once with the manual command.
STREAMING_TARGET = "lang_sam_tracker.segmenters.sam2_predictor.SAM2StreamingPredictor"
DOWNLOAD_TIMEOUT_S = 60.0
OFFICIAL_URL_PREFIX = "https://dl.fbaipublicfiles.com/segment_anything_2/"
# A base URL that replaces OFFICIAL_URL_PREFIX (a mirror or a local file server with the same layout).
MIRROR_ENV_VAR = "LANG_SAM_TRACKER_SAM2_MIRROR"


@dataclass(frozen=True)
class Sam2ModelSpec:
    """One `--sam_type`: its config, where its official checkpoint lives, and how to check it."""

    config: str  # a config of the sam2 package ("configs/sam2.1/sam2.1_hiera_l.yaml") or a yaml path
    url: str
    sha256: str | None = None
    size: int | None = None  # bytes

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_URL_21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_URL_20 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"

# Checksums and sizes of Meta's published files, as recorded by several independent projects that
# verify these downloads; a size is listed only where the sources agreed on it.
SAM2_MODELS: dict[str, Sam2ModelSpec] = {
    "sam2.1_hiera_tiny": Sam2ModelSpec(
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        _URL_21 + "sam2.1_hiera_tiny.pt",
        "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
        156_008_466,
    ),
    "sam2.1_hiera_small": Sam2ModelSpec(
        "configs/sam2.1/sam2.1_hiera_s.yaml",
        _URL_21 + "sam2.1_hiera_small.pt",
        "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
        184_416_285,
    ),
    "sam2.1_hiera_base_plus": Sam2ModelSpec(
        "configs/sam2.1/sam2.1_hiera_b+.yaml",
        _URL_21 + "sam2.1_hiera_base_plus.pt",
        "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
        323_606_802,
    ),
    "sam2.1_hiera_large": Sam2ModelSpec(
        "configs/sam2.1/sam2.1_hiera_l.yaml",
        _URL_21 + "sam2.1_hiera_large.pt",
        "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
        898_083_611,
    ),
    "sam2_hiera_tiny": Sam2ModelSpec(
        "configs/sam2/sam2_hiera_t.yaml",
        _URL_20 + "sam2_hiera_tiny.pt",
        "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125",
        155_906_050,
    ),
    "sam2_hiera_small": Sam2ModelSpec(
        "configs/sam2/sam2_hiera_s.yaml",
        _URL_20 + "sam2_hiera_small.pt",
        "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3",
        184_309_650,
    ),
    "sam2_hiera_base_plus": Sam2ModelSpec(
        "configs/sam2/sam2_hiera_b+.yaml",
        _URL_20 + "sam2_hiera_base_plus.pt",
        "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071",
    ),
    "sam2_hiera_large": Sam2ModelSpec(
        "configs/sam2/sam2_hiera_l.yaml",
        _URL_20 + "sam2_hiera_large.pt",
        "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b",
        897_952_466,
    ),
}


def get_model_spec(sam_type: str) -> Sam2ModelSpec:
    """The registry entry for `sam_type`, or a ModelLoadError listing the valid names."""
    try:
        return SAM2_MODELS[sam_type]
    except KeyError:
        raise ModelLoadError(
            f"unknown --sam_type {sam_type!r}; valid types: {', '.join(SAM2_MODELS)}"
        ) from None


def default_checkpoint_path(sam_type: str) -> Path:
    """Where `sam_type`'s checkpoint goes by default: models/sam2/checkpoints/<official file name>."""
    return DEFAULT_MODEL_PATH.parent / get_model_spec(sam_type).filename


CACHE_ENV_VAR = "LANG_SAM_TRACKER_HOME"


def user_cache_dir() -> Path:
    """Where checkpoints are kept for every working folder: $LANG_SAM_TRACKER_HOME, else ~/.cache/lang_sam_tracker."""
    home = os.environ.get(CACHE_ENV_VAR, "").strip()
    return Path(home).expanduser() if home else Path.home() / ".cache" / "lang_sam_tracker"


def resolve_model_path(model_path: str | os.PathLike, sam_type: str) -> str:
    """The checkpoint path a run uses for `--model_path`.

    A path the user chose is used as given. The relative default (models/sam2/checkpoints/..., from
    the working folder) is used where it exists, for setups that put the checkpoint there; otherwise
    the checkpoint is found in, or downloaded once into, the user cache (`user_cache_dir()/sam2/`),
    instead of once per working folder.
    """
    path = Path(model_path)
    defaults = {DEFAULT_MODEL_PATH}
    if sam_type in SAM2_MODELS:
        defaults.add(default_checkpoint_path(sam_type))
    if path not in defaults or path.exists():
        return os.fspath(model_path)
    name = get_model_spec(sam_type).filename if sam_type in SAM2_MODELS else path.name
    return os.fspath(user_cache_dir() / "sam2" / name)


def checkpoint_url(spec: Sam2ModelSpec) -> str:
    """Where `spec`'s checkpoint is downloaded from: the official URL, or its copy under $LANG_SAM_TRACKER_SAM2_MIRROR."""
    mirror = os.environ.get(MIRROR_ENV_VAR, "").strip()
    if mirror and spec.url.startswith(OFFICIAL_URL_PREFIX):
        return mirror.rstrip("/") + "/" + spec.url[len(OFFICIAL_URL_PREFIX) :]
    return spec.url


def manual_download(path: Path, spec: Sam2ModelSpec) -> str:
    """The commands that put `spec`'s checkpoint at `path` by hand."""
    return f"download it there by hand: mkdir -p {path.parent} && wget {checkpoint_url(spec)} -O {path}"


def ensure_checkpoint(path: str | Path, spec: Sam2ModelSpec) -> Path:
    """Return `path`, downloading `spec`'s checkpoint there first if it is missing.

    The download goes to a temporary file in the same folder, is verified (length, sha256 and
    size when known, a torch zip checkpoint with a "model" entry), then moved into place
    atomically, so an interrupted download never leaves a partial checkpoint at `path`.
    """
    path = Path(path)
    if path.is_file():
        return path
    switch = offline_switch()
    if switch is not None:
        raise ModelLoadError(
            f"checkpoint {path} not found and downloads are disabled by {switch}; {manual_download(path, spec)}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _download_verified(spec, path)
    except (OSError, ValueError) as err:  # URLError and HTTPError are OSErrors
        raise ModelLoadError(
            f"checkpoint {path} not found and could not be downloaded from {checkpoint_url(spec)} "
            f"({one_line(err)}); {manual_download(path, spec)}"
        ) from err
    return path


def _download_verified(spec: Sam2ModelSpec, path: Path) -> None:
    url = checkpoint_url(spec)
    logger.info("downloading %s to %s", url, path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else spec.size
            with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if length is not None and received != int(length):
            raise ValueError(f"download truncated: {received} of {length} bytes")
        if spec.size is not None and received != spec.size:
            raise ValueError(f"got {received} bytes, expected {spec.size}")
        if spec.sha256 is not None and digest.hexdigest() != spec.sha256:
            raise ValueError(f"sha256 {digest.hexdigest()} does not match the expected {spec.sha256}")
        _read_state_dict(tmp, mmap=True)  # raises ModelLoadError unless it is a usable checkpoint
        os.replace(tmp, path)
    except ModelLoadError as err:
        raise ValueError(f"downloaded file is not a SAM 2 checkpoint: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def _read_state_dict(path: Path, mmap: bool = False) -> dict[str, torch.Tensor]:
    """The "model" state dict of a checkpoint, loaded with weights_only=True."""
    import torch

    problem = torch_file_problem(path)
    if problem is not None:  # torch's own message for a text file is a bare number
        raise ModelLoadError(f"checkpoint {problem}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # torch.load raises many types (pickle, zip, runtime) for a bad file
        raise ModelLoadError(f"checkpoint {path} cannot be read as a torch checkpoint ({one_line(err)})") from err
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ModelLoadError(f"checkpoint {path} has no 'model' state dict (expected {{'model': state_dict}})")
    return ckpt["model"]


def _is_package_config(name: str) -> bool:
    """Whether `name` is a config shipped inside the sam2 package (what hydra composes by name).

    Found through the import system without importing sam2 (and torch), so the CLI's checks stay fast.
    """
    if Path(name).is_absolute():
        return False
    spec = importlib.util.find_spec("sam2")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    return any((Path(root) / name).is_file() for root in roots)


def torch_file_problem(path: Path) -> str | None:
    """Why `path` cannot be a torch.save file (a zip archive, or a legacy pickle), judged by its first bytes."""
    if path.is_dir():
        return f"{path} is a folder, not a checkpoint file"
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        return f"{path} cannot be read ({err.strerror or err})"
    if not head:
        return f"{path} is empty"
    if head == b"PK\x03\x04" or head[:1] == b"\x80":
        return None
    return f"{path} is not a torch checkpoint (torch.save writes a zip archive; this file starts with {head!r})"


def _describe(keys: list[str], limit: int = 3) -> str:
    more = f", ... (+{len(keys) - limit})" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_checkpoint_strict(model: torch.nn.Module, path: Path, config: str) -> None:
    """Load `path` into `model`, refusing any missing, unexpected or mis-shaped tensor."""
    state = _read_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = [
        f"{len(keys)} {what} ({_describe(keys)})"
        for what, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mis_shaped),
        )
        if keys
    ]
    if problems:
        raise ModelLoadError(
            f"checkpoint {path} does not match SAM 2 config {config}: {'; '.join(problems)}; "
            "check that --sam_type / --sam_config match the checkpoint"
        )
    model.load_state_dict(state, strict=True)


def _compose_and_build(config: str, device: str) -> "SAM2StreamingPredictor":
    """sam2's `build_sam2_video_predictor` with our class; a yaml file gets its own hydra search path."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from sam2.build_sam import build_sam2_video_predictor

    overrides = [f"++model._target_={STREAMING_TARGET}"]
    if not Path(config).is_file():  # a file on disk wins over a package config of the same name
        return build_sam2_video_predictor(config, ckpt_path=None, device=device, hydra_overrides_extra=overrides)
    yaml_path = Path(config).resolve()
    # hydra composes names, not absolute paths: point a fresh GlobalHydra at the yaml's folder,
    # then give sam2 back its own (initialised by `import sam2`).
    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(yaml_path.parent), version_base="1.2"):
            return build_sam2_video_predictor(
                yaml_path.name, ckpt_path=None, device=device, hydra_overrides_extra=overrides
            )
    finally:
        restore_gh_from_backup(backup)


def hole_filling_available(device: str) -> bool:
    """sam2's `fill_hole_area` post-processing needs its CUDA extension and a CUDA device."""
    import torch

    if torch.device(device).type != "cuda":
        return False
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


def build_sam2_streaming(
    sam_type: str, model_path: str | Path, sam_config: str | Path | None, device: str
) -> "SAM2StreamingPredictor":
    """Build the streaming SAM 2 predictor for `--sam_type`, `--model_path`, `--sam_config`.

    `sam_config` (a yaml file, or a config name inside the sam2 package) replaces the type's
    config, for fine-tuned variants; its checkpoint must then exist (nothing is downloaded for a
    custom config). Otherwise a missing checkpoint is downloaded from the official URL. See
    `sam2_stream.StreamingSAM2` for what `--max_frames` means.
    """
    from .sam2_predictor import SAM2StreamingPredictor

    spec = get_model_spec(sam_type)
    path = Path(model_path)
    if sam_config is not None:
        config = str(sam_config)
        if not (Path(config).is_file() or _is_package_config(config)):
            raise ModelLoadError(
                f"SAM 2 config {config} not found: give a yaml file or a sam2 package config "
                f"such as {spec.config}"
            )
        if not path.is_file():
            raise ModelLoadError(
                f"checkpoint {path} not found (a custom --sam_config is given, so the official "
                f"{sam_type} weights are not downloaded)"
            )
    else:
        config = spec.config
        ensure_checkpoint(path, spec)
    try:
        model = _compose_and_build(config, device)
    except Exception as err:  # hydra, omegaconf and the model constructors raise many types
        raise ModelLoadError(
            f"SAM 2 model from config {config} cannot be built on {device} ({one_line(err)})"
        ) from err
    if not isinstance(model, SAM2StreamingPredictor):
        raise ModelLoadError(f"SAM 2 config {config} did not build a video predictor ({type(model).__name__})")
    load_checkpoint_strict(model, path, config)
    if model.fill_hole_area > 0 and not hole_filling_available(device):
        # sam2 would warn and skip it on every frame; the result is the same, without the noise
        logger.debug("sam2 CUDA extension unavailable on %s: small-hole filling of masks is off", device)
        model.fill_hole_area = 0
    logger.debug("loaded SAM 2 %s from %s on %s", config, path, device)
    return model
