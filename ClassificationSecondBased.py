"""Sliding-window spotting: per-second class probabilities over every half of the listed games.

    .venv/bin/python ClassificationSecondBased.py --model Model/vlad-archi5-20sec_<date> \\
        --testing listgame_Test_100.npy --output VLAD-Archi5-20sec-Spotting --output_dir predictions

As the authors' `ClassificationSecondBased.py` (and SoccerNet's): each half is padded with copies of its
first and last frame, and a window of the model's length T slides over it with a stride of one second,
so window i covers seconds [i - T/2, i + T/2); the model's sigmoid outputs give, per half, an array of
shape (floor(frames / 2), 4) (background, card, subs, goal), saved as
`<output_dir>/<game>/<output>_Half_<h>.npy`, which compute_mAP.py reads.

The model is a run folder of ClassificationMinuteBased.py (its `best_model.keras` and `args.json`), not
a hard-coded checkpoint: window size, features and architecture come from the run. The original flags
are still accepted; one that contradicts the run is an error. In the original's batch-norm mode
(`batch`, statistics of the evaluated batch) each half is cut into four consecutive parts, as the
authors' script did; in `moving` mode the batch size does not change the result (`--batch_size`). For
the LOUPE poolings each frame's projection on the clusters (in `moving` mode its whole soft assignment)
is computed once per half and the windows are gathered and pooled in the graph (networks/sliding.py;
the same outputs as window by window, which `--window_by_window` restores).

Also: `--combine 1|2` fuses the per-second outputs of a video run and an audio run (late fusion
methods 1 and 2, fusion.py) into a new output; a SoccerNet `results_spotting.json` per game (from a
candidate method and threshold), which the official evaluator reads; a timeline plot for the first
`--plot_games` games (or the games it names). Games whose outputs exist are skipped unless `--redo`; files are written
atomically.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

import dataset
import fusion
import networks
import runs
from evaluation import candidates, outputs, plots

log = logging.getLogger("ClassificationSecondBased")
TOP = Path(__file__).resolve().parent



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=runs.HelpFormatter)
    original = parser.add_argument_group("flags of the original script (model flags default to the run's)")
    original.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="game list to spot")
    original.add_argument("--featuresVideo", default=None, help="video features (default: the run's)")
    original.add_argument("--featuresAudio", default=None, help="audio features (default: the run's)")
    original.add_argument("--architecture", default=None, help="must match the run's architecture")
    original.add_argument("--network", default=None, help="must match the run's pooling")
    original.add_argument("--VLAD_k", type=int, default=None, help="must match the run's clusters")
    original.add_argument("--WindowSize", type=float, default=None, help="must match the run's window (seconds)")
    original.add_argument("--featurePerSec", type=int, default=None, help="must match the run's features per second")
    original.add_argument("--PCA", action="store_true", default=None, help="must match the run's --PCA")
    original.add_argument("--output", default=None,
                          help="prefix of the prediction files <output>_Half_<h>.npy (default: the run's name)")
    original.add_argument("--tflog", default=None, help="accepted for compatibility (unused)")
    runs.add_process_arguments(original)
    new = parser.add_argument_group("flags of this implementation")
    new.add_argument("--model", default=None, help="run folder of ClassificationMinuteBased.py (or its .keras file)")
    new.add_argument("--game", default=None, metavar="FOLDER",
                     help="spot one game folder of your own instead of a list: its two halves' feature files "
                          "(labels not needed; a Labels.json, if present, is drawn on the timeline plot)")
    new.add_argument("--SoccerNet_path", default=None, help="data root (default: the folder of the list file)")
    new.add_argument("--output_dir", default="predictions", help="folder of the per-game prediction folders")
    new.add_argument("--batch_size", type=int, default=256, help="windows per batch in moving batch-norm mode")
    new.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                     help="bfloat16: run the model under Keras's mixed_bfloat16 policy (faster only where the "
                          "processor has bfloat16 instructions: avx512_bf16, amx_bf16, or a GPU)")
    runs.add_xla_descriptor_argument(new)
    new.add_argument("--window_by_window", action="store_true",
                     help="run the model on each window copied through the input pipeline (as the original) "
                          "instead of doing each frame's per-frame work once (LOUPE poolings, networks/sliding.py; "
                          "the same outputs, faster)")
    new.add_argument("--redo", action="store_true", help="spot games whose outputs already exist")
    new.add_argument("--shard", type=runs.argument_type(parse_shard, "shard"), default=None, metavar="I/N",
                     help="spot only the I-th of N disjoint parts of the list (games I, I+N, I+2N, ... counting "
                          "from 1), so that N processes or machines share a list; together they write exactly "
                          "the files of one unsharded run")
    new.add_argument("--combine", type=int, choices=networks.LATE_FUSION, default=None,
                     help="instead of a model: fuse --video_output and --audio_output by late fusion method 1 or 2")
    new.add_argument("--video_output", default=None, help="--combine: prefix of a video run's outputs")
    new.add_argument("--audio_output", default=None, help="--combine: prefix of an audio run's outputs")
    new.add_argument("--json_method", default=outputs.JSON_METHOD, choices=candidates.CANDIDATE_METHODS,
                     help="candidate method of the results_spotting.json files")
    new.add_argument("--json_threshold", type=candidates.threshold_argument,
                     default=outputs.JSON_THRESHOLD,
                     help="the files hold every candidate above this threshold, with its confidence, for the "
                          "official evaluator's own threshold sweep (a high one, such as 0.5, under-reports it)")
    new.add_argument("--no_json", action="store_true", help="do not write results_spotting.json files")
    new.add_argument("--plot_games", nargs="+", default=["1"], metavar="N_OR_GAME",
                     help="timeline plots: a number N (the first N games of the list) or game names "
                          "(league/season/game) from the list")
    new.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


# ------------------------------------------------------------------------------------------------
# Windows


def windows_of_half(n_windows: int, bn_mode: str, batch_size: int) -> list[np.ndarray]:
    """Batches of the windows of one half: the original's four consecutive parts in `batch` mode
    ([0, n//4), [n//4, 2n//4), [2n//4, 3n//4), [3n//4, n)), else batches of batch_size."""
    if bn_mode == "batch":
        bounds = [0, n_windows // 4, 2 * n_windows // 4, 3 * n_windows // 4, n_windows]
        return [np.arange(bounds[i], bounds[i + 1]) for i in range(4) if bounds[i + 1] > bounds[i]]
    return [np.arange(b, min(b + batch_size, n_windows)) for b in range(0, n_windows, batch_size)]


def bfloat16_copy(model):
    """The same model under the mixed_bfloat16 policy (bfloat16 products, float32 weights and logits)."""
    import tensorflow as tf

    try:
        copy = networks.with_policy(model, "mixed_bfloat16")
    except ValueError as exc:
        raise dataset.DataError("--precision", str(exc)) from None
    if not tf.config.list_physical_devices("GPU") and not runs.cpu_has_bf16():
        log.warning("--precision bfloat16: this processor has no bfloat16 instructions; expect no speed-up")
    return copy


def per_frame_spotter(args, model, fps: int):
    """networks.sliding.HalfSpotter for a model with LOUPE poolings (each frame's per-frame work done once),
    else None (the window-by-window model, as the original)."""
    from networks import sliding

    reason = sliding.unsupported_reason(model, fps)
    if args.window_by_window or reason is not None:
        log.info("window-by-window spotting (%s)", "--window_by_window" if args.window_by_window else reason)
        return None
    log.info("per-frame spotting: each frame's per-frame work done once, windows pooled in the graph")
    return sliding.HalfSpotter(model, fps)


# ------------------------------------------------------------------------------------------------
# Outputs


def write_game_outputs(args, game: str, prefix: str, probabilities: dict[int, np.ndarray]) -> None:
    """The per-half arrays, then the game's results_spotting.json (written last: marks the game done),
    where compute_mAP.py reads them."""
    for half, array in probabilities.items():
        path = outputs.prediction_file(args.output_dir, game, prefix, half)
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.write_npy_atomic(path, array.astype(np.float32))
    if not args.no_json:
        target = outputs.results_spotting_file(args.output_dir, prefix, game)
        target.parent.mkdir(parents=True, exist_ok=True)
        outputs.write_results_spotting(target, outputs.results_spotting_json(
            probabilities, args.json_method, args.json_threshold, game))


def game_done(args, game: str, prefix: str) -> bool:
    return outputs.game_outputs_done(args.output_dir, game, prefix, with_json=not args.no_json)


def game_events(root: Path, game: str) -> list[dataset.Event]:
    labels = root / game / dataset.V1_LABEL_FILE
    return dataset.read_labels(labels) if labels.is_file() else []


# ------------------------------------------------------------------------------------------------
# The two modes


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 1 <= I <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"{text!r} is not I/N (e.g. 1/4)") from None
    if not 1 <= index <= count:
        raise ValueError(f"{text}: I must be between 1 and N")
    return index, count


def games_of(args) -> tuple[list[str], Path, Path]:
    """The games to spot: those of --testing (its --shard part), or the one --game folder. Returns
    (games, data root, the path that names them in messages)."""
    if args.game:
        folder = Path(args.game).resolve()
        if not folder.is_dir():
            raise dataset.DataError(args.game, "game folder not found")
        return [folder.name], folder.parent, Path(args.game)
    games = dataset.read_game_list(args.testing)
    if args.shard is not None:
        index, count = args.shard
        games = games[index - 1::count]
    return games, dataset.data_root_for(args.testing, args.SoccerNet_path), Path(args.testing)


def plotted_games(args, games: list[str]) -> set[str]:
    """The games of this run to draw timelines of (`--plot_games` counts in the whole list)."""
    if args.game:
        return set(games)
    return plots.games_to_plot(args.plot_games, dataset.read_game_list(args.testing), args.testing) & set(games)


def spot(args) -> int:
    from tqdm import tqdm

    model_file = runs.model_file(args.model)
    recorded = runs.read_args(model_file.parent, required=False)
    settings = runs.resolve_settings(args, recorded, model_file)
    prefix = args.output or model_file.parent.name
    games, root, source = games_of(args)
    pending = [g for g in games if args.redo or not game_done(args, g, prefix)]
    plotted = plotted_games(args, games)
    log.info("%s: %d game%s, %d to spot (%d done)", source, len(games), "" if len(games) == 1 else "s", len(pending),
             len(games) - len(pending))
    if pending:
        tf = runs.start_tensorflow()
        networks.set_xla_descriptor(args.xla_descriptor)
        model, _ = runs.load_model(model_file)
        config, frames = runs.model_config(model, model_file, settings)
        window_sec = frames / settings["featurePerSec"]
        streams = networks.streams_of(config["architecture"])
        bn_mode = config["bn_mode"]
        if args.precision == "bfloat16":
            model = bfloat16_copy(model)
        log.info("model %s: %s, T = %g s, batch norm %s, streams %s", model_file, settings["architecture"],
                 window_sec, bn_mode, "+".join(streams))
        features = {"video": settings["featuresVideo"], "audio": settings["featuresAudio"]}
        split = dataset.Split(source, data_root=root,
                              video_features=features["video"] if features["video"] not in (None, "none") else None,
                              audio_features=features["audio"] if features["audio"] not in (None, "none") else None,
                              pca=settings["PCA"], label_file=None, games=pending, fps=settings["featurePerSec"])

        spotter = per_frame_spotter(args, model, settings["featurePerSec"])
        logits = networks.logits_function(model)
        started = time.perf_counter()
        windows = 0
        for game in tqdm(pending, desc="spotting", unit="game", disable=runs.progress_off(args.no_progress)):
            half_ids = [i for i, h in enumerate(split.halves) if h.game == game]
            probabilities = {}
            for half_id in half_ids:
                index = split.spotting_index(frames, [half_id])
                batches = windows_of_half(len(index), bn_mode, args.batch_size)
                if spotter is not None:  # windows numbered 0..n-1 in time order, as the index's positions
                    half = split.halves[half_id]
                    p = spotter.probabilities({s: half.streams[s] for s in streams}, batches)
                else:
                    p = np.concatenate([tf.math.sigmoid(logits(inputs)).numpy()
                                        for inputs in dataset.make_dataset(split, index, batches, streams=streams)])
                probabilities[split.halves[half_id].half] = p
                windows += len(index)
            write_game_outputs(args, game, prefix, probabilities)
            if game in plotted:
                plots.plot_spots(outputs.timeline_file(args.output_dir, game, prefix), game, None, probabilities,
                                 game_events(root, game),
                                 f"{prefix} ({settings['architecture']}, T = {window_sec:g} s)", plots.TIMELINE_LOOK)
        elapsed = time.perf_counter() - started
        log.info("spotted %d windows in %.1f s (%.0f windows/s)", windows, elapsed, windows / max(elapsed, 1e-9))
    print(f"{prefix}: per-second probabilities of {len(games)} game{'' if len(games) == 1 else 's'} in "
          f"{args.output_dir}" + json_note(args, prefix))
    if args.game:
        print(f"  {outputs.prediction_file(args.output_dir, games[0], prefix, 1).parent}/{prefix}_Half_{{1,2}}.npy, "
              f"timeline {outputs.timeline_file(args.output_dir, games[0], prefix)}")
    return 0


def json_note(args, prefix: str) -> str:
    """Where the results_spotting.json files are, and what they hold."""
    if args.no_json:
        return ""
    return (f"; SoccerNet JSON ({args.json_method} candidates above {args.json_threshold:g}, with their "
            f"confidences) in {outputs.results_spotting_dir(args.output_dir, prefix)}")


def combine(args) -> int:
    from tqdm import tqdm

    if not (args.video_output and args.audio_output and args.output):
        raise dataset.DataError("--combine", "needs --video_output, --audio_output and --output prefixes")
    games, root, _ = games_of(args)
    plotted = plotted_games(args, games)
    for game in tqdm(games, desc=f"late fusion {args.combine}", unit="game", disable=runs.progress_off(args.no_progress)):
        if not args.redo and game_done(args, game, args.output):
            continue
        fused = {}
        for half in dataset.HALVES:
            video, audio = (outputs.read_prediction_file(outputs.prediction_file(args.output_dir, game, prefix, half))
                            for prefix in (args.video_output, args.audio_output))
            fused[half] = fusion.fuse_probabilities(video, audio, args.combine)
        write_game_outputs(args, game, args.output, fused)
        if game in plotted:
            plots.plot_spots(outputs.timeline_file(args.output_dir, game, args.output), game, None, fused,
                             game_events(root, game), f"{args.output} (late fusion method {args.combine})",
                             plots.TIMELINE_LOOK)
    print(f"{args.output}: method {args.combine} of {args.video_output} and {args.audio_output} for "
          f"{len(games)} games in {args.output_dir}" + json_note(args, args.output))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.combine is None and not args.model:
        parser.error("--model is needed (or --combine with --video_output and --audio_output)")
    if args.game and args.shard:
        parser.error("--shard splits a list (--testing); --game spots one game")
    if not args.no_json and args.json_threshold == 0 and args.json_method != "nms":
        parser.error(f"--json_threshold 0 gives no {args.json_method} candidates (a segment starts where "
                     "p[j-1] < threshold); use a small positive threshold")
    runs.setup_process(args)
    try:
        return combine(args) if args.combine is not None else spot(args)
    except dataset.DataError as exc:
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    except OSError as exc:
        log.debug("write failed", exc_info=True)
        print(f"error: {exc.filename}: {exc.strerror or exc}; finished games are kept", file=sys.stderr)
        return runs.EXIT_WRITE_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
