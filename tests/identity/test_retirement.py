"""The evidence that makes a still track sure (`Evidence.sure`, `retirement.judge`'s standing-still row)."""

from __future__ import annotations

import numpy as np

from lang_sam_tracker.identity import IdentityConfig
from lang_sam_tracker.identity.tracks import Evidence


def _record(hits: list[bool], rate_hz: float, cfg: IdentityConfig) -> Evidence:
    ev = Evidence()
    for k, hit in enumerate(hits):
        ev.record(k / rate_hz, hit, cfg.retire_after, cfg.min_opportunities)
    return ev


def _sure(ev: Evidence, cfg: IdentityConfig) -> bool:
    return ev.sure(cfg.sure_evidence, cfg.sure_after, cfg.min_hit_rate)


def test_a_few_perfect_hits_are_not_sure_and_a_long_good_record_is():
    cfg = IdentityConfig()
    assert not _sure(_record([True] * 5, 1.0, cfg), cfg)  # 5/5 at 1 Hz: too few detection frames
    assert not _sure(_record([True] * 40, 30.0, cfg), cfg)  # 40/40 at 30 Hz: only 1.3 s of record
    assert _sure(_record([True] * 50, 30.0, cfg), cfg)
    rng = np.random.default_rng(5)
    assert _sure(_record(list(rng.random(15) < 0.85) + [True], 1.0, cfg), cfg)  # 16 s at 1 Hz, 85 %


def test_a_poster_hit_on_a_third_of_frames_is_never_sure():
    cfg = IdentityConfig()
    rng = np.random.default_rng(7)
    for rate_hz in (30.0, 6.0, 1.0, 0.4):
        hits = list(rng.random(600) < 1 / 3)
        ev = Evidence()
        sure_at = []
        for k, hit in enumerate(hits):
            ev.record(k / rate_hz, hit, cfg.retire_after, cfg.min_opportunities)
            if k >= 100 and _sure(ev, cfg):
                sure_at.append(k)
        assert not sure_at, (rate_hz, sure_at[:5])  # once its record is long, never
        assert ev.support_bound() < cfg.min_hit_rate and abs(ev.support() - 1 / 3) < 0.1, (rate_hz, ev.support())


def test_a_blind_spell_after_it_is_judged_restarts_the_window_but_stays_in_the_record():
    cfg = IdentityConfig()
    ev = _record([True] * 60 + [False] * 150 + [True], 30.0, cfg)
    assert ev.window(7.0, cfg.retire_after, cfg.min_opportunities)[1] > 100
    before = (ev.hits, ev.opportunities_to_last_hit)
    ev.end_blind_spell()
    assert ev.window(7.0, cfg.retire_after, cfg.min_opportunities) == (1, 1)
    assert (ev.hits, ev.opportunities_to_last_hit) == before == (61, 211)
