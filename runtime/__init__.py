"""The process and the run folder: process set-up (`process`), the shared command-line vocabulary (`cli`), the
run folder's files and formats (`rundir`), a trained run's settings (`settings`) and model (`models`)."""
