"""Tiny random-weight Grounding DINO models in both real formats (Hugging Face and groundingdino-py).

The weights are random, so detections are meaningless; what matters is that the real
architectures, file formats, tokenizers and loaders are exercised without any download.
"""

from __future__ import annotations

import logging
import re
import string
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

SEED = 0
HF_SCORE_SCALE = 0.3
ORIGINAL_SCORE_SCALE = 0.15

# Whole-word tokens, so prompts used in tests and smoke runs tokenize to single real tokens.
PROMPT_WORDS = (
    "person", "man", "woman", "child", "people", "car", "truck", "bus", "bicycle", "bike", "motorcycle",
    "train", "boat", "airplane", "dog", "cat", "bird", "horse", "cow", "sheep", "ball", "box", "bottle",
    "cup", "chair", "table", "phone", "traffic", "light", "sign", "red", "green", "blue", "yellow",
    "white", "black", "square", "circle", "triangle", "rectangle", "shape", "object", "thing", "a", "the",
)  # fmt: skip


def _bert_vocab() -> list[str]:
    """A WordPiece vocabulary laid out like bert-base-uncased's first 1,060 ids.

    The Hugging Face Grounding DINO hard-codes the ids of [CLS] (101), [SEP] (102), "." (1012) and
    "?" (1029) to split the caption into phrases, so these must sit where BERT has them. Single
    characters plus their "##" continuations make every lowercase ASCII word tokenizable without
    [UNK]; the whole words in PROMPT_WORDS make common prompts single tokens.
    """
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [f"[unused{i}]" for i in range(99, 99 + 999 - len(vocab))]
    chars = [c for c in string.printable[:94] if not c.isupper()]  # digits, a-z, punctuation
    vocab += sorted(chars)  # ASCII order puts "!" at 999, "." at 1012 and "?" at 1029, as in BERT
    vocab += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab += [w for w in PROMPT_WORDS if w not in vocab]
    assert vocab.index("[CLS]") == 101 and vocab.index(".") == 1012 and vocab.index("?") == 1029
    return vocab


def write_tokenizer(folder: Path):
    """Write vocab.txt and load it the way users load tokenizers (from a folder)."""
    from transformers import BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(_bert_vocab()) + "\n", encoding="utf-8")
    # BertTokenizer(vocab_file=...) silently ignores the file on transformers 5; from_pretrained does not.
    tokenizer = BertTokenizer.from_pretrained(str(folder), do_lower_case=True)
    ids = tokenizer("car . person .")["input_ids"]
    if tokenizer.unk_token_id in ids:
        raise RuntimeError(f"tiny tokenizer in {folder} maps prompt words to [UNK]")
    return tokenizer


def _tiny_bert_config(vocab_size: int, hidden_size: int):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=256,  # Grounding DINO's max_text_len
    )


def _spread_scores(decoder_norm: torch.nn.LayerNorm, scale: float) -> None:
    """Shrink the decoder's output LayerNorm so random-weight token logits are not all saturated.

    Token logits are dot products of decoder outputs with text features; at random init they have
    a standard deviation near 10, so every score is ~1.0 and ties hide ordering bugs in thresholds,
    NMS and top-k. Scaling this norm's affine parameters (still a valid random initialisation)
    spreads the scores over (0, 1).
    """
    with torch.no_grad():
        decoder_norm.weight.mul_(scale)
        decoder_norm.bias.mul_(scale)


def build_tiny_hf_grounding_dino(folder: Path) -> Path:
    """Write a tiny `GroundingDinoForObjectDetection` + `GroundingDinoProcessor` with `save_pretrained`.

    Returns `folder`, loadable with `AutoModelForZeroShotObjectDetection` / `AutoProcessor`.
    Reuses an existing build (the weights are seeded, so a rebuild would be identical).
    """
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder = Path(folder)
    if (folder / "preprocessor_config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder  # the model is written last
    tokenizer = write_tokenizer(folder)
    backbone = SwinConfig(
        image_size=224,
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[2, 2, 2, 2],
        window_size=7,
        out_indices=[2, 3, 4],
    )
    config = GroundingDinoConfig(
        backbone_config=backbone,
        use_pretrained_backbone=False,
        text_config=_tiny_bert_config(len(tokenizer.vocab), hidden_size=32).to_dict(),
        d_model=32,  # input projections use GroupNorm(32, d_model)
        num_queries=20,
        encoder_layers=1,
        decoder_layers=2,  # 1 fails on transformers 5
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
    )
    torch.manual_seed(SEED)
    model = GroundingDinoForObjectDetection(config).eval()
    _spread_scores(model.model.decoder.layer_norm, HF_SCORE_SCALE)
    # Small inputs keep tests fast; the real models use shortest_edge 800 / longest_edge 1333.
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 224})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(str(folder))
    model.save_pretrained(str(folder))
    logger.info("wrote tiny Hugging Face Grounding DINO to %s", folder)
    return folder


# Values replaced in groundingdino-py's own GroundingDINO_SwinT_OGC.py; everything else is kept.
# hidden_dim stays 256 (the text position embedding is hard-coded to it) and the Swin-T backbone
# is fixed by its name, so most of the remaining size (about 34 M parameters) is the backbone.
ORIGINAL_OVERRIDES = {
    "enc_layers": 1,
    "dec_layers": 2,
    "num_queries": 20,
    "dim_feedforward": 256,
    "use_checkpoint": False,
    "use_transformer_ckpt": False,
}


def build_tiny_original_grounding_dino(folder: Path) -> tuple[Path, Path]:
    """Write `folder/tiny_groundingdino.py` (config) and `folder/tiny_groundingdino.pth` ({"model": state_dict}).

    The config is groundingdino-py's SwinT_OGC config with fewer layers and queries, a small
    inference size, and `text_encoder_type` pointing at `folder/bert` (a tiny BERT written with
    `save_pretrained`), so nothing is fetched from the hub. Reuses an existing build.
    """
    import groundingdino
    from transformers import BertModel

    from ..detectors.groundingdino_original import build_groundingdino

    folder = Path(folder)
    config_path, checkpoint_path = folder / "tiny_groundingdino.py", folder / "tiny_groundingdino.pth"
    if config_path.is_file() and checkpoint_path.is_file():
        return config_path, checkpoint_path
    bert_dir = folder / "bert"
    tokenizer = write_tokenizer(bert_dir)
    torch.manual_seed(SEED)
    BertModel(_tiny_bert_config(len(tokenizer.vocab), hidden_size=32)).save_pretrained(str(bert_dir))

    text = (Path(groundingdino.__file__).parent / "config" / "GroundingDINO_SwinT_OGC.py").read_text()
    overrides = {**ORIGINAL_OVERRIDES, "text_encoder_type": str(bert_dir.resolve())}
    for key, value in overrides.items():
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value!r}", text, flags=re.MULTILINE)
        if count != 1:
            raise RuntimeError(f"groundingdino-py's SwinT config has no single {key!r} entry")
    text += "\n# Smaller inference resize than the default 800 / 1333, read by lang_sam_tracker only.\n"
    text += "inference_min_size = 224\ninference_max_size = 320\n"
    folder.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)

    torch.manual_seed(SEED)
    model, _ = build_groundingdino(config_path, torch.device("cpu"))
    _spread_scores(model.transformer.decoder.norm, ORIGINAL_SCORE_SCALE)
    partial = checkpoint_path.with_suffix(".pth.partial")
    torch.save({"model": model.state_dict()}, partial)
    partial.replace(checkpoint_path)  # an interrupted build is never mistaken for a finished one
    logger.info("wrote tiny original Grounding DINO to %s", folder)
    return config_path, checkpoint_path
