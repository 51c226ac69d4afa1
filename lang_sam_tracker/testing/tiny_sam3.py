"""A tiny random-weight SAM 3 in the format of ``facebook/sam3`` (needs transformers >= 5).

``facebook/sam3`` is one ``save_pretrained`` folder of a `Sam3VideoModel` (the detector
``detector_model.*``, the tracker ``tracker_model.*`` and its neck ``tracker_neck.*``) with a
`Sam3VideoProcessor` (image processor, video processor, CLIP tokenizer). `Sam3Model` and
`Sam3TrackerVideoModel` each load their half from that folder through transformers' own key
mappings, and their processors load from it too. This builder writes the same layout with every
class kept and only the widths, depths, query count and image size shrunk (112 px input, 8 x 8
feature grid), so the real SAM 3 code paths all run on one CPU thread in milliseconds.

Two deliberate weight changes, as for the tiny SAM 2: with random weights the tracker's
object-score head calls every object absent and the detector's presence head scores nothing, so
every test would be vacuous. Their last biases are raised (`OBJ_SCORE_BIAS_SHIFT`,
`PRESENCE_BIAS_SHIFT`) before saving, so tracked objects count as present and some queries pass
a detection threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

SEED = 0
IMAGE_SIZE = 56
PATCH = 14
# The memory attention reads 64-channel memories (hard-coded upstream) and splits each object
# pointer into hidden / 64 tokens, so the tracker must be wider than 64.
WIDTH = 128
OBJ_SCORE_BIAS_SHIFT = 2.0
PRESENCE_BIAS_SHIFT = 3.0
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def sam3_available() -> bool:
    """Whether the installed transformers has SAM 3 (5.0 and later)."""
    try:
        import transformers
    except ImportError:
        return False
    return hasattr(transformers, "Sam3VideoModel")


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's byte-to-unicode alphabet (printable bytes as themselves, the rest shifted)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_clip_tokenizer(folder: Path):
    """A character-level CLIP BPE vocabulary (no merges), loaded back the way users load it."""
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars] + [BOS, EOS]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    ids = tokenizer("person")["input_ids"]
    if tokenizer.unk_token_id in ids[1:-1] or len(ids) != len("person") + 2:
        raise RuntimeError("tiny CLIP tokenizer does not spell words out character by character")
    return tokenizer


def _vision_config() -> dict:
    feat = IMAGE_SIZE // PATCH
    backbone = dict(
        model_type="sam3_vit_model",
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        window_size=2,
        global_attn_indexes=[1],
        pretrain_image_size=4 * PATCH,
    )
    return dict(backbone_config=backbone, fpn_hidden_size=WIDTH, backbone_feature_sizes=[[feat * 4] * 2, [feat * 2] * 2, [feat] * 2])


def tiny_sam3_config(vocab_size: int, bos_id: int, eos_id: int):
    """The `Sam3VideoConfig` of the tiny model (detector + tracker sharing one vision backbone)."""
    from transformers import Sam3Config, Sam3TrackerVideoConfig, Sam3VideoConfig

    small = dict(hidden_size=WIDTH, num_attention_heads=2, intermediate_size=2 * WIDTH)
    detector = Sam3Config(
        vision_config=_vision_config(),
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=WIDTH,
            intermediate_size=2 * WIDTH,
            projection_dim=WIDTH,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=32,
            bos_token_id=bos_id,
            eos_token_id=eos_id,
            pad_token_id=eos_id,
        ),
        geometry_encoder_config=dict(num_layers=1, **small),
        detr_encoder_config=dict(num_layers=1, **small),
        detr_decoder_config=dict(num_layers=2, num_queries=16, **small),
        mask_decoder_config=dict(hidden_size=WIDTH, num_attention_heads=2),
    )
    tracker = Sam3TrackerVideoConfig(
        vision_config=_vision_config(),
        prompt_encoder_config=dict(hidden_size=WIDTH, image_size=IMAGE_SIZE, patch_size=PATCH),
        mask_decoder_config=dict(
            hidden_size=WIDTH, mlp_dim=2 * WIDTH, num_hidden_layers=1, num_attention_heads=2, iou_head_hidden_dim=WIDTH
        ),
        image_size=IMAGE_SIZE,
        memory_attention_hidden_size=WIDTH,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=2 * WIDTH,
        memory_encoder_hidden_size=WIDTH,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=WIDTH,
        memory_fuser_embed_dim=WIDTH,
        memory_fuser_intermediate_dim=2 * WIDTH,
        memory_fuser_num_layers=1,
    )
    return Sam3VideoConfig(detector_config=detector.to_dict(), tracker_config=tracker.to_dict(), low_res_mask_size=4 * IMAGE_SIZE // PATCH)


def build_tiny_sam3(folder: Path) -> Path:
    """Write the tiny SAM 3 (model + processor) into `folder`; return it."""
    from transformers import Sam3ImageProcessor, Sam3VideoModel, Sam3VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    folder = Path(folder)
    tokenizer = write_clip_tokenizer(folder)
    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    mask_side = 4 * IMAGE_SIZE // PATCH
    image_processor = Sam3ImageProcessor(size=size, mask_size={"height": mask_side, "width": mask_side})
    video_processor = Sam2VideoVideoProcessor(
        size=size, image_mean=image_processor.image_mean, image_std=image_processor.image_std
    )
    config = tiny_sam3_config(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
    torch.manual_seed(SEED)
    model = Sam3VideoModel(config).eval()
    with torch.no_grad():
        model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias += OBJ_SCORE_BIAS_SHIFT
        presence = model.detector_model.detr_decoder.presence_head
        presence.layer3.bias += PRESENCE_BIAS_SHIFT
    model.save_pretrained(str(folder))
    Sam3VideoProcessor(image_processor, video_processor, tokenizer).save_pretrained(str(folder))
    return folder
