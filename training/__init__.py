"""The training stage: the library behind ClassificationMinuteBased.py (train, resume, --mode predict) and
fusion.py (late fusion), after the authors' `ClassificationMinuteBased.py` and `trainer.py` (Vanderplaetse
& Dupont 2020) and the SoccerNet baseline's `Trainer.py`.

Without TensorFlow (the faces read them while parsing, before TensorFlow starts):
- `options`: the command line's vocabulary (PRECISIONS, DISTRIBUTE, parse_micro_batch, the flag groups);
- `cluster`: the TF_CONFIG of a multi-worker run (read_tf_config, is_chief, local_cluster);
- `schedule`: the learning-rate schedule and early stopping (Schedule);
- `data`: the splits of a run opened and checked (open_training_data, TrainingData);
- `late_fusion`: methods 1 and 2 on two runs' saved test logits, and on spotting outputs.

With TensorFlow (imported at their top; the face imports them once the process is set up):
- `pipeline`: the tf.data input pipeline (make_dataset);
- `distribution`: the tf.distribute strategies (Replicas), the step plan and memory estimate;
- `trainer`: the loss, Evaluator and Trainer (the step, gradients summed over micro-batches);
- `evaluate`: the test of a run's weights (evaluate_run) and the TensorBoard scalars;
- `loop`: build or resume, the epochs, the schedule's actions, the resume state (train);
- `predict`: --mode predict; `command`: one command from its checked arguments to its exit code.

The run folder's names and file formats are `runtime.rundir`'s.
"""
