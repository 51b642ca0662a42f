"""The words for a numeric precision, one vocabulary for every script (training, spotting, extraction,
benchmarks).

A precision is "float32" (the original's), "bfloat16" or "float16": the dtype of the products, with
weights, batch-norm statistics and logits kept in float32. Keras calls the two half precisions
"mixed_bfloat16" and "mixed_float16"; those words are accepted everywhere as the same precisions (the
training script's --precision has always spelled them so). `networks.policy.precision_scope` is the one
place that sets Keras's dtype policy from these words and restores it.
"""
from __future__ import annotations

PRECISIONS = ("float32", "bfloat16", "float16")
KERAS_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
_ALIASES = {policy: precision for precision, policy in KERAS_POLICIES.items()}


def canonical(word: str) -> str:
    """"float32", "bfloat16" or "float16" for any accepted spelling; ValueError otherwise."""
    precision = _ALIASES.get(word, word)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS + tuple(_ALIASES)}, got {word!r}")
    return precision


def keras_policy(word: str) -> str:
    """Keras's dtype-policy name of a precision ("float32", "mixed_bfloat16", "mixed_float16")."""
    return KERAS_POLICIES[canonical(word)]


def choices(*precisions: str, keras_words: bool = False) -> tuple[str, ...]:
    """The words a script's --precision offers: `precisions` (all by default), in Keras's spelling when
    `keras_words` (the training script's)."""
    chosen = precisions or PRECISIONS
    return tuple(KERAS_POLICIES[p] if keras_words else p for p in chosen)
