"""Tiny random-weight models and synthetic scenes, for tests, benchmarks and install smoke tests."""
