"""How a network is initialised and optimised: the papers' recipe or the fast one.

A config names its recipe (``TrainConfig.recipe``); every training procedure honours it, since
every one builds its networks through :func:`network_kwargs` and its optimizers through
:func:`learning_rate`.

- ``paper``: what each paper describes (direct prediction of the clean image where the paper
  does so, its own initialisation, the config's constant or piecewise-constant learning rate).
- ``fast``: what converges quickly on a small CPU: the network predicts a correction that the
  model adds to its input (the exported model contains the addition), He-normal weights with
  the last layer scaled near zero so that training starts at the identity (a block inserted by
  cascade or evolution starts at the identity too), a linear warm-up to the peak learning rate
  and a cosine decay over the whole run.  The configs of fast presets also set 'same' padding,
  the 8 flips / rotations, global gradient clipping and throughput-sized patches (see
  ``presets/fast.py``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    name: str
    residual: bool  # output = input + network(input)
    init: str  # builders' ``init`` argument: "paper" or "he"
    schedule: str  # "paper": constant / piecewise (config.lr_decay_steps); "cosine"
    warmup_fraction: float = 0.0  # of the run's steps, linear from 0 to config.learning_rate
    final_lr_fraction: float = 0.0  # cosine floor, relative to config.learning_rate


RECIPES = {
    "paper": Recipe("paper", residual=False, init="paper", schedule="paper"),
    "fast": Recipe("fast", residual=True, init="he", schedule="cosine",
                   warmup_fraction=0.02, final_lr_fraction=0.01),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; valid recipes: {', '.join(RECIPES)}") from None


def network_kwargs(recipe_name: str) -> dict:
    """Builder keyword arguments that the recipe implies (none for the paper recipe, so every
    builder keeps its paper defaults)."""
    recipe = get_recipe(recipe_name)
    if recipe.name == "paper":
        return {}
    return {"residual": recipe.residual, "init": recipe.init}


def learning_rate(config, peak: float | None = None):
    """The learning rate (a float or a Keras schedule) for ``config``'s ``steps``.

    ``paper``: ``peak`` (default ``config.learning_rate``), times ``lr_decay_factor`` at each
    of ``lr_decay_steps``.  ``cosine``: warm-up over ``warmup_fraction`` of the steps, then a
    cosine decay to ``final_lr_fraction * peak`` at the last step.
    """
    import keras

    recipe = get_recipe(config.recipe)
    lr = config.learning_rate if peak is None else peak
    if recipe.schedule == "cosine":
        steps = max(int(config.steps), 1)
        warmup = int(round(recipe.warmup_fraction * steps))
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=max(steps - warmup, 1),
            alpha=recipe.final_lr_fraction, warmup_target=lr, warmup_steps=warmup,
        )
    if config.lr_decay_steps:
        boundaries = [int(s) for s in config.lr_decay_steps]
        values = [lr * config.lr_decay_factor**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return lr
