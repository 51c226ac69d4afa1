"""A tiny random-weight SAM 2.1 in the real formats (hydra yaml + ``{"model": state_dict}``).

The yaml is derived from sam2's own ``configs/sam2.1/sam2.1_hiera_t.yaml``: every class and every
flag is kept, only widths, depths, memory sizes and the image size shrink, so the real SAM 2 code
paths (Hiera, FPN neck, memory attention with RoPE, memory encoder, object pointers, occlusion
head) all run, at a few milliseconds per object per frame on one CPU thread (1.3 M parameters).

One deliberate weight change: with random weights the object-score head outputs slightly negative
logits, so SAM 2 would call every object absent (all mask logits -1024) and every test would be
vacuous. The last bias of ``sam_mask_decoder.pred_obj_score_head`` is therefore raised by
``OBJ_SCORE_BIAS_SHIFT`` in the saved checkpoint, so objects count as present.
"""

from __future__ import annotations

import logging
import os
import tempfile
from importlib import resources
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

logger = logging.getLogger(__name__)

YAML_NAME = "sam2_tiny.yaml"
CHECKPOINT_NAME = "sam2_tiny.pt"
BASE_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
OBJ_SCORE_BIAS_SHIFT = 2.0
SEED = 0

# Width of the neck / memory attention (the mask decoder has 8 heads: keep it a multiple of 8)
# and of the memory features; the Hiera trunk starts at EMBED and doubles per stage.
_D_MODEL = 64
_MEM_DIM = 32
_EMBED = 16
# constructor arguments the official yaml leaves at their defaults (so they are added, not changed)
_CONSTRUCTOR_DEFAULTS = frozenset(
    {
        "model.image_encoder.trunk.window_spec",
        "model.memory_encoder.in_dim",
        "model.memory_encoder.mask_downsampler.embed_dim",
        "model.max_obj_ptrs_in_encoder",
    }
)


def _tiny_config(image_size: int, num_maskmem: int, max_obj_ptrs: int) -> dict:
    """The dotted-key changes applied to the official hiera-t config."""
    feat = image_size // 16  # stride-16 feature map side, where memory attention works
    trunk_dims = [_EMBED * 2**i for i in range(4)]
    attn = "model.memory_attention.layer"
    return {
        "model.image_encoder.trunk.embed_dim": _EMBED,
        "model.image_encoder.trunk.stages": [1, 1, 2, 1],
        # a global-attention block must not be a stage's first (q-pool) block: 3 is stage 3's second
        "model.image_encoder.trunk.global_att_blocks": [3],
        "model.image_encoder.trunk.window_spec": [8, 4, 4, 2],
        "model.image_encoder.neck.d_model": _D_MODEL,
        "model.image_encoder.neck.position_encoding.num_pos_feats": _D_MODEL,
        "model.image_encoder.neck.backbone_channel_list": trunk_dims[::-1],
        "model.memory_attention.d_model": _D_MODEL,
        "model.memory_attention.num_layers": 1,
        f"{attn}.d_model": _D_MODEL,
        f"{attn}.dim_feedforward": 2 * _D_MODEL,
        f"{attn}.self_attention.embedding_dim": _D_MODEL,
        f"{attn}.self_attention.feat_sizes": [feat, feat],
        f"{attn}.cross_attention.embedding_dim": _D_MODEL,
        f"{attn}.cross_attention.feat_sizes": [feat, feat],
        f"{attn}.cross_attention.kv_in_dim": _MEM_DIM,
        "model.memory_encoder.out_dim": _MEM_DIM,
        "model.memory_encoder.in_dim": _D_MODEL,
        "model.memory_encoder.position_encoding.num_pos_feats": _MEM_DIM,
        "model.memory_encoder.mask_downsampler.embed_dim": _D_MODEL,
        "model.memory_encoder.fuser.layer.dim": _D_MODEL,
        "model.memory_encoder.fuser.num_layers": 1,
        "model.num_maskmem": num_maskmem,
        "model.max_obj_ptrs_in_encoder": max_obj_ptrs,
        "model.image_size": image_size,
    }


def tiny_sam2_yaml(image_size: int = 128, num_maskmem: int = 3, max_obj_ptrs: int = 8) -> str:
    """The tiny config as yaml text (a hydra primary config, like sam2's own)."""
    base = resources.files("sam2").joinpath(BASE_CONFIG).read_text()
    cfg = OmegaConf.create(base)
    for key, value in _tiny_config(image_size, num_maskmem, max_obj_ptrs).items():
        if key not in _CONSTRUCTOR_DEFAULTS and OmegaConf.select(cfg, key, default=None) is None:
            raise KeyError(f"{key} is not in sam2's {BASE_CONFIG}; the tiny config is out of date")
        OmegaConf.update(cfg, key, value, force_add=True)
    header = (
        "# @package _global_\n"
        f"# Tiny random-weight SAM 2.1 for tests, derived from sam2's {BASE_CONFIG}\n"
        "# by lang_sam_tracker.testing.tiny_sam2 (same classes and flags, smaller sizes).\n"
    )
    return header + OmegaConf.to_yaml(cfg)


def _write_atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_tiny_sam2(
    out_dir: Path, image_size: int = 128, num_maskmem: int = 3, max_obj_ptrs: int = 8
) -> tuple[Path, Path]:
    """Write ``out_dir/sam2_tiny.yaml`` and ``out_dir/sam2_tiny.pt``; return their paths.

    Seeded, so the weights are the same on every machine. Cheap when already built: the files are
    reused if the yaml on disk is exactly the one these arguments produce.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    yaml_path, ckpt_path = out_dir / YAML_NAME, out_dir / CHECKPOINT_NAME
    text = tiny_sam2_yaml(image_size, num_maskmem, max_obj_ptrs)
    if ckpt_path.is_file() and yaml_path.is_file() and yaml_path.read_text() == text:
        return yaml_path, ckpt_path

    cfg = OmegaConf.create(text)
    OmegaConf.resolve(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = instantiate(cfg.model, _recursive_=True)
    state = model.state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += OBJ_SCORE_BIAS_SHIFT
    # checkpoint first, yaml last: the yaml is what marks the pair as complete
    _write_atomic(ckpt_path, lambda p: torch.save({"model": state}, p))
    _write_atomic(yaml_path, lambda p: p.write_text(text))
    n_params = sum(v.numel() for v in state.values())
    logger.info("wrote tiny SAM 2.1 (%d parameters) to %s", n_params, out_dir)
    return yaml_path, ckpt_path
