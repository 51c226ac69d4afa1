"""groundingdino-py's BERT text encoder wrapper, rewritten to run on transformers 4 and 5.

groundingdino-py 0.4.0 wraps its `BertModel` in `BertModelWarper`, which copies the model's
`get_extended_attention_mask` and `get_head_mask` methods in `__init__` and calls them in
`forward`; transformers 5 removed both from `PreTrainedModel`, so building the model fails there
(IDEA-Research/GroundingDINO #446). `BertTextEncoder` does what the wrapper does for inference
with only the embeddings, the encoder and the pooler: the additive attention mask is computed here
exactly as transformers 4's `get_extended_attention_mask` computes it for an encoder (the mask in
the model's dtype, `(1 - mask) * finfo.min`), and there is no head mask (transformers 4 turned
`head_mask=None` into "no mask" per layer). It holds the same three submodules under the same
names, so checkpoints load unchanged.

`wrapped_bert()` swaps it in while groundingdino-py builds a model (the swap is undone on exit);
nothing is patched when the package is imported. tests/detectors/test_groundingdino_bert.py shows
the tiny original-format model's logits and boxes equal, bit for bit, those made on transformers
4.57 with the upstream wrapper (reference arrays in tests/detectors/data/).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions

_SWAP_LOCK = threading.Lock()


def extended_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, L) padding or (B, L, L) self-attention mask (1 = attend) -> additive (B, 1, 1|L, L) mask in `dtype`."""
    if attention_mask.dim() == 3:
        extended = attention_mask[:, None, :, :]
    elif attention_mask.dim() == 2:
        extended = attention_mask[:, None, None, :]
    else:
        raise ValueError(f"attention mask must have 2 or 3 dimensions, got shape {tuple(attention_mask.shape)}")
    extended = extended.to(dtype=dtype)
    return (1.0 - extended) * torch.finfo(dtype).min


class BertTextEncoder(nn.Module):
    """Stands in for groundingdino-py's `BertModelWarper`: a BERT encoder over a caption, no decoder features."""

    def __init__(self, bert_model: nn.Module) -> None:
        super().__init__()
        if getattr(bert_model.config, "is_decoder", False):
            raise ValueError("Grounding DINO's text encoder must be a BERT encoder, not a decoder")
        self.config = bert_model.config
        self.embeddings = bert_model.embeddings
        self.encoder = bert_model.encoder
        self.pooler = bert_model.pooler

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> BaseModelOutputWithPoolingAndCrossAttentions:
        """Grounding DINO's call: the tokenizer's outputs, with a (B, L, L) phrase mask and position ids when it splits phrases."""
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape, device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros(input_ids.shape, dtype=torch.long, device=input_ids.device)
        dtype = next(self.parameters()).dtype  # what transformers 4's `self.dtype` reads
        embeddings = self.embeddings(input_ids=input_ids, position_ids=position_ids, token_type_ids=token_type_ids)
        hidden = self.encoder(embeddings, attention_mask=extended_attention_mask(attention_mask, dtype))[0]
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=hidden, pooler_output=pooled)


@contextlib.contextmanager
def wrapped_bert() -> Iterator[None]:
    """While open, groundingdino-py's model builder wraps its BERT in `BertTextEncoder`."""
    from groundingdino.models.GroundingDINO import groundingdino as upstream

    with _SWAP_LOCK:
        original = upstream.BertModelWarper
        upstream.BertModelWarper = BertTextEncoder
        try:
            yield
        finally:
            upstream.BertModelWarper = original
