"""The command-line vocabulary every script shares: argument types, the help format, the process flags."""
from __future__ import annotations

import argparse
from typing import Callable

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def argument_type(convert: Callable, name: str | None = None) -> Callable:
    """An argparse `type` from a function that raises ValueError with a readable message."""
    def parse(text: str):
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = name or getattr(convert, "__name__", "value")
    return parse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every script's help: the default after each option's text, once. Left out where the help already
    says what the default is, for None (the help says what no value means) and for off switches."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS \
                or "default" in text.lower():
            return text
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """Every script's parser: a usage error is two lines, a short usage pointing to --help and the error
    (argparse's own usage block runs to twenty lines and more); --help is argparse's."""

    def error(self, message: str):
        first = str(message).strip().splitlines()
        self.exit(2, f"usage: {self.prog} [options] (see --help)\n{self.prog}: error: {first[0] if first else ''}\n")


def path_in_name(name: str) -> bool:
    """Whether a flag that names a file or folder (a prefix, not a path) holds a path: a separator, "." or
    "..", or nothing."""
    return name in ("", ".", "..") or "/" in name or "\\" in name


def _log_level(text: str) -> str:
    level = str(text).strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {text!r}; valid: {', '.join(LOG_LEVELS)}")
    return level

log_level = argument_type(_log_level, "log level")


def add_process_arguments(parser: argparse.ArgumentParser, gpu: bool = True) -> None:
    """`--loglevel` (and `--GPU`), the same in every script."""
    if gpu:
        parser.add_argument("--GPU", type=int, default=-1,
                            help="GPU to use (sets CUDA_VISIBLE_DEVICES before TensorFlow starts); -1: TensorFlow's choice")
    parser.add_argument("--loglevel", type=log_level, default="INFO", help=f"logging level ({', '.join(LOG_LEVELS)})")


def add_xla_descriptor_argument(parser) -> None:
    """`--xla_descriptor`, the same in the training and spotting scripts and the benchmarks; the caller
    passes it to `networks.kernels.set_xla_descriptor` once TensorFlow is started."""
    parser.add_argument("--xla_descriptor", action="store_true",
                        help="compile NetVLAD's and NetRVLAD's float32 descriptor with XLA "
                             "(networks.kernels.set_xla_descriptor): the same numbers up to float rounding, each new batch "
                             "shape compiled once; in mixed precision the descriptor has its own path, not compiled")
