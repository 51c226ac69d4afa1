"""Memory conditioning for a batch of SAM 2 objects whose memories differ: padding and a key mask.

A re-implementation, for B objects at once, of two pieces of sam2 1.1.0 (the version
`sam2_internals` checks at import): `SAM2Base._prepare_memory_conditioned_features` for a tracked
(not an initial conditioning) frame, forward in time, and `MemoryAttention.forward` with its
layers' RoPE cross-attention, given a key mask. Each object selects its memories exactly as sam2
does (`object_memories`); the batch then lays every object's keys out in sam2's order, padded at
the end of each of the two segments RoPE tells apart:

    [ spatial memories: F_max frames x HW tokens | object pointers: P_max x (C / mem_dim) tokens ]

Padded keys are zeros and masked out of the cross-attention (``attn_mask``), so each query attends
to its own object's keys only, with its own temporal encodings (the spatial memories' t_pos
embeddings and the pointers' signed frame distances are per object). Self-attention, the MLPs and
everything after memory attention (mask decoder, memory encoder) are per-object computations that
sam2 already batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from sam2.modeling.position_encoding import apply_rotary_enc
from sam2.modeling.sam2_utils import get_1d_sine_pe, select_closest_cond_frames
from sam2.modeling.sam.transformer import RoPEAttention

Output = dict[str, Any]


@dataclass
class ObjectBatch:
    """The memory banks (sam2 ``output_dict``s) of the objects run as one batch, in batch order.

    Passed where sam2 passes one ``output_dict``; `Sam2Overrides._prepare_memory_conditioned_features`
    recognises it and conditions the batch here.
    """

    output_dicts: list[dict[str, dict[int, Output]]]


def object_memories(model, frame_idx: int, output_dict: dict, num_frames: int) -> tuple[list, list]:
    """What sam2 1.1.0 attends to for one object tracked forward onto `frame_idx` (sam2_base.py
    L525-620): [(t_pos, output)] spatial memories and [(temporal distance, obj_ptr)] pointers."""
    cond_outputs = output_dict["cond_frame_outputs"]
    non_cond = output_dict["non_cond_frame_outputs"]
    selected, unselected = select_closest_cond_frames(frame_idx, cond_outputs, model.max_cond_frames_in_attn)
    spatial = [(0, out) for out in selected.values()]
    stride = model.memory_temporal_stride_for_eval
    for t_pos in range(1, model.num_maskmem):
        t_rel = model.num_maskmem - t_pos
        prev = frame_idx - 1 if t_rel == 1 else ((frame_idx - 2) // stride) * stride - (t_rel - 2) * stride
        out = non_cond.get(prev, None)
        if out is None:
            out = unselected.get(prev, None)
        if out is not None:
            spatial.append((t_pos, out))
    pointers: list[tuple[int, torch.Tensor]] = []
    if model.use_obj_ptrs_in_encoder:
        max_ptrs = min(num_frames, model.max_obj_ptrs_in_encoder)
        ptr_cond = selected
        if model.only_obj_ptrs_in_the_past_for_eval:
            ptr_cond = {t: out for t, out in selected.items() if t <= frame_idx}
        for t, out in ptr_cond.items():
            distance = frame_idx - t if model.use_signed_tpos_enc_to_obj_ptrs else abs(frame_idx - t)
            pointers.append((distance, out["obj_ptr"]))
        for t_diff in range(1, max_ptrs):
            t = frame_idx - t_diff
            if t < 0 or (num_frames is not None and t >= num_frames):
                break
            out = non_cond.get(t, unselected.get(t, None))
            if out is not None:
                pointers.append((t_diff, out["obj_ptr"]))
    return spatial, pointers


def _padded(parts: list[list[torch.Tensor]], length: int, pad: torch.Tensor) -> torch.Tensor:
    """One cat of every object's tensors, each object's list padded to `length` with `pad`."""
    return torch.cat([t for p in parts for t in p + [pad] * (length - len(p))], dim=0)


def batched_memory_conditioned_features(
    model, frame_idx: int, current_vision_feats, current_vision_pos_embeds, feat_sizes, batch: ObjectBatch, num_frames
) -> torch.Tensor:
    """(B, C, H, W) features of the current frame conditioned on each object's own memories."""
    curr, curr_pos = current_vision_feats[-1], current_vision_pos_embeds[-1]  # (HW, B, C)
    device, (H, W), C, mem_dim = curr.device, feat_sizes[-1], model.hidden_dim, model.mem_dim
    B, HW = curr.shape[1], H * W
    if B != len(batch.output_dicts):
        raise ValueError(f"{len(batch.output_dicts)} memory banks for a batch of {B}")
    selected = [object_memories(model, frame_idx, d, num_frames) for d in batch.output_dicts]
    n_spatial = [len(s) for s, _ in selected]
    if min(n_spatial) == 0:
        raise ValueError("an object with no memory to attend to (every tracked object has a conditioning frame)")
    f_max = max(n_spatial)

    # spatial memories, (B, F_max * HW, mem_dim), frame after frame as sam2 concatenates them
    feats = [[out["maskmem_features"].to(device, non_blocking=True) for _, out in s] for s, _ in selected]
    pos = [[out["maskmem_pos_enc"][-1].to(device) for _, out in s] for s, _ in selected]
    first_feat, first_pos = feats[0][0], pos[0][0]
    memory = _padded(feats, f_max, first_feat.new_zeros(first_feat.shape))  # (B*F_max, mem_dim, H, W)
    memory = memory.view(B, f_max, mem_dim, HW).permute(0, 1, 3, 2)
    memory_pos = _padded(pos, f_max, first_pos.new_zeros(first_pos.shape)).view(B, f_max, mem_dim, HW)
    tpos_index = torch.tensor(
        [[model.num_maskmem - t_pos - 1 for t_pos, _ in s] + [0] * (f_max - len(s)) for s, _ in selected],
        device=device,
    )
    tpos = model.maskmem_tpos_enc[tpos_index].view(B, f_max, 1, mem_dim)  # (num_maskmem,1,1,D) gathered
    memory_pos = memory_pos.permute(0, 1, 3, 2) + tpos
    memory, memory_pos = memory.reshape(B, f_max * HW, mem_dim), memory_pos.reshape(B, f_max * HW, mem_dim)
    # per segment: (valid keys of each object, the segment's padded length)
    key_counts = [(torch.tensor(n_spatial, device=device) * HW, f_max * HW)]

    # object pointers, each split into C / mem_dim tokens, with their temporal position encodings
    n_ptrs = [len(p) for _, p in selected]
    p_max, ptr_tokens = max(n_ptrs), 0
    if p_max:
        split = C // mem_dim if mem_dim < C else 1
        ptrs = [[ptr for _, ptr in p] for _, p in selected]
        first_ptr = next(p[0] for p in ptrs if p)
        obj_ptrs = _padded(ptrs, p_max, first_ptr.new_zeros(first_ptr.shape)).view(B, p_max, C)
        if model.add_tpos_enc_to_obj_ptrs:
            t_diff_max = min(num_frames, model.max_obj_ptrs_in_encoder) - 1
            tpos_dim = C if model.proj_tpos_enc_in_obj_ptrs else mem_dim
            distances = torch.tensor([[d for d, _ in p] + [0] * (p_max - len(p)) for _, p in selected], device=device)
            obj_pos = model.obj_ptr_tpos_proj(get_1d_sine_pe(distances / t_diff_max, dim=tpos_dim))  # (B, P, mem_dim)
        else:
            obj_pos = obj_ptrs.new_zeros(B, p_max, mem_dim)
        if mem_dim < C:
            obj_ptrs = obj_ptrs.reshape(B, p_max * split, mem_dim)
            obj_pos = obj_pos.repeat_interleave(split, dim=1)
        ptr_tokens = p_max * split
        memory = torch.cat([memory, obj_ptrs], dim=1)
        memory_pos = torch.cat([memory_pos, obj_pos], dim=1)
        key_counts.append((torch.tensor(n_ptrs, device=device) * split, ptr_tokens))

    key_mask = None  # attend to every key: no object was padded
    if any(n != f_max for n in n_spatial) or any(n != p_max for n in n_ptrs):
        key_mask = torch.cat(
            [torch.arange(length, device=device)[None, :] < valid[:, None] for valid, length in key_counts], dim=1
        )
    out = model._attend_batched(
        curr.transpose(0, 1), curr_pos.transpose(0, 1), memory, memory_pos, key_mask, ptr_tokens
    )  # (B, HW, C)
    return out.permute(0, 2, 1).reshape(B, C, H, W)


def masked_memory_attention(
    attention,
    curr: torch.Tensor,
    curr_pos: torch.Tensor,
    memory: torch.Tensor,
    memory_pos: torch.Tensor,
    key_mask: torch.Tensor | None,
    num_obj_ptr_tokens: int,
) -> torch.Tensor:
    """sam2's `MemoryAttention.forward` (batch-first inputs and output) with a (B, L) key mask
    (True: attend) in every layer's cross-attention; ``None`` attends to every key."""
    if not attention.batch_first:
        raise ValueError("batched memory attention expects a batch-first MemoryAttention (sam2.1 configs)")
    output = curr
    if attention.pos_enc_at_input and curr_pos is not None:
        output = output + 0.1 * curr_pos
    attn_mask = None if key_mask is None else key_mask[:, None, None, :]
    for layer in attention.layers:
        output = layer._forward_sa(output, curr_pos)
        tgt2 = layer.norm2(output)
        tgt2 = _cross_attention(
            layer.cross_attn_image,
            q=tgt2 + curr_pos if layer.pos_enc_at_cross_attn_queries else tgt2,
            k=memory + memory_pos if layer.pos_enc_at_cross_attn_keys else memory,
            v=memory,
            attn_mask=attn_mask,
            num_k_exclude_rope=num_obj_ptr_tokens,
        )
        output = output + layer.dropout2(tgt2)
        tgt2 = layer.norm3(output)
        tgt2 = layer.linear2(layer.dropout(layer.activation(layer.linear1(tgt2))))
        output = output + layer.dropout3(tgt2)
    return attention.norm(output)


def _cross_attention(module, q, k, v, attn_mask, num_k_exclude_rope: int) -> torch.Tensor:
    """`RoPEAttention.forward` (or plain `Attention.forward`) with an attention mask."""
    q = module._separate_heads(module.q_proj(q), module.num_heads)
    k = module._separate_heads(module.k_proj(k), module.num_heads)
    v = module._separate_heads(module.v_proj(v), module.num_heads)
    if isinstance(module, RoPEAttention):
        w = h = math.sqrt(q.shape[-2])
        module.freqs_cis = module.freqs_cis.to(q.device)
        if module.freqs_cis.shape[0] != q.shape[-2]:
            module.freqs_cis = module.compute_cis(end_x=w, end_y=h).to(q.device)
        num_k_rope = k.size(-2) - num_k_exclude_rope
        q, k[:, :, :num_k_rope] = apply_rotary_enc(
            q, k[:, :, :num_k_rope], freqs_cis=module.freqs_cis, repeat_freqs_k=module.rope_k_repeat
        )
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    return module.out_proj(module._recombine_heads(out))
