"""Adam's update side by side with PyTorch's fused CPU Adam, on NetVLAD k=512's 135 M parameters.

    .venv/bin/python bench/bench_adam_peer.py --torch_python /path/to/a/venv/with/torch/bin/python [--rounds 9]

The project does not install PyTorch: give the Python of any environment that has it (for example
`python -m venv /tmp/torch && /tmp/torch/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu`).
That Python runs this file as a child (`--peer`) which makes parameters of the same shapes as the
model's variables, gradients of the same size, and `torch.optim.Adam(..., fused=True)` (and the
`foreach` form, PyTorch's default on a CPU); both processes stay alive and take turns, one update each
per round (`common.turn_times`), so that the machine's load falls on both alike, each timed from this
process (ours around a compiled call and a read of one value, PyTorch's around a request to its process
and the answer: well under a millisecond each). In the same turns, in-place passes (x *= 1, 7 of their
8 x 4 bytes per parameter count): over fresh NumPy buffers (`common.in_place_pass`), over the buffers of
our update (`common.in_place_pass_over`, the bound of `bench_networks.py`) and over PyTorch's own, so
that each update is also given against the memory of its own process. PyTorch's OpenMP threads are
told to sleep once done (`OMP_WAIT_POLICY=PASSIVE`, unless set). Not part of `make bench` (no PyTorch).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TOP = BENCH.parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch_python", help="a Python that imports torch (the peer's process)")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds, one update of each per round")
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)  # the child, in torch's Python
    return parser


def peer() -> int:
    """The child: reads the shapes, then one line per request ("fused" or "foreach": one step; "pass": one
    in-place pass, x *= 1, over the fused optimizer's own weights, gradients and moments), then a line."""
    import torch

    shapes = json.loads(sys.stdin.readline())
    generator = torch.Generator().manual_seed(0)
    forms = {}
    for form in ("fused", "foreach"):
        params = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in shapes]
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator) * 1e-3
        forms[form] = torch.optim.Adam(params, lr=1e-3, **{form: True})
        forms[form].step()  # its state made: the timed steps are updates only
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    fused = forms["fused"]
    own = [t for p in fused.param_groups[0]["params"]
           for t in (p.data, p.grad, fused.state[p]["exp_avg"], fused.state[p]["exp_avg_sq"])]
    for line in sys.stdin:
        if line.strip() == "pass":
            for t in own:
                t.mul_(1.0)
        else:
            forms[line.strip()].step()
        print("done", flush=True)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.peer:
        return peer()
    if args.rounds < 1:
        print(f"--rounds {args.rounds}: at least 1")
        return 2
    if not args.torch_python:
        print("no --torch_python given: nothing to compare with (the project does not install PyTorch)")
        return 2
    sys.path.insert(0, str(TOP))
    sys.path.insert(0, str(BENCH))
    import numpy as np
    import tensorflow as tf

    import common
    from networks import architectures

    print(common.machine())
    variables, chosen, updates, buffers = common.adam_updates(tf, architectures, 40, 512)
    shapes = [list(v.shape) for v in variables]
    params = sum(int(np.prod(s)) for s in shapes)

    # PyTorch's OpenMP threads spin a while after each parallel region by default, on the cores that the
    # next run in the turns (ours) needs: there they sleep once done.
    environment = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    child = subprocess.Popen([args.torch_python, __file__, "--peer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=environment)

    def answer() -> str:
        line = child.stdout.readline()
        if not line:  # the child ended: no torch there, out of memory (its error went to stderr)
            raise SystemExit(f"{args.torch_python}: the PyTorch process ended (exit code {child.wait()})")
        return line

    try:
        child.stdin.write(json.dumps(shapes) + "\n")
        child.stdin.flush()
        about = json.loads(answer())

        def theirs(form):
            def run():
                child.stdin.write(form + "\n")
                child.stdin.flush()
                answer()
            return run

        one_pass, _ = common.in_place_pass(params)
        our_pass, _ = common.in_place_pass_over(tf, buffers[chosen])
        times = common.turn_times({"ours": updates[chosen], "fused": theirs("fused"), "foreach": theirs("foreach"),
                                   "pass": one_pass, "our pass": our_pass, "their pass": theirs("pass")},
                                  args.rounds)
        medians = {name: statistics.median(t) for name, t in times.items()}
    except BaseException:
        child.kill()
        raise
    finally:
        with contextlib.suppress(OSError):
            child.stdin.close()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
    bound = 7 / 8 * medians.pop("pass")  # the pass moves 8 x 4 bytes per parameter, the update 7 x 4
    own = {"ours": times.pop("our pass"), "fused": times.pop("their pass")}
    labels = {"ours": f"this project's trainer ({common.ADAM_KERNEL_NAMES[chosen]})",
              "fused": "PyTorch Adam(fused=True)", "foreach": "PyTorch Adam(foreach=True)"}
    print(f"Adam's update of {params:,} parameters ({len(shapes)} tensors, NetVLAD k=512); TensorFlow "
          f"{tf.__version__}, PyTorch {about['torch']} ({about['threads']} threads); {args.rounds} rounds taking "
          f"turns; one in-place pass (7 x 4 bytes per parameter) {bound:.3f} s")
    for key, label in labels.items():
        print(f"  {label:<42} median {medians[key]:.3f} s, {bound / medians[key]:.2f} of the in-place pass")
    print(f"ours / PyTorch fused (medians): {medians['ours'] / medians['fused']:.2f} "
          f"({'at least as fast' if medians['ours'] <= medians['fused'] else 'slower'})")
    # Round by round: the two updates of one round met the same machine.
    paired = sorted(o / f for o, f in zip(times["ours"], times["fused"]))
    print(f"ours / PyTorch fused, round by round: median {statistics.median(paired):.2f}, from {paired[0]:.2f} to "
          f"{paired[-1]:.2f}; ours at least as fast in {sum(r <= 1 for r in paired)} of {len(paired)} rounds")
    # Each against a pass over its own buffers in the same round: what is left once each process's memory
    # (placement, page size) is taken out.
    reach = {k: [7 / 8 * b / u for b, u in zip(own[k], times[k])] for k in own}
    relative = sorted(f / o for o, f in zip(reach["ours"], reach["fused"]))
    print(f"each against an in-place pass over its own buffers (7 x 4 bytes per parameter), round by round: ours "
          f"{statistics.median(reach['ours']):.2f} (pass {7 / 8 * statistics.median(own['ours']):.3f} s), PyTorch "
          f"fused {statistics.median(reach['fused']):.2f} (pass {7 / 8 * statistics.median(own['fused']):.3f} s); "
          f"PyTorch's over ours: median {statistics.median(relative):.2f}, from {relative[0]:.2f} to {relative[-1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
