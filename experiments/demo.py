"""The demo on synthetic data (`make demo`): the paper's experiments, small, in one command.

    .venv/bin/python -m experiments.demo [--data data/synthetic] [--runs runs/demo] [--results results/demo] [--fresh]

1. Generates the synthetic SoccerNet demo set (30 / 10 / 10 games; once, reused while its settings are
   unchanged) and prints a summary of it.
2. Trains video-only, audio-only and fusion method 4 (AudioVideoArchi5), NetRVLAD k = 64, at T = 60 s
   (classification, Tables 1-3) and T = 20 s (spotting), with ClassificationMinuteBased.py.
3. Combines the T = 60 s video and audio runs by late fusion methods 1 and 2 (fusion.py).
4. Spots the test games (ClassificationSecondBased.py) with the three T = 20 s models and the T = 60 s
   method 4 model, and evaluates them with compute_mAP.py.
5. Prints the results beside the paper's (Table 1, 2/3 and 5 layouts), checks the paper's qualitative
   findings, and writes the plots: mAP against delta (Figure 2), train and validation mAP per epoch
   (Figure 3), the confusion matrix of method 4, a timeline of one test game.
6. SoccerNet-v2's 17 classes on a small synthetic v2 set (20 / 6 / 6 games): video, audio and method 4 at
   T = 20 s trained with `--classes v2` and spotted, their JSON files scored by compute_mAP.py and by the
   official `soccernet` evaluator side by side (tight and loose Average-mAP, shown and unshown), and
   whether fusion beats both streams (experiments/demo_v2.py). `--no_v2` leaves it out.

Every step is a plain command of the project's scripts, printed before it runs. The training schedule is
the paper's recipe shortened for a 2-core machine: `--batch_size 6` (60 training halves in 10 optimizer
steps per epoch, as the paper's 600 halves in steps of 60), at most 7 epochs at T = 60 s and 5 at
T = 20 s, learning rate divided by 10 after more than 2 epochs without improvement, stop after more
than 4, steps in pieces of 256 chunks (`--micro_batch 256`, with which its figures were made). Finished runs are reused on a rerun (`--fresh` starts over). The numbers are from synthetic
data, not SoccerNet: they show that the pipeline reproduces the paper's qualitative findings, not its
figures.

The steps are the experiments library's (experiments/demonstration.py, plan.py, commands.py, tables.py,
figures.py, synthetic.py); this is the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import time
from pathlib import Path
from typing import Sequence

import dataset
from base import errors, files
from evaluation import outputs
from experiments import demo_v2, demonstration, figures
from experiments.commands import Settings, evaluate_spotting, evaluation_command, execute, run_command
from experiments.plan import Plan, Training
from experiments.synthetic import SyntheticConfig, check_config, disk_bytes, ensure, list_names
from experiments.tables import table1, table2, table5, write_table
from networks.names import TRAINED_MODELS
from runtime import cli, rundir

TOP = Path(__file__).resolve().parent.parent
# --micro_batch 256: the pieces with which the demo figures of docs/reproduce.md (and their three seeds) were made;
# the default, auto, would run these small steps whole.
DEMO_TRAIN_ARGS = "--batch_size 6 --lr_patience 2 --stop_patience 4 --micro_batch 256"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--data", default=str(TOP / "data" / "synthetic"), help="root of the demo data set")
    parser.add_argument("--games", type=int, nargs=3, default=[30, 10, 10], metavar=("TRAIN", "VALID", "TEST"),
                        help="games per split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--half_minutes", type=float, default=45.0,
                        help="length of the synthetic halves before stoppage time (shorter for quick checks)")
    parser.add_argument("--event_rate", type=float, default=1.0, help="scale of the synthetic event counts")
    parser.add_argument("--runs", default=str(TOP / "runs" / "demo"), help="folder of the demo's training runs")
    parser.add_argument("--results", default=str(TOP / "results" / "demo"), help="folder of the tables and plots")
    parser.add_argument("--train_args", default=DEMO_TRAIN_ARGS, help="ClassificationMinuteBased.py flags")
    parser.add_argument("--windows", type=int, nargs="+", default=[60, 20],
                        help="chunk lengths T (s) to train and spot; the first is the classification one")
    parser.add_argument("--max_epochs", type=int, nargs="+", default=[7, 5],
                        help="--max_epoch of the trainings at each T of --windows")
    parser.add_argument("--v2_games", type=int, nargs=3, default=[20, 6, 6], metavar=("TRAIN", "VALID", "TEST"),
                        help="games per split of the SoccerNet-v2 section's synthetic set (--data + '-v2')")
    parser.add_argument("--v2_max_epoch", type=int, default=5, help="--max_epoch of the SoccerNet-v2 trainings")
    parser.add_argument("--no_v2", action="store_true", help="leave the SoccerNet-v2 section out")
    parser.add_argument("--fresh", action="store_true", help="delete the demo's runs and results first")
    parser.add_argument("--summary_only", action="store_true", help="generate the data, print its summary, stop")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.max_epochs) != len(args.windows):
        parser.error("--max_epochs needs one value per --windows value")
    for flag in ("windows", "max_epochs"):
        if min(getattr(args, flag)) < 1:
            parser.error(f"--{flag} must be positive, not {' '.join(map(str, getattr(args, flag)))}")
    if args.v2_max_epoch < 1:
        parser.error(f"--v2_max_epoch must be positive, not {args.v2_max_epoch}")
    try:
        shlex.split(args.train_args)
    except ValueError as exc:
        parser.error(f"--train_args: {exc}: {args.train_args!r}")
    return errors.run_command(lambda: demo(args))


def demo_config(args) -> SyntheticConfig:
    """The demo set's settings."""
    config = SyntheticConfig(games=tuple(args.games), seed=args.seed, half_minutes=args.half_minutes,
                             event_rate=args.event_rate)
    if args.half_minutes < 45:
        config.stoppage_minutes = (0.0, 0.5)
    return config


def check_args(args, config: SyntheticConfig) -> None:
    """The data settings (both sets') and the output folders, before anything is written."""
    check_config(config)
    if not args.no_v2:
        v2_config = dataclasses.replace(config, games=tuple(args.v2_games), classes="v2")
        try:
            check_config(v2_config)
        except errors.DataError as exc:
            raise errors.DataError(exc.path.replace("--games", "--v2_games"), exc.problem) from None
    folders = [(args.data, "--data"), (args.runs, "--runs"), (args.results, "--results")]
    for folder, flag in folders + ([] if args.no_v2 else [(f"{args.data}-v2", "--data")]):
        files.check_output_folder(folder, flag)


def demo(args) -> int:
    """The demo's steps for checked arguments; its exit code."""
    config = demo_config(args)
    check_args(args, config)
    started = time.perf_counter()
    steps = 5 if args.no_v2 else 6
    print(f"== Step 1/{steps}: synthetic SoccerNet demo set ({sum(config.games)} games, "
          f"about {disk_bytes(config) / 1e9:.1f} GB) ==", flush=True)
    made = []

    def make_data() -> None:
        made.append(ensure(args.data, config, progress=not args.no_progress))
        demonstration.print_summary(made[0], config)

    code = errors.run_command(make_data, bad_input=(errors.DataError, ValueError))
    if code:
        return code
    root = made[0]
    if args.summary_only:
        return 0
    run_root, results = Path(args.runs), Path(args.results)
    if args.fresh:
        shutil.rmtree(run_root, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
    names = list_names(config)
    s = Settings(str(root / names["Train"]), str(root / names["Valid"]), str(root / names["Test"]),
                 None, run_root, run_root / "predictions", results, train_extra=tuple(shlex.split(args.train_args)),
                 no_progress=args.no_progress)
    plans = demonstration.demo_plans(args.windows)
    plan, folders = Plan(), {}
    for part in plans:
        plan.add(part)
    print(f"\n== Steps 2-4/{steps}: train {len(plan.trainings)} models (NetRVLAD k = 64; T = "
          f"{', '.join(map(str, args.windows))} s), late fusion 1 and 2, spot the {config.games[2]} test games ==",
          flush=True)
    for part, window, epochs in zip(plans, args.windows, args.max_epochs):
        extra = s.train_extra + ("--max_epoch", str(epochs))
        folders.update(execute(part, dataclasses.replace(s, train_extra=extra), dry_run=False))
    print(f"\n== Step 5/{steps}: evaluate the spotting, tables beside the paper's, plots ==", flush=True)
    spotting = evaluate_spotting(plan, s, dry_run=False)
    fusion_prefixes = [r.prefix for r in plan.spottings if r.architecture == "AudioVideoArchi5"]
    run_command(evaluation_command(fusion_prefixes, s, results / "figure2"))

    header = (f"DEMO ON SYNTHETIC DATA (not SoccerNet: compare the orderings, not the values); {sum(config.games)} "
              f"games; shortened schedule '{args.train_args}', --max_epoch "
              + ", ".join(f"{e} at T = {w} s" for w, e in zip(args.windows, args.max_epochs)))
    first = args.windows[0]
    tables = [("1", *table1(folders, s, windows=(first,),
                            models=("video", "audio", "method 1", "method 2", "method 4"),
                            title="Table 1 layout: classification mAP (%), NetRVLAD k = 64")),
              ("2/3", *table2(folders, s, confusion_windows=(first,), window=first)),
              ("5", *table5(spotting))]
    print(f"\n{header}")
    for name, text, values in tables:
        write_table(s, name, text, values, header)
    checks = demonstration.findings(folders, spotting, args.windows)
    print("The paper's qualitative findings on this synthetic data:\n" + "\n".join(checks))
    files.write_text_atomic(results / "findings.txt", "\n".join(checks) + "\n")

    by_model = {m: folders[Training(TRAINED_MODELS[m], "RVLAD", 64, first).prefix]
                for m in demonstration.MODELS}
    plots = [figures.plot_training_curves({f"{m}, T = {first} s": run for m, run in by_model.items()},
                                          results / "figure3_training_curves.png",
                                          "Train and validation mAP per epoch (synthetic data)"),
             figures.plot_confusion(rundir.read_test_report(by_model["method 4"]),
                                    results / "confusion_method4.png",
                                    f"Method 4, T = {first} s: test confusion matrix (synthetic data)")]
    game = dataset.read_game_list(s.testing)[0]
    timeline = outputs.timeline_file(s.predictions, game, fusion_prefixes[-1])
    if timeline.is_file():
        plots.append(Path(shutil.copyfile(timeline, results / "timeline_method4.png")))
    plots += sorted((results / "figure2").glob("mAP_vs_delta_*.png"))
    print("Plots:\n" + "\n".join(f"  {p}" for p in plots))
    if not args.no_v2:
        v2_config = dataclasses.replace(config, games=tuple(args.v2_games), classes="v2")
        print(f"\n== Step 6/6: SoccerNet-v2's 17 classes on a synthetic v2 set ({sum(v2_config.games)} games, about "
              f"{disk_bytes(v2_config) / 1e9:.1f} GB): video, audio, method 4 at T = 20 s ==", flush=True)
        v2_root = ensure(f"{args.data}-v2", v2_config, progress=not args.no_progress)
        demo_v2.print_summary(v2_root, v2_config)
        v2_names = list_names(v2_config)
        v2 = dataclasses.replace(s, training=str(v2_root / v2_names["Train"]), validation=str(v2_root / v2_names["Valid"]),
                                 testing=str(v2_root / v2_names["Test"]), runs=run_root / "v2",
                                 predictions=run_root / "v2" / "predictions", results=results / "v2")
        text, values, found = demo_v2.run_section(v2_root, v2_config, v2, args.v2_max_epoch)
        print(f"\n{text}\nThe SoccerNet-v2 findings on this synthetic data:\n" + "\n".join(found))
        demo_v2.write(results / "v2", text, values, found, header)
    print(f"Tables: {results}/table_*.txt; runs: {run_root}; demo done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
