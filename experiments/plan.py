"""What a table of the paper needs: the training runs of ClassificationMinuteBased.py (`Training`, named by
their settings), the late fusions and the spotting outputs (`Plan`), per table (`table_plan`) and per
seed (`Plan.with_seeds`, `seeds_of`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from experiments.paper import PAPER_TABLE1, PAPER_TABLE5
from networks import names

DEFAULT_SEED = 1234  # ClassificationMinuteBased.py's --seed default


@dataclass(frozen=True)
class Training:
    """One training run of ClassificationMinuteBased.py."""

    architecture: str
    pooling: str
    k: int
    window: int
    seed: int | None = None  # None: the training script's default seed, and no seed in the name

    @property
    def prefix(self) -> str:
        name = f"{self.pooling.lower()}{self.k}-{self.window}s-{self.architecture}"
        return name if self.seed is None else f"{name}-seed{self.seed}"

    def with_seed(self, seed: int | None) -> "Training":
        return Training(self.architecture, self.pooling, self.k, self.window, seed)


@dataclass
class Plan:
    """What a table needs: training runs, late fusions, spotting outputs."""

    trainings: list[Training] = field(default_factory=list)
    late_fusions: list[tuple[Training, Training, int]] = field(default_factory=list)
    spottings: list[Training] = field(default_factory=list)

    def add(self, other: "Plan") -> None:
        for name in ("trainings", "late_fusions", "spottings"):
            for item in getattr(other, name):
                if item not in getattr(self, name):
                    getattr(self, name).append(item)

    def with_seeds(self, seeds: Sequence[int | None]) -> "Plan":
        """The same plan once per training seed (late fusion pairs the video and audio runs of a seed)."""
        plan = Plan()
        for seed in seeds:
            plan.trainings += [t.with_seed(seed) for t in self.trainings]
            plan.late_fusions += [(v.with_seed(seed), a.with_seed(seed), m) for v, a, m in self.late_fusions]
            plan.spottings += [t.with_seed(seed) for t in self.spottings]
        return plan


def classification_plan(pooling: str, k: int, windows: Sequence[int], models: Sequence[str]) -> Plan:
    plan = Plan()
    for window in windows:
        trained = {m: Training(names.TRAINED_MODELS[m], pooling, k, window) for m in models if m in names.TRAINED_MODELS}
        plan.trainings += list(trained.values())
        for method in names.LATE_FUSION:
            if f"method {method}" in models:
                plan.late_fusions.append((trained["video"], trained["audio"], method))
    return plan


def table_plan(table: str) -> Plan:
    if table == "1":
        return classification_plan("RVLAD", 64, (60, 30), list(PAPER_TABLE1))
    if table == "2/3":
        return classification_plan("RVLAD", 64, (60, 30), ("video", "audio", "method 4"))
    if table == "4":
        return classification_plan("VLAD", 512, (60, 20), ("video", "audio", "method 4"))
    if table == "5":
        plan = Plan()
        for (pooling, window) in PAPER_TABLE5:
            k = 64 if pooling == "RVLAD" else 512
            part = classification_plan(pooling, k, (window,), ("video", "audio", "method 4"))
            part.spottings = list(part.trainings)
            plan.add(part)
        return plan
    raise ValueError(f"unknown table {table}")


TABLES = ("1", "2/3", "4", "5")


def seeds_of(count: int) -> tuple[int | None, ...]:
    """`--seeds N`: (None,) for one (the default seed, names without a seed), else 1234, 1235, ..."""
    return (None,) if count == 1 else tuple(DEFAULT_SEED + i for i in range(count))
