"""SAM 3 on the command line: --pipeline / --tracker / --sam3_model, and the start-up check's one
line for the gated facebook/sam3, offline and online, before any model or worker."""

from __future__ import annotations

import http.server
import threading

import pytest

from lang_sam_tracker.cli import model_sources
from lang_sam_tracker.cli import parser as cli
from lang_sam_tracker.testing.tiny_sam3 import sam3_available

BASE = ["--video_list", "l.txt", "--text_prompt", "car . person", "--output_jsonl", "r.jsonl"]


@pytest.fixture
def job(tmp_path, monkeypatch):
    listing = tmp_path / "list.txt"
    listing.write_text("clip.mp4\n")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))  # nothing cached
    return ["--video_list", str(listing), "--text_prompt", "car", "--output_jsonl", str(tmp_path / "out" / "r.jsonl")]


def one_line(args, capsys) -> str:
    code = cli.main_single(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


def test_pipeline_shorthand_and_settings():
    run = cli.run_config_from_args(cli.build_parser(False).parse_args([*BASE, "--pipeline", "sam3"]))
    assert run.models.detector.backend == "sam3" and run.models.segmenter == "sam3"
    assert run.models.detector.model == run.models.sam3_model == "facebook/sam3"
    assert run.models.detector.box_threshold == 0.5  # SAM 3's own detection threshold
    settings = run.settings()
    assert settings["detector"] == "sam3:facebook/sam3" and settings["segmenter"] == "sam3:facebook/sam3"
    mixed = cli.run_config_from_args(
        cli.build_parser(True).parse_args([*BASE, "--detector_backend", "sam3", "--sam3_model", "/m/sam3", "--box_threshold", "0.3"])
    )
    assert mixed.models.segmenter == "sam2" and mixed.models.detector.model == "/m/sam3"
    assert mixed.models.detector.box_threshold == 0.3 and "segmenter" not in mixed.settings()
    default = cli.run_config_from_args(cli.build_parser(False).parse_args(BASE))
    assert default.models.segmenter == "sam2" and default.models.detector.box_threshold == 0.35
    assert "segmenter" not in default.settings()  # SAM 2 runs keep their config hash


@pytest.mark.skipif(not sam3_available(), reason="SAM 3 needs transformers >= 5")
def test_gated_sam3_offline_is_one_line(job, capsys, no_model_loads, monkeypatch):
    monkeypatch.setenv("LANG_SAM_TRACKER_OFFLINE", "1")
    monkeypatch.setattr(model_sources, "probe_all", lambda *a: pytest.fail("network probed"))
    line = one_line([*job, "--pipeline", "sam3"], capsys)
    assert "facebook/sam3" in line and "downloads are disabled by" in line
    assert "gated" in line and "accept its licence" in line and "hf auth login" in line and "hf download facebook/sam3" in line
    assert "sam2" not in line  # no SAM 2 checkpoint is needed with --tracker sam3


@pytest.mark.skipif(not sam3_available(), reason="SAM 3 needs transformers >= 5")
def test_gated_sam3_online_without_login_is_one_line(job, capsys, no_model_loads, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("LANG_SAM_TRACKER_OFFLINE", raising=False)
    monkeypatch.setattr(model_sources, "hub_token", lambda: None)
    monkeypatch.setattr(model_sources, "probe_all", lambda remote, *a: [None] * len(remote))
    line = one_line([*job, "--pipeline", "sam3"], capsys)
    assert "not logged in" in line and "accept its licence" in line and "hf auth login" in line


class _Forbidden(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.paths.append(self.path)
        self.send_response(403)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.skipif(not sam3_available(), reason="SAM 3 needs transformers >= 5")
def test_gated_sam3_online_without_the_licence_is_one_line(job, capsys, no_model_loads, monkeypatch):
    """Logged in, but the hub refuses the file (licence not accepted): said before any worker starts."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LANG_SAM_TRACKER_OFFLINE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setattr(model_sources, "hub_token", lambda: "hf_not_a_real_token")
        line = one_line([*job, "--pipeline", "sam3"], capsys)
    finally:
        server.shutdown()
    assert "/facebook/sam3/resolve/main/config.json" in _Forbidden.paths
    assert "HTTP 403" in line and "accept its licence" in line and "hf auth login" in line


@pytest.mark.skipif(sam3_available(), reason="checks the message on transformers < 5")
def test_sam3_on_transformers_4_is_one_line(job, capsys, no_model_loads):
    line = one_line([*job, "--pipeline", "sam3"], capsys)
    assert "needs transformers >= 5" in line
