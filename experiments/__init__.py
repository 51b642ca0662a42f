"""The experiments: the synthetic SoccerNet, the reproduction of the paper's tables and the demo.

Command lines (run from the project's folder):
    python -m experiments.make_synthetic   a synthetic data set (experiments/synthetic.py makes it)
    python -m experiments.reproduce        the paper's tables: train, spot, evaluate, print beside the paper's
    python -m experiments.demo             the demo (`make demo`): the paper's experiments, small

The library: synthetic (the data generator), plan (the runs each table needs), commands (the steps as
the project's commands, and running them), paper (the paper's numbers), tables, figures, demonstration
(the demo's plans, summary and findings).
"""
