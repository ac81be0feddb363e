"""Presets of the gated conv-deconv paper (Zhao 2016, reading guide section 4).

The paper trains the 10-layer conv-deconv network on 100k STL-10 images (64x64 colour) with
minibatches of 10 and SGD for 10k iterations, with and without its gated 'Direct Symmetric
Connections' (DSC, gates 0.1/0.2/0.3/0.4), and compares the MSE-vs-iteration curves (Fig. 6:
with DSC the loss falls much earlier).  Here: random 64x64 crops of CBSD432 (RGB), the reading
guide's stand-in for STL-10; validation crops of CBSD68.

Not given by the paper, chosen here: the noise levels (Gaussian sigma 25 on 0-255 plus 5% salt
and pepper), the SGD learning rate (0.01; the project's SGD has momentum 0.9) and the
initialisation (``he_normal``, a truncated normal).  A 500-step probe on CBSD432 crops with these
settings already separates the two models (train MSE 0.0096 with DSC vs 0.023 without).

``*-dsc`` / ``*-nodsc`` pairs differ only in ``model_kwargs.gates``: same data stream, seed,
steps.  The perceptual-loss presets need a trained classifier (see
:func:`kerasdenoise.training.transfer.train_feature_classifier`) at ``loss_kwargs.classifier_path``.
"""
from kerasdenoise.training.configs import TrainConfig

NOISE = "gaussian:sigma=25+saltpepper:amount=0.05"
DSC_GATES = [0.1, 0.2, 0.3, 0.4]
CLASSIFIER_PATH = "runs/gated-classifier/classifier.keras"

_COMMON = dict(
    model="gated_convdeconv", train_data="CBSD432", val_data="CBSD68", color="rgb",
    noise=NOISE, patch_size=64, batch_size=10, optimizer="sgd", learning_rate=0.01,
    val_batches=10, seed=0,
)
PAPER_STEPS = 10_000  # 100k images in minibatches of 10
CPU_STEPS = 3000  # ~0.15-0.3 s/step on the 2-core reference machine: 10-15 minutes per run
# The fast recipe (residual output from the identity, He init, flips / rotations, Adam 1e-3 with
# warm-up and cosine decay, clipnorm 1), same data stream and batch, for the steps that
# benchmarks/gated.py gives the paper-recipe pair (a curve point every 50 steps).
FAST_STEPS = 1500
FAST_FIELDS = dict(recipe="fast", augment=True, optimizer="adam", learning_rate=1e-3, clipnorm=1.0,
                   steps_per_epoch=50)


def _gated(name, gates, steps, description, **changes):
    return TrainConfig(
        name=name, description=description,
        model_kwargs={"gates": gates, "channels": 3, "learnable_gates": False},
        **{"steps": steps, "steps_per_epoch": min(500, steps), **_COMMON, **changes},
    )


_DENOISERS = (
    _gated("gated-dsc", DSC_GATES, PAPER_STEPS,
           "Gated conv-deconv (10 layers, DSC gates 0.1-0.4), 64x64 CBSD432 RGB crops, Gaussian "
           "sigma 25 + 5% salt-and-pepper, batch 10, SGD, 10k steps as in the paper (Fig. 6, blue)."),
    _gated("gated-nodsc", None, PAPER_STEPS,
           "The same 10-layer conv-deconv without connections (Fig. 6, red); pair of gated-dsc."),
    _gated("gated-cpu-dsc", DSC_GATES, CPU_STEPS,
           "gated-dsc at a CPU budget: 3k steps of batch 10 (10-15 minutes on 2 cores)."),
    _gated("gated-cpu-nodsc", None, CPU_STEPS,
           "gated-nodsc at a CPU budget (same steps, data and seed as gated-cpu-dsc)."),
    _gated("gated-fast-dsc", DSC_GATES, FAST_STEPS,
           "gated-cpu-dsc with the fast recipe (the network predicts a correction to its input, "
           "He init at the identity, flips / rotations, Adam 1e-3 with warm-up and cosine decay, "
           "clipnorm 1).", **FAST_FIELDS),
    _gated("gated-fast-nodsc", None, FAST_STEPS,
           "gated-cpu-nodsc with the fast recipe; pair of gated-fast-dsc.", **FAST_FIELDS),
)


def _perceptual(name, steps, description):
    return TrainConfig(
        name=name, description=description,
        model_kwargs={"gates": None, "channels": 3, "learnable_gates": False},
        procedure="joint_classifier_loss", procedure_options={"lambda_mse": 0.0, "feature_weight": 1.0},
        loss="classifier-features",
        loss_kwargs={"classifier_path": CLASSIFIER_PATH, "distance": "squared"},
        steps=steps, steps_per_epoch=min(500, steps), **_COMMON,
    )


PRESETS = _DENOISERS + (
    _perceptual("gated-perceptual", PAPER_STEPS,
                "The paper's perceptual-loss variant: plain 10-layer conv-deconv trained on the "
                "L2 distance of FC-1024 features of a frozen small classifier (needs "
                f"loss_kwargs.classifier_path, default {CLASSIFIER_PATH}); the paper reports it did "
                "not converge."),
    _perceptual("gated-cpu-perceptual", 1000,
                "gated-perceptual at a CPU budget (1k steps); needs the classifier file too."),
)
