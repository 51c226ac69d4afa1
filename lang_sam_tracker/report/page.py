"""The report as one static HTML page: no script, no server, no network; it opens from the file system.

Every string that comes from a user's files (video paths, prompts, labels, error messages) goes
through `html.escape`, so a video named `<script>….mp4` shows as text.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from ..render.annotate import id_color, ink_for
from .collect import Failure, VideoRow

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.muted{color:#6e6e73} .totals span{margin-right:18px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{padding:6px 8px;border-bottom:1px solid #e5e5ea;text-align:left;vertical-align:middle}
th{background:#f2f2f7;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.video{margin:18px 0;padding:12px 14px;background:#fff;box-shadow:0 1px 3px #0002;border-radius:6px}
.video h3{margin:0 0 2px;font-size:15px;word-break:break-all}
.timeline{position:relative;height:14px;background:#f2f2f7;border-radius:3px;min-width:260px}
.bar{position:absolute;top:1px;bottom:1px;border-radius:3px;min-width:3px}
.thumb{height:64px;max-width:140px;object-fit:contain;background:#eee;border-radius:3px;display:block}
.noimg{height:64px;width:64px;display:flex;align-items:center;justify-content:center;background:#eee;color:#999;font-size:11px;border-radius:3px}
.id{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600}
.fail td{color:#b00020} .fail td.path{color:#1d1d1f;word-break:break-all}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def _secs(value: object) -> str:
    return f"{float(value):.2f} s" if isinstance(value, (int, float)) else "–"


def _run_line(stats: dict) -> str:
    """ "12.30 s at 9.5 fps on cuda:0", with only the parts the record has."""
    text = _secs(stats["elapsed_s"]) if "elapsed_s" in stats else ""
    text += f" at {_e(stats['fps'])} fps" if "fps" in stats else ""
    text += f" on {_e(stats['device'])}" if "device" in stats else ""
    return text.strip()


def _video(v: VideoRow, n: int) -> str:
    stats = v.stats or {}
    timing = stats.get("timing_s") or {}
    parts = ", ".join(f"{_e(k)} {float(t):.2f} s" for k, t in timing.items() if isinstance(t, (int, float)))
    rows = []
    for o in v.objects:
        color = id_color(o.obj_id)
        span = max(v.duration_s, o.last_time_s, 1e-9)
        left = 100 * o.first_time_s / span
        width = max(0.8, 100 * (o.last_time_s - o.first_time_s) / span)
        thumb = (
            f'<img class="thumb" src="thumbs/{_e(o.thumbnail)}" alt="{_e(o.label)} {o.obj_id} at frame {o.best_frame}">'
            if o.thumbnail
            else '<div class="noimg">no image</div>'
        )
        rows.append(
            f"<tr><td>{thumb}</td>"
            f'<td><span class="id" style="background:{_hex(color)};color:{_hex(ink_for(color))}">{_e(o.label)} {o.obj_id}</span></td>'
            f'<td><div class="timeline" title="{o.first_time_s:.2f} s to {o.last_time_s:.2f} s">'
            f'<div class="bar" style="left:{left:.3f}%;width:{min(width, 100 - left):.3f}%;background:{_hex(color)}"></div></div></td>'
            f'<td class="num">{o.first_time_s:.2f}–{o.last_time_s:.2f} s</td><td class="num">{o.frames_visible}</td>'
            f'<td class="num">{o.mean_score:.2f}</td><td class="num">{"" if o.best_frame is None else o.best_frame}</td></tr>'
        )
    objects = (
        "<table><tr><th>best frame</th><th>object</th><th>lifespan (0 to {:.2f} s)</th><th class=num>seen</th>"
        "<th class=num>frames</th><th class=num>mean score</th><th class=num>frame</th></tr>{}</table>".format(v.duration_s, "".join(rows))
        if rows
        else '<p class="muted">No object found.</p>'
    )
    note = f'<p class="muted">{_e(v.note)}</p>' if v.note else ""
    return (
        f'<div class="video" id="video-{n}"><h3>{_e(Path(v.video_path).name)}</h3>'
        f'<div class="muted">{_e(v.video_path)} · prompt “{_e(v.text_prompt)}” · {v.size[0]}×{v.size[1]}, {v.duration_s:.2f} s · '
        f"{v.processed_frames} of {v.total_frames} frames processed · {len(v.objects)} objects · "
        f"{_run_line(stats)}{' (' + parts + ')' if parts else ''}</div>{note}{objects}</div>"
    )


def _summary_table(videos: list[VideoRow]) -> str:
    rows = "".join(
        f'<tr><td><a href="#video-{n}">{_e(Path(v.video_path).name)}</a></td><td>{_e(v.text_prompt)}</td>'
        f'<td class="num">{v.processed_frames}</td><td class="num">{v.duration_s:.2f} s</td><td class="num">{len(v.objects)}</td>'
        f'<td class="num">{_secs((v.stats or {}).get("elapsed_s"))}</td><td class="num">{_e((v.stats or {}).get("fps", "–"))}</td></tr>'
        for n, v in enumerate(videos)
    )
    return (
        "<table><tr><th>video</th><th>prompt</th><th class=num>frames</th><th class=num>duration</th>"
        f"<th class=num>objects</th><th class=num>time</th><th class=num>fps</th></tr>{rows}</table>"
    )


def _failures(failures: list[Failure]) -> str:
    if not failures:
        return ""
    rows = "".join(
        f'<tr class="fail"><td class="path">{_e(f.video_path)}</td><td>{_e(f.text_prompt)}</td><td>{_e(f.error)}</td>'
        f'<td class="num">{_e("" if f.attempts is None else f.attempts)}</td><td>{_e(f.time or "")}</td></tr>'
        for f in failures
    )
    return (
        f"<h2>Failures ({len(failures)})</h2><table><tr><th>video</th><th>prompt</th><th>reason</th>"
        f"<th class=num>attempts</th><th>when</th></tr>{rows}</table>"
    )


def render_page(results: Path, videos: list[VideoRow], failures: list[Failure]) -> str:
    objects = sum(len(v.objects) for v in videos)
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Report: {_e(results.name)}</title><style>{_CSS}</style></head><body>"
        f'<h1>lang-sam-tracker report</h1><div class="muted">{_e(results)} · {stamp}</div>'
        f'<p class="totals"><span><b>{len(videos)}</b> videos</span><span><b>{objects}</b> objects</span>'
        f"<span><b>{len(failures)}</b> failures</span></p>"
        f"<h2>Videos</h2>{_summary_table(videos)}{''.join(_video(v, n) for n, v in enumerate(videos))}"
        f"{_failures(failures)}</body></html>\n"
    )
