"""The one place that sets Keras's dtype policy from a precision word (`base.precision`) and restores it.

Layers built inside `precision_scope("bfloat16")` compute in bfloat16 and keep float32 weights (Keras's
"mixed_bfloat16" policy), and record that policy in a saved model; outside the scope the global policy
is what it was before, whatever the block raised.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import keras

from base.precision import keras_policy


@contextlib.contextmanager
def precision_scope(word: str) -> Iterator[str]:
    """Build layers under the Keras policy of `word` ("float32", "bfloat16", "float16" or Keras's
    "mixed_*" spellings); yields the policy's name."""
    policy = keras_policy(word)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)
