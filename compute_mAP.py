"""Spotting evaluation: candidate spots from per-second probabilities, scored by the paper's tolerance mAP
and by the official SoccerNet metric, over the whole grid of methods, thresholds and tolerances.

    .venv/bin/python compute_mAP.py --testing listgame_Test_100.npy --SoccerNet_path data/SoccerNet \\
        --predictions predictions --prefix VLAD-Archi5-20sec-Spotting VLAD-Archi1-20sec-Spotting \\
        --output results/spotting

Reproduces `compute_mAP.py` of Vanderplaetse & Dupont, "Improved Soccer Action Spotting Using Both Audio
and Video Streams" (CVPRW 2020), which produced the paper's spotting numbers. The evaluation is the library
`evaluation/` (its package docstring states the rules: the candidate methods, both metrics, the order among
equal scores, the defined behaviour where the original fails). This script is its face: it parses and
checks the arguments, sets the process up (logging; once every input is read and checked, the engine's array
module: NumPy, or TensorFlow with GPU memory on demand so that the evaluator can run beside a training, for
work that repays its start-up: `evaluation.backend`) and hands them to
`evaluation.evaluate.run`. It scores the v1 classes (the paper's card, subs, goal) or SoccerNet-v2's 17
(`--classes`, else the prediction arrays' width), reads and writes results_spotting.json files in folders or
zips, and can take the best thresholds from an earlier run (`--thresholds_from`): docs/evaluation.md.
Exit codes: 0; 2 on bad input (one line on stderr); 4 when an output cannot be written.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

from base import classes, errors
from base.errors import DataError
from evaluation import backend, candidates
from evaluation.inputs import read_inputs
from runtime import cli, process

log = logging.getLogger("compute_mAP")
TOP = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=cli.HelpFormatter,
        epilog="Prediction files: <predictions>/<game>/<prefix>_Half_<h>.npy, (seconds, 1 + C) probabilities "
               "(C = 3 classes for v1, 17 for v2). "
               "With --results_spotting NAME: <predictions>/<prefix>/<game>/NAME (or "
               "<predictions>/results_spotting_<prefix>/<game>/NAME, ClassificationSecondBased.py's layout), "
               "or the members <game>/results_spotting.json of a zip NAME.zip, "
               "scored as given (method 'spots', threshold 0 unless --thresholds).")
    parser.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="game list of the evaluated halves")
    parser.add_argument("--SoccerNet_path", default=None,
                        help="data root holding <game>/Labels.json (default: the folder of the list file)")
    parser.add_argument("--classes", choices=classes.NAMES, default=None,
                        help="the class set: v1 (card, subs, goal) or v2 (SoccerNet-v2's 17 actions); when not "
                             "given, the one of the prediction arrays' width (4 or 18 columns), v1 for JSON files")
    parser.add_argument("--label_file", default=None,
                        help="label file name in each game folder; when not given, the class set's "
                             f"({classes.V1_LABEL_FILE} for v1, {classes.V2_LABEL_FILE} for v2)")
    parser.add_argument("--predictions", default="predictions", help="folder of the per-game prediction folders")
    parser.add_argument("--prefix", nargs="+", default=["VLAD-Archi5-20sec-Spotting"],
                        help="one or more prediction prefixes (models) to evaluate and compare: the --output "
                             "of ClassificationSecondBased.py (the original's PREDICTIONS_FILENAMES)")
    parser.add_argument("--methods", nargs="+", choices=candidates.CANDIDATE_METHODS,
                        default=list(candidates.CANDIDATE_METHODS),
                        help="candidate methods: segment maximum, segment centre, NMS (60 s window)")
    parser.add_argument("--thresholds", nargs="+", type=candidates.threshold_argument, default=None,
                        help="candidate thresholds in [0, 1] (default 0.95, 0.90, ..., 0.05; 0 with "
                             "--results_spotting)")
    parser.add_argument("--deltas", nargs="+", type=candidates.delta_argument, default=None,
                        help="tolerances delta in whole seconds, or loose (60, 55, ..., 5: the paper's), tight "
                             "(1..5: SoccerNet v2's tight Average-mAP) or both (loose, with tight beside it); "
                             "when not given, loose for v1, both for v2")
    parser.add_argument("--chance", default=None, metavar="TRAINING_LIST",
                        help="add a chance baseline: per half and class, spots at a uniform cadence, as many as "
                             "the class's mean count per half in this list's labels")
    parser.add_argument("--metric", choices=("paper", "soccernet", "both"), default="both",
                        help="the paper's metric, the official SoccerNet one, or both (the headline: the paper's for v1; "
                             "the official one for v2, its tight Average-mAP first)")
    parser.add_argument("--output", default="ResultSpottingPlotting2",
                        help="folder for results.json, grid.csv, summary.csv and the plots")
    parser.add_argument("--results_spotting", default=None, metavar="NAME",
                        help="score SoccerNet JSON files named NAME (e.g. results_spotting.json) instead of .npy "
                             "(default: the .npy prediction files); NAME.zip: a zip of <game>/results_spotting.json "
                             "files (the official evaluator's and the challenge server's form), as given or under "
                             "--predictions, {prefix} replaced by each model's")
    parser.add_argument("--write_json", action="store_true",
                        help="write <output>/results_spotting_<prefix>/<game>/results_spotting.json with each "
                             "model's best method and threshold (headline metric), for the official evaluator")
    parser.add_argument("--zip", default=None, metavar="FILE",
                        help="with --write_json, also write those files as one zip FILE (<game>/results_spotting.json "
                             "members, for the official evaluator or the challenge server); {prefix} in FILE is "
                             "replaced by each model's (needed with several)")
    parser.add_argument("--thresholds_from", default=None, metavar="RESULTS_JSON",
                        help="the results.json of an earlier run (e.g. on the validation list): each model's, "
                             "metric's and method's best threshold is taken from it instead of chosen on the "
                             "evaluated games (the paper's setting)")
    parser.add_argument("--no_plots", action="store_true", help="do not draw the PNG plots")
    parser.add_argument("--plot_spots", nargs="+", default=None, metavar="N_OR_GAME",
                        help="per-game plots of each model's results_spotting.json spots over its probabilities and "
                             "the annotations, <output>/spots_<prefix>/<game>.png: a number N (the first N games) "
                             "or game names of --testing (the JSON files scored, those of --write_json, else "
                             "ClassificationSecondBased.py's)")
    parser.add_argument("--backend", choices=backend.BACKENDS, default=None,
                        help="the engine's array module: numpy (no TensorFlow start-up), tensorflow (a GPU when it "
                             f"sees one), or auto: TensorFlow only for work that repays its start-up (default: "
                             f"${backend.ENVIRONMENT}, else auto); the same numbers either way")
    cli.add_process_arguments(parser, gpu=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    process.setup_logging(args.loglevel)
    log.info("arguments: %s", vars(args))
    def work() -> None:
        inputs = read_inputs(args)  # every input read and checked before TensorFlow may start
        args.backend = backend.choose(args.backend, _cells(inputs))
        log.info("evaluation engine: %s", args.backend)
        if args.backend == "tensorflow":
            process.start_tensorflow()  # GPU memory on demand, so the evaluator can run beside a training
        from evaluation import evaluate

        evaluate.run(args, inputs)

    return errors.run_command(work, bad_input=(DataError, ValueError))


def _cells(inputs) -> int:
    """The run's largest grid (`backend.cells`): the engine is chosen once for the whole run."""
    largest = 0
    for model in inputs.models:
        if model.predictions is not None:
            largest = max(largest, backend.cells(model.predictions, len(inputs.methods), len(inputs.thresholds)))
        for arrays in (model.spots or {}).values():
            largest = max(largest, backend.cells(arrays, 1, len(inputs.thresholds)))
    return largest


if __name__ == "__main__":
    raise SystemExit(main())
