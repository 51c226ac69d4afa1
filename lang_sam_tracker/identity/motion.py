"""Where an object is going: a constant-velocity prediction whose uncertainty grows with the time gone.

Times are seconds of video, so a clip processed at 2 fps and at 30 fps predicts alike. The velocity
is a time-weighted average of the observed centre's steps (about `smooth_s` of memory). After a gap
the prediction is constant velocity, damped with time constant `tau_s` (people slow down, turn and
stop: a straight line ten seconds ahead is mostly wrong), and its standard deviation grows like a
Kalman filter's with velocity noise: sd(dt) = size * sqrt(sd0^2 + (speed * dt)^2), `speed` in
object sizes per second (`--reid_speed`). Re-identification scores candidates by their distance in
those standard deviations, so look-alikes are told apart by where they are.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

_SD0 = 0.3  # object sizes: the uncertainty of a fresh observation (box jitter, half-hidden masks)


def centre(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    return (box[:2] + box[2:]) / 2


def side(box: np.ndarray) -> float:
    """Square root of a box's area."""
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    return math.sqrt(max(w, 0.0) * max(h, 0.0))


@dataclass
class Motion:
    box: np.ndarray  # last observed box, pixel-edge xyxy
    seen_s: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, pixels per second
    extent: float = 0.0  # typical size (pixels): slow to shrink, so a half-visible last box does not fool it
    tau_s: float = 1.5
    smooth_s: float = 0.3
    size_memory_s: float = 2.0
    path: deque = field(default_factory=deque)  # (t, box) of the recent observations
    path_s: float = 8.0

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64)
        self.extent = max(self.extent, side(self.box))
        self.path.append((self.seen_s, self.box))

    def observe(self, box: np.ndarray, t: float) -> None:
        box = np.asarray(box, dtype=np.float64)
        x0, y0, x1, y1 = box.tolist()  # plain floats: this runs for every object on every frame
        size = math.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0))
        dt = t - self.seen_s
        if dt > 0:
            self.extent = max(self.extent * math.exp(-dt / self.size_memory_s), size)
            px0, py0, px1, py1 = self.box.tolist()
            alpha = 1.0 - math.exp(-dt / self.smooth_s)
            vx, vy = self.velocity.tolist()
            step_x = ((x0 + x1) - (px0 + px1)) / (2 * dt)
            step_y = ((y0 + y1) - (py0 + py1)) / (2 * dt)
            self.velocity = np.array([(1 - alpha) * vx + alpha * step_x, (1 - alpha) * vy + alpha * step_y])
        else:
            self.extent = max(self.extent, size)
        self.box, self.seen_s = box, t
        self.path.append((t, box))
        while len(self.path) > 32 and self.path[0][0] < t - self.path_s:
            self.path.popleft()

    def resume(self, box: np.ndarray, t: float) -> None:
        """Continue after a gap (re-identification): the velocity is repaired from the straight path
        between the last observation and this one (OC-SORT's re-update), then the box is observed."""
        dt = t - self.seen_s
        if dt > 0:
            self.velocity = (centre(box) - centre(self.box)) / dt
        self.box, self.seen_s = np.asarray(box, np.float64), t
        self.path.append((t, self.box))

    def predict(self, t: float, frame_wh: tuple[float, float] | None = None) -> np.ndarray:
        """Where the box should be at `t`; its centre kept inside a `frame_wh` frame when given."""
        dt = max(0.0, t - self.seen_s)
        shift = self.velocity * self.tau_s * (1 - math.exp(-dt / self.tau_s))
        if frame_wh is not None:
            shift = np.clip(centre(self.box) + shift, 0, frame_wh) - centre(self.box)
        return self.box + np.concatenate([shift, shift])

    def sd(self, t: float, sizes_per_s: float) -> float:
        """Standard deviation (pixels) of the predicted centre at `t`."""
        dt = max(0.0, t - self.seen_s)
        return max(self.extent, 1.0) * math.sqrt(_SD0**2 + (sizes_per_s * dt) ** 2)

    def moved(self, since_s: float) -> float:
        """How far (object sizes) the box travelled from where it was at `since_s`, at most, since then.

        Travel is translation: on each axis the smaller shift of the two edges when both moved the
        same way. A static region that something passes in front of changes shape, not place (one
        edge stays), so it does not count as moving.
        """
        boxes = [b for s, b in self.path if s >= since_s]
        if len(boxes) < 2:
            return 0.0
        delta = np.array(boxes[1:]) - boxes[0]  # (K, 4)
        dx = np.where(delta[:, 0] * delta[:, 2] > 0, np.minimum(abs(delta[:, 0]), abs(delta[:, 2])), 0.0)
        dy = np.where(delta[:, 1] * delta[:, 3] > 0, np.minimum(abs(delta[:, 1]), abs(delta[:, 3])), 0.0)
        return float(np.hypot(dx, dy).max()) / max(self.extent, 1.0)
