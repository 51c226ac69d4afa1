"""Scenes that test identities: doors, half-hidden people, crowds, posters. Exact ground truth.

Each factory returns a `scenes.Scene`; `NOISY_SCENES` names the set the identity tests score with
the bad-as-real doubles (`testing.doubles`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .scenes import PALETTE, Scene, SceneObject, crossing, enter_at, leave_and_return, three_movers

RED, GREEN, BLUE, YELLOW, MAGENTA, CYAN = PALETTE


def door(n_frames: int = 200, width: int = 160, height: int = 96, fps: float = 30.0) -> Scene:
    """A leaves through the right edge; B (same label, looks different) comes in there 6 frames
    later and stays; A comes back through the left edge 4 s after it left.

    gt 0 = A (present [0, 40) and [160, end)), gt 1 = B (present [46, end)).
    """
    w, h = 14, 36
    y = height // 2 - h // 2
    a = SceneObject(
        0,
        "person",
        RED,
        (w, h),
        ((0, 60, y), (39, width - w // 2, y), (160, -w // 2, y + 6), (n_frames - 1, 40, y + 6)),
        "person",
        ((0, 40), (160, n_frames)),
    )
    b = SceneObject(1, "person", BLUE, (w, h), ((46, width - w // 2, y), (90, 95, y), (n_frames - 1, 95, y)), "person", ((46, n_frames),))
    return Scene(width, height, fps, n_frames, (a, b), name="door")


def half_hidden(n_frames: int = 90, width: int = 160, height: int = 96, fps: float = 30.0) -> Scene:
    """Two people walking together; the one behind (gt 1) is about half hidden by the one in front (gt 0)."""
    w, h = 18, 44
    y = height // 2 - h // 2
    behind = SceneObject(1, "person", BLUE, (w, h), ((0, 20 + w // 2, y - 4), (n_frames - 1, 110 + w // 2, y - 4)), "person")
    front = SceneObject(0, "person", YELLOW, (w, h), ((0, 20, y), (n_frames - 1, 110, y)), "person")
    return Scene(width, height, fps, n_frames, (behind, front), name="half_hidden")


def crowd(n_people: int = 5, n_frames: int = 120, width: int = 192, height: int = 112, fps: float = 30.0, seed: int = 0) -> Scene:
    """People walking across each other's paths in both directions, at different heights and speeds."""
    rng = np.random.default_rng(seed)
    colours = (RED, BLUE, GREEN, YELLOW, MAGENTA, CYAN)
    objects = []
    for k in range(n_people):
        w, h = int(rng.integers(12, 18)), int(rng.integers(32, 44))
        y = int(rng.integers(4, height - h - 4))
        x0, x1 = 4, width - w - 4
        if k % 2:
            x0, x1 = x1, x0
        start = int(rng.integers(0, n_frames // 4))
        path = ((start, x0, y), (n_frames - 1, x1, y + int(rng.integers(-8, 9))))
        objects.append(SceneObject(k, "person", colours[k % len(colours)], (w, h), path, "person", ((start, n_frames),)))
    return Scene(width, height, fps, n_frames, tuple(objects), name=f"crowd_{seed}")


def long_walk(n_frames: int = 3000, width: int = 128, height: int = 96, fps: float = 30.0) -> Scene:
    """Two objects pacing back and forth in their lanes for a long clip (cost and flat-state checks)."""
    base = three_movers(width, height, n_frames=60, fps=fps)
    objects = []
    for obj in base.objects[:2]:
        (_, xa, y), (_, xb, _) = obj.waypoints
        waypoints = tuple((f, xa if (f // 60) % 2 == 0 else xb, y) for f in range(0, n_frames, 60))
        objects.append(SceneObject(obj.gt_id, obj.label, obj.color, obj.size, waypoints, obj.shape))
    return Scene(width, height, fps, n_frames, tuple(objects), name="long_walk")


def blind_walker(fps: float = 30.0, seconds: float = 12.0, width: int = 160, height: int = 96) -> Scene:
    """Three people pacing in separate lanes for `seconds` at `fps` (pair with a detector blind spell
    on gt 0: it keeps walking in plain view). Speeds differ, so no lane is in step with another."""
    n = int(round(seconds * fps))
    lane = height // 3
    w, h = 10, lane - 6
    objects = []
    for k, (colour, period_s) in enumerate(((RED, 5.0), (BLUE, 7.0), (GREEN, 4.0))):
        y = k * lane + 3
        xa, xb = 4 + 10 * k, width - w - 4 - 8 * k
        marks = np.arange(0.0, seconds + period_s, period_s / 2)
        waypoints = tuple((int(round(s * fps)), xa if m % 2 == 0 else xb, y) for m, s in enumerate(marks))
        objects.append(SceneObject(k, "person", colour, (w, h), waypoints, "person"))
    return Scene(width, height, fps, n, tuple(objects), name=f"blind_walker_{fps:g}")


def standing_person(fps: float = 30.0, seconds: float = 14.0, width: int = 160, height: int = 96) -> Scene:
    """`blind_walker` with gt 0 standing still in its lane the whole time (waiting at a door, sitting):
    pair with a detector blind spell on gt 0, which SAM 2 keeps following without any motion."""
    base = blind_walker(fps, seconds, width, height)
    still = base.objects[0]
    x = (width - still.size[0]) // 2
    y = still.waypoints[0][2]
    standing = SceneObject(0, still.label, still.color, still.size, ((0, x, y), (base.n_frames, x, y)), still.shape)
    return Scene(width, height, fps, base.n_frames, (standing, *base.objects[1:]), name=f"standing_person_{fps:g}_{seconds:g}")


def look_alikes(fps: float = 30.0, seconds: float = 8.0, width: int = 192, height: int = 96) -> Scene:
    """Three people who look alike (same colour) stand side by side, swaying; a fourth look-alike
    comes up through the bottom edge from 2 s and stops right beside the middle one (gt 1) at 5 s.

    gt 0..2 the standing ones (gt 1 in the middle), gt 3 the newcomer.
    """
    n = int(round(seconds * fps))
    w, h = 14, 40
    y = height // 2 - h // 2
    f = lambda s: int(round(s * fps))  # noqa: E731
    objects = []
    for k, x in enumerate((30, 80, 130)):
        sway = tuple((f(s), x + (4 if m % 2 else 0), y) for m, s in enumerate(np.arange(0.0, seconds + 1, 1.0)))
        objects.append(SceneObject(k, "person", YELLOW, (w, h), sway, "person"))
    newcomer = SceneObject(3, "person", YELLOW, (w, h), ((f(2.0), 80 + w + 5, height - 12), (f(5.0), 80 + w + 5, y + 2), (n, 80 + w + 5, y + 2)), "person", ((f(2.0), n),))
    return Scene(width, height, fps, n, (*objects, newcomer), name=f"look_alikes_{fps:g}")


def pillar_crowd(
    n_people: int = 25, seconds: float = 5.0, fps: float = 30.0, width: int = 480, height: int = 272, seed: int = 0
) -> Scene:
    """`n_people` random walkers (a new heading every 0.5-1.5 s, 15-45 px/s) among three pillars that
    hide them for a moment as they pass; clothes drawn at random, so some look alike."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    pillars = tuple(
        (int(x), 0, int(x) + 14, height) for x in np.linspace(width * 0.2, width * 0.8, 3) + rng.integers(-20, 20, 3)
    )
    objects = []
    for k in range(n_people):
        w, h = int(rng.integers(10, 15)), int(rng.integers(26, 36))
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        t, waypoints = 0.0, [(0, x, y)]
        while t < seconds:
            dt = rng.uniform(0.5, 1.5)
            speed, heading = rng.uniform(15, 45), rng.uniform(0, 2 * np.pi)
            x = float(np.clip(x + np.cos(heading) * speed * dt, 0, width - w))
            y = float(np.clip(y + np.sin(heading) * speed * dt, 0, height - h))
            t += dt
            waypoints.append((int(round(t * fps)), x, y))
        colour = tuple(int(c) for c in rng.integers(40, 256, 3))
        objects.append(SceneObject(k, "person", colour, (w, h), tuple(waypoints), "person"))
    return Scene(width, height, fps, n, tuple(objects), name=f"pillar_crowd_{n_people}_{seed}", occluders=pillars)


NOISY_SCENES: dict[str, Callable[[], Scene]] = {
    "three_movers": lambda: three_movers(n_frames=90),
    "crossing": lambda: crossing(n_frames=90),
    "enter_at": lambda: enter_at(40),
    "leave_and_return": lambda: leave_and_return(leave=30, back=50),
    "door": door,
    "half_hidden": half_hidden,
    "crowd": lambda: crowd(seed=1),
}
