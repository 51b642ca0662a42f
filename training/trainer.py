"""The training step of the authors' trainer.py: the loss, evaluation on whole halves, and the optimizer
step with gradients summed over micro-batches (one device or a `tf.distribute` strategy).

The loss is the sigmoid cross-entropy summed over the 1 + C classes and averaged over the step's chunks;
Adam with TF1's defaults (epsilon 1e-8). A step is all chunks of `--batch_size` halves; cut into pieces
(`--micro_batch`), the pieces' gradients are summed before one optimizer update, so the step is the
original's whatever the cut.
"""
from __future__ import annotations

import hashlib

import keras
import numpy as np
import tensorflow as tf

import dataset
from base import fault_hook
from networks import architectures, pooling
from networks.optimizer import original_adam
from training import batch_plans, distribution, pipeline


def chunk_losses(labels, logits):
    """The original's loss per chunk: sigmoid cross-entropy summed over the 1 + C classes (a step's loss is
    the mean of these over its chunks)."""
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1)


class NonFiniteLoss(Exception):
    """A training step's loss was NaN or infinite (the step had already been applied)."""

    def __init__(self, step: int, epoch: int | None = None):
        super().__init__(step, epoch)
        self.step, self.epoch = step, epoch

    def __str__(self) -> str:
        return f"non-finite loss at epoch {self.epoch}, step {self.step}"


class Evaluator:
    """Logits and the original's loss of a model on whole halves; no optimizer state.

    With `replicas` (a `distribution.Replicas`, the model built in its strategy's scope), each half is
    shared among the replicas and the logits are gathered from all of them (so every process of a
    multi-worker run sees all of them); batch norm is synchronised when `replicas.sync_batch_norm`."""

    def __init__(self, model, replicas=None):
        self.model = model
        self.replicas = replicas
        self.streams = tuple(model.input.keys()) if isinstance(model.input, dict) else ("video",)
        self.width = int(model.outputs[0].shape[-1])  # 1 + C: the class set's columns
        logits_of = architectures.logits_function(model)
        # One trace for every batch size (see architectures.input_signature): a resumed run runs the same graph.
        self.signature = [architectures.input_signature(model), tf.TensorSpec([None, self.width], tf.float32)]

        def evaluate_replica(inputs, labels):
            # Under a strategy, the model itself: a nested compiled function cannot hold the all-reduces
            # of synchronised batch norm.
            logits = logits_of(inputs) if replicas is None else tf.cast(model(inputs, training=False), tf.float32)
            return logits, chunk_losses(labels, logits)

        if replicas is None:
            self._evaluate = tf.function(evaluate_replica, input_signature=self.signature)
            return
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, pooling.BatchNorm):
                layer.synchronized = replicas.sync_batch_norm  # read when the step functions are traced
        strategy = replicas.strategy

        @tf.function(reduce_retracing=True)
        def evaluate(inputs, labels):
            logits, losses = strategy.run(evaluate_replica, args=(inputs, labels))
            return strategy.gather(logits, axis=0), strategy.gather(losses, axis=0)

        self._evaluate = evaluate

    def _distributed_batches(self, split: dataset.Split, index: dataset.WindowIndex,
                             plans: list[list[np.ndarray]]):
        """For each group of per-replica shares (one global batch), the distributed (inputs, labels) of
        this process's replicas, read through one pipeline in order."""
        local = self.replicas.local_ids
        position = {replica: number for number, replica in enumerate(local)}
        data = iter(pipeline.make_dataset(split, index, [shares[r] for shares in plans for r in local],
                                         streams=self.streams))
        for _ in plans:
            elements = [next(data) for _ in local]
            yield self.replicas.strategy.experimental_distribute_values_from_function(
                lambda context: elements[position[context.replica_id_in_sync_group]])

    def predict_halves(self, split: dataset.Split, index: dataset.WindowIndex) -> tuple[np.ndarray, float]:
        """Logits of every chunk, one half per batch (as the original evaluated), and the original's
        loss scalar (sum over halves of the half's mean loss)."""
        batches = [b for b in batch_plans.half_batches(index, 1) if len(b)]
        logits = []
        loss_sum = 0.0
        if self.replicas is not None:
            plans = [np.array_split(b, self.replicas.count) for b in batches]
            elements = self._distributed_batches(split, index, plans)
        else:
            elements = pipeline.make_dataset(split, index, batches, streams=self.streams)
        for inputs, target in elements:
            out, losses = self._evaluate(inputs, target)
            logits.append(out.numpy())
            loss_sum += float(np.mean(losses.numpy()))
        order = np.concatenate(batches)
        result = np.empty((len(index), self.width), np.float32)
        result[order] = np.concatenate(logits)
        return result, loss_sum


class Trainer(Evaluator):
    """The model, Adam, gradient accumulation over micro-batches, and the compiled step functions."""

    def __init__(self, model, learning_rate: float, replicas=None, loss_scaling: bool = False):
        """Under `replicas`, call it in the strategy's scope (the optimizer's variables are mirrored, each
        replica accumulates its own gradients, and Keras's optimizer sums them over the replicas).
        `loss_scaling`: Keras's dynamic loss scale (for float16 products), a step whose gradients are
        not finite skipped and the scale halved."""
        super().__init__(model, replicas)
        # The original's Adam (TF1 defaults, epsilon 1e-8), its update one fused kernel per variable.
        self.optimizer = original_adam(learning_rate)
        if loss_scaling:
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
        self.optimizer.build(model.trainable_variables)
        scale_loss = self.optimizer.scale_loss if loss_scaling else (lambda loss: loss)
        per_replica = {} if replicas is None else dict(synchronization=tf.VariableSynchronization.ON_READ,
                                                       aggregation=tf.VariableAggregation.SUM)
        self.accumulators = [tf.Variable(tf.zeros_like(v), trainable=False, **per_replica)
                             for v in model.trainable_variables]

        def forward_backward(inputs, labels, scale):
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(inputs, training=True), tf.float32)
                per_chunk = chunk_losses(labels, logits)
                # `scale` (1 / chunks of the whole step) turns the sum over the pieces into the step's mean.
                loss = scale_loss(tf.reduce_sum(per_chunk) * scale)
            return logits, tf.reduce_sum(per_chunk), tape.gradient(loss, self.model.trainable_variables)

        def accumulate(inputs, labels, scale):
            logits, loss, gradients = forward_backward(inputs, labels, scale)
            for accumulator, gradient in zip(self.accumulators, gradients):
                accumulator.assign_add(gradient)
            return logits, loss

        def whole_step(inputs, labels, scale):
            # A step in one piece: its gradients straight to the optimizer, no accumulator pass (the same
            # numbers: 0 + g is g).
            logits, loss, gradients = forward_backward(inputs, labels, scale)
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
            return logits, loss

        def apply():
            # Under a strategy: in each replica, its own sums (read_value: value() of a per-replica variable
            # fails across workers); the optimizer all-reduces them.
            sums = [a.value() if replicas is None else a.read_value() for a in self.accumulators]
            self.optimizer.apply_gradients(zip(sums, self.model.trainable_variables))
            for accumulator in self.accumulators:
                accumulator.assign(tf.zeros_like(accumulator))

        if replicas is None:
            signature = self.signature + [tf.TensorSpec([], tf.float32)]
            self._accumulate = tf.function(accumulate, input_signature=signature)
            self._whole_step = tf.function(whole_step, input_signature=signature)
            self._apply = tf.function(apply)
            return
        strategy = replicas.strategy

        @tf.function(reduce_retracing=True)
        def accumulate_distributed(inputs, labels, scale):
            logits, loss = strategy.run(accumulate, args=(inputs, labels, scale))
            return strategy.gather(logits, axis=0), strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

        @tf.function
        def apply_distributed():
            strategy.run(apply)

        self._accumulate, self._apply = accumulate_distributed, apply_distributed

    def set_learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate.assign(value)

    def train_epoch(self, split: dataset.Split, index: dataset.WindowIndex, steps: list[np.ndarray],
                    micro_batch: int, progress) -> tuple[np.ndarray, np.ndarray, float]:
        """One epoch of optimizer steps. Returns the epoch's chunk logits and labels (from the forward
        passes, dropout active, in step order) and the original's loss scalar (sum of step means).
        `micro_batch`: chunks per piece (per replica under distribution); 0 for whole steps."""
        if self.replicas is not None:
            return self._train_epoch_distributed(split, index, steps, micro_batch, progress)
        micro_batch = micro_batch or 10 ** 9
        pieces, scales = [], []
        for step in steps:
            for piece in batch_plans.split_batch(step, micro_batch):
                pieces.append(piece)
                scales.append(1.0 / len(step))
        data = iter(pipeline.make_dataset(split, index, pieces, streams=self.streams))
        logits, labels, loss_sum = [], [], 0.0
        position = 0
        for number, step in enumerate(steps, 1):
            step_loss = 0.0
            count = len(batch_plans.split_batch(step, micro_batch))
            run = self._whole_step if count == 1 else self._accumulate
            for _ in range(count):
                inputs, target = next(data)
                piece_logits, piece_loss = run(inputs, target, tf.constant(scales[position], tf.float32))
                position += 1
                logits.append(piece_logits.numpy())
                labels.append(target.numpy())
                step_loss += float(piece_loss)
            loss_sum += self._end_step(number, step_loss / len(step), progress, applied=count == 1)
        return np.concatenate(logits), np.concatenate(labels), loss_sum

    def _end_step(self, number: int, step_loss: float, progress, applied: bool = False) -> float:
        """Apply the step's summed gradients (unless the step `applied` them itself), stop on a non-finite
        loss, and report the step's mean loss."""
        if not applied:
            self._apply()
        if not np.isfinite(step_loss):
            raise NonFiniteLoss(number)
        fault_hook.fault_point("step")
        progress.update(1)
        progress.set_postfix(loss=f"{step_loss:.3f}")
        return step_loss

    def _train_epoch_distributed(self, split, index, steps, micro_batch, progress):
        """`train_epoch` under a strategy: each piece of a step (`distribution.step_plan`) is shared among
        the replicas; every replica adds the gradient of its share's summed loss times 1 / (chunks of the
        whole step), so the optimizer's sum over replicas is the gradient of the step's mean loss, as on
        one device. Logits are gathered from every replica; the loss is all-reduced."""
        plans = [distribution.step_plan(step, micro_batch, self.replicas.count) for step in steps]
        elements = self._distributed_batches(split, index, [shares for plan in plans for shares in plan])
        logits, labels, loss_sum = [], [], 0.0
        for number, (step, plan) in enumerate(zip(steps, plans), 1):
            scale = tf.constant(1.0 / len(step), tf.float32)
            step_loss = 0.0
            for shares in plan:
                inputs, target = next(elements)
                piece_logits, piece_loss = self._accumulate(inputs, target, scale)
                logits.append(piece_logits.numpy())
                labels.append(index.labels[np.concatenate(shares)])
                step_loss += float(piece_loss)
            loss_sum += self._end_step(number, step_loss / len(step), progress)
        return np.concatenate(logits), np.concatenate(labels), loss_sum

    def fingerprint(self) -> str:
        """A digest of every model variable's bytes: the same on every worker of a run that is in step."""
        digest = hashlib.sha256()
        for variable in self.model.variables:
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
        return digest.hexdigest()[:16]
