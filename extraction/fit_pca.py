"""Fit PCA on the training split's raw features and write `{half}_{features}_PCA512.npy` files.

    python -m extraction.fit_pca --training listgame_Train_300.npy --lists listgame_Valid_100.npy \\
        listgame_Test_100.npy --features ResNET --SoccerNet_path /path/to/SoccerNet

SoccerNet's published `*_PCA512.npy` files came from a scikit-learn PCA whose fit was never released
and cannot be reproduced (SoccerNet-code issue #7). This fits scikit-learn's IncrementalPCA, which
needs memory for one batch of frames only, on every frame (or every `--subsample`-th frame) of the
raw features `{half}_{features}.npy` of the training games, then writes the projected features
beside the raw ones for every game of the training list and of the other lists given. Files are
written atomically; existing ones are kept unless `--overwrite`. The fitted components, mean and
explained variance are saved to `--save` (an .npz of plain arrays) for reuse.
"""
from __future__ import annotations

import argparse
import logging
from typing import Sequence

import numpy as np

import dataset
from base import errors, files
from extraction.pca import apply_pca, fit_pca, save_pca
from runtime import cli, process


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--training", required=True, help="game list whose raw features the PCA is fitted on")
    parser.add_argument("--lists", nargs="*", default=[], help="other game lists to transform as well")
    parser.add_argument("--features", default="ResNET", help="raw feature name: {half}_{features}.npy")
    parser.add_argument("--SoccerNet_path", default=None,
                        help="data root of the game folders (default: the folder of each list file)")
    parser.add_argument("--components", type=int, default=dataset.PCA_DIM,
                        help="PCA dimension; output files are named _PCA<components>.npy")
    parser.add_argument("--batch_frames", type=int, default=8192, help="frames per IncrementalPCA batch")
    parser.add_argument("--subsample", type=int, default=1, help="fit on every n-th frame (1: all frames)")
    parser.add_argument("--save", default=None, help="save the fitted PCA to this .npz file")
    parser.add_argument("--overwrite", action="store_true", help="rewrite PCA files that exist")
    cli.add_process_arguments(parser, gpu=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    process.setup_logging(args.loglevel)
    for flag in ("subsample", "components", "batch_frames"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be positive, not {getattr(args, flag)}")

    def work() -> None:
        def open_split(list_path):
            return dataset.Split(list_path, data_root=args.SoccerNet_path, video_features=args.features,
                                 audio_features=None, pca=False, label_file=None)

        # Every input and output is checked before the fit: each list, its games and features, the game
        # folders the PCA files go to, and --save.
        splits = {list_path: open_split(list_path) for list_path in [args.training] + list(args.lists)}
        for split in splits.values():
            for game in split.games:
                files.check_output_folder(split.root / game, "the game folder")
        if args.save:
            files.check_output_file(args.save, "--save")
        training = splits[args.training]
        pca = fit_pca(training, n_components=args.components, batch_frames=args.batch_frames,
                      subsample=args.subsample)
        kept = float(np.sum(pca.explained_variance_ratio_))
        logging.info("PCA fitted on %d frames: %d components keep %.1f %% of the variance",
                     pca.n_samples_seen_, args.components, 100 * kept)
        if args.save:
            save_pca(args.save, pca)
        written = 0
        for split in splits.values():
            written += len(apply_pca(pca, split, overwrite=args.overwrite))
        print(f"wrote {written} files {{half}}_{args.features}_PCA{args.components}.npy "
              f"({100 * kept:.1f} % of the variance kept)")

    return errors.run_command(work)


if __name__ == "__main__":
    raise SystemExit(main())
