"""Fixtures of the command-line tests: no model loads, root logging restored."""

from __future__ import annotations

import logging

import pytest

from lang_sam_tracker import batch
from lang_sam_tracker.batch.engine import Engine


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if anything tries to load a model or start a worker."""

    def refuse(*_a, **_k):
        raise AssertionError("a model was loaded or a worker started")

    monkeypatch.setattr(Engine, "load", refuse)
    monkeypatch.setattr(batch.launch, "prepare_models", refuse)
    monkeypatch.setattr(batch.ProcessSlotRunner, "_new_pool", refuse)


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """The CLI configures the root logger; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
