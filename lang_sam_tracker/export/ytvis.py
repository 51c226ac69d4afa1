"""YouTube-VIS style JSON: videos, per-object annotations with a segmentation and box per frame, categories.

Needs records made with --save_masks. A video's frames are its processed frames in order (with
--group_by object, only the frames where something was seen); `file_names` are
`<name>/<frame_idx:05d>.jpg` and `frame_idx` lists the source index of each. Segmentations are COCO
RLE: uncompressed (counts as a list of run lengths, as the YouTube-VIS annotations have them and
every reader takes, e.g. TrackEval's `frPyObjects`) by default, or the record's compressed counts
strings (smaller; what VIS results files use). Absent frames hold null. Annotations also carry the tracker's `score` and `obj_id`, so the file serves as results
too. Written as a stream: annotations go straight to the output, the video list to a side file
that is appended at the end. Each annotation holds all of its object's frames, so one video's
segmentations are held in memory until that video is written (the other formats hold one frame).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..results.record import rle_to_mask
from .source import ExportError, Record, prompt_labels

RLE_KINDS = ("uncompressed", "compressed")


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of an (H, W) mask: run lengths in column-major order, starting with a run of zeros."""
    flat = np.asarray(mask, dtype=np.int8).ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


class YtvisExporter:
    """OUT/ytvis.json (written to a .tmp name and renamed when complete)."""

    def __init__(self, out_dir: Path, rle: str = "uncompressed"):
        if rle not in RLE_KINDS:
            raise ValueError(f"rle must be one of {RLE_KINDS}, got {rle!r}")
        self.rle = rle
        self.path = out_dir / "ytvis.json"
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._videos_tmp = self.path.with_name(self.path.name + ".videos.tmp")
        self._out = open(self._tmp, "w", encoding="utf-8")
        self._videos = open(self._videos_tmp, "w", encoding="utf-8")
        self._out.write('{"info": {"description": "lang-sam-tracker results"}, "licenses": [], "annotations": [')
        self._categories: dict[str, int] = {}
        self._video_id = 0
        self._ann_id = 0

    def _category(self, label: str) -> int:
        return self._categories.setdefault(label, len(self._categories) + 1)

    def add(self, record: Record, name: str) -> None:
        """One pass over the record's frames. A video's annotations hold every frame's segmentation of
        each object, so they are kept in memory until the video is done: one video's masks at most."""
        for label in prompt_labels(record.text_prompt):
            self._category(label)
        info = record.info
        width, height = int(info.get("width", 0)), int(info.get("height", 0))
        tracks: dict[int, dict] = {}
        frame_idx: list[int] = []
        for i, frame in enumerate(record.frames()):
            frame_idx.append(frame.frame_idx)
            for obj in frame.objects:
                if "mask" not in obj:
                    raise ExportError(
                        f"{record.video_path}: --format ytvis needs masks, and this record has none (rerun the tracker with --save_masks)"
                    )
                track = tracks.get(obj["obj_id"])
                if track is None:
                    track = tracks[obj["obj_id"]] = {
                        "obj_id": int(obj["obj_id"]), "category_id": self._category(obj["label"]), "score": float(obj["score"]),
                        "segmentations": [], "bboxes": [], "areas": [],
                    }
                mask = rle_to_mask(obj["mask"])
                track["score"] = float(obj["score"])
                for key, value in (
                    ("segmentations", uncompressed_rle(mask) if self.rle == "uncompressed" else obj["mask"]),
                    ("bboxes", [float(v) for v in obj["bbox"]]),
                    ("areas", int(mask.sum())),
                ):
                    entries = track[key]
                    entries.extend([None] * (i - len(entries)))  # absent on the frames since it was last seen
                    entries.append(value)
        n = len(frame_idx)
        for track in tracks.values():
            for key in ("segmentations", "bboxes", "areas"):
                track[key].extend([None] * (n - len(track[key])))
        self._video_id += 1
        video = {
            "id": self._video_id, "width": width, "height": height, "length": n, "name": name,
            "video_path": record.video_path, "text_prompt": record.text_prompt,
            "file_names": [f"{name}/{idx:05d}.jpg" for idx in frame_idx],
            "frame_idx": frame_idx,
        }
        self._videos.write(("," if self._video_id > 1 else "") + json.dumps(video, ensure_ascii=False))
        for obj_id in sorted(tracks):
            self._ann_id += 1
            ann = {"id": self._ann_id, "video_id": self._video_id, "iscrowd": 0, "width": width, "height": height, "length": 1}
            ann.update(tracks[obj_id])
            self._out.write(("," if self._ann_id > 1 else "") + json.dumps(ann, ensure_ascii=False))

    def close(self) -> list[Path]:
        self._videos.close()
        self._out.write('], "videos": [')
        with open(self._videos_tmp, encoding="utf-8") as videos:
            shutil.copyfileobj(videos, self._out)
        categories = [{"id": cid, "name": label, "supercategory": "object"} for label, cid in self._categories.items()]
        self._out.write('], "categories": ' + json.dumps(categories, ensure_ascii=False) + "}\n")
        self._out.close()
        os.replace(self._tmp, self.path)
        self._videos_tmp.unlink(missing_ok=True)
        return [self.path]

    def abort(self) -> None:
        for f in (self._out, self._videos):
            f.close()
        for p in (self._tmp, self._videos_tmp):
            p.unlink(missing_ok=True)
