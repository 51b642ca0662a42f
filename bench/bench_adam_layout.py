"""Adam's update (the trainer's kernel, OnePassAdam) over buffers whose addresses agree modulo 256 MiB, with
and without its move of such a variable to a buffer placed apart (`apart`, networks/one_pass_adam.cc).

    .venv/bin/python bench/bench_adam_layout.py [--values 134217728] [--rounds 9]

Two sets of a weight, its two moments and a gradient of `--values` float32 values each (the hidden projection
of NetVLAD k=512 has 2^27), made one after the other in a fresh process, as TensorFlow's BFC allocator then
places them: buffers of 2^26 or 2^27 values come 256 or 512 MiB apart, so their addresses agree in their low
28 bits. Each set gets the same updates from the same values: a first one that moves nothing (a variable's first
update may copy its buffer), then one set's with `apart=False` (the buffers stay where they are), the
other's with `apart=True` (its first, not timed, moves what agrees); they take turns
(`common.turn_times`) with an in-place pass (x *= 1) over each set's own buffers, the bound of
`bench_networks.py`'s Adam row. Prints the addresses modulo 256 MiB before and after, the medians, and the
ratios round by round. Not part of `make bench` (1 minute, 4 GiB).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TOP = BENCH.parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=1 << 27, help="values per buffer (default 2^27)")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds, one update of each set per round")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds < 1 or args.values < 1:
        print(f"--rounds {args.rounds}, --values {args.values}: each at least 1")
        return 2
    sys.path.insert(0, str(TOP))
    sys.path.insert(0, str(BENCH))
    from runtime.process import tune_allocator

    tune_allocator()  # as the scripts do: TensorFlow's BFC allocator, glibc's reuse of freed memory
    import numpy as np
    import tensorflow as tf

    import common
    from networks import native
    from networks.optimizer import APART_PERIOD, BETA_1, BETA_2, _constants, agreeing, buffer_address

    print(common.machine())
    library = native.library("one_pass_adam")
    if library is None:
        print("networks/one_pass_adam.cc cannot be built here: nothing to measure")
        return 2
    constants = _constants(BETA_1, BETA_2)
    random = np.random.default_rng(0)
    start = [random.standard_normal(args.values, dtype=np.float32) * 1e-3 for _ in range(2)]
    start.append(np.abs(random.standard_normal(args.values, dtype=np.float32)) * 1e-4)
    gradient = random.standard_normal(args.values, dtype=np.float32) * 1e-3
    sets = {}
    for apart in (False, True):
        variables = [tf.Variable(x) for x in start]
        sets[apart] = (variables, tf.constant(gradient))

    def buffers(apart):
        variables, grad = sets[apart]
        return [*variables, grad]

    def residues(apart):
        return [buffer_address(t) % APART_PERIOD for t in buffers(apart)]

    def update(apart, moving):
        (w, m, v), grad = sets[apart]
        return lambda: (library.one_pass_adam(var=w.handle, m=m.handle, v=v.handle, grad=grad, apart=moving,
                                              **constants), w[:1].numpy())

    for apart in sets:  # a first update of each set, moving nothing: a variable's first update may copy its buffer
        update(apart, False)()
    names = ("weight", "m", "v", "gradient")
    before = {apart: agreeing(buffers(apart)) for apart in sets}

    runs = {}
    for apart in sets:
        runs[f"update, apart={apart}"] = update(apart, apart)
        runs[f"pass, apart={apart}"] = common.in_place_pass_over(tf, buffers(apart))[0]
    for apart in sets:
        print(f"apart={apart}: modulo 256 MiB before "
              f"{', '.join(f'{n} {hex(r)}' for n, r in zip(names, residues(apart)))}; agreeing (within 2 KiB): "
              f"{', '.join(f'{names[a]}-{names[b]}' for a, b in before[apart]) or 'none'}")
        runs[f"update, apart={apart}"]()  # apart=True moves here, untimed
        print(f"  after its first update: {', '.join(f'{n} {hex(r)}' for n, r in zip(names, residues(apart)))}; "
              f"agreeing: {', '.join(f'{names[a]}-{names[b]}' for a, b in agreeing(buffers(apart))) or 'none'}")
    if not before[False]:
        print("no two buffers of the apart=False set agree modulo 256 MiB here: the comparison shows nothing")
    times = common.turn_times(runs, args.rounds)
    same = all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(sets[False][0], sets[True][0]))
    print(f"{args.values:,} values per buffer, {args.rounds} rounds taking turns; TensorFlow {tf.__version__}; "
          f"the two sets' values after the same updates are {'bit-identical' if same else 'DIFFERENT'}")
    for name, t in times.items():
        print(f"  {name:<20} median {statistics.median(t) * 1e3:.1f} ms")
    for apart in sets:
        own = [7 / 8 * p / u for p, u in zip(times[f"pass, apart={apart}"], times[f"update, apart={apart}"])]
        print(f"apart={apart}: the update against a pass over its own buffers (7 x 4 bytes per value), round by "
              f"round: median {statistics.median(own):.2f}")
    ratio = sorted(a / b for a, b in zip(times["update, apart=False"], times["update, apart=True"]))
    print(f"update apart=False / apart=True, round by round: median {statistics.median(ratio):.2f}, from "
          f"{ratio[0]:.2f} to {ratio[-1]:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
