"""lofigen: generate lofi from raw 8 kHz waveforms, and analyse audio, into numpy arrays.

A binding of lofigen's Rust runtime API::

    import lofigen
    g = lofigen.Generator.bundled()
    audio = g.generate(10.0, seed=7)            # (1, 80000) float32 at 8 kHz
    stereo = g.generate(10.0, fx="lofi", rate=44100)
    info = lofigen.analyze(audio[0])            # tempo, beats, key, chords

See the type stubs (``__init__.pyi``) or ``help(lofigen.Generator)`` for every argument.
"""

from ._lofigen import (
    AudioError,
    Generator,
    LofigenError,
    Stream,
    analyze,
    eval,
    load_audio,
)

__all__ = [
    "AudioError",
    "Generator",
    "LofigenError",
    "Stream",
    "analyze",
    "eval",
    "load_audio",
]
