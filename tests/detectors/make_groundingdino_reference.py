"""Write tests/detectors/data/groundingdino_tiny_reference.npz: the upstream outputs the BERT replacement must equal.

Run with a transformers 4.x environment (the last where groundingdino-py 0.4.0's own
`BertModelWarper` runs), from the repository root:

    PYTHONPATH=$PWD python tests/detectors/make_groundingdino_reference.py

It builds the tiny original-format Grounding DINO (`testing.tiny_grounding_dino`, seeded), builds
the model a second time with groundingdino-py's unmodified builder (its own BERT wrapper, nothing
swapped), loads the checkpoint into it, and saves `pred_logits` / `pred_boxes` for fixed frames and
captions, with the SHA-256 of the checkpoint's weights so a test can tell "other weights" from
"other outputs". With `--project OUT` it does the same through the project's builder
(`OriginalGroundingDinoDetector`, BERT wrapper replaced) on any transformers and writes OUT;
tests/detectors/test_groundingdino_bert.py runs that and compares.

Float32 CPU results depend on the instruction set the kernels pick (AVX-512 vs AVX2 changes the
last bits, and even the seeded initial weights), so the script re-executes itself with the
kernels pinned to ones every x86-64 CPU runs (DETERMINISTIC_CPU): the reference then holds on
any x86-64 machine, not only the one that made it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

# Scalar ATen kernels, MKL's conditional numerical reproducibility, oneDNN capped at SSE4.1; one thread.
DETERMINISTIC_CPU = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
REFERENCE = Path(__file__).parent / "data" / "groundingdino_tiny_reference.npz"
# (caption, number of frames): phrases split by "." (groundingdino-py's sub-sentence mask), a batch of two,
# multi-word phrases (captions end with "." as the project writes them).
CAPTIONS = (("car . person .", 2), ("a red car . traffic light . dog .", 1))
FRAME_HW = (224, 288)  # the tiny config's inference size: the frames reach the model unresized
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def reference_frames(count: int, seed: int) -> np.ndarray:
    """`count` RGB uint8 frames of FRAME_HW: smooth colour ramps plus noise, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    height, width = FRAME_HW
    ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0, 255, size=(1, 1, 3))
    noise = rng.integers(0, 64, size=(count, height, width, 3))
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)


def reference_pixels(frames: np.ndarray) -> torch.Tensor:
    """groundingdino-py's normalisation of unresized frames: (B, 3, H, W) float32."""
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of names, dtypes, shapes and bytes of a state dict, in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def run_captions(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """pred_logits_i / pred_boxes_i for each entry of CAPTIONS, in float32."""
    arrays: dict[str, np.ndarray] = {}
    for i, (caption, count) in enumerate(CAPTIONS):
        pixels = reference_pixels(reference_frames(count, seed=i))
        with torch.inference_mode():
            outputs = model(pixels, captions=[caption] * count)
        arrays[f"pred_logits_{i}"] = outputs["pred_logits"].numpy()
        arrays[f"pred_boxes_{i}"] = outputs["pred_boxes"].numpy()
    return arrays


def upstream_outputs(config_path: Path, checkpoint_path: Path) -> dict[str, np.ndarray]:
    """The checkpoint through groundingdino-py's own builder and BertModelWarper (transformers 4 only)."""
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    from lang_sam_tracker.detectors.groundingdino_original import load_strictly, read_state_dict

    args = SLConfig.fromfile(str(config_path))
    args.device = "cpu"
    with contextlib.redirect_stdout(io.StringIO()):
        model = build_model(args)
    load_strictly(model, read_state_dict(checkpoint_path), checkpoint_path)
    return run_captions(model.eval())


def project_outputs(config_path: Path, checkpoint_path: Path) -> dict[str, np.ndarray]:
    """The checkpoint through the project's detector (its builder swaps in BertTextEncoder)."""
    from lang_sam_tracker.detectors.groundingdino_bert import BertTextEncoder
    from lang_sam_tracker.detectors.groundingdino_original import OriginalGroundingDinoDetector

    model = OriginalGroundingDinoDetector(config_path, checkpoint_path).model
    assert isinstance(model.bert, BertTextEncoder)
    return run_captions(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, metavar="OUT", help="run the project's builder and write its outputs to OUT (.npz)")
    args = parser.parse_args()
    if any(os.environ.get(key) != value for key, value in DETERMINISTIC_CPU.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **DETERMINISTIC_CPU})

    import transformers

    from lang_sam_tracker.detectors.groundingdino_original import read_state_dict
    from lang_sam_tracker.testing.tiny_grounding_dino import build_tiny_original_grounding_dino

    if args.project is None and int(transformers.__version__.split(".")[0]) >= 5:
        sys.exit(f"run this with transformers 4.x (found {transformers.__version__}): the reference is the upstream wrapper")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        config_path, checkpoint_path = build_tiny_original_grounding_dino(Path(tmp))
        run = upstream_outputs if args.project is None else project_outputs
        arrays = run(config_path, checkpoint_path)
        digest = weights_sha256(read_state_dict(checkpoint_path))
    out = REFERENCE if args.project is None else args.project
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        **arrays,
        weights_sha256=np.array(digest),
        made_with=np.array(f"transformers {transformers.__version__}, torch {torch.__version__}"),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
