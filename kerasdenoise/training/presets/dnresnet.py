"""Presets of DN-ResNet / DS-DN-ResNet (Ren, El-khamy, Lee, ACCV 2018), one per experiment row.

Common setting (paper Sec. 4.1, README section 3): CBSD432 on the Y channel (the paper trains
on PASCAL VOC 2010, which is not available here), 33x33 noisy / 17x17 clean patches
('valid' base convolutions), batch 64, Adam at the paper's fixed learning rate 1e-4 (no decay).
Validation: 33x33 patches of CBSD68 (Y).

- Table 1 (PSNR vs depth, non-blind, MSE): ``dnresnet-cascade-<noise>`` cascade-trains
  3 -> 13 layers and writes one model per depth (``dnresnet3.keras`` ... ``dnresnet13.keras``);
  ``<noise>`` is ``s10/s25/s50/s75`` (Gaussian sigma), ``p1/p2/p4/p8`` (Poisson peak) or
  ``pg0.1 ... pg12`` (Poisson-Gaussian sigma, peak = 10 sigma), plus ``s15`` for the
  sigma-15 column of Table 2's analogue.  ``dnresnet13-oneshot-s25`` is
  the '13-layer-os' column (the 13-layer net trained from N(0, 0.001) in one stage, for the
  cascade's largest total budget; it runs through the cascade driver as a single stage so
  that it too is saved in the whole-image 'same' form).
- Table 2 (blind vs non-blind; loss): ``dnresnet-cascade-s25`` (non-blind) and
  ``dnresnet-cascade-blind`` / ``-blind-edge-a`` / ``-blind-edge-b``.
- Table 3 (DN vs DS-DN vs DS-DN-os): ``dsdnresnet-evolve-blind`` (incremental evolution of the
  blind DN-ResNet-13), ``dsdnresnet-oneshot-blind`` (all blocks at once, same total
  fine-tuning), ``dsdnresnet-evolve-blind-edge-a`` (DS-DN + 'edge-a').  They start from the
  cascade run in ``runs/<cascade preset>`` (``kerasdenoise-train``'s default ``--out``); point
  elsewhere with ``--set procedure_options.init=PATH``.
- JPEG artifact removal (Sec. 4.4): ``dnresnet-cascade-jpeg``, JPEG quality 10..40 (the paper
  uses CLIC with JPEG / JPEG 2000 / BPG; here JPEG only, tested on LIVE1 / classic5).

Blind noise: the paper trains one model "by mixing all training samples" of the non-blind
models, i.e. the 16 noise levels of its tables (Gaussian sigma 10/25/50/75, Poisson peak
1/2/4/8, Poisson-Gaussian sigma 0.1/0.2/0.5/1/2/3/6/12 with peak 10 sigma).  :data:`BLIND_SPEC`
is that mix as a ``|`` of 16 fixed specs, each level drawn with equal probability (assuming
``from_spec`` picks a ``|`` member uniformly); this keeps the paper's family proportions (1/4
Gaussian, 1/4 Poisson, 1/2 Poisson-Gaussian), which ranges like ``gaussian:sigma=10..75`` next
to eight PG members would not.

Budgets.  Paper-scale: the paper gives no step counts for the cascade; 30k steps per stage
(60k for the last; the 3 % rule may end middle stages early, smoothed over 1000 batches) and,
for evolution, 20k steps per replacement (the paper's "10 epochs" of its unstated VOC patch
count cannot be translated; 20k steps of 64 are 10 passes over ~128k patches, ~300 per CBSD432
image).  ``-cpu``: budgets for the 2-core machine, a few minutes each (on a quiet machine
about 5-7 minutes for a cascade or one-shot run, 4 for an evolution), with the same settings,
the paper's fixed lr 1e-4 included: a larger one was tried and not kept.  Sigma 25, 33->17
patches of CBSD432 (Y), batch 64, validation PSNR on 512 CBSD68 patches: the 3-layer net after
200 steps reached 27.5 dB with lr 1e-3 against 27.1 dB with 1e-4, but DN-ResNet-13 (one shot)
with lr 1e-3 peaked at 27.7 dB after 300 steps and fell back to 26.9 dB at 400 (unstable),
while 1e-4 climbed steadily to 27.1 dB; the cascade relies on a stable fixed rate.

The stage budgets are in ``procedure_options`` (``base_steps`` / ``stage_steps`` / ``final_steps``,
``finetune_steps``); change them with ``--set procedure_options.stage_steps=N``.  ``steps`` repeats
the per-stage budget for information: the drivers use it only where ``procedure_options`` has none.
"""
from __future__ import annotations

from kerasdenoise.training.configs import TrainConfig

GAUSSIAN_SIGMAS = (10, 25, 50, 75)
POISSON_PEAKS = (1, 2, 4, 8)
PG_SIGMAS = (0.1, 0.2, 0.5, 1, 2, 3, 6, 12)


def _num(value) -> str:
    """1.0 -> '1', 0.1 -> '0.1' (no float noise in spec strings)."""
    return f"{float(value):g}"


def gaussian_spec(sigma) -> str:
    return f"gaussian:sigma={_num(sigma)}"


def poisson_spec(peak) -> str:
    return f"poisson:peak={_num(peak)}"


def poisson_gaussian_spec(sigma) -> str:
    """The paper's Poisson-Gaussian level: sigma on the 0-255 scale, peak = 10 * sigma."""
    return f"poisson-gaussian:sigma={_num(sigma)},peak={_num(round(10 * sigma, 6))}"


NON_BLIND = {
    **{f"s{_num(s)}": gaussian_spec(s) for s in GAUSSIAN_SIGMAS},
    **{f"p{_num(p)}": poisson_spec(p) for p in POISSON_PEAKS},
    **{f"pg{_num(s)}": poisson_gaussian_spec(s) for s in PG_SIGMAS},
}
BLIND_SPEC = "|".join(NON_BLIND.values())
JPEG_SPEC = "jpeg:quality=10..40"

_COMMON = dict(
    model="dnresnet",
    model_kwargs={"channels": 1, "base_padding": "valid"},
    train_data="CBSD432", val_data="CBSD68", color="y",
    patch_size=33, target_size=17, batch_size=64,
    optimizer="adam", learning_rate=1e-4, lr_decay_steps=(), val_batches=4,
)

# Paper-scale budgets.
STAGE_STEPS, FINAL_STEPS, WINDOW = 30_000, 60_000, 1000
CASCADE_MAX_STEPS = STAGE_STEPS * 5 + FINAL_STEPS  # 3-layer + 4 middle stages + the 13-layer
FINETUNE_STEPS = 20_000
# -cpu budgets (DN-ResNet-13: ~0.35-0.5 s per batch of 64 on the 2-core machine; the 3-layer
# net costs ~70 % of that, most of it in the 9x9x64 and 5x5x64x32 base layers).
CPU_BASE_STEPS, CPU_STAGE_STEPS, CPU_FINAL_STEPS, CPU_WINDOW = 200, 100, 200, 25
CPU_CASCADE_MAX_STEPS = CPU_BASE_STEPS + 4 * CPU_STAGE_STEPS + CPU_FINAL_STEPS
CPU_FINETUNE_STEPS = 100
CPU_LEARNING_RATE = 1e-4
CPU_NOTE = " -cpu budget for the 2-core machine: a reduced-budget run, far from converged."

#: Every preset of this module, in the order they are declared below.
PRESETS: list[TrainConfig] = []


def _add(config: TrainConfig) -> TrainConfig:
    PRESETS.append(config)
    return config


def _cascade_kwargs(cpu: bool, one_shot: bool = False) -> dict:
    if one_shot:
        return {"final_blocks": 5, "start_blocks": 5,
                "final_steps": CPU_CASCADE_MAX_STEPS if cpu else CASCADE_MAX_STEPS,
                "window": CPU_WINDOW if cpu else WINDOW}
    if cpu:
        return {"final_blocks": 5, "base_steps": CPU_BASE_STEPS, "stage_steps": CPU_STAGE_STEPS,
                "final_steps": CPU_FINAL_STEPS, "improvement": 0.03, "window": CPU_WINDOW}
    return {"final_blocks": 5, "base_steps": STAGE_STEPS, "stage_steps": STAGE_STEPS,
            "final_steps": FINAL_STEPS, "improvement": 0.03, "window": WINDOW}


def _add_pair(name: str, description: str, cpu_description: str, **fields) -> TrainConfig:
    """Add ``name`` (paper scale) and ``name-cpu``; ``fields`` may hold callables of cpu.
    Returns the paper-scale config."""

    def resolve(cpu):
        return {k: (v(cpu) if callable(v) else v) for k, v in fields.items()}

    paper = _add(TrainConfig(name=name, description=description,
                             steps_per_epoch=1000, **{**_COMMON, **resolve(False)}))
    _add(TrainConfig(name=f"{name}-cpu", description=cpu_description + CPU_NOTE,
                     steps_per_epoch=50,
                     **{**_COMMON, **resolve(True),
                        "learning_rate": CPU_LEARNING_RATE}))
    return paper


def _cascade_budget(cpu: bool) -> str:
    if cpu:
        return (f"{CPU_BASE_STEPS} steps for the 3-layer net, up to {CPU_STAGE_STEPS} per added "
                f"block, {CPU_FINAL_STEPS} for the 13-layer net")
    return (f"{STAGE_STEPS} steps for the 3-layer net, up to {STAGE_STEPS} per added block "
            f"(3 % rule), {FINAL_STEPS} for the 13-layer net")


def _add_cascade(key: str, noise: str, what: str, loss: str = "mse"):
    loss_note = "" if loss == "mse" else f", loss {loss}"
    text = lambda cpu: (f"DN-ResNet cascade 3 -> 13 layers, {what}{loss_note}: "  # noqa: E731
                        f"{_cascade_budget(cpu)}; batch 64, Adam 1e-4. Writes dnresnet3..13.keras.")
    return _add_pair(
        f"dnresnet-cascade-{key}", text(False), text(True),
        procedure="cascade", procedure_options=lambda cpu: _cascade_kwargs(cpu), noise=noise, loss=loss,
        steps=lambda cpu: CPU_STAGE_STEPS if cpu else STAGE_STEPS,
    )


# Table 1 (and the non-blind column of Table 2): one cascade per noise level.
for _key, _spec in NON_BLIND.items():
    _add_cascade(_key, _spec, f"non-blind {_spec}")

# Table 1, '13-layer-os': one-shot training of DN-ResNet-13 (sigma 25).
_add_pair(
    "dnresnet13-oneshot-s25",
    f"DN-ResNet-13 trained in one shot from N(0, 0.001) (Table 1 '13-layer-os'), Gaussian sigma "
    f"25: {CASCADE_MAX_STEPS} steps (the cascade's largest total), batch 64, Adam 1e-4.",
    f"DN-ResNet-13 one-shot (Table 1 '13-layer-os'), sigma 25: {CPU_CASCADE_MAX_STEPS} steps (the "
    f"-cpu cascade's largest total), batch 64, Adam 1e-4.",
    procedure="cascade", procedure_options=lambda cpu: _cascade_kwargs(cpu, one_shot=True),
    noise=gaussian_spec(25),
    steps=lambda cpu: CPU_CASCADE_MAX_STEPS if cpu else CASCADE_MAX_STEPS,
)

# Table 2's non-blind column at sigma 15 (the issue's grid; not one of the paper's 16 levels,
# so it stays out of BLIND_SPEC).
_add_cascade("s15", gaussian_spec(15), f"non-blind {gaussian_spec(15)}")

# Table 2: blind models (MSE, edge-a, edge-b).
BLIND_CASCADE = _add_cascade("blind", BLIND_SPEC,
                             "blind (the 16 Gaussian / Poisson / Poisson-Gaussian levels)")
_add_cascade("blind-edge-a", BLIND_SPEC, "blind", loss="edge-a")
_add_cascade("blind-edge-b", BLIND_SPEC, "blind", loss="edge-b")

# Compressed image restoration (Sec. 4.4): JPEG quality 10..40.
_add_cascade("jpeg", JPEG_SPEC, "JPEG artifact removal (quality 10..40)")


# Table 3: DS-DN-ResNet by incremental evolution of the blind DN-ResNet-13, and one-shot.
def _evolution_kwargs(source: str, one_shot: bool):
    def kwargs(cpu):
        return {"init": f"runs/{source}{'-cpu' if cpu else ''}", "blocks": 5,
                "finetune_steps": CPU_FINETUNE_STEPS if cpu else FINETUNE_STEPS,
                "one_shot": one_shot}

    return kwargs


def _add_evolution(name: str, source: str, one_shot: bool, loss: str = "mse"):
    how = ("all 5 ResBlocks replaced at once, then fine-tuned (DS-DN-os)" if one_shot else
           "ResBlocks replaced by DS-ResBlocks one at a time from the tail, fine-tuned after each")
    loss_note = "" if loss == "mse" else f", loss {loss}"

    def text(cpu):
        steps = CPU_FINETUNE_STEPS if cpu else FINETUNE_STEPS
        budget = f"{5 * steps} steps in one stage" if one_shot else f"{steps} steps per replacement"
        return (f"DS-DN-ResNet-13 from runs/{source}{'-cpu' if cpu else ''}: {how}{loss_note}; "
                f"{budget}, batch 64, Adam 1e-4, blind noise.")

    return _add_pair(
        name, text(False), text(True),
        procedure="evolution", procedure_options=_evolution_kwargs(source, one_shot),
        model="ds_dnresnet", model_kwargs={"blocks": 5, "channels": 1, "base_padding": "valid"},
        noise=BLIND_SPEC, loss=loss,
        steps=lambda cpu: CPU_FINETUNE_STEPS if cpu else FINETUNE_STEPS,
    )


BLIND_EVOLUTION = _add_evolution("dsdnresnet-evolve-blind", "dnresnet-cascade-blind", one_shot=False)
_add_evolution("dsdnresnet-oneshot-blind", "dnresnet-cascade-blind", one_shot=True)
_add_evolution("dsdnresnet-evolve-blind-edge-a", "dnresnet-cascade-blind-edge-a",
               one_shot=False, loss="edge-a")


# The shipped blind models: the same recipe (cascade at the paper's fixed lr 1e-4, then incremental
# evolution) with the budget of about an hour on one core of the 2-core machine (DN-ResNet-13 at
# ~0.15 s per batch of 64 on one thread, the 3-layer net ~0.09 s).  Still under 10 % of the paper-scale
# preset's steps; the Table 1-3 analogues use the shorter -cpu budgets above.
LONG_BASE_STEPS, LONG_STAGE_STEPS, LONG_FINAL_STEPS, LONG_WINDOW = 3000, 1500, 8000, 200
LONG_FINETUNE_STEPS = 1500
LONG_NOTE = (" -cpu-long budget (about an hour on one core of the 2-core machine): a reduced-budget "
             "run, under 10 % of the paper-scale steps.")

# The paper-scale blind presets with the -cpu-long budgets (every other field as they are).
_add(BLIND_CASCADE.replace(
    name="dnresnet-cascade-blind-cpu-long",
    description=(f"DN-ResNet cascade 3 -> 13 layers, blind (the 16 Gaussian / Poisson / "
                 f"Poisson-Gaussian levels): {LONG_BASE_STEPS} steps for the 3-layer net, up to "
                 f"{LONG_STAGE_STEPS} per added block (3 % rule), {LONG_FINAL_STEPS} for the 13-layer "
                 f"net; batch 64, Adam 1e-4." + LONG_NOTE),
    procedure_options={**BLIND_CASCADE.procedure_options, "base_steps": LONG_BASE_STEPS,
                    "stage_steps": LONG_STAGE_STEPS, "final_steps": LONG_FINAL_STEPS,
                    "window": LONG_WINDOW},
    steps=LONG_STAGE_STEPS, steps_per_epoch=250,
))
_add(BLIND_EVOLUTION.replace(
    name="dsdnresnet-evolve-blind-cpu-long",
    description=("DS-DN-ResNet-13 from runs/dnresnet-cascade-blind-cpu-long: ResBlocks replaced by "
                 f"DS-ResBlocks one at a time from the tail, fine-tuned after each; "
                 f"{LONG_FINETUNE_STEPS} steps per replacement, batch 64, Adam 1e-4, blind noise."
                 + LONG_NOTE),
    procedure_options={**BLIND_EVOLUTION.procedure_options, "init": "runs/dnresnet-cascade-blind-cpu-long",
                    "finetune_steps": LONG_FINETUNE_STEPS},
    steps=LONG_FINETUNE_STEPS, steps_per_epoch=250,
))


# The shipped blind models, one-shot, in both recipes on the same data and noise (the recipe
# comparison of benchmarks/recipe.py trains the DS pair).  Gaussian sigma 0..55 with more
# weight below 25 (a blind model trained on a uniform sigma spends little on low noise, where
# its gap to BM3D is largest): a '|' member is picked uniformly, so the range is listed twice.
BLIND_GAUSSIAN_SPEC = "gaussian:sigma=0..55|gaussian:sigma=0..55|gaussian:sigma=0..25"
SHIPPED_DATA = dict(train_data="Train400+CBSD432", val_data="Set12", color="y",
                    noise=BLIND_GAUSSIAN_SPEC, val_batches=8)
# fast: 'same' padding, 48x48 patches with the 8 flips / rotations, batch 16 (more updates for
# the same compute: a step costs ~0.5 s here for DS-DN-ResNet-13), Adam 1e-3 with warm-up and
# cosine decay over the whole run, global gradient clipping.
FAST_FIELDS = dict(recipe="fast", augment=True, patch_size=48, target_size=None, batch_size=16,
                   learning_rate=1e-3, clipnorm=1.0, lr_decay_steps=())
FAST_NOTE = (" Fast recipe: residual output, He init at identity, 48x48 patches with flips / "
             "rotations, batch 16, Adam 1e-3 with 2 % warm-up and cosine decay to 1e-5, "
             "global clipnorm 1.")
# The Table 1-3 cascades with the fast recipe, each within 30 minutes of the 2-core machine
# (DN-ResNet-13 ~0.27 s a step at batch 16 of 48x48, the 3-layer net ~0.1 s): same data, noise and
# loss as the paper-recipe rows, the stages' budgets below.  One-shot: the 13-layer net for the
# cascade's minutes.
FAST_BASE_STEPS, FAST_STAGE_STEPS, FAST_FINAL_STEPS, FAST_WINDOW = 2_000, 1_000, 2_500, 100
FAST_ONESHOT_STEPS = 5_500
FAST_TABLE_FIELDS = dict(FAST_FIELDS, model_kwargs={"channels": 1, "base_padding": "same"},
                         steps_per_epoch=250, val_batches=8)


def _fast_cascade(paper: TrainConfig) -> TrainConfig:
    """``paper`` (a Table 1-3 cascade preset) with the fast recipe and the fast budgets."""
    one_shot = paper.procedure_options.get("start_blocks") == 5
    options = ({"final_blocks": 5, "start_blocks": 5, "final_steps": FAST_ONESHOT_STEPS,
                "window": FAST_WINDOW} if one_shot else
               {"final_blocks": 5, "base_steps": FAST_BASE_STEPS, "stage_steps": FAST_STAGE_STEPS,
                "final_steps": FAST_FINAL_STEPS, "improvement": 0.03, "window": FAST_WINDOW})
    budget = (f"{FAST_ONESHOT_STEPS} steps in one stage (the cascade's minutes)" if one_shot else
              f"{FAST_BASE_STEPS} steps for the 3-layer net, up to {FAST_STAGE_STEPS} per added "
              f"block (3 % rule), {FAST_FINAL_STEPS} for the 13-layer net")
    what = ("DN-ResNet-13 trained in one shot (Table 1 '13-layer-os'), Gaussian sigma 25" if one_shot
            else paper.description.rsplit(": ", 1)[0])
    return _add(paper.replace(
        name=f"{paper.name}-fast", description=f"{what}: {budget}." + FAST_NOTE,
        procedure_options=options, steps=FAST_ONESHOT_STEPS if one_shot else FAST_STAGE_STEPS,
        **FAST_TABLE_FIELDS))


# the rows of the fast-recipe tables: Table 1 (sigma 25, one-shot), Table 2 (non-blind Gaussian
# and Poisson levels, the blind losses), JPEG
FAST_TABLE_ROWS = ("s15", "s25", "s50", "p2", "p4", "p8", "blind", "blind-edge-a", "blind-edge-b",
                   "jpeg")
for _paper in [c for c in PRESETS if c.name in {f"dnresnet-cascade-{k}" for k in FAST_TABLE_ROWS}
               | {"dnresnet13-oneshot-s25"}]:
    _fast_cascade(_paper)

# Table 3 with the fast recipe: DS-DN-ResNet-13 from the blind fast cascade (kept in
# benchmarks/saved_runs: runs/ does not outlive a session), by evolution (each new block distilled
# from the one it replaces) and in one shot (DS-DN-os: all blocks at once, the same total steps).
FAST_EVOLVE_FROM = "benchmarks/saved_runs/dnresnet-cascade-blind-fast"
FAST_FINETUNE_STEPS, FAST_DISTILL_STEPS = 1_200, 300
for _one_shot, _name in ((False, "dsdnresnet-evolve-blind-fast"), (True, "dsdnresnet-oneshot-blind-fast")):
    _paper = next(c for c in PRESETS if c.name == _name.replace("-fast", ""))
    _how = ("all 5 ResBlocks replaced at once, then fine-tuned (DS-DN-os)" if _one_shot else
            "ResBlocks replaced from the tail one at a time, each distilled from the block it replaces "
            f"({FAST_DISTILL_STEPS} steps), then fine-tuned")
    _budget = (f"{5 * FAST_FINETUNE_STEPS} steps in one stage" if _one_shot
               else f"{FAST_FINETUNE_STEPS} steps per replacement")
    _add(_paper.replace(
        name=_name,
        description=(f"DS-DN-ResNet-13 from {FAST_EVOLVE_FROM}: {_how}; {_budget}, blind noise."
                     + FAST_NOTE.replace("Adam 1e-3", "Adam 3e-4")),
        procedure_options={"init": FAST_EVOLVE_FROM, "blocks": 5, "finetune_steps": FAST_FINETUNE_STEPS,
                           "one_shot": _one_shot,
                           **({} if _one_shot else {"block_init": "distill",
                                                    "distill_steps": FAST_DISTILL_STEPS})},
        steps=FAST_FINETUNE_STEPS, **{**FAST_TABLE_FIELDS, "learning_rate": 3e-4,
                                      "model_kwargs": {"blocks": 5, "channels": 1, "base_padding": "same"}}))

SHIPPED_STEPS = 12_000  # about 2.2 hours of the 2-core CPU for DS-DN-ResNet-13 (0.6-0.7 s a step)
SHIPPED_STEPS_DN = 19_000  # DN-ResNet-13 (3 channels too): about 0.75 s a step


def _add_shipped(name: str, what: str, model_kwargs: dict, steps: int, data=SHIPPED_DATA):
    """``name`` (paper recipe) and ``name-fast``, same network, data and noise."""
    where = f"{data['color'].upper() if data['color'] == 'y' else data['color']} of {data['train_data']}"
    _add(TrainConfig(
        name=name,
        description=(f"{what}, blind Gaussian sigma 0-55 (more weight below 25), {where}, paper "
                     f"recipe: 33x33 -> 17x17 'valid' patches, batch 64, N(0, 0.001) weights, "
                     f"direct prediction, Adam 1e-4."),
        model="dnresnet", model_kwargs={"blocks": 5, "base_padding": "valid", **model_kwargs},
        patch_size=33, target_size=17, batch_size=64, learning_rate=1e-4,
        steps=steps, steps_per_epoch=250, snapshot_every=500, **data,
    ))
    return _add(TrainConfig(
        name=f"{name}-fast",
        description=(f"{what}, blind Gaussian sigma 0-55 (more weight below 25), {where}, "
                     f"{steps} steps." + FAST_NOTE),
        model="dnresnet", model_kwargs={"blocks": 5, "base_padding": "same", **model_kwargs},
        steps=steps, steps_per_epoch=250, snapshot_every=1000, **{**data, **FAST_FIELDS},
    ))


SHIPPED_DS_FAST = _add_shipped("dsdnresnet13-blind", "DS-DN-ResNet-13 trained in one shot",
                               {"ds_blocks": 5, "channels": 1}, SHIPPED_STEPS)
SHIPPED_DN_FAST = _add_shipped("dnresnet13-blind", "DN-ResNet-13 trained in one shot", {"channels": 1},
                               SHIPPED_STEPS_DN)
# Color: the 3-channel DN-ResNet-13 (161,731 weights) on RGB CBSD432; LIVE1 patches for the
# validation curve (CBSD68, the test set, stays out of training decisions).
_add_shipped("color-dnresnet13-blind", "RGB DN-ResNet-13 trained in one shot",
             {"channels": 3}, SHIPPED_STEPS_DN,
             data={**SHIPPED_DATA, "train_data": "CBSD432", "val_data": "LIVE1",
                   "color": "rgb"})

# Color from a trained gray model (models/opponent.py): the frozen gray DN-ResNet-13 on
# luminance (its forward pass is most of a step: 0.32 s here), a half-resolution chroma network
# trained on RGB CBSD432; 534k weights in all (the bound is 600k).  Each preset names the
# kept run its luminance network comes from, so it trains the same whatever is shipped.
DN_FROM_DS_FINAL = "benchmarks/saved_runs/dnresnet13-blind-fast-from-ds/final.keras"
DN_LOW_SIGMA_FINAL = "benchmarks/saved_runs/dnresnet13-blind-fast-lowsigma/final.keras"
COLOR_OPPONENT = _add(TrainConfig(
    name="color-opponent-blind-fast",
    description=("RGB: the gray DN-ResNet-13 dnresnet13-blind-fast-from-ds (frozen) on the luminance "
                 "of an opponent transform, a half-resolution chroma network (8 ResBlocks x 48) guided by it; "
                 "blind Gaussian sigma 0-55 (more weight below 25), RGB of CBSD432, "
                 f"{SHIPPED_STEPS} steps." + FAST_NOTE),
    model="opponent_color",
    model_kwargs={"luma": DN_FROM_DS_FINAL, "filters": 48, "blocks": 8},
    steps=SHIPPED_STEPS, steps_per_epoch=250, snapshot_every=1000,
    **{**SHIPPED_DATA, **FAST_FIELDS, "train_data": "CBSD432", "val_data": "LIVE1", "color": "rgb"},
))

def _continued(base: TrainConfig, name: str, what: str, source: str, steps: int,
               learning_rate: float, seed: int, **fields) -> TrainConfig:
    """``base`` started from the weights of ``source`` (``init_weights``) and trained ``steps``
    more with a fresh warm-up + cosine schedule peaking at ``learning_rate``, on patch stream
    ``seed``."""
    return _add(base.replace(
        name=name,
        description=(f"{what} ({source}), {steps} steps with a warm-up and cosine decay from "
                     f"{learning_rate:g}, patch seed {seed}."
                     + FAST_NOTE.replace("Adam 1e-3", f"Adam {learning_rate:g}")),
        init_weights=source, steps=steps, learning_rate=learning_rate, seed=seed, **fields))


# The shipped gray DS model, longer: the finished 12,000-step fast run (kept in
# benchmarks/saved_runs, 135.8 minutes) continued at half the peak rate on a fresh patch stream.
_continued(SHIPPED_DS_FAST, "dsdnresnet13-blind-fast-long",
           "DS-DN-ResNet-13, blind Gaussian sigma 0-55 (more weight below 25), Y of Train400+CBSD432: "
           "the 12,000-step dsdnresnet13-blind-fast run continued",
           "benchmarks/saved_runs/dsdnresnet13-blind-fast/final.keras", 28_000, 5e-4, 1,
           snapshot_every=2000)

# The gray DS model in one run of at most 4 hours of the 2-core machine: a training step costs
# ~0.105 s (benchmarks/results/pipeline_step.json; the input pipeline ~0), so 110,000 steps are
# ~3.2 hours, leaving room under the 4 hours for a busy machine; one warm-up + cosine over the
# whole run, an epoch (validation, checkpoint) every 1,000 steps, a snapshot every 5,000 (the
# 90-minute point is one of them).  Uniform loss weights and 48x48 patches: inverse_noise_rms
# weights and 96x96 patches both lost at sigma 50 (benchmarks/results/blind_levers.json).
DS_4H_STEPS = 110_000
DS_4H = _add(SHIPPED_DS_FAST.replace(
    name="dsdnresnet13-blind-fast-4h",
    description=(f"DS-DN-ResNet-13 trained in one shot, blind Gaussian sigma 0-55 (more weight below 25), "
                 f"Y of Train400+CBSD432, {DS_4H_STEPS} steps (~3.2 hours here), patch seed 6." + FAST_NOTE),
    steps=DS_4H_STEPS, steps_per_epoch=1000, snapshot_every=5000, seed=6,
))

# The gray DS model's 4-hour run again at batch 8: twice the updates for the same pixels.  At 5,000
# steps' pixels, batch 8 measured +0.22 / +0.13 / +0.19 dB at sigma 15 / 25 / 50 over batch 16 (batch 4
# +0.25 / +0.19 / +0.25 but 8 % slower a pixel; the L1 loss +0.07 / +0.05 / +0.20, with batch 8 it cost
# 0.10 at sigma 15: benchmarks/results/blind_levers.json).  A step costs ~0.044 s here (0.42 of batch
# 16's), so 270,000 steps (1.2 times the 110,000-step run's pixels) take ~3.3 hours.  Measured: 194.5
# minutes, BSD68 30.97 / 28.54 / 25.61, as the batch-16 run (30.95 / 28.54 / 25.58): the gain did not last.
DS_4H_BATCH8_STEPS = 270_000
_add(DS_4H.replace(
    name="dsdnresnet13-blind-fast-4h-batch8",
    description=(f"DS-DN-ResNet-13 trained in one shot, blind Gaussian sigma 0-55 (more weight below 25), "
                 f"Y of Train400+CBSD432, {DS_4H_BATCH8_STEPS} steps of batch 8 (~3.3 hours here), patch seed 9."
                 + FAST_NOTE.replace("batch 16", "batch 8")),
    batch_size=8, steps=DS_4H_BATCH8_STEPS, steps_per_epoch=2000, snapshot_every=10_000, seed=9,
))

# DS-DN-ResNet-13 distilled from the shipped DN-ResNet-13 (BSD68 31.22 / 28.79 / 25.85): half of each
# target is the teacher's output.  At 5,000 steps it measured +0.07 / +0.03 / +0.05 dB at sigma 15 / 25 / 50
# over plain training, in 16.5 minutes alone on one thread against the reference's 12.5 beside another
# arm (the teacher's forward pass; blind_levers.json): too little for a 4-hour run.
DN_4H_FINAL = "benchmarks/saved_runs/dnresnet13-blind-fast-4h/final.keras"
_add(SHIPPED_DS_FAST.replace(
    name="dsdnresnet13-blind-fast-distill",
    description=("DS-DN-ResNet-13 trained in one shot towards a blend of the clean patch and the shipped "
                 "DN-ResNet-13's output, blind Gaussian sigma 0-55 (more weight below 25), Y of "
                 "Train400+CBSD432." + FAST_NOTE),
    procedure="distill", procedure_options={"teacher": DN_4H_FINAL, "weight": 0.5},
))

# The gray DN-ResNet-13 in one run of at most 4 hours, as the DS model's: a step costs ~0.15 s here
# (2.3 times the DS model's multiply-adds; measured 148 minutes for the whole run), leaving room for
# a busy machine; one warm-up + cosine over the whole run, a snapshot every 5,000 steps (the 90-minute
# point is one of them).
DN_4H_STEPS = 60_000
_add(SHIPPED_DN_FAST.replace(
    name="dnresnet13-blind-fast-4h",
    description=(f"DN-ResNet-13 trained in one shot, blind Gaussian sigma 0-55 (more weight below 25), "
                 f"Y of Train400+CBSD432, {DN_4H_STEPS} steps (~2.5 hours here), patch seed 8." + FAST_NOTE),
    steps=DN_4H_STEPS, steps_per_epoch=1000, snapshot_every=5000, seed=8,
))

# More of the steps below sigma 15, where a blind model's margin over BM3D is smallest (and the
# luminance of a color image at sigma 15 sees sigma 8.7).
LOW_SIGMA_SPEC = BLIND_GAUSSIAN_SPEC + "|gaussian:sigma=0..15"

# The 4-hour DS run's remaining ~45 minutes: a second, shorter warm-up + cosine (a warm restart:
# the first cosine had flattened, validation within 0.03 dB over its last 10,000 steps) on
# LOW_SIGMA_SPEC.
DS_4H_RESTART_STEPS = 22_000
_continued(DS_4H, "dsdnresnet13-blind-fast-4h-restart",
           "DS-DN-ResNet-13, blind Gaussian sigma 0-55 with more weight below 25 and below 15, Y of "
           "Train400+CBSD432: the 110,000-step dsdnresnet13-blind-fast-4h run continued",
           "benchmarks/saved_runs/dsdnresnet13-blind-fast-4h/final.keras", DS_4H_RESTART_STEPS, 3e-4, 7,
           noise=LOW_SIGMA_SPEC, snapshot_every=2000)

# DN-ResNet-13 from a trained DS model (dsdnresnet13-blind-fast-long, kept in benchmarks/saved_runs),
# the cascade way: its trained 3-layer base (conv1, conv2, output) inherited, the five standard
# ResBlocks inserted at the identity (zero closing layers) and the whole network trained on; the DS
# runs' minutes count in its budget.
_continued(SHIPPED_DN_FAST, "dnresnet13-blind-fast-from-ds",
           "DN-ResNet-13, blind Gaussian sigma 0-55 (more weight below 25), Y of Train400+CBSD432: "
           "five ResBlocks inserted at the identity into the 3-layer base of DS-DN-ResNet-13 "
           "dsdnresnet13-blind-fast-long",
           "benchmarks/saved_runs/dsdnresnet13-blind-fast-long/final.keras", 7_000, 5e-4, 2,
           model_kwargs={**SHIPPED_DN_FAST.model_kwargs, "identity_blocks": [1, 2, 3, 4, 5]},
           snapshot_every=2000)

# dnresnet13-blind-fast-from-ds continued with more of the steps below sigma 15 (shipped before the
# 4-hour run).
_continued(SHIPPED_DN_FAST, "dnresnet13-blind-fast-lowsigma",
           "DN-ResNet-13, blind Gaussian sigma 0-55 with more weight below 25 and below 15, Y of "
           "Train400+CBSD432: dnresnet13-blind-fast-from-ds continued",
           "benchmarks/saved_runs/dnresnet13-blind-fast-from-ds/final.keras", 7_000, 3e-4, 3,
           noise=LOW_SIGMA_SPEC, snapshot_every=1000)

# The paper's route to DS-DN-ResNet-13 with the fast recipe: the low-sigma DN-ResNet-13's
# ResBlocks replaced by DS-ResBlocks one at a time from the tail, each new block first distilled
# from the block it replaces (500 steps), then the whole net fine-tuned with a warm-up + cosine
# schedule at the low rate of a trained net.
EVOLVE_FROM = DN_LOW_SIGMA_FINAL
EVOLVE_STEPS = 4_000
EVOLVE_DISTILL_STEPS = 500
_add(SHIPPED_DN_FAST.replace(
    name="dsdnresnet13-blind-fast-evolved",
    description=(f"DS-DN-ResNet-13 by incremental evolution of the DN-ResNet-13 "
                 f"({EVOLVE_FROM}): ResBlocks replaced by DS-ResBlocks one at a time from the tail, "
                 f"each distilled from the block it replaces ({EVOLVE_DISTILL_STEPS} steps), then "
                 f"{EVOLVE_STEPS} steps of the whole net; blind Gaussian sigma 0-55 with more "
                 f"weight below 25 and below 15, Y of Train400+CBSD432, patch seed 4."
                 + FAST_NOTE.replace("Adam 1e-3", "Adam 1e-4")),
    procedure="evolution",
    procedure_options={"init": EVOLVE_FROM, "blocks": 5, "finetune_steps": EVOLVE_STEPS,
                    "block_init": "distill", "distill_steps": EVOLVE_DISTILL_STEPS},
    model="ds_dnresnet", model_kwargs={"blocks": 5, "channels": 1, "base_padding": "same"},
    noise=LOW_SIGMA_SPEC, steps=EVOLVE_STEPS, learning_rate=1e-4, seed=4, snapshot_every=1000,
))

# The color model shipped before the 4-hour runs, tuned end to end: the opponent model with the
# low-sigma luminance network (its chroma weights kept in benchmarks/saved_runs) trained on with the
# luminance network unfrozen, at a low rate (the luminance holds 88 % of the RGB error at sigma 15
# and 25).
_continued(COLOR_OPPONENT, "color-opponent-blind-fast-tuned",
           "RGB: color-opponent-blind-fast with the low-sigma luminance network, trained on end to end "
           "(luminance network unfrozen), blind Gaussian sigma 0-55 with more weight below 25 and "
           "below 15, RGB of CBSD432",
           "benchmarks/saved_runs/color-opponent-blind-fast/final.keras", 2_500, 1e-4, 5,
           model_kwargs={**COLOR_OPPONENT.model_kwargs, "luma": DN_LOW_SIGMA_FINAL, "train_luma": True},
           noise=LOW_SIGMA_SPEC, snapshot_every=500)
# That model's run went on to 5,000 steps: `kerasdenoise-train --config
# color-opponent-blind-fast-tuned`, then the same with `--set steps=5000 --resume`.

# The color model inside the 4-hour cap: the two runs above (chroma network, then end-to-end
# tuning) around the 4-hour DN-ResNet-13 (its kept final weights) as the luminance network, shorter
# so that the three runs fit: measured 24.4 and 14.4 minutes here (0.15 and 0.22 s a step), 187
# minutes with the DN run; the shipped color model.
DN_4H_FINAL = "benchmarks/saved_runs/dnresnet13-blind-fast-4h/final.keras"
COLOR_4H_STEPS, COLOR_4H_TUNE_STEPS = 10_000, 4_000
COLOR_4H = _add(COLOR_OPPONENT.replace(
    name="color-opponent-blind-fast-4h",
    description=("RGB: the 4-hour gray DN-ResNet-13 (dnresnet13-blind-fast-4h, frozen) on the luminance "
                 "of an opponent transform, a half-resolution chroma network (8 ResBlocks x 48) guided "
                 "by it; blind Gaussian sigma 0-55 (more weight below 25), RGB of CBSD432, "
                 f"{COLOR_4H_STEPS} steps, patch seed 9." + FAST_NOTE),
    model_kwargs={**COLOR_OPPONENT.model_kwargs, "luma": DN_4H_FINAL}, steps=COLOR_4H_STEPS, seed=9,
))
_continued(COLOR_4H, "color-opponent-blind-fast-4h-tuned",
           "RGB: color-opponent-blind-fast-4h trained on end to end (luminance network unfrozen), "
           "blind Gaussian sigma 0-55 with more weight below 25 and below 15, RGB of CBSD432",
           "benchmarks/saved_runs/color-opponent-blind-fast-4h/final.keras", COLOR_4H_TUNE_STEPS, 1e-4, 10,
           model_kwargs={**COLOR_4H.model_kwargs, "train_luma": True}, noise=LOW_SIGMA_SPEC,
           snapshot_every=500)
