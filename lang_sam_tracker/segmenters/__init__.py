"""Segmenters: the models that follow each object through a video (SAM 2 today)."""
