"""Checking a record: record_schema.json, and the rules a schema cannot say (frame order, unique ids,
counts that agree, no NaN)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _validator():
    import jsonschema  # only needed to validate; imported late so the batch does not pay for it

    schema = json.loads(resources.files("lang_sam_tracker.results").joinpath("record_schema.json").read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_record(record: dict) -> None:
    """Check a record against record_schema.json and the rules a schema cannot say; ValueError on the first problem."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<record>"
        raise ValueError(f"record invalid at {where}: {error.message}")
    try:
        json.dumps(record, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"record invalid: {exc} (NaN and infinity are not JSON)") from exc
    if "frames" in record:
        if len(record["frames"]) != record["video_info"]["processed_frames"]:
            raise ValueError("record invalid at video_info/processed_frames: differs from the number of frames")
        _check_increasing("frames", [f["frame_idx"] for f in record["frames"]])
        for f in record["frames"]:
            _check_unique(f"frames (frame {f['frame_idx']})", [o["obj_id"] for o in f["objects"]])
    elif "objects" in record:
        _check_unique("objects", [o["obj_id"] for o in record["objects"]])
        for o in record["objects"]:
            _check_increasing(f"objects (obj_id {o['obj_id']})", [f["frame_idx"] for f in o["frames"]])
    if "object_summary" in record:
        _check_unique("object_summary", [o["obj_id"] for o in record["object_summary"]])
        if len(record["object_summary"]) != record["stats"]["num_objects"]:
            raise ValueError("record invalid at stats/num_objects: differs from the number of objects in object_summary")


def _check_increasing(where: str, values: list[int]) -> None:
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"record invalid at {where}: frame_idx values must increase")


def _check_unique(where: str, values: list[int]) -> None:
    if len(values) != len(set(values)):
        raise ValueError(f"record invalid at {where}: obj_id repeated")
