"""One extraction run: the VGGish and ResNET_TF2 feature files of the halves `extraction.jobs` found.

The work of `python -m extraction.extract_features` once its inputs are checked and TensorFlow is
started: the networks built once (`audio_features.make_vggish`, `video_features.build_resnet`), then per
half the video features (`{half}_ResNET_TF2.npy`, SoccerNet's extraction) and the audio features
(`{half}_VGGish.npy`, the authors' extraction, cut to the half's video rows: `jobs.video_rows`), each file
written atomically.
"""
from __future__ import annotations

import logging

import numpy as np
from tqdm import tqdm

from base import errors, files
from extraction import audio_features, media, video_features
from extraction.jobs import AUDIO_NAME, FPS, VIDEO_NAME, HalfJob, video_rows
from runtime import process

log = logging.getLogger("extract_features")


def _bar(total: int, desc: str, no_progress: bool):
    return tqdm(total=total, desc=desc, unit="chunk" if "audio" in desc else "frame", leave=False,
                disable=process.progress_off(no_progress))


def _write(written: list, job: HalfJob, name: str, features: np.ndarray) -> None:
    """A feature file with at least one row (a decoded file can hold fewer frames or samples than its
    headers say: truncated or corrupt), written atomically; its folder is made here, not before."""
    if len(features) == 0:
        raise errors.DataError(job.path, f"no {name} features: the file decodes to less than one half-second "
                                         "(truncated or corrupt?)")
    job.folder.mkdir(parents=True, exist_ok=True)
    written.append(files.write_atomic(job.output(name), lambda tmp: np.save(tmp, features)))


def extract(args, todo: list[HalfJob]) -> int:
    """Write the feature files of the halves `todo` (`jobs.pending`'s, checked); `args` as the face's
    (`extract_features.build_parser`). Prints how many files were written; returns 0."""
    audio_predict = video_predict = None
    process.warn_slow_bfloat16(args.precision, log)
    if any(job.audio for job in todo):
        model = audio_features.make_vggish(args.vggish_weights, args.precision, random_weights=args.random_weights)
        audio_predict = audio_features.compiled_predict(model)
    if any(job.video for job in todo):
        weights = None if args.random_weights else args.resnet_weights
        model = video_features.build_resnet(weights, args.precision, random_weights=args.random_weights)
        video_predict = audio_features.compiled_predict(model)
    written = []
    for job in todo:
        label = f"{job.folder.name} half {job.half}"
        if job.video:
            kept = media.frame_numbers(job.path, FPS, job.start, job.duration)  # counted once, for both
            with _bar(len(kept), f"{label} video", args.no_progress) as bar:
                features = video_features.extract_file(job.path, video_predict, start=job.start, kept=kept,
                                                       duration=job.duration, fps=FPS, batch_size=args.frame_batch,
                                                       channel_order=args.channel_order, progress=bar.update)
            _write(written, job, VIDEO_NAME, features)
            log.info("%s: %s", written[-1], features.shape)
        if job.audio:
            rows = video_rows(job)
            samples, rate = media.read_audio(job.path)
            start = job.start or 0.0
            total = audio_features.chunk_count(len(samples), rate, start, rows)
            with _bar(total, f"{label} audio", args.no_progress) as bar:
                features = audio_features.extract_half(samples, rate, audio_predict, start=start, video_features=rows,
                                                       batch_size=args.audio_batch,
                                                       last_group_quirk=not args.correct_last_group,
                                                       progress=bar.update)
            del samples
            _write(written, job, AUDIO_NAME, features)
            log.info("%s: %s (cut to %s video rows)", written[-1], features.shape, rows)
    note = f" ({audio_features.RANDOM_WARNING})" if args.random_weights else ""
    print(f"wrote {len(written)} feature files{note}")
    return 0
