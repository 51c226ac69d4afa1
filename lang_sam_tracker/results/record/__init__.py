"""The per-video record of output-schema.md.

- `builder`: `RecordBuilder` (frame by frame, in memory or spooled), `ObjectObservation`, `RecordOutput`, `config_hash`;
- `object_summary`: the record's `object_summary` (one entry per object);
- `rle`: masks as COCO RLE;
- `schema`: `validate_record` (record_schema.json and the rules a schema cannot say).
"""

from .builder import ObjectObservation, RecordBuilder, RecordOutput, config_hash
from .rle import mask_to_rle, rle_to_mask
from .schema import validate_record

__all__ = [
    "ObjectObservation",
    "RecordBuilder",
    "RecordOutput",
    "config_hash",
    "mask_to_rle",
    "rle_to_mask",
    "validate_record",
]
