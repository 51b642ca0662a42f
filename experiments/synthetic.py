"""A synthetic SoccerNet v1: the real layout, file names, shapes and labels, with event signatures.

    python -m experiments.make_synthetic --output data/synthetic --games 30 10 10

(that command line is experiments/make_synthetic.py; this module is the generator: `SyntheticConfig`,
`generate`, `ensure`, `is_current`, `list_names`, `disk_bytes`.)

The real features cannot be downloaded here, so the demo and the tests run on this. For the first N
games of each official list it writes, under the output root:

    <league>/<season>/<game>/{1,2}_ResNET_PCA512.npy   video, float32 (frames, 512)
    <league>/<season>/<game>/{1,2}_VGGish.npy          audio, float32 (frames, 512), non-negative
    <league>/<season>/<game>/{1,2}_ResNET.npy          raw video, float32 (frames, 2048) (--raw_video)
    (`--video_features ResNET_TF2` names the video files {1,2}_ResNET_TF2_PCA512.npy and _ResNET_TF2.npy)
    <league>/<season>/<game>/Labels.json               SoccerNet v1 labels (gameTime, label, team)
    <league>/<season>/<game>/Labels-v2.json            instead, with `classes` "v2" (--classes v2): SoccerNet-v2
                                                       labels (gameTime, label, position, team, visibility)
    listgame_Train_<n>.npy, listgame_Valid_<n>.npy, listgame_Test_<n>.npy   the lists of those games
    synthetic_settings.txt                             the settings, as JSON (written last: marks
                                                       completion; not a .json file, which the
                                                       official evaluator would take for a game)

How the streams are made (2 features per second, halves of 45 minutes plus stoppage time):
- Video is a sequence of camera shots (wide view, close-ups, crowd, referee, bench, replays...). A
  frame is its shot type's prototype plus a per-shot offset plus temporally correlated noise, with
  PCA-like decaying variance over the dimensions. An event replaces the shots around it by a
  typical sequence: a goal by celebration, crowd, coach and replay shots; a card by the foul's
  replay and the referee showing the card; a substitution by the board, the bench and the coach.
- Audio is a non-negative mixture of crowd ambience, commentary, whistles, cheers, applause, groans
  and chants. A goal brings a long crowd roar and excited commentary; a card what any foul brings (a
  whistle, a short groan) and a short crowd jeer when the card is shown; a substitution applause.
- Confounders, one per class and stream, each told apart by the other stream: near misses look like
  goals on video (close-ups, replays) but bring only a short groan, and crowd surges sound almost like
  goals with nothing on video; fouls look like cards (referee close-ups, often a card-like shot) but
  bring no jeer, and the crowd jeers with no event; injuries look like substitutions (bench shots) but
  bring a groan, and stray applause comes with no event; long chants make noise without an event.
So, as in the paper, video tells cards and substitutions better than audio, audio tells goals better
than video, and both together beat either on every class. `--video_strength`, `--audio_strength`, `--confounders`
and `--noise` scale the signatures. Each game draws from its own generator seeded by (seed, game), so
a game's data does not depend on how many games are made.

With `classes` "v2" the games hold SoccerNet-v2's 17 actions at v2-like rates, each with its own video
and audio signature and confounders (experiments/synthetic_v2.py plans them; the streams are drawn as
above, with a few more shot types and sounds). A v1 set is written bit for bit as before v2 existed.
"""
from __future__ import annotations

import json
import logging
import math
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.signal import lfilter
from tqdm import tqdm

from base.classes import class_set
from base.errors import DataError
from base.files import write_json_atomic, write_npy_atomic
from base.labels import seconds_to_game_time
from dataset import FRAMES_PER_SECOND, read_game_list
from experiments import synthetic_v2
from runtime import process

log = logging.getLogger("synthetic")

TOP = Path(__file__).resolve().parent.parent
OFFICIAL_LISTS = {"Train": TOP / "listgame_Train_300.npy", "Valid": TOP / "listgame_Valid_100.npy",
                  "Test": TOP / "listgame_Test_100.npy"}
# The settings file. Not named *.json: the official evaluator (SoccerNet.Evaluation.ActionSpotting.evaluate
# with dataset=None) takes every folder holding a .json file for a game, the data root included.
MANIFEST = "synthetic_settings.txt"
OLD_MANIFESTS = ("synthetic.json",)  # of format versions up to 3
FORMAT_VERSION = 4  # bumped when the generated data changes: older sets are remade
VIDEO_DIM = 512  # PCA512 files
AUDIO_DIM = 512  # VGGish
RAW_VIDEO_DIM = 2048

# Camera shot types of the video stream.
SHOTS = ("wide", "medium", "closeup", "crowd", "referee", "bench", "replay", "celebration", "coach",
         "goalmouth", "card_shown", "board")
# shot type -> its row of the prototypes (the v2 shots after the v1 ones, drawn only for a v2 set)
SHOT_INDEX = {name: i for i, name in enumerate(SHOTS + synthetic_v2.SHOTS)}
# Broad look of each shot type; --video_strength scales how far a type departs from its group.
SHOT_GROUP = {"wide": 0, "medium": 0, "goalmouth": 0, "closeup": 1, "referee": 1, "celebration": 1,
              "coach": 1, "card_shown": 1, "bench": 1, "board": 1, "crowd": 2, "replay": 0}
# Normal play: shot type probabilities and mean shot length (seconds).
PLAY_SHOTS = {"wide": 0.62, "medium": 0.17, "closeup": 0.08, "crowd": 0.02, "referee": 0.02,
              "bench": 0.01, "replay": 0.03, "coach": 0.02, "goalmouth": 0.03}
SHOT_SECONDS = {"wide": 9.0}
OTHER_SHOT_SECONDS = 3.0

# Event and confounder templates on video: (from, to) seconds around the event, shot weights.
VIDEO_TEMPLATES = {
    "goal": [(-4, 0, {"goalmouth": 0.7, "wide": 0.3}),
             (0, 12, {"celebration": 0.5, "closeup": 0.3, "crowd": 0.2}),
             (12, 20, {"coach": 0.3, "crowd": 0.3, "closeup": 0.4}),
             (20, 42, {"replay": 0.6, "goalmouth": 0.4})],
    "near_miss": [(-4, 0, {"goalmouth": 0.7, "wide": 0.3}),
                  (0, 9, {"closeup": 0.4, "celebration": 0.22, "coach": 0.23, "crowd": 0.15}),
                  (9, 26, {"replay": 0.6, "goalmouth": 0.4})],
    "card": [(-16, -6, {"replay": 0.4, "closeup": 0.3, "referee": 0.3}),
             (-4, 7, {"card_shown": 0.4, "referee": 0.35, "closeup": 0.25}),
             (7, 12, {"closeup": 0.5, "medium": 0.5})],
    "foul": [(0, 6, {"referee": 0.4, "closeup": 0.3, "card_shown": 0.3}),
             (6, 12, {"replay": 0.5, "medium": 0.5})],
    "subs": [(-26, -8, {"board": 0.3, "bench": 0.4, "coach": 0.3}),
             (-8, 8, {"board": 0.3, "closeup": 0.4, "bench": 0.3}),
             (8, 14, {"medium": 0.5, "wide": 0.5})],
    "injury": [(0, 20, {"closeup": 0.4, "bench": 0.3, "medium": 0.2, "board": 0.1})],
    "surge": [],
    "jeer": [],
}

# Audio components (non-negative prototypes mixed with time-varying amplitudes).
SOUNDS = ("ambience", "speech", "whistle", "cheer", "applause", "groan", "chant", "excited")
SOUND_INDEX = {name: i for i, name in enumerate(SOUNDS + synthetic_v2.SOUNDS)}  # sound -> its amplitude column
# Event and confounder templates on audio: (sound, from, to seconds, amplitude, decay seconds or 0).
AUDIO_TEMPLATES = {
    "goal": [("cheer", 0, 28, 2.4, 14.0), ("excited", 0, 18, 2.0, 0.0), ("whistle", 40, 41, 1.0, 0.0)],
    "near_miss": [("groan", 0, 4, 1.3, 0.0), ("cheer", -1, 1, 0.8, 0.0)],
    # A card starts as any foul does (the referee's whistle, a short groan); then the crowd jeers for a few
    # seconds when the card is shown. No foul has the jeer, but the crowd jeers often with no event (the
    # "jeer" confounder, silent on video), so audio alone tells cards poorly while it adds to video.
    "card": [("whistle", -8, -7, 1.5, 0.0), ("groan", -8, -3, 0.4, 0.0), ("chant", 0, 6, 0.45, 0.0)],
    "foul": [("whistle", 0, 1, 1.5, 0.0), ("groan", 0, 5, 0.4, 0.0)],
    "subs": [("applause", -6, 4, 0.5, 0.0)],
    # An injury sounds like concern, not applause: audio tells it from a substitution, video hardly does.
    "injury": [("groan", 0, 3, 0.6, 0.0)],
    # A big chance: a roar and excited commentary almost like a goal's, with nothing on video.
    "surge": [("cheer", 0, 14, 2.2, 8.0), ("excited", 0, 8, 1.4, 0.0)],
    "jeer": [("chant", 0, 6, 0.45, 0.0)],
}
# Per game at full length (90 minutes): mean counts of labelled events and confounders.
CARDS_PER_GAME = 4.5
SUBS_PER_GAME = 5.0
GOALS_PER_GAME = 2.7
# Each class has a confounder on each stream that the other stream tells apart: near misses (video) and
# surges (audio) for goals, fouls (video) and jeers (audio) for cards, injuries (video) and stray applause
# (audio, in `_amplitudes`) for substitutions; so fusion beats either stream on every class.
CONFOUNDERS_PER_GAME = {"near_miss": 5.5, "foul": 18.0, "injury": 2.5, "surge": 6.0, "jeer": 10.0}
CHANTS_PER_GAME = 8.0
CARD_LABELS = (("y-card", 0.9), ("r-card", 0.04), ("yr-card", 0.06))


@dataclass
class SyntheticConfig:
    """Settings of a synthetic data set; equal settings and seed give equal files."""

    games: tuple[int, int, int] = (30, 10, 10)
    half_minutes: float = 45.0
    stoppage_minutes: tuple[float, float] = (1.0, 5.0)
    seed: int = 0
    raw_video: bool = False
    video_strength: float = 1.0
    audio_strength: float = 1.0
    confounders: float = 1.0
    noise: float = 1.0
    event_rate: float = 1.0
    format_version: int = FORMAT_VERSION
    video_features: str = "ResNET"  # the name in the video files: {half}_{video_features}_PCA512.npy
    classes: str = "v1"  # the class set of the labels: v1 (Labels.json) or v2 (Labels-v2.json, synthetic_v2)

    def to_json(self) -> dict:
        content = asdict(self)
        for name, default in (("video_features", "ResNET"), ("classes", "v1")):
            if content[name] == default:  # left out at its default: sets made before it existed stay current
                del content[name]
        content["games"] = list(self.games)
        content["stoppage_minutes"] = list(self.stoppage_minutes)
        return content


# --------------------------------------------------------------------------------------------
# Events


@dataclass
class GamePlan:
    """The events of a game: labelled annotations and unlabelled confounders, per half."""

    lengths: tuple[int, int]  # frames per half
    annotations: list[dict] = field(default_factory=list)
    occurrences: list[tuple[int, float, str]] = field(default_factory=list)  # (half, seconds, kind)


def parse_score(game: str) -> tuple[int, int] | None:
    """The final score in a SoccerNet game name `... Home H - A Away`, or None."""
    matches = re.findall(r"\s(\d+) - (\d+)\s", Path(game).name)
    return (int(matches[-1][0]), int(matches[-1][1])) if matches else None


def _place(rng: np.random.Generator, taken: list[tuple[int, float]], half_seconds: Sequence[float],
           halves_weight: Sequence[float], spacing: float, window: tuple[float, float] | None = None):
    """Draw (half, second) away from the times already taken (by at least `spacing` seconds)."""
    for _ in range(200):
        half = 1 + int(rng.choice(2, p=np.asarray(halves_weight) / np.sum(halves_weight)))
        low, high = (30.0, half_seconds[half - 1] - 30.0) if window is None else window
        high = min(high, half_seconds[half - 1] - 30.0)
        if high <= low:
            low, high = 0.0, half_seconds[half - 1] - 1.0
        t = float(np.floor(rng.uniform(low, high)))
        if all(h != half or abs(t - s) >= spacing for h, s in taken):
            taken.append((half, t))
            return half, t
    taken.append((half, t))  # crowded half: accept an overlap
    return half, t


def plan_game(game: str, config: SyntheticConfig, rng: np.random.Generator) -> GamePlan:
    """Half lengths, events with SoccerNet v1 labels (v2 labels for `classes` v2), and confounders for one game."""
    stoppage = rng.uniform(*config.stoppage_minutes, size=2)
    lengths = tuple(int(round(60 * (config.half_minutes + s))) * FRAMES_PER_SECOND for s in stoppage)
    half_seconds = [n / FRAMES_PER_SECOND for n in lengths]
    scale = config.event_rate * (sum(half_seconds) / 5400.0)
    spacing = min(20.0, sum(half_seconds) / max(1.0, 2 * 15 * scale))
    plan = GamePlan(lengths)
    taken: list[tuple[int, float]] = []

    def annotate(kind, label, half, t, team):
        plan.annotations.append({"gameTime": seconds_to_game_time(half, t), "label": label, "team": team})
        plan.occurrences.append((half, t, kind))

    score = parse_score(game)
    if score is not None and config.half_minutes >= 45 and config.event_rate == 1.0:
        scorers = ["home"] * score[0] + ["away"] * score[1]
    else:
        scorers = list(rng.choice(["home", "away"], size=rng.poisson(GOALS_PER_GAME * scale)))
    if config.classes == "v2":
        plan.annotations, plan.occurrences = synthetic_v2.plan_events(rng, half_seconds, scale, config.confounders,
                                                                      [str(team) for team in scorers])
        return plan
    for team in scorers:
        half, t = _place(rng, taken, half_seconds, half_seconds, spacing)
        own = rng.random() < 0.04
        annotate("goal", "soccer-ball-own" if own else "soccer-ball", half, t,
                 ("away" if team == "home" else "home") if own else team)
    for _ in range(rng.poisson(CARDS_PER_GAME * scale)):
        half, t = _place(rng, taken, half_seconds, (0.35, 0.65), spacing)
        label = rng.choice([c for c, _ in CARD_LABELS], p=[p for _, p in CARD_LABELS])
        annotate("card", str(label), half, t, str(rng.choice(["home", "away"])))
    for _ in range(min(round(6 * max(1.0, scale)), rng.poisson(SUBS_PER_GAME * scale))):  # 6 allowed per game
        if rng.random() < 0.1:  # an early substitution (injury) in the first half
            half, t = _place(rng, taken, half_seconds, (1, 0), spacing)
        else:  # most come in the second half, after its first ten minutes
            window = (min(600.0, half_seconds[1] / 4), half_seconds[1] - 60.0)
            half, t = _place(rng, taken, half_seconds, (0, 1), spacing, window)
        annotate("subs", "substitution-in", half, t, str(rng.choice(["home", "away"])))
    for kind, mean in CONFOUNDERS_PER_GAME.items():
        for _ in range(rng.poisson(mean * scale * config.confounders)):
            half, t = _place(rng, taken, half_seconds, half_seconds, spacing / 2)
            plan.occurrences.append((half, t, kind))
    plan.annotations.sort(key=lambda a: (a["gameTime"][0], a["gameTime"]))
    return plan


# --------------------------------------------------------------------------------------------
# Streams


@dataclass
class Style:
    """Fixed per data set: shot prototypes, sound prototypes, projection to raw video."""

    video_scale: np.ndarray  # (video_dim,) PCA-like decaying standard deviations
    shot_prototypes: np.ndarray  # (len(SHOTS), video_dim)
    sound_prototypes: np.ndarray  # (len(SOUNDS), audio_dim), non-negative
    audio_base: np.ndarray  # (audio_dim,)
    raw_projection: np.ndarray | None  # (video_dim, 2048)
    raw_mean: np.ndarray | None


def make_style(config: SyntheticConfig) -> Style:
    rng = np.random.default_rng([config.seed, 7919])
    d = VIDEO_DIM
    scale = (1.0 / np.sqrt(1.0 + np.arange(d) / 8.0)).astype(np.float32)
    groups = rng.standard_normal((3, d)).astype(np.float32) * 1.2
    specific = rng.standard_normal((len(SHOTS), d)).astype(np.float32) * 0.7
    prototypes = np.stack([groups[SHOT_GROUP[name]] + config.video_strength * specific[i]
                           for i, name in enumerate(SHOTS)]) * scale
    a = AUDIO_DIM
    # Each sound excites a random subset of channels (VGGish channels respond to sound classes).
    masks = rng.random((len(SOUNDS), a)) < 0.3
    sounds = np.abs(rng.standard_normal((len(SOUNDS), a))).astype(np.float32) * masks
    sounds += 0.15 * np.abs(rng.standard_normal((len(SOUNDS), a))).astype(np.float32)
    base = 0.3 + 0.2 * rng.random(a).astype(np.float32)
    projection = mean = None
    if config.raw_video:
        q, _ = np.linalg.qr(rng.standard_normal((RAW_VIDEO_DIM, d)))
        projection = (q.T * 2.0).astype(np.float32)  # (d, 2048), orthogonal rows
        mean = (0.5 + 0.2 * rng.random(RAW_VIDEO_DIM)).astype(np.float32)
    if config.classes == "v2":  # the v2 shots and sounds, drawn as the v1 ones from a generator of their own
        extra = np.random.default_rng([config.seed, 7919, 2])
        specific = extra.standard_normal((len(synthetic_v2.SHOTS), d)).astype(np.float32) * 0.7
        prototypes = np.concatenate([prototypes, np.stack(
            [groups[synthetic_v2.SHOT_GROUP[name]] + config.video_strength * specific[i]
             for i, name in enumerate(synthetic_v2.SHOTS)]) * scale])
        masks = extra.random((len(synthetic_v2.SOUNDS), a)) < 0.3
        more = np.abs(extra.standard_normal((len(synthetic_v2.SOUNDS), a))).astype(np.float32) * masks
        more += 0.15 * np.abs(extra.standard_normal((len(synthetic_v2.SOUNDS), a))).astype(np.float32)
        sounds = np.concatenate([sounds, more])
    return Style(scale, prototypes.astype(np.float32), sounds, base, projection, mean)


def _video_template(kind: str) -> list:
    return VIDEO_TEMPLATES[kind] if kind in VIDEO_TEMPLATES else synthetic_v2.video_template(kind)


def _audio_template(kind: str) -> list:
    return AUDIO_TEMPLATES[kind] if kind in AUDIO_TEMPLATES else synthetic_v2.audio_template(kind)


def _smooth_noise(rng: np.random.Generator, frames: int, dim: int, rho: float) -> np.ndarray:
    """AR(1) noise along time with unit stationary variance, float32 (frames, dim)."""
    white = rng.standard_normal((frames, dim), dtype=np.float32)
    return lfilter([np.sqrt(1 - rho ** 2)], [1.0, -rho], white, axis=0).astype(np.float32)


def _shot_track(rng: np.random.Generator, frames: int, occurrences, half: int):
    """Per frame: shot type and shot number, normal play overlaid with the event templates."""
    names = list(PLAY_SHOTS)
    weights = np.array([PLAY_SHOTS[n] for n in names])
    weights /= weights.sum()
    types = np.empty(frames, np.int64)
    shot_ids = np.empty(frames, np.int64)
    shot, position = 0, 0
    while position < frames:
        name = names[rng.choice(len(names), p=weights)]
        length = max(2, int(rng.exponential(SHOT_SECONDS.get(name, OTHER_SHOT_SECONDS)) * FRAMES_PER_SECOND))
        types[position:position + length] = SHOT_INDEX[name]
        shot_ids[position:position + length] = shot
        shot, position = shot + 1, position + length
    for event_half, t, kind in occurrences:
        if event_half != half:
            continue
        for begin, end, shot_weights in _video_template(kind):
            names_e = list(shot_weights)
            p = np.array([shot_weights[n] for n in names_e])
            p /= p.sum()
            position = int((t + begin) * FRAMES_PER_SECOND)
            stop = min(frames, int((t + end) * FRAMES_PER_SECOND))
            position = max(0, position)
            while position < stop:
                length = max(2, int(rng.uniform(2.0, 4.5) * FRAMES_PER_SECOND))
                types[position:min(stop, position + length)] = SHOT_INDEX[names_e[rng.choice(len(names_e), p=p)]]
                shot_ids[position:min(stop, position + length)] = shot
                shot, position = shot + 1, position + length
    return types, shot_ids, shot


def make_video(rng: np.random.Generator, style: Style, config: SyntheticConfig, frames: int,
               occurrences, half: int, game_offset: np.ndarray) -> np.ndarray:
    types, shot_ids, n_shots = _shot_track(rng, frames, occurrences, half)
    offsets = rng.standard_normal((n_shots, VIDEO_DIM), dtype=np.float32) * (0.55 * style.video_scale)
    noise = _smooth_noise(rng, frames, VIDEO_DIM, 0.8) * (0.8 * config.noise * style.video_scale)
    return style.shot_prototypes[types] + game_offset + offsets[shot_ids] + noise


def _amplitudes(rng: np.random.Generator, frames: int, occurrences, half: int, config: SyntheticConfig,
                chants: int) -> np.ndarray:
    """Per frame amplitude of each sound, (frames, sounds): the v1 sounds, then the v2 ones for a v2 set."""
    f = FRAMES_PER_SECOND
    sounds = len(SOUNDS) + (len(synthetic_v2.SOUNDS) if config.classes == "v2" else 0)
    amp = np.zeros((frames, sounds), np.float32)
    level = 1.0 + 0.25 * _smooth_noise(rng, frames // 60 + 2, 1, 0.9)[:, 0]  # crowd level per 30 s
    amp[:, SOUND_INDEX["ambience"]] = np.repeat(level, 60)[:frames].clip(0.3)
    position = 0
    while position < frames:  # commentary: on about 70 % of the time
        length = int(rng.uniform(4, 20) * f)
        if rng.random() < 0.7:
            amp[position:position + length, SOUND_INDEX["speech"]] = rng.uniform(0.6, 1.0)
        position += length
    for _ in range(rng.poisson(frames / (f * 300))):  # stray whistles (throw-ins, offsides)
        at = int(rng.integers(frames))
        amp[at:at + 2, SOUND_INDEX["whistle"]] = 1.2
    for _ in range(rng.poisson(frames / (f * 400))):  # stray applause (good play, free kicks)
        at, length = int(rng.integers(frames)), int(rng.uniform(3, 8) * f)
        amp[at:at + length, SOUND_INDEX["applause"]] = rng.uniform(0.3, 0.6)
    for _ in range(chants):  # chants: crowd noise with no event
        at, length = int(rng.integers(frames)), int(rng.uniform(20, 60) * f)
        amp[at:at + length, SOUND_INDEX["chant"]] = rng.uniform(0.3, 0.7)
    for event_half, t, kind in occurrences:
        if event_half != half:
            continue
        for sound, begin, end, height, decay in _audio_template(kind):
            start = max(0, int((t + begin) * f))
            stop = min(frames, int((t + end) * f))
            if stop <= start:
                continue
            curve = np.full(stop - start, height, np.float32)
            if decay:
                curve *= np.exp(-np.arange(stop - start) / (decay * f)).astype(np.float32)
            if "whistle" not in sound:
                curve *= config.audio_strength * rng.uniform(0.7, 1.3)
            amp[start:stop, SOUND_INDEX[sound]] = np.maximum(amp[start:stop, SOUND_INDEX[sound]], curve)
    return amp


def make_audio(rng: np.random.Generator, style: Style, config: SyntheticConfig, frames: int,
               occurrences, half: int, chants: int) -> np.ndarray:
    amp = _amplitudes(rng, frames, occurrences, half, config, chants)
    noise = _smooth_noise(rng, frames, AUDIO_DIM, 0.5) * (0.35 * config.noise)
    audio = style.audio_base + amp @ style.sound_prototypes + noise
    return np.maximum(audio, 0.0, out=audio)


# --------------------------------------------------------------------------------------------
# Writing


def game_seed(seed: int, game: str) -> list[int]:
    return [seed, zlib.crc32(game.encode("utf-8"))]


def write_game(root: Path, game: str, config: SyntheticConfig, style: Style) -> GamePlan:
    """Write the feature files and the label file (Labels.json; Labels-v2.json for `classes` v2) of one game."""
    rng = np.random.default_rng(game_seed(config.seed, game))
    plan = plan_game(game, config, rng)
    folder = root / game
    folder.mkdir(parents=True, exist_ok=True)
    game_offset = rng.standard_normal(VIDEO_DIM).astype(np.float32) * (0.2 * style.video_scale)
    for half, frames in zip((1, 2), plan.lengths):
        chants = rng.poisson(CHANTS_PER_GAME / 2 * frames / (FRAMES_PER_SECOND * 2700) * config.confounders)
        video = make_video(rng, style, config, frames, plan.occurrences, half, game_offset)
        audio_frames = frames - int(rng.integers(0, 3))  # VGGish files can be a frame or two shorter
        audio = make_audio(rng, style, config, audio_frames, plan.occurrences, half, chants)
        write_npy_atomic(folder / f"{half}_{config.video_features}_PCA512.npy", video)
        write_npy_atomic(folder / f"{half}_VGGish.npy", audio)
        if style.raw_projection is not None:
            raw = video @ style.raw_projection + style.raw_mean
            raw += rng.standard_normal(raw.shape, dtype=np.float32) * 0.02
            write_npy_atomic(folder / f"{half}_{config.video_features}.npy", raw)
    name = Path(game).name
    match = re.match(r"(\d{4}-\d{2}-\d{2}) - \d{2}-\d{2} (.+?) (\d+) - (\d+) (.+)$", name)
    labels = {"UrlLocal": game + "/", "UrlYoutube": "", "annotations": plan.annotations}
    if match:
        labels.update({"gameDate": match.group(1), "gameHomeTeam": match.group(2),
                       "gameAwayTeam": match.group(5), "gameScore": f"{match.group(3)} - {match.group(4)}"})
    label_file, other = ("Labels.json", synthetic_v2.LABEL_FILE)[::-1 if config.classes == "v2" else 1]
    (folder / other).unlink(missing_ok=True)  # of a set made before with the other classes
    write_json_atomic(folder / label_file, labels)
    return plan


def check_config(config: SyntheticConfig) -> None:
    """Settings `generate` can make a set of, checked before anything is written; DataError naming the flag
    of `python -m experiments.make_synthetic` (and of `experiments.demo`) otherwise."""
    for (split, official), count in zip(OFFICIAL_LISTS.items(), config.games):
        available = len(read_game_list(official))
        if not 1 <= count <= available:
            raise DataError("--games", f"{split}: {count} games; from 1 to {available} (the official list)")
    if not math.isfinite(config.half_minutes) or config.half_minutes <= 0:
        raise DataError("--half_minutes", f"{config.half_minutes!r} is not a positive finite number of minutes")
    low, high = config.stoppage_minutes
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise DataError("--stoppage", f"{low!r} {high!r}: MIN and MAX finite, 0 <= MIN <= MAX minutes")
    if config.seed < 0:
        raise DataError("--seed", f"{config.seed}: a seed is >= 0")
    for name in ("video_strength", "audio_strength", "confounders", "noise", "event_rate"):
        value = getattr(config, name)
        if not math.isfinite(value) or value < 0:
            raise DataError(f"--{name}", f"{value!r} is not a finite number >= 0")
    class_set(config.classes)  # ValueError for an unknown class set


def list_names(config: SyntheticConfig) -> dict[str, str]:
    return {split: f"listgame_{split}_{n}.npy" for split, n in zip(OFFICIAL_LISTS, config.games)}


def generate(root: str | Path, config: SyntheticConfig, progress: bool = True) -> Path:
    """Write a synthetic data set under `root` (see the module docstring). Returns the root."""
    root = Path(root)
    class_set(config.classes)  # raises ValueError for an unknown class set
    root.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST,) + OLD_MANIFESTS:
        (root / name).unlink(missing_ok=True)
    style = make_style(config)
    jobs = []
    for (split, official), count, name in zip(OFFICIAL_LISTS.items(), config.games,
                                              list_names(config).values()):
        games = read_game_list(official)
        if count > len(games):
            raise ValueError(f"{split}: {count} games asked, the list has {len(games)}")
        chosen = np.array(games[:count])
        write_npy_atomic(root / name, chosen)
        jobs += list(chosen)
    for game in tqdm(jobs, desc="synthetic SoccerNet", unit="game", disable=process.progress_off(not progress)):
        write_game(root, str(game), config, style)
    write_json_atomic(root / MANIFEST, config.to_json())
    return root


def is_current(root: str | Path, config: SyntheticConfig) -> bool:
    """Whether `root` holds a complete synthetic set made with these settings."""
    try:
        return json.loads((Path(root) / MANIFEST).read_text()) == config.to_json()
    except (OSError, ValueError):
        return False


def ensure(root: str | Path, config: SyntheticConfig, progress: bool = True) -> Path:
    """Generate the data set unless `root` already holds one with the same settings."""
    root = Path(root)
    if is_current(root, config):
        return root
    if (root / MANIFEST).is_file():
        log.info("%s holds a synthetic set with other settings: regenerating", root)
    return generate(root, config, progress)


def disk_bytes(config: SyntheticConfig) -> int:
    """Approximate size on disk of a data set with these settings."""
    frames = 2 * FRAMES_PER_SECOND * 60 * (config.half_minutes + sum(config.stoppage_minutes) / 2)
    per_game = frames * 4 * (VIDEO_DIM + AUDIO_DIM + (RAW_VIDEO_DIM if config.raw_video else 0))
    return int(per_game * sum(config.games))
