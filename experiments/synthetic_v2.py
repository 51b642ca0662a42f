"""The SoccerNet-v2 classes of the synthetic set (`make_synthetic --classes v2`): what happens in a game and
the signature each class leaves on video and audio. The generator (experiments/synthetic.py) draws the
streams; this module only plans: it imports nothing of the generator.

A v2 game is written as a v1 game is (same folders, same feature files), with `Labels-v2.json` instead of
`Labels.json`: annotations with `gameTime` "H - MM:SS", `label` (one of the 17 v2 labels), `position`
(milliseconds from the half start, a string, as in the real files), `team` and `visibility` ("visible", or
"not shown" for about 5 % of the actions; a not-shown action leaves no video signature, only its sound).

Per game at full length the rates are roughly SoccerNet-v2's (the counts asked of this set; Deliège et al.,
"SoccerNet-v2", CVPRW 2021, report the class histogram they come from): ball out of play ~50, throw-in ~40,
foul ~25, indirect free-kick ~20, clearance ~15, shots off target ~10, shots on target ~9, corner ~9,
substitution ~5, kick-off ~5, direct free-kick ~5, offside ~4, yellow card ~4, goal ~3 (the score in the
game's name, as in v1), penalty ~0.3, red card ~0.1, yellow->red card ~0.1. Actions come in the sequences
of a match: a throw-in or a corner mostly follows a ball out of play, a foul a free kick (indirect, direct,
or a penalty) and sometimes a card, an offside an indirect free kick, a goal a kick-off; each half starts
with a kick-off.

Signatures (the table of docs/data.md), in the spirit of the v1 set: goal, foul and penalty are told best by
audio (a roar; a loud whistle and a groan; a long whistle, crowd tension and a roar), throw-in, corner and
kick-off by video (a touchline shot, the corner flag, the centre circle), and the others need both streams:
each has a confounder on one stream that the other tells apart (shots: goalmouth attacks with no shot, crowd
gasps with no shot; offside: line replays with no whistle, and the foul's whistle; cards: the foul's look and
crowd jeers; substitution: injuries and stray applause; clearance: long balls that sound the same).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from base.classes import V2, V2_EVENTS
from base.labels import seconds_to_game_time

LABEL_FILE = V2.label_file
# Camera shots and sounds the v2 classes add to the v1 ones (their prototypes are drawn only for a v2 set,
# so a v1 set's random draws are untouched). Shot -> its broad look (the v1 groups: 0 field, 1 close, 2 crowd).
SHOTS = ("touchline", "corner_flag", "centre_circle", "penalty_spot", "wall", "offside_line", "keeper")
SHOT_GROUP = {"touchline": 0, "corner_flag": 0, "centre_circle": 0, "penalty_spot": 1, "wall": 1,
              "offside_line": 0, "keeper": 1}
SOUNDS = ("thud", "ooh", "long_whistle")  # a ball struck hard, the crowd's gasp, the referee's long whistle
NOT_SHOWN_RATE = 0.05
HIDDEN = "/not shown"  # suffix of an occurrence's kind: the action is off screen (no video signature)

_ATTACK = (-3, 0, {"goalmouth": 0.7, "wide": 0.3})
_REPLAY = {"replay": 0.6, "goalmouth": 0.4}
# Video: (from, to seconds around the action, shot weights), as synthetic.VIDEO_TEMPLATES.
VIDEO_TEMPLATES = {
    "Penalty": [(-15, 0, {"penalty_spot": 0.4, "wall": 0.2, "closeup": 0.4}), (0, 6, {"goalmouth": 0.6, "wide": 0.4})],
    "Kick-off": [(-3, 6, {"centre_circle": 0.85, "wide": 0.15})],
    "Goal": [_ATTACK, (0, 10, {"closeup": 0.45, "celebration": 0.25, "crowd": 0.3}), (10, 30, _REPLAY)],
    "Substitution": [(-26, -8, {"board": 0.3, "bench": 0.4, "coach": 0.3}),
                     (-8, 8, {"board": 0.3, "closeup": 0.4, "bench": 0.3}), (8, 14, {"medium": 0.5, "wide": 0.5})],
    "Offside": [(0, 4, {"referee": 0.5, "medium": 0.5}), (4, 14, {"offside_line": 0.6, "replay": 0.4})],
    "Shots on target": [_ATTACK, (0, 6, {"keeper": 0.6, "closeup": 0.4}), (6, 16, _REPLAY)],
    "Shots off target": [_ATTACK, (0, 6, {"coach": 0.5, "crowd": 0.3, "closeup": 0.2}), (6, 16, _REPLAY)],
    "Clearance": [(0, 4, {"keeper": 0.4, "wide": 0.6})],
    "Ball out of play": [(0, 5, {"medium": 0.5, "closeup": 0.3, "wide": 0.2})],
    "Throw-in": [(-2, 6, {"touchline": 0.85, "medium": 0.15})],
    "Foul": [(0, 6, {"referee": 0.35, "closeup": 0.35, "medium": 0.2, "card_shown": 0.1})],
    "Indirect free-kick": [(-8, 0, {"medium": 0.5, "wall": 0.2, "referee": 0.3}), (0, 4, {"wide": 1.0})],
    "Direct free-kick": [(-12, 0, {"wall": 0.5, "penalty_spot": 0.2, "closeup": 0.3}),
                         (0, 6, {"goalmouth": 0.6, "wide": 0.4})],
    "Corner": [(-4, 6, {"corner_flag": 0.85, "goalmouth": 0.15})],
    "Yellow card": [(-16, -6, {"replay": 0.4, "closeup": 0.3, "referee": 0.3}),
                    (-4, 7, {"card_shown": 0.4, "referee": 0.35, "closeup": 0.25}),
                    (7, 12, {"closeup": 0.5, "medium": 0.5})],
    # Confounders (no label): a goalmouth attack with no shot, a line replay with no offside.
    "attack": [_ATTACK, (0, 4, {"closeup": 0.5, "wide": 0.5})],
    "line_check": [(0, 10, {"offside_line": 0.6, "replay": 0.4})],
    "gasp": [],
    "long_ball": [],
}
VIDEO_TEMPLATES["Red card"] = VIDEO_TEMPLATES["Yellow->red card"] = VIDEO_TEMPLATES["Yellow card"]

# Audio: (sound, from, to seconds, amplitude, decay seconds or 0), as synthetic.AUDIO_TEMPLATES.
_WHISTLE = ("whistle", 0, 1, 1.5, 0.0)
AUDIO_TEMPLATES = {
    "Penalty": [("long_whistle", -15, -13, 1.6, 0.0), ("chant", -12, 0, 1.0, 0.0), ("thud", 0, 1, 1.2, 0.0),
                ("cheer", 0, 12, 1.8, 6.0)],
    "Kick-off": [("whistle", 0, 1, 1.0, 0.0)],
    "Goal": [("cheer", 0, 28, 2.4, 14.0), ("excited", 0, 18, 2.0, 0.0), ("thud", -1, 0, 1.0, 0.0)],
    "Substitution": [("applause", -6, 4, 0.5, 0.0)],
    "Offside": [_WHISTLE, ("groan", 0, 3, 0.4, 0.0)],  # what a foul sounds like
    "Shots on target": [("thud", 0, 1, 1.0, 0.0), ("ooh", 0, 3, 1.0, 0.0), ("applause", 1, 5, 0.25, 0.0)],
    "Shots off target": [("thud", 0, 1, 1.0, 0.0), ("ooh", 0, 3, 1.0, 0.0), ("groan", 1, 4, 0.3, 0.0)],
    "Clearance": [("thud", 0, 1, 1.3, 0.0)],
    "Ball out of play": [("whistle", 0, 1, 0.9, 0.0), ("groan", 0, 2, 0.25, 0.0)],
    "Throw-in": [("thud", 0, 1, 0.35, 0.0)],
    "Foul": [("whistle", 0, 1, 2.0, 0.0), ("groan", 0, 5, 0.7, 0.0)],
    "Indirect free-kick": [("whistle", -1, 0, 1.0, 0.0), ("thud", 0, 1, 0.8, 0.0)],
    "Direct free-kick": [("whistle", -12, -11, 1.2, 0.0), ("chant", -8, 0, 0.5, 0.0), ("thud", 0, 1, 1.0, 0.0),
                         ("ooh", 0, 3, 0.8, 0.0)],
    "Corner": [("thud", 0, 1, 0.6, 0.0), ("chant", -4, 2, 0.3, 0.0)],
    # A card is shown a little after its foul: the crowd jeers (as v1's card; jeers also come alone).
    "Yellow card": [("chant", 0, 6, 0.45, 0.0)],
    "Red card": [("chant", 0, 8, 0.6, 0.0), ("groan", 0, 3, 0.5, 0.0)],
    "attack": [],
    "line_check": [],
    "gasp": [("ooh", 0, 3, 1.0, 0.0), ("thud", 0, 1, 0.8, 0.0)],  # a blocked shot, a half chance
    "long_ball": [("thud", 0, 1, 1.2, 0.0)],
}
AUDIO_TEMPLATES["Yellow->red card"] = AUDIO_TEMPLATES["Red card"]
assert set(VIDEO_TEMPLATES) == set(AUDIO_TEMPLATES) and set(V2_EVENTS) <= set(VIDEO_TEMPLATES)

# Per game at full length (90 minutes): mean counts of the actions that start a sequence, and what follows.
THROW_INS, CORNERS, LONE_BALL_OUTS, CLEARANCES, FOULS, OFFSIDES = 40.0, 9.0, 8.0, 15.0, 25.0, 4.0
SHOTS_ON, SHOTS_OFF, SUBSTITUTIONS = 9.0, 10.0, 5.0
BALL_OUT_BEFORE = {"Throw-in": (0.85, (6, 20)), "Corner": (0.9, (15, 35))}  # probability, seconds before
# After a foul: its restart (probabilities, else play goes on) and, independently, a card.
FOUL_RESTARTS = (("Indirect free-kick", 0.62), ("Direct free-kick", 0.2), ("Penalty", 0.012))
FOUL_CARDS = (("Yellow card", 0.16), ("Red card", 0.004), ("Yellow->red card", 0.004))
# Confounders (no label), per game: v1's injuries, crowd surges and jeers, and the v2 ones above.
CONFOUNDERS_PER_GAME = {"injury": 2.5, "surge": 3.0, "jeer": 10.0, "attack": 8.0, "line_check": 3.0, "gasp": 12.0,
                        "long_ball": 15.0}


def video_template(kind: str) -> list:
    """The video template of a v2 occurrence (none when the action is not shown)."""
    return [] if kind.endswith(HIDDEN) else VIDEO_TEMPLATES[kind]


def audio_template(kind: str) -> list:
    return AUDIO_TEMPLATES[kind.removesuffix(HIDDEN)]


def _free_time(rng: np.random.Generator, taken: list[tuple[int, float]], half_seconds: Sequence[float],
               spacing: float, halves_weight: Sequence[float] | None = None, window=(20.0, 20.0)) -> tuple[int, float]:
    """(half, seconds to the millisecond) at least `spacing` seconds from the times taken, `window` seconds
    from the half's ends; halves weighted by their length unless `halves_weight` says otherwise."""
    weight = np.asarray(half_seconds if halves_weight is None else halves_weight, float)
    for _ in range(100):
        half = 1 + int(rng.choice(2, p=weight / weight.sum()))
        low, high = window[0], half_seconds[half - 1] - window[1]
        if high <= low:
            low, high = 0.0, half_seconds[half - 1] - 1.0
        t = float(rng.integers(int(low * 1000), int(high * 1000))) / 1000.0
        if all(h != half or abs(t - s) >= spacing for h, s in taken):
            break
    taken.append((half, t))
    return half, t


def plan_events(rng: np.random.Generator, half_seconds: Sequence[float], scale: float, confounders: float,
                scorers: Sequence[str]) -> tuple[list[dict], list[tuple[int, float, str]]]:
    """The v2 annotations (sorted by half and position) and the occurrences (half, seconds, kind) of a game.

    Args:
        rng: the game's generator.
        half_seconds: the length of each half.
        scale: the event rate relative to a full game (event_rate x length / 90 minutes).
        confounders: the multiplier of the confounders' rates.
        scorers: the team of each goal ("home" / "away").
    """
    annotations, occurrences, taken = [], [], []
    spacing = min(6.0, sum(half_seconds) / max(1.0, 2 * 150 * scale))

    def annotate(label: str, half: int, t: float, team: str | None = None):
        t = float(np.clip(t, 0.5, half_seconds[half - 1] - 1.0))
        shown = rng.random() >= NOT_SHOWN_RATE
        team = team or str(rng.choice(["home", "away"]))
        annotations.append({"gameTime": seconds_to_game_time(half, t), "label": label,
                            "position": str(int(round(t * 1000))), "team": team,
                            "visibility": "visible" if shown else "not shown"})
        occurrences.append((half, t, label if shown else label + HIDDEN))

    def count(mean: float) -> int:
        return int(rng.poisson(mean * scale))

    for half in (1, 2):  # each half starts with a kick-off
        annotate("Kick-off", half, float(rng.integers(500, 3000)) / 1000.0)
    for team in scorers:  # a goal, then the other team's kick-off a minute or so later
        half, t = _free_time(rng, taken, half_seconds, spacing, window=(20.0, 100.0))
        annotate("Goal", half, t, team)
        annotate("Kick-off", half, t + rng.uniform(50.0, 90.0), "away" if team == "home" else "home")
    for label, mean in (("Throw-in", THROW_INS), ("Corner", CORNERS)):
        for _ in range(count(mean)):
            half, t = _free_time(rng, taken, half_seconds, spacing, window=(40.0, 20.0))
            probability, (low, high) = BALL_OUT_BEFORE[label]
            if rng.random() < probability:
                annotate("Ball out of play", half, t - rng.uniform(low, high))
            annotate(label, half, t)
    for label, mean in (("Ball out of play", LONE_BALL_OUTS), ("Clearance", CLEARANCES),
                        ("Shots on target", SHOTS_ON), ("Shots off target", SHOTS_OFF)):
        for _ in range(count(mean)):
            annotate(label, *_free_time(rng, taken, half_seconds, spacing))
    for _ in range(count(FOULS)):
        half, t = _free_time(rng, taken, half_seconds, spacing, window=(20.0, 60.0))
        team = str(rng.choice(["home", "away"]))
        annotate("Foul", half, t, team)
        restart = rng.random()
        for label, probability in FOUL_RESTARTS:
            if restart < probability:
                annotate(label, half, t + rng.uniform(15.0, 40.0), "away" if team == "home" else "home")
                break
            restart -= probability
        card = rng.random()
        for label, probability in FOUL_CARDS:
            if card < probability:
                annotate(label, half, t + rng.uniform(10.0, 30.0), team)
                break
            card -= probability
    for _ in range(count(OFFSIDES)):
        half, t = _free_time(rng, taken, half_seconds, spacing, window=(20.0, 60.0))
        team = str(rng.choice(["home", "away"]))
        annotate("Offside", half, t, team)
        annotate("Indirect free-kick", half, t + rng.uniform(15.0, 40.0), "away" if team == "home" else "home")
    for _ in range(min(round(6 * max(1.0, scale)), count(SUBSTITUTIONS))):  # as v1: most in the second half
        if rng.random() < 0.1:
            half, t = _free_time(rng, taken, half_seconds, spacing, (1, 0))
        else:
            half, t = _free_time(rng, taken, half_seconds, spacing, (0, 1),
                                 (min(600.0, half_seconds[1] / 4), 60.0))
        annotate("Substitution", half, t)
    for kind, mean in CONFOUNDERS_PER_GAME.items():
        for _ in range(int(rng.poisson(mean * scale * confounders))):
            half, t = _free_time(rng, taken, half_seconds, spacing / 2)
            occurrences.append((half, t, kind))
    annotations.sort(key=lambda a: (a["gameTime"][0], int(a["position"])))
    return annotations, occurrences
