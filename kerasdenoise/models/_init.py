"""The builder arguments of the training recipes (``kerasdenoise.training.recipe``), shared by
the denoiser builders: ``residual`` (the model returns input + a predicted correction) and
``init`` ("paper": the builder's own initialisation, exactly as before; "he": He-normal kernels
and, with ``residual=True``, a zero-initialised last layer so that the untrained model is the
identity)."""
from __future__ import annotations

INITS = ("paper", "he")


def check_recipe_args(builder: str, residual, init) -> None:
    """ValueError naming ``builder`` for a non-bool ``residual`` or an unknown ``init``."""
    if not isinstance(residual, bool):
        raise ValueError(f"{builder}: residual must be True or False, got {residual!r}")
    if init not in INITS:
        raise ValueError(
            f"{builder}: init must be one of {INITS} ('paper': the builder's own initialisation, "
            f"'he': He normal with a zero last layer), got {init!r}"
        )
