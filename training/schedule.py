"""The learning-rate schedule and early stopping of the authors' trainer.py (`train`), as a small state
machine on the validation mAP."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Schedule:
    """Model selection, learning-rate steps and early stopping on the validation mAP.

    After each epoch, `update(score)` returns the actions to take, in order: "save" (strictly better
    than the best so far), then "decay" (more than `lr_patience` epochs without improvement while the
    learning rate is above `min_lr`: divide it by 10 and restore the best weights and optimizer
    state) or "stop" (more than `stop_patience` epochs without improvement).
    """

    lr: float = 0.01
    lr_patience: int = 10
    stop_patience: int = 30
    min_lr: float = 1e-4
    best: float = 0.0
    best_epoch: int = -1
    counter: int = 0
    epoch: int = -1

    def update(self, score: float) -> list[str]:
        self.epoch += 1
        actions = []
        if score > self.best:
            self.best, self.best_epoch, self.counter = score, self.epoch, 0
            actions.append("save")
        else:
            self.counter += 1
        if self.counter > self.lr_patience and self.lr > self.min_lr:
            self.lr /= 10.0
            self.counter = 0
            actions.append("decay")
        elif self.counter > self.stop_patience:
            actions.append("stop")
        return actions

    def to_json(self) -> dict:
        return dict(self.__dict__)
