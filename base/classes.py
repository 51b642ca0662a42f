"""The class sets: which actions a model spots, which label file names them, and how a label becomes a class.

A class set is data, and this module is its one owner. Column c of every label, logit and prediction array
is class c of the run's class set; column 0 is always the background.

- `v1` (the default, the paper's): background, card, subs, goal. Read from `Labels.json` by the original's
  substring tests ("card", "subs", "soccer"; Vanderplaetse & Dupont's `ftpdataset.py`, SoccerNet's
  `Dataset.py`), or from `Labels-v2.json` with Goal, Yellow card, Red card, Yellow->red card and
  Substitution folded into those three (other v2 labels are not v1 classes).
- `v2` (SoccerNet-v2 action spotting): background and the 17 classes in the official order of the
  soccernet package's `EVENT_DICTIONARY_V2` (`SoccerNet/Evaluation/utils.py`), read from `Labels-v2.json`
  by exact label name.

No numpy, no TensorFlow: the faces and the vocabulary modules import this before anything heavy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

V1_LABEL_FILE = "Labels.json"
V2_LABEL_FILE = "Labels-v2.json"
LABEL_FILES = (V1_LABEL_FILE, V2_LABEL_FILE)


def _v1_substring_class(label: str) -> int:
    """The original's substring tests on a v1 label: card 1, subs 2, soccer (goal) 3; 0 when none matches."""
    if "card" in label:
        return 1
    if "subs" in label:
        return 2
    if "soccer" in label:
        return 3
    return 0


# SoccerNet-v2 labels that carry over to the three v1 classes.
V2_TO_V1 = {"Goal": 3, "Yellow card": 1, "Red card": 1, "Yellow->red card": 1, "Substitution": 2}
# The official order of SoccerNet-v2's 17 classes (the package's EVENT_DICTIONARY_V2).
V2_EVENTS = ("Penalty", "Kick-off", "Goal", "Substitution", "Offside", "Shots on target", "Shots off target",
             "Clearance", "Ball out of play", "Throw-in", "Foul", "Indirect free-kick", "Direct free-kick", "Corner",
             "Yellow card", "Red card", "Yellow->red card")


@dataclass(frozen=True)
class ClassSet:
    """One class set.

    Attributes:
        name: "v1" or "v2", the word of `--classes`, args.json and the model's build config.
        classes: the column names, background first (the names reports and JSON keys use).
        titles: the same as identifiers for tags and file names ("cards" in v1, as the paper's tables and the
            original's TensorBoard tags "AP/1_cards"; "shots_on_target" in v2).
        label_file: the label file of each game folder that this set reads by default.
        soccernet_labels: per event class, the label of a results_spotting.json prediction (the package's
            dictionary: "card", "subs", "soccer" for v1; the v2 names).
        version: the soccernet package's `version` argument for this set (1 or 2).
        label_files: the label files this set can read.
    """

    name: str
    classes: tuple[str, ...]
    titles: tuple[str, ...]
    label_file: str
    soccernet_labels: tuple[str, ...]
    version: int
    label_files: tuple[str, ...]
    _mapping: Callable[[str, str], int]

    @property
    def num_classes(self) -> int:
        """Columns of every array: the background and the event classes."""
        return len(self.classes)

    @property
    def identifiers(self) -> tuple[str, ...]:
        """The class names as identifiers (column names of metrics.csv: "card" in v1, "shots_on_target" in v2)."""
        return tuple(_identifier(name) for name in self.classes)

    @property
    def event_classes(self) -> tuple[str, ...]:
        """The spotted classes, columns 1..C."""
        return self.classes[1:]

    def class_of(self, label: str, label_file: str) -> int:
        """The class (1..C) of an annotation's label read from a file named `label_file`; 0 when the label
        is not one of this set's (the caller warns, naming the file and the label)."""
        return self._mapping(str(label), label_file)

    def spotted_label_class(self, label: str) -> int:
        """The class (1..C) of a results_spotting.json label: this set's package label, else a label-file
        name of this set; 0 when unknown."""
        if label in self.soccernet_labels:
            return self.soccernet_labels.index(label) + 1
        for label_file in self.label_files:
            found = self.class_of(label, label_file)
            if found:
                return found
        return 0


def _v1_mapping(label: str, label_file: str) -> int:
    return V2_TO_V1.get(label, 0) if label_file == V2_LABEL_FILE else _v1_substring_class(label)


def _v2_mapping(label: str, label_file: str) -> int:
    return V2_EVENTS.index(label) + 1 if label in V2_EVENTS else 0


def _identifier(name: str) -> str:
    return name.lower().replace("->", "_to_").replace("-", "_").replace(" ", "_")


V1 = ClassSet("v1", ("background", "card", "subs", "goal"), ("background", "cards", "subs", "goals"),
              V1_LABEL_FILE, ("card", "subs", "soccer"), 1, LABEL_FILES, _v1_mapping)
V2 = ClassSet("v2", ("background",) + V2_EVENTS, ("background",) + tuple(_identifier(n) for n in V2_EVENTS),
              V2_LABEL_FILE, V2_EVENTS, 2, (V2_LABEL_FILE,), _v2_mapping)
CLASS_SETS = {"v1": V1, "v2": V2}
NAMES = tuple(CLASS_SETS)
DEFAULT = "v1"  # runs, models and files that name no class set are v1


def class_set(name: str | ClassSet | None) -> ClassSet:
    """The class set of a name ("v1", "v2"); None is the default (v1). A ClassSet passes through.

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(name, ClassSet):
        return name
    if name is None:
        return CLASS_SETS[DEFAULT]
    if name not in CLASS_SETS:
        raise ValueError(f"unknown class set {name!r}; valid: {', '.join(NAMES)}")
    return CLASS_SETS[name]


def of_width(num_classes: int) -> ClassSet:
    """The class set whose arrays have `num_classes` columns (4: v1, 18: v2).

    Raises:
        ValueError: no class set has that width.
    """
    for candidate in CLASS_SETS.values():
        if candidate.num_classes == num_classes:
            return candidate
    raise ValueError(f"no class set has {num_classes} columns; "
                     + ", ".join(f"{c.name}: {c.num_classes}" for c in CLASS_SETS.values()))
