"""Scoring results against ground truth: HOTA (TrackEval), CLEAR MOT and identity metrics (motmetrics).

    python -m lang_sam_tracker.evaluate results.jsonl --gt MOT17/train
"""
