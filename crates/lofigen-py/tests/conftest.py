"""Shared fixtures: the bundled model (loaded once) and the repository's demo clip."""

from pathlib import Path

import pytest

import lofigen

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def generator() -> lofigen.Generator:
    """The bundled lofi model."""
    return lofigen.Generator.bundled()


@pytest.fixture(scope="session")
def demo_flac() -> Path:
    """The repository's 30 s excerpt of "Island Dreams" (FLAC, 44.1 kHz)."""
    return REPO / "assets" / "demo_island_dreams_30s.flac"
