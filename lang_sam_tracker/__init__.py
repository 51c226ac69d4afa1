"""Text-prompted multi-object tracking in videos: Grounding DINO finds, SAM 2 follows."""

__version__ = "0.1.0"
