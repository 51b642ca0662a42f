"""Train and test the chunk classifier of the paper (video, audio or audio-video fusion).

    .venv/bin/python ClassificationMinuteBased.py --architecture AudioVideoArchi5 \\
        --training listgame_Train_300.npy --validation listgame_Valid_100.npy \\
        --testing listgame_Test_100.npy --featuresVideo ResNET --featuresAudio VGGish --PCA \\
        --network RVLAD --VLAD_k 64 --WindowSize 60 --tflog Model --outputPrefix rvlad-archi5-60sec

The recipe of the authors' code (Vanderplaetse & Dupont 2020, `ClassificationMinuteBased.py` and
`trainer.py`; the SoccerNet baseline's `Trainer.py`): each half is cut into non-overlapping chunks of
`--WindowSize` seconds; each epoch shuffles the training halves and takes all chunks of
`--batch_size` (60) halves per optimizer step; the loss is the sigmoid cross-entropy summed over the
1 + C classes (4 with the default v1 class set) and averaged over the step's chunks; Adam (learning rate
0.01, epsilon 1e-8); dropout 0.4. After each epoch the validation mAP (mean PR-AUC of the C event
classes: card, subs and goal in v1; computed as TF1's `tf.metrics.auc`) decides: a strictly better score saves the best model; after more than 10 epochs
without improvement while the learning rate is above 1e-4, the learning rate is divided by 10 and the
best weights and optimizer state are restored; after more than 30, training stops; at most 200 epochs.
The best model is then tested.

Outputs, in a run folder `<tflog>/<outputPrefix>_<date>_<time>`: `args.json` (arguments, versions),
`best_model.keras` (loadable by ClassificationSecondBased.py without repeating the architecture flags),
TensorBoard scalars per split (`training/`, `validation/`, `testing/`), `metrics.csv`, `train.log`,
`test_report.json`, `predictions_<test list>.npz` (test logits, for late fusion with fusion.py), and,
while it trains, `checkpoint/` (the state needed by `--resume`; removed when the run finishes unless
`--keep_checkpoint`). The folder's layout is `runtime.rundir`'s.

This file is the command line only; the work is the `training/` package's (`training.command.execute`:
devices and strategy, `training.loop`: the epochs and the schedule, `training.trainer`: the step,
`training.predict`: --mode predict).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from base import classes, errors
from networks import names
from runtime import cli, process, rundir
from training import cluster, data, options

TOP = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    original = parser.add_argument_group("flags of the original script")
    original.add_argument("--architecture", type=cli.argument_type(names.resolve_architecture, "architecture"),
                          help=f"network: {', '.join(names.ARCHITECTURE_NAMES)}, or the paper's method number "
                               "3..7 (required to train; taken from the run with --resume or --mode predict)")
    original.add_argument("--training", default=str(TOP / "listgame_Train_300.npy"), help="training game list")
    original.add_argument("--validation", default=str(TOP / "listgame_Valid_100.npy"), help="validation game list")
    original.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="test game list")
    original.add_argument("--featuresVideo", default="ResNET",
                          help="video features {half}_<name>[_PCA512].npy; 'none' for no video files")
    original.add_argument("--featuresAudio", default="VGGish",
                          help="audio features {half}_<name>.npy; 'none' for no audio files")
    original.add_argument("--PCA", action="store_true", help="read the video features' _PCA512 files")
    original.add_argument("--network", type=cli.argument_type(names.resolve_pooling, "pooling"), default="RVLAD",
                          help=f"pooling: {', '.join(names.POOLINGS)}")
    original.add_argument("--VLAD_k", type=int, default=64, help="clusters of the VLAD-type poolings")
    original.add_argument("--WindowSize", type=float, default=60, help="chunk length T in seconds")
    original.add_argument("--featurePerSec", type=int, default=2, help="features per second")
    original.add_argument("--LR", type=float, default=0.01, help="initial Adam learning rate")
    original.add_argument("--batch_size", type=int, default=60, help="halves per optimizer step (all their chunks)")
    original.add_argument("--max_epoch", type=int, default=200, help="maximum number of epochs")
    original.add_argument("--tflog", default="Model", help="folder of the run folders")
    original.add_argument("--outputPrefix", default="", help="prefix of the run folder's name")
    original.add_argument("--formatdataset", type=int, default=0,
                          help="accepted for compatibility: windows are read by index, no chunk cache is built")
    cli.add_process_arguments(original)
    original.add_argument("--mode", choices=["train", "predict"], default="train",
                          help="train (then test), or predict: test a trained --model and save its logits")
    new = parser.add_argument_group("flags of this implementation")
    new.add_argument("--SoccerNet_path", default=None,
                     help="data root of the game folders (default: the folder of each list file)")
    new.add_argument("--classes", choices=classes.NAMES, default=classes.DEFAULT,
                     help="class set: v1 (card, subs, goal from Labels.json, else Labels-v2.json folded; the paper's) "
                          "or v2 (SoccerNet-v2's 17 classes from Labels-v2.json); predict: the model's")
    new.add_argument("--seed", type=int, default=1234, help="random seed (weights, dropout, shuffling)")
    new.add_argument("--bn_mode", choices=names.BN_MODES, default="batch",
                     help="batch: batch norm always uses the batch's statistics, as the original (also at "
                          "test time); moving: moving averages updated in training and used at inference")
    new.add_argument("--micro_batch", type=cli.argument_type(options.parse_micro_batch, "micro-batch"),
                     default="auto",
                     help="chunks per forward/backward piece (per replica); gradients of the pieces are summed so "
                          "one optimizer step still covers --batch_size halves. auto: the whole step where its "
                          "estimated memory fits the device, else the largest piece that fits; 0: whole steps")
    new.add_argument("--memory_budget", type=float, default=0, metavar="GIB",
                     help="--micro_batch auto plans for this much memory per replica (0: what the device has)")
    new.add_argument("--precision", choices=options.PRECISIONS, default="float32",
                     help="Keras's dtype policy in training: products in bfloat16 or float16, weights, logits and "
                          "the loss in float32 (float16 with dynamic loss scaling); float32 as the original")
    cli.add_xla_descriptor_argument(new)
    new.add_argument("--dropout", type=float, default=0.4,
                     help="dropout rate in training (the original's keep_prob 0.6); 0 for none")
    new.add_argument("--distribute", choices=options.DISTRIBUTE, default="none",
                     help="none: one device; mirrored: every local GPU (without one, --replicas logical CPU "
                          "devices); multiworker: one process per machine, the cluster given by TF_CONFIG "
                          "(docs/distributed.md)")
    new.add_argument("--join_timeout", type=float, default=cluster.JOIN_TIMEOUT_S, metavar="SECONDS",
                     help="--distribute multiworker: every worker must join the cluster within this many seconds, "
                          "else each exits with code 5 naming the missing one (a worker lost mid-run: code 6)")
    new.add_argument("--heartbeat_timeout", type=float, default=cluster.HEARTBEAT_TIMEOUT_S, metavar="SECONDS",
                     help="--distribute multiworker: a worker silent this long (killed, hung, unreachable) is lost: "
                          "the others stop with code 6 naming it")
    new.add_argument("--replicas", type=int, default=0,
                     help="--distribute mirrored: replicas (0: every GPU, or 2 logical CPU devices without one)")
    new.add_argument("--no_sync_bn", action="store_true",
                     help="under --distribute, batch-norm statistics of each replica's share (default: of all "
                          "replicas' chunks together, as one device)")
    new.add_argument("--resume", default=None, help="continue an interrupted run from its run folder")
    new.add_argument("--model", default=None, help="--mode predict: a run folder or a .keras file")
    new.add_argument("--honour_pooling", action="store_true",
                     help="AudioVideoArchi4/6/7/8 use --network (the original always builds NetRVLAD)")
    new.add_argument("--framewise_fusion", action="store_true",
                     help="methods 6/7 pair each video frame with its audio frame (the original concatenates "
                          "along time and regroups)")
    new.add_argument("--lr_patience", type=int, default=10, help="bad epochs (more than) before dividing the LR by 10")
    new.add_argument("--stop_patience", type=int, default=30, help="bad epochs (more than) before stopping")
    new.add_argument("--min_LR", type=float, default=1e-4, help="the LR is divided only while above this")
    new.add_argument("--deterministic", action="store_true", help="TensorFlow deterministic ops (slower)")
    new.add_argument("--keep_checkpoint", action="store_true",
                     help="keep checkpoint/ (the resume states, 6x the weights with Adam's moments) when the run "
                          "finishes; by default a finished run keeps only its best model, reports and logits")
    new.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None, after_epoch: Callable[[int], None] | None = None) -> int:
    """The command line. `after_epoch` is passed to `training.loop.train` (a test hook)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "predict":  # the model and data flags not given are the run's: None until resolved
        parser.set_defaults(**{flag: None for flag in options.PREDICT_RUN_FLAGS})
        args = parser.parse_args(argv)
        parser = build_parser()
    if args.mode == "predict" and args.resume:
        parser.error("--mode predict tests a trained --model; --resume continues a training: give one of them")
    if args.mode == "predict" and args.distribute != "none":
        parser.error("--distribute is for training; --mode predict runs on one device")
    if not 0.0 <= args.dropout < 1.0:
        parser.error("--dropout must be in [0, 1)")
    if args.outputPrefix and cli.path_in_name(args.outputPrefix):
        parser.error(f"--outputPrefix is the start of the run folder's name, not a path: {args.outputPrefix!r}")
    problem = options.number_problem(args)
    if problem:
        parser.error(problem)
    if args.mode == "train" and not args.resume and not args.architecture:
        parser.error("--architecture is required to train")
    state = None
    if args.resume:  # continue with the arguments the run was started with
        run = Path(args.resume)
        found = {}

        def read_run() -> None:
            found["recorded"] = rundir.read_args(run)
            # A run killed in its first epoch has no state yet: it starts again in its folder.
            found["state"] = rundir.read_state(run) if rundir.has_state(run) else None

        code = errors.run_command(read_run)
        if code:
            return code
        recorded, state = found["recorded"], found["state"]
        if state is None and rundir.is_finished(run):
            print(f"{run}: finished already ({rundir.TEST_REPORT}); nothing to resume")
            return 0
        # Flags added since the run started take their defaults; how to run it (devices, memory) is this
        # command line's.
        args = argparse.Namespace(**{**vars(parser.parse_args([])), **recorded, "resume": str(run),
                                     **{flag: getattr(args, flag) for flag in options.MACHINE_FLAGS}})
    if args.distribute == "multiworker":
        code = errors.run_command(lambda: cluster.check_own_port(cluster.read_tf_config()))
        if code:
            return code
    if args.mode == "train" and args.WindowSize * args.featurePerSec != int(args.WindowSize * args.featurePerSec):
        parser.error("--WindowSize times --featurePerSec must be a whole number of frames")
    process.setup_process(args)
    opened = {"data": None}
    if args.mode == "train":  # every list and file of the training checked before TensorFlow starts
        code = errors.run_command(lambda: opened.update(data=data.open_training_data(args)))
        if code:
            return code
    # TensorFlow imported quietly (no CUDA start-up noise on a machine without NVIDIA's driver), its GPU
    # memory growing on demand, before the training modules import it.
    code = errors.run_command(process.start_tensorflow)
    if code:
        return code
    from training import command

    return command.execute(args, defaults=vars(parser.parse_args([])), state=state, after_epoch=after_epoch,
                           command=sys.argv if argv is None else list(argv), data=opened["data"])


if __name__ == "__main__":
    raise SystemExit(main())
