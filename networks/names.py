"""The paper's vocabulary of networks: architecture, method and pooling names (no TensorFlow).

This module is the one owner of these names. It imports nothing heavy, so that the command-line scripts
can check `--architecture`, `--network` and `--method` while parsing, before TensorFlow is imported
(their `--GPU` and allocator settings must act first).

Method numbers are those of the paper's Figure 1 (the authors' `images/pipeline.png`); the classes are
those of their `networks.py`, where `AudioVideoArchiN` implements method N - 1 for N = 4..8,
`Archi9Prediction` multiplies the two streams' probabilities and `Archi3Prediction` averages their
logits.
"""
from __future__ import annotations

from dataclasses import dataclass

# `--network`, in the original's upper-case spelling (SoccerNet's Classification/Network.py and LOUPE).
POOLINGS = ("CNN", "FC", "MAX", "AVERAGE", "RVLAD", "VLAD", "SOFTDBOW", "NETFV")
# Batch-norm behaviour of the LOUPE poolings: "batch" as the original (batch statistics always),
# "moving" standard moving averages.
BN_MODES = ("batch", "moving")
VIDEO, AUDIO = "video", "audio"


@dataclass(frozen=True)
class Method:
    """One of the paper's seven audio-video fusion methods."""

    number: int
    name: str  # the class of the authors' networks.py
    where: str  # where the two streams meet
    trained: bool  # True: a network trained end to end; False: late fusion of two runs trained apart

    @property
    def command(self) -> str:
        """How this project obtains it."""
        if self.trained:
            return f"ClassificationMinuteBased.py --architecture {self.number}"
        return f"fusion.py --method {self.number}"


METHODS: dict[int, Method] = {m.number: m for m in (
    Method(1, "Archi9Prediction", "after the sigmoids: product of the probabilities of a video model and an "
                                  "audio model trained apart", trained=False),
    Method(2, "Archi3Prediction", "at the logits: mean of the logits of a video model and an audio model "
                                  "trained apart, then sigmoid", trained=False),
    Method(3, "AudioVideoArchi4", "at the logits, trained together: each stream pooling -> dropout -> FC, "
                                  "mean of the two logits", trained=True),
    Method(4, "AudioVideoArchi5", "after each stream's dropout: concatenate, one FC (the paper's best)",
           trained=True),
    Method(5, "AudioVideoArchi6", "after the pooling: concatenate the pooled vectors, one dropout, one FC",
           trained=True),
    Method(6, "AudioVideoArchi7", "on the input features: one pooling with a 1,024-d output", trained=True),
    Method(7, "AudioVideoArchi8", "on the input features: one pooling with a 512-d output", trained=True),
)}
LATE_FUSION = tuple(n for n, m in METHODS.items() if not m.trained)  # (1, 2)
SINGLE_STREAM = {"VideoNetwork": (VIDEO,), "AudioNetwork": (AUDIO,)}
# Every architecture with a graph of its own, in the original's order.
ARCHITECTURE_NAMES = tuple(SINGLE_STREAM) + tuple(m.name for m in METHODS.values() if m.trained)
# The fusion classes of the authors' networks.py that build NetRVLAD whatever --network says.
ALWAYS_RVLAD = ("AudioVideoArchi4", "AudioVideoArchi6", "AudioVideoArchi7", "AudioVideoArchi8")
# The rows of the paper's tables that are trained networks ("video", "audio", "method 3".."method 7").
TRAINED_MODELS = {**{streams[0]: name for name, streams in SINGLE_STREAM.items()},
                  **{f"method {m.number}": m.name for m in METHODS.values() if m.trained}}


def resolve_architecture(name: str) -> str:
    """The original class name for a class name or a paper method number.

    Args:
        name: `"AudioVideoArchi5"`, or a method number 3..7 as `"4"`, `"method4"`, `"method 4"`,
            `"method_4"`, `"method-4"`.
    Returns:
        The class name, one of `ARCHITECTURE_NAMES`.
    Raises:
        ValueError: for methods 1 and 2 (late fusion, see fusion.py) and for unknown names; the message
            lists the valid names.
    """
    text = str(name).strip()
    if text in ARCHITECTURE_NAMES:
        return text
    number = text.lower()
    if number.startswith("method"):
        number = number[len("method"):].strip(" _-")
    method = METHODS.get(int(number)) if number.isdigit() else None
    if method is not None and method.trained:
        return method.name
    if (method is not None and not method.trained) or text in (METHODS[n].name for n in LATE_FUSION):
        raise ValueError(f"{name!r} is a late-fusion method (1 = Archi9Prediction, 2 = Archi3Prediction) that "
                         "combines two trained single-stream models (VideoNetwork and AudioNetwork); it has "
                         "no graph of its own: use fusion.py --method 1|2 --video_run RUN --audio_run RUN")
    trained = [m for m in METHODS.values() if m.trained]
    raise ValueError(f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURE_NAMES)}, or a paper "
                     f"method number 3..7 ({', '.join(f'{m.number} = {m.name}' for m in trained)})")


def resolve_pooling(name: str) -> str:
    """The `--network` name in the original's upper-case spelling.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    text = str(name).strip().upper()
    if text not in POOLINGS:
        raise ValueError(f"unknown pooling {name!r}; valid: {', '.join(POOLINGS)}")
    return text


def streams_of(architecture: str) -> tuple[str, ...]:
    """The input streams an architecture reads: ("video",), ("audio",) or ("video", "audio")."""
    name = resolve_architecture(architecture)
    return SINGLE_STREAM.get(name, (VIDEO, AUDIO))
