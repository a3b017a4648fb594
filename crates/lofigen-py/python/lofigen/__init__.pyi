"""Type stubs of lofigen (the native module lofigen._lofigen, re-exported)."""

import os
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

PathLike = Union[str, "os.PathLike[str]"]
Samples = npt.ArrayLike
"""A 1-D array (or sequence) of float samples."""

__all__ = [
    "AudioError",
    "Generator",
    "LofigenError",
    "Stream",
    "analyze",
    "eval",
    "load_audio",
]

class LofigenError(Exception):
    """Base class of lofigen's errors: a file, run or model that cannot be used (the message
    names it and the problem, as the ``lofigen`` command prints it)."""

class AudioError(LofigenError):
    """An audio file cannot be opened, decoded or written."""

class Generator:
    """A trained model ready to generate: the bundled lofi model or a training run's.

    Build one with :meth:`Generator.bundled` or :meth:`Generator.from_run`.
    """

    @staticmethod
    def bundled() -> "Generator":
        """The lofi model that ships inside lofigen."""

    @staticmethod
    def from_run(path: PathLike) -> "Generator":
        """The latest checkpoint of the training run in folder ``path``.

        Raises :class:`LofigenError` when it is not a run or has no checkpoint.
        """

    @property
    def sample_rate(self) -> int:
        """Samples per second of the model's own (raw) output, Hz (8000)."""

    @property
    def name(self) -> str:
        """What messages call the model: "the bundled lofi model" or the run's path."""

    @property
    def genres(self) -> list[str]:
        """The genres of a genre-conditioned model (empty otherwise)."""

    def generate(
        self,
        seconds: float,
        *,
        seed: int = 42,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        greedy: bool = False,
        genre: Optional[str] = None,
        prompt: Union[PathLike, Samples, None] = None,
        fx: str = "none",
        rate: int = 8000,
        bpm: Optional[float] = None,
        chords: Optional[Union[str, Sequence[str]]] = None,
        swing: Optional[float] = None,
        groove: Optional[str] = None,
        guidance: Union[float, str, None] = None,
        precision: str = "f16",
    ) -> npt.NDArray[np.float32]:
        """``seconds`` of audio as a float32 array of shape ``(channels, samples)``.

        With ``fx="none"`` and ``rate=8000`` it is the model's raw mono output, ``(1, n)``; any
        other effects preset (``"clean"``, ``"tape"``, ``"vinyl"``, ``"lofi"``) or rate (8000 to
        192000 Hz) runs it through the effects chain to ``(2, n)`` stereo at ``rate`` Hz.

        The same arguments give the same array, and it equals the first ``seconds`` of
        :meth:`stream` with the same arguments. The GIL is released while it runs; Ctrl-C stops
        it (``KeyboardInterrupt``).

        Args:
            seconds: duration, > 0.
            seed: seed of the sampler and of the effects' noises.
            temperature: softmax temperature (> 0): below 1 safer and duller, above 1 noisier.
            top_k: draw only from the k most likely classes.
            top_p: draw only from the most likely classes that together hold this probability.
            greedy: always take the most likely class (prone to collapse into silence).
            genre: genre of a genre-conditioned model (default: lofi if it knows it).
            prompt: audio to continue: a file (any format and rate) or samples at 8 kHz
                (default: the model's own prompt).
            fx: effects preset: none, clean, tape, vinyl or lofi.
            rate: output sample rate, Hz.
            bpm: tempo, 30-300 BPM, for a model with musical controls (the bundled one has
                them); anything left out, the model's learnt style picks, from ``seed``.
            chords: one chord per bar, looped: "Dm7 G7 Cmaj7 Am7" or ["Dm7", "G7", ...].
            swing: delay of the off 16ths, 0 (straight) to 0.5 of a 16th (heard with a
                groove that has off-16th hats, such as "sixteenths").
            groove: drum pattern: a name (boom-bap, half-time, four-floor, sparse, lazy,
                sixteenths, or one the model learnt: train-1, ...) or text such as
                "low: x.......x.x..... ; mid: ....x.......x... ; high: x.x.x.x.x.x.x.x.".
            guidance: how strongly the model follows its controls, 0-8: one number for every
                group or per group, "rhythm=3,harmony=5" (the default); 1 plays the model as
                trained, 0 ignores a group.
            precision: the engine's weights: "f16" (the default: about 1.3x faster on one
                core, and the bundled model plays as with f32) or "f32" (the trained weights as
                they are).

        Raises:
            ValueError: a bad argument (seconds <= 0, unknown fx, a rate the chain cannot make,
                bad sampling settings, an unknown genre, a bad bpm, chord, swing, groove,
                guidance or precision, or musical controls for a model without them).
            AudioError: the prompt file cannot be decoded.
            LofigenError: the model cannot generate.
        """

    def stream(
        self,
        block: int = 4096,
        *,
        seed: int = 42,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        greedy: bool = False,
        genre: Optional[str] = None,
        prompt: Union[PathLike, Samples, None] = None,
        fx: str = "none",
        rate: int = 8000,
        bpm: Optional[float] = None,
        chords: Optional[Union[str, Sequence[str]]] = None,
        swing: Optional[float] = None,
        groove: Optional[str] = None,
        guidance: Union[float, str, None] = None,
        precision: str = "f16",
    ) -> "Stream":
        """An endless iterator of float32 blocks of shape ``(channels, block)``.

        The audio of :meth:`generate` with the same arguments, read on and on: the first ``k``
        blocks joined equal ``generate(k * block / rate, ...)``. Arguments and errors as for
        :meth:`generate`; ``block`` is the number of samples per block and channel (> 0).
        """

class Stream(Iterator[npt.NDArray[np.float32]]):
    """An endless stream of audio blocks from :meth:`Generator.stream`."""

    @property
    def block(self) -> int:
        """Samples per block and channel."""

    @property
    def channels(self) -> int:
        """Channels per block: 1 for the raw output, 2 through the effects chain."""

    def __iter__(self) -> "Stream":
        """The stream itself."""

    def __next__(self) -> npt.NDArray[np.float32]:
        """The next block, shape ``(channels, block)``; never raises StopIteration."""

def load_audio(path: PathLike, rate: int = 8000) -> npt.NDArray[np.float32]:
    """The audio file at ``path`` (mp3, wav, flac, ogg; any rate) decoded to mono at ``rate`` Hz,
    as a float32 array of shape ``(samples,)``.

    Raises:
        AudioError: the file cannot be opened or decoded.
        ValueError: ``rate`` is 0.
    """

def analyze(audio: Union[PathLike, Samples], rate: int = 8000) -> dict[str, Any]:
    """The musical analysis of ``audio``: a file (decoded to mono at ``rate`` Hz) or a 1-D array
    of samples at ``rate`` Hz.

    Returns a dict: ``tempo`` (BPM, or None when no beat was found), ``tempo_confidence``
    (0..1 or None), ``beat_strength`` (0..1), ``swing`` (how late the off 16ths fall, in
    16ths: 0 straight, up to 0.5; None without a beat), ``beats`` and ``downbeats`` (lists of seconds),
    ``key`` (e.g. "A minor", or None), ``chords`` (one dict per bar: ``start`` and ``end`` in
    seconds, ``chord`` such as "Dm7" or None, ``loudness_db``), ``sample_rate``, ``duration``.

    Raises:
        AudioError: the file cannot be decoded.
        ValueError: a rate the analysis cannot work at, or not audio.
    """

def eval(
    generated: Union[PathLike, Samples],
    reference: Union[PathLike, Sequence[PathLike]],
) -> dict[str, Any]:
    """The measures of ``generated`` (a file, or a 1-D array of samples at 8 kHz) against the
    real audio of ``reference`` (a folder, walked recursively, or a list of files and folders);
    what ``lofigen eval`` reports.

    Returns a dict of the generated audio's measures: ``name``, ``seconds``,
    ``spectrum_distance_db``, ``mfcc_frechet``, ``flatness``, ``tonal_peak``, ``dynamics_db``,
    ``silence_fraction``, ``clipping_fraction``, ``rms_dbfs``, ``nll_bits_per_sample`` (None
    here), and ``reference`` (the same measures of the reference set, for scale),
    ``reference_files`` and ``settings`` (how they were computed).

    Raises:
        AudioError: a file cannot be decoded.
        LofigenError: no reference audio found, or audio that cannot be measured.
    """
