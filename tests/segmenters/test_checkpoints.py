"""SAM 2 registry, checkpoint download and strict loading (issue 2, "Must show" 4)."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from functools import partial
from importlib import resources
from pathlib import Path

import pytest
import torch
from hydra import compose
from omegaconf import OmegaConf

from lang_sam_tracker.segmenters import checkpoints
from lang_sam_tracker.segmenters.checkpoints import (
    DEFAULT_MODEL_PATH,
    SAM2_MODELS,
    Sam2ModelSpec,
    build_sam2_streaming,
    default_checkpoint_path,
    ensure_checkpoint,
)
from lang_sam_tracker.errors import ModelLoadError
from lang_sam_tracker.segmenters.sam2_predictor import SAM2StreamingPredictor
from lang_sam_tracker.testing.tiny_sam2 import BASE_CONFIG, build_tiny_sam2

OFFLINE_VARS = ("LANG_SAM_TRACKER_OFFLINE", "HF_HUB_OFFLINE")


@pytest.fixture
def online(monkeypatch):
    """Downloads allowed (conftest sets HF_HUB_OFFLINE=1 for the rest of the suite)."""
    for var in OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server over a folder; yields (base_url, folder, requests seen)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder, requests
    server.shutdown()
    server.server_close()
    thread.join()


def _spec_for(yaml_path: Path, ckpt_path: Path, url: str, **changes) -> Sam2ModelSpec:
    data = ckpt_path.read_bytes()
    fields = {"config": str(yaml_path), "url": url, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return Sam2ModelSpec(**{**fields, **changes})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_one_line(message: str, *parts: str) -> None:
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- registry ------------------------------------------------------------------------------------


def test_registry_lists_official_sam2_and_sam21_models():
    sizes = ("tiny", "small", "base_plus", "large")
    assert set(SAM2_MODELS) == {f"sam2.1_hiera_{s}" for s in sizes} | {f"sam2_hiera_{s}" for s in sizes}
    for name, spec in SAM2_MODELS.items():
        release = "092824" if name.startswith("sam2.1") else "072824"
        assert spec.url == f"https://dl.fbaipublicfiles.com/segment_anything_2/{release}/{name}.pt"
        assert resources.files("sam2").joinpath(spec.config).is_file(), spec.config
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
    assert DEFAULT_MODEL_PATH == Path("models/sam2/checkpoints/sam2.1_hiera_large.pt")
    assert default_checkpoint_path("sam2.1_hiera_large") == DEFAULT_MODEL_PATH
    assert default_checkpoint_path("sam2_hiera_tiny") == Path("models/sam2/checkpoints/sam2_hiera_tiny.pt")


def test_unknown_sam_type_lists_the_valid_ones(tiny_sam2):
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam3_huge", tiny_sam2[1], None, "cpu")
    _assert_one_line(str(err.value), "sam3_huge", "sam2.1_hiera_large", "sam2_hiera_tiny")


def test_tiny_config_keeps_every_class_and_flag_of_hiera_t(tiny_sam2):
    official = OmegaConf.to_container(OmegaConf.create(resources.files("sam2").joinpath(BASE_CONFIG).read_text()))
    tiny = OmegaConf.to_container(OmegaConf.load(tiny_sam2[0]))

    def walk(ref, mine, where):
        for key, value in ref.items():
            assert key in mine, f"{where}.{key} missing from the tiny config"
            if isinstance(value, dict):
                walk(value, mine[key], f"{where}.{key}")
            elif key == "_target_" or isinstance(value, bool):
                assert mine[key] == value, f"{where}.{key}"

    walk(official, tiny, "")
    assert tiny_sam2 == build_tiny_sam2(Path(tiny_sam2[0]).parent)  # rebuilding is a no-op


# --- loading -------------------------------------------------------------------------------------


def test_sam_config_loads_the_tiny_checkpoint(tiny_sam2):
    yaml_path, ckpt_path = tiny_sam2
    model = build_sam2_streaming("sam2.1_hiera_tiny", ckpt_path, yaml_path, "cpu")
    assert isinstance(model, SAM2StreamingPredictor) and not model.training
    saved = torch.load(ckpt_path, weights_only=True)["model"]
    loaded = model.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    # sam2's video-predictor overrides were applied, and sam2's own hydra setup is back in place
    assert model.binarize_mask_from_pts_for_mem_enc and model.sam_mask_decoder.dynamic_multimask_via_stability
    assert compose(config_name="configs/sam2.1/sam2.1_hiera_t.yaml").model.image_size == 1024


def test_registry_downloads_verifies_and_moves_into_place(tiny_sam2, file_server, tmp_path, monkeypatch, online):
    yaml_path, ckpt_path = tiny_sam2
    base_url, served, requests = file_server
    (served / "sam2_tiny.pt").write_bytes(ckpt_path.read_bytes())
    monkeypatch.setitem(SAM2_MODELS, "tiny_test", _spec_for(yaml_path, ckpt_path, base_url + "sam2_tiny.pt"))
    dest = tmp_path / "models" / "sam2" / "checkpoints" / "sam2_tiny.pt"

    model = build_sam2_streaming("tiny_test", dest, None, "cpu")

    assert dest.read_bytes() == ckpt_path.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["sam2_tiny.pt"]  # no temporary file left
    assert isinstance(model, SAM2StreamingPredictor)
    build_sam2_streaming("tiny_test", dest, None, "cpu")
    assert requests == ["/sam2_tiny.pt"]  # present now: not downloaded again


@pytest.mark.parametrize(
    "changes, reason",
    [({"sha256": "0" * 64}, "sha256"), ({"size": 123}, "expected 123")],
)
def test_a_download_that_fails_verification_is_discarded(
    tiny_sam2, file_server, tmp_path, online, changes, reason
):
    yaml_path, ckpt_path = tiny_sam2
    base_url, served, _ = file_server
    (served / "sam2_tiny.pt").write_bytes(ckpt_path.read_bytes())
    spec = _spec_for(yaml_path, ckpt_path, base_url + "sam2_tiny.pt", **changes)
    dest = tmp_path / "ckpt" / "sam2_tiny.pt"
    with pytest.raises(ModelLoadError) as err:
        ensure_checkpoint(dest, spec)
    _assert_one_line(str(err.value), str(dest), spec.url, reason)
    assert list(dest.parent.iterdir()) == []


def test_a_download_that_is_not_a_checkpoint_is_discarded(tiny_sam2, file_server, tmp_path, online):
    yaml_path, ckpt_path = tiny_sam2
    base_url, served, _ = file_server
    (served / "page.pt").write_text("<html>not found</html>")
    spec = Sam2ModelSpec(str(yaml_path), base_url + "page.pt")
    dest = tmp_path / "ckpt" / "sam2_tiny.pt"
    with pytest.raises(ModelLoadError, match="not a SAM 2 checkpoint"):
        ensure_checkpoint(dest, spec)
    assert list(dest.parent.iterdir()) == []


def test_unreachable_url_gives_one_line_with_file_url_and_destination(tmp_path, online):
    url = f"http://127.0.0.1:{_closed_port()}/sam2.1_hiera_tiny.pt"
    spec = Sam2ModelSpec("configs/sam2.1/sam2.1_hiera_t.yaml", url)
    dest = tmp_path / "models" / "sam2.1_hiera_tiny.pt"
    with pytest.raises(ModelLoadError) as err:
        ensure_checkpoint(dest, spec)
    _assert_one_line(str(err.value), f"checkpoint {dest} not found", spec.url, f"wget {spec.url} -O {dest}")
    assert not dest.exists()


def test_http_error_is_reported_the_same_way(file_server, tmp_path, online):
    base_url, _, _ = file_server
    spec = Sam2ModelSpec("configs/sam2.1/sam2.1_hiera_t.yaml", base_url + "missing.pt")
    with pytest.raises(ModelLoadError) as err:
        ensure_checkpoint(tmp_path / "x.pt", spec)
    _assert_one_line(str(err.value), "404", spec.url, "wget")


@pytest.mark.parametrize("var", OFFLINE_VARS)
def test_offline_mode_never_touches_the_network(var, file_server, tmp_path, monkeypatch, online):
    base_url, served, requests = file_server
    (served / "sam2.1_hiera_large.pt").write_bytes(b"x")
    monkeypatch.setitem(SAM2_MODELS, "sam2.1_hiera_large", Sam2ModelSpec(
        "configs/sam2.1/sam2.1_hiera_l.yaml", base_url + "sam2.1_hiera_large.pt"))
    monkeypatch.setenv(var, "1")
    dest = tmp_path / DEFAULT_MODEL_PATH
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_large", dest, None, "cpu")
    _assert_one_line(str(err.value), str(dest), base_url + "sam2.1_hiera_large.pt", "wget", var)
    assert requests == [] and not dest.parent.exists()


def test_custom_config_never_downloads_official_weights(tiny_sam2, tmp_path, online, monkeypatch):
    monkeypatch.setattr(checkpoints, "_download_verified", lambda *a: pytest.fail("downloaded"))
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_tiny", tmp_path / "mine.pt", tiny_sam2[0], "cpu")
    _assert_one_line(str(err.value), str(tmp_path / "mine.pt"), "--sam_config")


def test_missing_config_is_a_clear_error(tiny_sam2, tmp_path):
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_tiny", tiny_sam2[1], tmp_path / "nope.yaml", "cpu")
    _assert_one_line(str(err.value), "nope.yaml", "configs/sam2.1/sam2.1_hiera_t.yaml")


# --- strict loading -------------------------------------------------------------------------------


def _edited_checkpoint(ckpt_path: Path, out: Path, edit) -> Path:
    state = torch.load(ckpt_path, weights_only=True)["model"]
    edit(state)
    torch.save({"model": state}, out)
    return out


def test_checkpoint_with_missing_and_extra_keys_is_refused(tiny_sam2, tmp_path):
    yaml_path, ckpt_path = tiny_sam2

    def edit(state):
        del state["no_mem_embed"]
        state["extra_head.weight"] = torch.zeros(3)

    bad = _edited_checkpoint(ckpt_path, tmp_path / "bad.pt", edit)
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_tiny", bad, yaml_path, "cpu")
    message = str(err.value)
    _assert_one_line(message, str(bad), "1 missing keys (no_mem_embed)", "1 unexpected keys (extra_head.weight)")


def test_checkpoint_with_a_wrong_shape_is_refused(tiny_sam2, tmp_path):
    yaml_path, ckpt_path = tiny_sam2

    def edit(state):
        state["maskmem_tpos_enc"] = torch.zeros(7, 1, 1, 32)

    bad = _edited_checkpoint(ckpt_path, tmp_path / "bad.pt", edit)
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_tiny", bad, yaml_path, "cpu")
    _assert_one_line(str(err.value), str(bad), "maskmem_tpos_enc (7, 1, 1, 32) vs (3, 1, 1, 32)")


def test_official_config_with_tiny_weights_is_refused(tiny_sam2):
    """The usual mistake: --sam_type and --model_path disagree."""
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_tiny", tiny_sam2[1], "configs/sam2.1/sam2.1_hiera_t.yaml", "cpu")
    _assert_one_line(str(err.value), str(tiny_sam2[1]), "shape mismatches", "--sam_type")


@pytest.mark.parametrize(
    "content, reason",
    [(b"not a checkpoint", "is not a torch checkpoint"), (b"PK\x03\x04 broken zip", "cannot be read as a torch checkpoint"), (None, "no 'model' state dict")],
)
def test_unreadable_checkpoints_are_refused(tiny_sam2, tmp_path, content, reason):
    bad = tmp_path / "bad.pt"
    if content is None:
        torch.save({"state_dict": {}}, bad)
    else:
        bad.write_bytes(content)
    with pytest.raises(ModelLoadError) as err:
        build_sam2_streaming("sam2.1_hiera_tiny", bad, tiny_sam2[0], "cpu")
    _assert_one_line(str(err.value), str(bad), reason)


def test_the_relative_default_checkpoint_lives_in_the_user_cache_unless_it_exists_here(tmp_path, monkeypatch):
    from lang_sam_tracker.segmenters.checkpoints import resolve_model_path, user_cache_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANG_SAM_TRACKER_HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home"
    cached = str(tmp_path / "home" / "sam2" / "sam2.1_hiera_large.pt")
    assert resolve_model_path(str(DEFAULT_MODEL_PATH), "sam2.1_hiera_large") == cached  # one copy for every folder
    assert resolve_model_path(str(DEFAULT_MODEL_PATH), "sam2_hiera_tiny").endswith("home/sam2/sam2_hiera_tiny.pt")
    assert resolve_model_path("mine/ckpt.pt", "sam2.1_hiera_large") == "mine/ckpt.pt"  # a path the user chose
    DEFAULT_MODEL_PATH.parent.mkdir(parents=True)
    DEFAULT_MODEL_PATH.touch()  # a setup that put the checkpoint where the seed did keeps using it
    assert resolve_model_path(str(DEFAULT_MODEL_PATH), "sam2.1_hiera_large") == str(DEFAULT_MODEL_PATH)
    monkeypatch.delenv("LANG_SAM_TRACKER_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert user_cache_dir() == tmp_path / "user" / ".cache" / "lang_sam_tracker"
    # the CLI's default flags reach the cache
    from lang_sam_tracker.cli.parser import build_parser, run_config_from_args

    DEFAULT_MODEL_PATH.unlink()
    args = build_parser(False).parse_args(["--video_list", "l", "--text_prompt", "car", "--output_jsonl", "r.jsonl"])
    assert run_config_from_args(args).models.model_path == str(tmp_path / "user/.cache/lang_sam_tracker/sam2/sam2.1_hiera_large.pt")
