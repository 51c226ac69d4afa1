"""Text prompts: class phrases, the caption Grounding DINO reads, and which tokens name which class.

Grounding DINO scores every caption token. Naming a box by decoding the tokens above a threshold
yields "[SEP]" debris or glued phrases ("car person"); instead each token is mapped back to the
class phrase its characters came from, so a label is always exactly one of the prompt's classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

SEPARATOR = " . "
# What people type between classes: "person . car", "person, car", "person; car".
_SEPARATORS = re.compile(r"[.,;]")


@dataclass(frozen=True)
class Prompt:
    """A parsed prompt: lowercase, deduplicated class phrases in order, and the model caption."""

    classes: tuple[str, ...]

    @property
    def caption(self) -> str:
        """The caption in Grounding DINO's training format: "car . person ."."""
        return SEPARATOR.join(self.classes) + " ."

    def class_spans(self) -> list[tuple[int, int]]:
        """Character span [start, end) of each class phrase inside `caption`."""
        spans, start = [], 0
        for phrase in self.classes:
            spans.append((start, start + len(phrase)))
            start += len(phrase) + len(SEPARATOR)
        return spans


def parse_prompt(text: str) -> Prompt:
    """Split "Car. Person." / "car . person" / "person, car" / "car" into class phrases.

    Phrases are separated by dots, commas or semicolons, lowercased (the text encoders are uncased), inner whitespace
    collapsed, empty pieces dropped and duplicates removed keeping the first occurrence.
    """
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a string, got {type(text).__name__}")
    classes: list[str] = []
    for piece in _SEPARATORS.split(text):
        phrase = " ".join(piece.lower().split())
        if phrase and phrase not in classes:
            classes.append(phrase)
    if not classes:
        raise ValueError(f"prompt {text!r} names no class; write e.g. 'car . person'")
    return Prompt(tuple(classes))


def normalise_prompt(text: str) -> str:
    """The prompt's one spelling, "person . car", used wherever a prompt is a key or a name (resume
    keys, file names, the record's `text_prompt`): "Person, car", "person. car" and "person . car"
    are one prompt. Text that names no class comes back stripped (the start-up check refuses it)."""
    try:
        return SEPARATOR.join(parse_prompt(text).classes)
    except ValueError:
        return text.strip()


def class_token_map(prompt: Prompt, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """Boolean (num_classes, num_tokens) map: token t belongs to class c.

    `offsets` are the tokenizer's character offsets for `prompt.caption` (fast tokenizers return
    them with `return_offsets_mapping=True`). Special tokens have empty offsets and the "."
    separators fall outside every class span, so neither ever belongs to a class.
    """
    token_map = np.zeros((len(prompt.classes), len(offsets)), dtype=bool)
    for c, (start, end) in enumerate(prompt.class_spans()):
        for t, (tok_start, tok_end) in enumerate(offsets):
            token_map[c, t] = tok_end > tok_start and tok_start >= start and tok_end <= end
    return token_map


def tokenize_prompt(tokenizer, prompt: Prompt) -> tuple[list[int], np.ndarray]:
    """Token ids of `prompt.caption` and its class-token map, from a fast (offset-aware) tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} gives no character offsets; install `tokenizers` so a fast tokenizer loads"
        )
    encoded = tokenizer(prompt.caption, return_offsets_mapping=True)
    token_map = class_token_map(prompt, encoded["offset_mapping"])
    missing = [c for c, row in zip(prompt.classes, token_map) if not row.any()]
    if missing:
        raise ValueError(f"prompt classes {missing} produced no tokens")
    return list(encoded["input_ids"]), token_map
