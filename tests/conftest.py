"""Shared fixtures: one torch thread, hub offline, tiny random-weight models built once per session."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A session folder where the tiny models are written (each built on first use)."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_sam2(tiny_dir):
    """(yaml_path, checkpoint_path) of a tiny random-weight SAM 2.1 model."""
    from lang_sam_tracker.testing.tiny_sam2 import build_tiny_sam2

    return build_tiny_sam2(tiny_dir)


@pytest.fixture(scope="session")
def tiny_gdino_hf(tiny_dir):
    """Folder of a tiny Hugging Face Grounding DINO (model + processor, save_pretrained)."""
    from lang_sam_tracker.testing.tiny_grounding_dino import build_tiny_hf_grounding_dino

    return build_tiny_hf_grounding_dino(tiny_dir / "grounding_dino_tiny")


@pytest.fixture(scope="session")
def tiny_gdino_original(tiny_dir):
    """(config_py, checkpoint_pth) of a tiny original-format Grounding DINO for groundingdino-py."""
    from lang_sam_tracker.testing.tiny_grounding_dino import build_tiny_original_grounding_dino

    return build_tiny_original_grounding_dino(tiny_dir / "groundingdino_original")


@pytest.fixture(scope="session")
def tiny_model_args(tiny_sam2, tiny_gdino_hf):
    """CLI flags that run the batch scripts on the tiny models (random weights: every query passes
    at threshold 0, so top-k bounds the number of objects; random boxes are never re-detected, so
    `--min_hits 1` confirms them at once and the record paths have objects to write)."""
    yaml_path, ckpt_path = tiny_sam2
    return [
        "--sam_config", str(yaml_path),
        "--model_path", str(ckpt_path),
        "--detector_model", str(tiny_gdino_hf),
        "--box_threshold", "0",
        "--max_objects", "2",
        "--min_hits", "1",
    ]


@pytest.fixture(scope="session")
def subprocess_env():
    """Environment for scripts run as subprocesses: one thread, hub offline, the package importable."""
    from pathlib import Path

    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="session")
def tiny_sam3(tiny_dir):
    """Folder of a tiny random-weight SAM 3 in facebook/sam3's format (skips before transformers 5)."""
    from lang_sam_tracker.testing.tiny_sam3 import build_tiny_sam3, sam3_available

    if not sam3_available():
        pytest.skip("SAM 3 needs transformers >= 5")
    return build_tiny_sam3(tiny_dir / "sam3_tiny")


@pytest.fixture(scope="session")
def tiny_sam3_args(tiny_sam3):
    """CLI flags that run the batch scripts with --pipeline sam3 on the tiny SAM 3 (random weights:
    a low threshold and top-k give objects to track; `--min_hits 1` confirms them at once)."""
    return ["--pipeline", "sam3", "--sam3_model", str(tiny_sam3), "--box_threshold", "0.1", "--max_objects", "2", "--min_hits", "1"]
