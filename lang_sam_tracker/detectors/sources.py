"""Where a detector's files come from, decided without importing torch or transformers.

Shared by the backends (which load the files) and by the parent's start-up check
(`model_sources`), which must find every missing model before any worker starts.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from ..errors import ModelLoadError

DEFAULT_SAM3_MODEL = "facebook/sam3"
# Hub models that need their licence accepted (and a login) before the first download.
GATED_MODELS = ("facebook/sam3",)

# A save_pretrained folder holds config.json and one of these.
HF_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


# Either variable, set to 1/true/yes/on, disables downloads (the SAM 2 checkpoint and the hub alike).
OFFLINE_ENV_VARS = ("LANG_SAM_TRACKER_OFFLINE", "HF_HUB_OFFLINE")


def offline_switch() -> str | None:
    """The environment variable that disables downloads (LANG_SAM_TRACKER_OFFLINE, HF_HUB_OFFLINE), if set."""
    for var in OFFLINE_ENV_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def looks_like_path(model: str) -> bool:
    """A hub id is "name" or "owner/name"; anything else (./x, /x, a/b/c, ~) is meant as a folder."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def hf_folder_problem(folder: Path) -> str | None:
    """Why `folder` is not a save_pretrained model folder, or None when it looks like one."""
    if not (folder / "config.json").is_file():
        return f"{folder} has no config.json, so it is not a save_pretrained model folder"
    if not any((folder / name).is_file() for name in HF_WEIGHT_FILES):
        return f"{folder} has a config.json but no weights ({' or '.join(HF_WEIGHT_FILES[::2])})"
    return None


def resolve_text_encoder(name: str, config_path: Path) -> str:
    """A local folder (absolute, or relative to the config's folder) as an absolute path; else the hub id."""
    for candidate in (Path(name).expanduser(), config_path.parent / name):
        if candidate.is_dir():
            return str(candidate.resolve())
    return name


def config_text_encoder(config_path: Path) -> str | None:
    """The `text_encoder_type = "..."` a groundingdino-py config assigns, read without running it."""
    try:
        tree = ast.parse(config_path.read_text(encoding="utf-8"), filename=str(config_path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None  # loading it reports the problem, with the full cause
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "text_encoder_type" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def gated_advice(model_id: str) -> str:
    """How to get a gated hub model, in one sentence."""
    return (
        f"{model_id} is gated: accept its licence on https://huggingface.co/{model_id}, then run `hf auth login` "
        f"(or set HF_TOKEN), or pass a local folder made with `hf download {model_id} --local-dir DIR`"
    )


def hf_load_error(what: str, flag: str, model: str, exc: Exception, folder: Path | None) -> ModelLoadError:
    """The one-line ModelLoadError for a transformers model that failed to load from `model`."""
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if folder is not None:
        why = hf_folder_problem(folder) or cause
        return ModelLoadError(f"cannot load {what} folder {model!r} ({flag}): {why}")
    if model in GATED_MODELS:
        return ModelLoadError(f"cannot load {what} {model!r} ({cause}); {gated_advice(model)}")
    return ModelLoadError(
        f"cannot load {what} {model!r} ({cause}); pre-download it with `hf download {model}` "
        f"or pass a local save_pretrained folder as {flag}"
    )
