"""Reproduce the paper's tables: train, spot, evaluate, and print each table beside the paper's numbers.

    .venv/bin/python -m experiments.reproduce --table 5 --dry-run                 # the commands for Table 5
    .venv/bin/python -m experiments.reproduce --table all                         # everything, on the synthetic set
    .venv/bin/python -m experiments.reproduce --table 1 --SoccerNet_path /data/SoccerNet \\
        --training listgame_Train_300.npy --validation listgame_Valid_100.npy --testing listgame_Test_100.npy

Tables (Vanderplaetse & Dupont 2020): 1, classification mAP of video, audio and fusion methods 1-7 with
NetRVLAD k=64 at T = 60 and 30 s; 2/3, per-class AP of video, audio and method 4 and the confusion
matrices of method 4 (the same runs); 4, NetVLAD k=512 at T = 60 and 20 s; 5, spotting Average-mAP of
video, audio and method 4 for NetRVLAD 60 s, NetVLAD 60 s and NetVLAD 20 s by candidate method.

Every step is a plain command of the project's scripts (`--dry-run` prints them; a user can type them).
They run in this process, one after the other. A training run whose run folder holds a test report
is skipped, one interrupted is resumed (`--resume`), spotting skips finished games, so an interrupted
grid resumes where it stopped. Results: `<results>/table_<n>.txt` and `.json`.

By default the data is the synthetic SoccerNet (`data/synthetic`, generated if missing); on real data
give the lists and `--SoccerNet_path`. Training uses the paper's settings unless `--max_epoch` etc.
say otherwise (the demo uses shorter schedules). NetVLAD k=512 needs a GPU to be practical.

This is the command line; the steps are the library's: experiments/plan.py (the runs each table needs),
experiments/commands.py (the commands and running them), experiments/tables.py (the tables beside the
paper's numbers, experiments/paper.py), experiments/synthetic.py (the data).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

from base import classes, errors, files
from experiments import synthetic
from experiments.commands import Settings, evaluate_spotting, execute, show
from experiments.plan import TABLES, Plan, seeds_of, table_plan
from experiments.tables import table1, table2, table4, table5, write_table
from runtime import cli

TOP = Path(__file__).resolve().parent.parent


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--table", choices=TABLES + ("2", "3", "all"), default="all", help="which table")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--SoccerNet_path", default=None, help="root of real SoccerNet data (default: synthetic)")
    parser.add_argument("--training", default=None, help="training list (default: the synthetic set's)")
    parser.add_argument("--validation", default=None, help="validation list")
    parser.add_argument("--testing", default=None, help="test list")
    parser.add_argument("--classes", choices=classes.NAMES, default=classes.DEFAULT,
                        help="class set: v1 (the paper's three classes) or v2 (SoccerNet-v2's 17: the same "
                             "configurations trained, spotted and scored on them, the official tight and loose "
                             "Average-mAP beside the paper's metric)")
    parser.add_argument("--synthetic", default=None,
                        help="root of the synthetic set used when no real data is given (default data/synthetic, "
                             "data/synthetic-v2 with --classes v2)")
    parser.add_argument("--runs", default=str(TOP / "runs" / "reproduce"), help="folder of the training runs")
    parser.add_argument("--predictions", default=str(TOP / "runs" / "reproduce" / "predictions"),
                        help="folder of the spotting outputs")
    parser.add_argument("--results", default=str(TOP / "results" / "reproduce"), help="folder of the tables")
    parser.add_argument("--train_args", default="", help="extra ClassificationMinuteBased.py flags, e.g. '--max_epoch 20'")
    parser.add_argument("--spot_args", default="", help="extra ClassificationSecondBased.py flags")
    parser.add_argument("--seeds", type=cli.argument_type(positive_int, "count"), default=1,
                        help="train each configuration with N seeds (1234, 1235, ...; run names end in -seed<S>) "
                             "and print mean ± standard deviation; 1: one run each, with the training script's own seed")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def settings_from_args(args) -> Settings:
    if args.SoccerNet_path or args.training:
        lists = [args.training or str(TOP / "listgame_Train_300.npy"),
                 args.validation or str(TOP / "listgame_Valid_100.npy"),
                 args.testing or str(TOP / "listgame_Test_100.npy")]
        root = args.SoccerNet_path
    else:
        names = synthetic.list_names(synthetic_config(args))
        lists = [str(Path(args.synthetic) / names[k]) for k in ("Train", "Valid", "Test")]
        root = None
    return Settings(lists[0], lists[1], lists[2], root, Path(args.runs), Path(args.predictions), Path(args.results),
                    train_extra=tuple(shlex.split(args.train_args)), spot_extra=tuple(shlex.split(args.spot_args)),
                    no_progress=args.no_progress, seeds=seeds_of(args.seeds), classes=args.classes)


def synthetic_config(args) -> synthetic.SyntheticConfig:
    """The synthetic set of the reproduction: the default one, in the class set's labels."""
    return synthetic.SyntheticConfig(classes=args.classes)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text} is not a positive whole number")
    return value


def cpu_days_warning(plan: Plan) -> str | None:
    """A warning when the plan trains NetVLAD k = 512 models and TensorFlow sees no GPU."""
    big = [t.prefix for t in plan.trainings if t.k >= 512]
    if not big:
        return None
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    return (f"warning: {len(big)} NetVLAD k = 512 trainings ({big[0]}, ...) and no GPU: with the paper's schedule "
            "each takes days on a CPU (Tables 4 and 5); use --table 1 or 2/3, a shorter --train_args "
            "'--max_epoch N', or a GPU")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.synthetic is None:
        args.synthetic = str(TOP / "data" / ("synthetic" if args.classes == classes.DEFAULT else f"synthetic-{args.classes}"))
    for flag in ("train_args", "spot_args"):
        try:
            shlex.split(getattr(args, flag))
        except ValueError as exc:
            parser.error(f"--{flag}: {exc}: {getattr(args, flag)!r}")
    if args.seeds > 1 and "--seed" in shlex.split(args.train_args):
        parser.error("--seeds N sets each training's --seed; leave --seed out of --train_args")
    return errors.run_command(lambda: reproduce(args))


def reproduce(args) -> int:
    """The planned trainings, spotting and tables for checked arguments; the exit code."""
    tables = list(TABLES) if args.table == "all" else ["2/3" if args.table in ("2", "3") else args.table]
    s = settings_from_args(args)
    if not args.dry_run:  # the output folders, before the first training (a dry run writes nothing)
        for folder, flag in ((args.runs, "--runs"), (args.predictions, "--predictions"), (args.results, "--results")):
            files.check_output_folder(folder, flag)
        if not (args.SoccerNet_path or args.training):
            files.check_output_folder(args.synthetic, "--synthetic")
    plan = Plan()
    for table in tables:
        plan.add(table_plan(table))
    plan = plan.with_seeds(s.seeds)
    data = "real SoccerNet data" if s.data_root or args.training else "SYNTHETIC data (not SoccerNet)"
    header = (f"Reproduction of Vanderplaetse & Dupont 2020 on {data}; lists {s.training}, {s.validation}, {s.testing}"
              + ("" if args.classes == classes.DEFAULT else
                 f"; {args.classes} classes (the paper's columns are its v1 figures)"))
    print(header)
    synthetic_data = not (args.SoccerNet_path or args.training)
    if synthetic_data:
        config = synthetic_config(args)
        if args.dry_run:
            if not synthetic.is_current(args.synthetic, config):
                print(show(["-m", "experiments.make_synthetic", "--output", args.synthetic, "--games",
                            *map(str, config.games)] + ([] if args.classes == classes.DEFAULT else
                                                        ["--classes", args.classes])))
        else:
            synthetic.ensure(args.synthetic, config, progress=not args.no_progress)
    warning = None if "--max_epoch" in args.train_args else cpu_days_warning(plan)
    if warning:
        print(warning, file=sys.stderr)
    started = time.perf_counter()
    done = {}

    def work() -> None:
        done["folders"] = execute(plan, s, args.dry_run)
        done["spotting"] = evaluate_spotting(plan, s, args.dry_run)

    code = errors.run_command(work)
    if code:
        return code
    folders, spotting = done["folders"], done["spotting"]
    if args.dry_run:
        return 0
    builders = {"1": lambda: table1(folders, s), "2/3": lambda: table2(folders, s), "4": lambda: table4(folders, s),
                "5": lambda: table5(spotting, s)}
    print(f"\n{header}")
    for table in tables:
        text, values = builders[table]()
        write_table(s, table, text, values, header)
    print(f"done in {(time.perf_counter() - started) / 60:.1f} min; tables in {s.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
