"""Image degradations as pure TensorFlow functions of ``(images, seed)``.

Every function takes a float32 batch ``[B, H, W, C]`` in [0, 1] and a seed, an int32 (or int64)
tensor of shape ``[2]``, and uses only stateless random ops (``tf.random.stateless_*``): the
same seed always gives the same result, and the functions run inside ``tf.data.Dataset.map``
(graph mode, with unknown batch size, height and width).  Different images in a batch get
independent noise.

Gaussian, Poisson and Poisson-Gaussian outputs are **not** clipped to [0, 1] (the DnCNN
evaluation protocol measures on the unclipped noisy input); salt-and-pepper, blur and JPEG keep
an image in [0, 1] inside [0, 1].  Noise levels are on the 0-255 scale whatever the image range.

Specs
-----
:func:`from_spec` turns a string into a :class:`Degradation`, a callable ``deg(images, seed)``::

    gaussian:sigma=25                      additive white Gaussian noise, sigma on 0-255
    poisson:peak=4                         y = Poisson(peak * x) / peak
    poisson-gaussian:sigma=1,peak=10       y = Poisson(peak * x) / peak + N(0, (sigma/255)^2)
    saltpepper:amount=0.05                 5% of the pixels set to 0 or 1
    blur:kernel=mnist                      convolution with an MNIST-digit kernel
    jpeg:quality=10                        real JPEG encode / decode of the 8-bit image
    blur:kernel=mnist+gaussian:sigma=25.5  '+' chains left to right
    gaussian:sigma=10..75|poisson:peak=1..8
                                           '|' picks one member per image (uniformly);
                                           'a..b' draws a value uniformly per image

``|`` binds loosest: a spec is a ``|`` of ``+`` chains.  ``blur`` also takes ``size=N`` (kernel
side, default 7 as in the ResUNet authors' code), ``digit=random|first`` (``first``: the
authors' quirk of one fixed digit for every image) and ``boundary=symmetric|circular``
(``circular``: the authors' FFT convolution).  A bad spec raises ``ValueError`` naming the
bad part and listing what is valid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from kerasdenoise.data import mnist

__all__ = [
    "Degradation", "from_spec", "KINDS", "SPEC_HELP",
    "gaussian_noise", "poisson_noise", "poisson_gaussian_noise", "salt_and_pepper_noise",
    "mnist_blur", "jpeg_compress",
]

Number = Union[int, float]
#: A parameter: a python number (same for every image) or a float tensor ``[B]`` (one per image).
Param = Union[Number, tf.Tensor, np.ndarray]


# --------------------------------------------------------------------------------------------
# Checks shared by every function
# --------------------------------------------------------------------------------------------

def _check_images(images) -> tf.Tensor:
    """Images as a float32 tensor of rank 4 ``[B, H, W, C]``; integer images are refused
    (an uint8 image in 0-255 would silently break the 0-255 noise scale)."""
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise ValueError(
            f"images must be floating point in [0, 1], got dtype {images.dtype.name}; "
            "convert first (e.g. tf.image.convert_image_dtype)")
    if images.dtype != tf.float32:
        images = tf.cast(images, tf.float32)
    rank = images.shape.rank
    if rank is not None and rank != 4:
        raise ValueError(
            f"images must have rank 4 [batch, height, width, channels], got shape {images.shape}; "
            "add a batch axis with images[None] for a single image")
    if rank is None:
        images = tf.ensure_shape(images, [None, None, None, None])
    return images


def _check_seed(seed) -> tf.Tensor:
    """Seed as an int32/int64 tensor of shape [2] (what the stateless random ops take)."""
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        if not seed.dtype.is_integer:
            raise ValueError(f"seed must be integers of shape [2], got dtype {seed.dtype.name}")
        seed = tf.cast(seed, tf.int64)
    if seed.shape.rank is not None and seed.shape.as_list() != [2]:
        raise ValueError(f"seed must have shape [2], got {seed.shape}")
    return seed


def _split(seed: tf.Tensor, num: int) -> List[tf.Tensor]:
    """``num`` independent sub-seeds derived from ``seed``."""
    sub = tf.random.experimental.stateless_split(seed, num=num)
    return [sub[i] for i in range(num)]


def _per_image(value: Param, name: str, valid: Callable[[float], bool], rule: str) -> tf.Tensor:
    """A parameter as a float32 tensor that broadcasts against ``[B, H, W, C]``.

    Python numbers are validated (``rule`` says what is valid); tensors are taken as they are,
    a scalar for the whole batch or a vector ``[B]`` with one value per image.
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not math.isfinite(float(value)) or not valid(float(value)):
            raise ValueError(f"{name} must be {rule}, got {value!r}")
        return tf.constant(float(value), tf.float32)
    tensor = tf.cast(tf.convert_to_tensor(value), tf.float32)
    if tensor.shape.rank == 0:
        return tensor
    if tensor.shape.rank == 1:
        return tf.reshape(tensor, [-1, 1, 1, 1])
    raise ValueError(f"{name} must be a number or a vector [batch], got shape {tensor.shape}")


def _if_not_empty(images: tf.Tensor, apply: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
    """``apply(images)``, or ``images`` itself for an empty batch (some ops refuse zero sizes,
    and a ``|`` spec can hand a member no image at all)."""
    result = tf.cond(tf.shape(images)[0] > 0, lambda: apply(images), lambda: images)
    result.set_shape(images.shape)
    return result


# --------------------------------------------------------------------------------------------
# The degradations as plain functions
# --------------------------------------------------------------------------------------------

def gaussian_noise(images, seed, sigma: Param) -> tf.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma / 255`` (sigma on the 0-255 scale).

    ``sigma`` >= 0: a number, or a tensor ``[B]`` with one level per image.  Not clipped.
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    sigma = _per_image(sigma, "sigma", lambda v: v >= 0, "a number >= 0 (0-255 scale)")
    noise = tf.random.stateless_normal(tf.shape(images), seed, dtype=tf.float32)
    return images + noise * (sigma / 255.0)


def poisson_noise(images, seed, peak: Param) -> tf.Tensor:
    """Poisson (shot) noise with the image scaled to ``peak``: ``y = Poisson(peak * x) / peak``.

    A smaller peak means fewer photons, hence more noise (variance ``x / peak``).  ``peak`` > 0:
    a number or a tensor ``[B]``.  Negative input values count as 0.  Not clipped.
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    peak = _per_image(peak, "peak", lambda v: v > 0, "a number > 0")
    rate = peak * tf.maximum(images, 0.0)
    counts = tf.random.stateless_poisson(tf.shape(images), seed, lam=rate, dtype=tf.float32)
    return counts / peak


def poisson_gaussian_noise(images, seed, sigma: Param, peak: Param) -> tf.Tensor:
    """Poisson-Gaussian noise: ``y = Poisson(peak * x) / peak + N(0, (sigma / 255)^2)``.

    The DN-ResNet paper's mixed noise (it uses ``peak = 10 * sigma``).  Not clipped.
    """
    seed = _check_seed(seed)
    poisson_seed, gaussian_seed = _split(seed, 2)
    return gaussian_noise(poisson_noise(images, poisson_seed, peak), gaussian_seed, sigma)


def salt_and_pepper_noise(images, seed, amount: Param) -> tf.Tensor:
    """Set a fraction ``amount`` of the pixels to 0 (pepper) or 1 (salt), with equal probability.

    Each pixel is hit independently with probability ``amount`` (in [0, 1]; a number or a
    tensor ``[B]``); a hit pixel gets the same value in all channels.  Values stay in [0, 1].
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    amount = _per_image(amount, "amount", lambda v: 0 <= v <= 1, "a fraction in [0, 1]")
    hit_seed, salt_seed = _split(seed, 2)
    shape = tf.concat([tf.shape(images)[:3], [1]], axis=0)  # one decision per pixel
    hit = tf.random.stateless_uniform(shape, hit_seed) < amount
    salt = tf.random.stateless_uniform(shape, salt_seed) < 0.5
    value = tf.cast(salt, tf.float32)
    return tf.where(hit, value, images)


def _wrap_pad(images: tf.Tensor, top: int, bottom: int, left: int, right: int) -> tf.Tensor:
    """Circular padding of ``[B, H, W, C]`` (what an FFT convolution implies)."""
    rows = [images[:, -top:]] if top else []
    rows += [images] + ([images[:, :bottom]] if bottom else [])
    images = tf.concat(rows, axis=1)
    cols = [images[:, :, -left:]] if left else []
    cols += [images] + ([images[:, :, :right]] if right else [])
    return tf.concat(cols, axis=2)


def mnist_blur(images, seed, kernels, circular: bool = False) -> tf.Tensor:
    """Blur each image with one kernel drawn (uniformly, per image) from a stack ``[N, k, k]``.

    Every channel is convolved with the kernel (a true convolution, the kernel flipped, as the
    authors' FFT did).  The image keeps its size: by default the border is extended by
    mirroring (``SYMMETRIC`` padding, like MATLAB's ``imfilter(..., 'symmetric')``), which needs
    images at least ``k // 2`` pixels on a side; ``circular=True`` wraps around instead, as
    the ResUNet authors' FFT convolution did.  Kernels summing to 1 keep the mean of a flat
    image and keep values in [0, 1].  Pass ``kernels[:1]`` for one fixed kernel.
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    kernels = tf.convert_to_tensor(kernels, tf.float32)
    if kernels.shape.rank != 3 or None in kernels.shape.as_list()[1:]:
        raise ValueError(f"kernels must be a stack [N, kh, kw] of known kernel size, "
                         f"got shape {kernels.shape}")
    kernel_h, kernel_w = kernels.shape.as_list()[1:]
    top, left = (kernel_h - 1) // 2, (kernel_w - 1) // 2
    bottom, right = kernel_h - 1 - top, kernel_w - 1 - left

    def blur(batch: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(batch)
        b, h, w, c = shape[0], shape[1], shape[2], shape[3]
        choice = tf.random.stateless_uniform(
            [b], seed, minval=0, maxval=tf.shape(kernels)[0], dtype=tf.int32)
        chosen = tf.gather(kernels, choice)[:, ::-1, ::-1]  # [B, kh, kw], flipped: convolution
        if circular:
            padded = _wrap_pad(batch, top, bottom, left, right)
        else:
            padded = tf.pad(batch, [[0, 0], [top, bottom], [left, right], [0, 0]], "SYMMETRIC")
        # One depthwise convolution for the whole batch: images and channels side by side.
        hp, wp = h + kernel_h - 1, w + kernel_w - 1
        stacked = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, hp, wp, b * c])
        filters = tf.tile(tf.transpose(chosen, [1, 2, 0])[:, :, :, None], [1, 1, 1, c])
        filters = tf.reshape(filters, [kernel_h, kernel_w, b * c, 1])
        out = tf.nn.depthwise_conv2d(stacked, filters, [1, 1, 1, 1], "VALID")
        return tf.transpose(tf.reshape(out, [h, w, b, c]), [2, 0, 1, 3])

    return _if_not_empty(images, blur)


def jpeg_compress(images, seed, quality: Param) -> tf.Tensor:
    """JPEG-compress each image at ``quality`` (1..100) and decode it again.

    The image is clipped to [0, 1], rounded to 8 bits, encoded with TensorFlow's libjpeg
    (``EncodeJpegVariableQuality``, 4:2:0 chroma for color) and decoded, so the artifacts are
    real (the same pixels as OpenCV's ``imencode`` / ``imdecode``, both at libjpeg defaults).
    ``quality``: an integer, or an int tensor ``[B]`` with one quality per image (tensor
    values are clipped to 1..100).  Images need 1 or 3 channels.  ``seed`` is unused (the
    codec is deterministic); it is there so every degradation has the same signature.
    """
    images = _check_images(images)
    _check_seed(seed)
    channels = images.shape[-1]
    if channels not in (1, 3):
        raise ValueError(f"jpeg needs images with 1 or 3 channels (known statically), "
                         f"got shape {images.shape}")
    if isinstance(quality, (int, float, np.integer, np.floating)) and not isinstance(quality, bool):
        if float(quality) != int(quality) or not 1 <= int(quality) <= 100:
            raise ValueError(f"quality must be an integer in 1..100, got {quality!r}")
        quality = tf.constant(int(quality), tf.int32)
    else:
        quality = tf.clip_by_value(tf.cast(tf.convert_to_tensor(quality), tf.int32), 1, 100)
        if quality.shape.rank not in (0, 1):
            raise ValueError(f"quality must be a number or a vector [batch], got {quality.shape}")

    def compress(batch: tf.Tensor) -> tf.Tensor:
        per_image = tf.broadcast_to(quality, tf.shape(batch)[:1])
        pixels = tf.cast(tf.round(tf.clip_by_value(batch, 0.0, 1.0) * 255.0), tf.uint8)

        def one(args):
            image, q = args
            encoded = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=q)
            # The accurate integer IDCT, as libjpeg / OpenCV / PIL decode by default; TF's
            # default (fast IDCT) loses up to ~10 dB at quality 95-100.
            return tf.io.decode_jpeg(encoded, channels=channels, dct_method="INTEGER_ACCURATE")

        decoded = tf.map_fn(one, (pixels, per_image),
                            fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8))
        return tf.cast(decoded, tf.float32) / 255.0

    return _if_not_empty(images, compress)


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ParamRule:
    """What one parameter of a degradation accepts."""
    kind: str                        # 'float', 'int' or 'choice'
    rule: str                        # human-readable, for error messages
    valid: Callable[[float], bool] = lambda v: True
    required: bool = True
    default: Optional[Union[float, int, str]] = None
    ranges: bool = True              # may be given as a..b, drawn per image
    choices: Tuple[str, ...] = ()


_RULES: Dict[str, Dict[str, _ParamRule]] = {
    "gaussian": {
        "sigma": _ParamRule("float", "a number >= 0 (0-255 scale)", lambda v: v >= 0)},
    "poisson": {
        "peak": _ParamRule("float", "a number > 0", lambda v: v > 0)},
    "poisson-gaussian": {
        "sigma": _ParamRule("float", "a number >= 0 (0-255 scale)", lambda v: v >= 0),
        "peak": _ParamRule("float", "a number > 0", lambda v: v > 0)},
    "saltpepper": {
        "amount": _ParamRule("float", "a fraction in [0, 1]", lambda v: 0 <= v <= 1)},
    "blur": {
        "kernel": _ParamRule("choice", "mnist", ranges=False, choices=("mnist",)),
        "size": _ParamRule("int", "an integer >= 1", lambda v: v >= 1, required=False,
                           default=mnist.DEFAULT_KERNEL_SIZE, ranges=False),
        "digit": _ParamRule("choice", "random or first", required=False, default="random",
                            ranges=False, choices=("random", "first")),
        "boundary": _ParamRule("choice", "symmetric or circular", required=False,
                               default="symmetric", ranges=False,
                               choices=("symmetric", "circular"))},
    "jpeg": {
        "quality": _ParamRule("int", "an integer in 1..100", lambda v: 1 <= v <= 100)},
}

#: The degradation names a spec may use.
KINDS: Tuple[str, ...] = tuple(_RULES)

SPEC_HELP = (
    "valid degradations: gaussian:sigma=S (S >= 0, 0-255 scale); poisson:peak=P (P > 0); "
    "poisson-gaussian:sigma=S,peak=P; saltpepper:amount=A (0 <= A <= 1); "
    "blur:kernel=mnist[,size=N][,digit=random|first][,boundary=symmetric|circular]; "
    "jpeg:quality=Q (integer 1..100). Numbers of sigma/peak/amount/quality may be ranges a..b "
    "(drawn per image); '+' chains steps left to right; '|' picks one chain per image.")


def _format_number(value: Number) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _format_value(value) -> str:
    if isinstance(value, tuple):
        return f"{_format_number(value[0])}..{_format_number(value[1])}"
    if isinstance(value, str):
        return value
    return _format_number(value)


@dataclass(frozen=True)
class _Step:
    """One degradation of a chain, its parameters parsed and validated."""
    kind: str
    params: Tuple[Tuple[str, object], ...]  # in _RULES order; a range is a (low, high) tuple
    kernels: Optional[np.ndarray] = field(default=None, compare=False, repr=False)
    note: Optional[str] = field(default=None, compare=False)

    @property
    def spec(self) -> str:
        shown = [f"{name}={_format_value(value)}" for name, value in self.params
                 if _RULES[self.kind][name].required or value != _RULES[self.kind][name].default]
        return f"{self.kind}:{','.join(shown)}" if shown else self.kind

    def _value(self, name: str, seed: tf.Tensor, batch: tf.Tensor):
        """The parameter: the number itself, or one draw per image for a range."""
        value = dict(self.params)[name]
        if not isinstance(value, tuple):
            return value
        low, high = value
        if _RULES[self.kind][name].kind == "int":
            return tf.random.stateless_uniform([batch], seed, minval=int(low),
                                               maxval=int(high) + 1, dtype=tf.int32)
        return tf.random.stateless_uniform([batch], seed, minval=low, maxval=high)

    def __call__(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        noise_seed, first_seed, second_seed = _split(seed, 3)
        batch = tf.shape(images)[0]
        if self.kind == "gaussian":
            return gaussian_noise(images, noise_seed, self._value("sigma", first_seed, batch))
        if self.kind == "poisson":
            return poisson_noise(images, noise_seed, self._value("peak", first_seed, batch))
        if self.kind == "poisson-gaussian":
            return poisson_gaussian_noise(images, noise_seed,
                                          self._value("sigma", first_seed, batch),
                                          self._value("peak", second_seed, batch))
        if self.kind == "saltpepper":
            return salt_and_pepper_noise(images, noise_seed,
                                         self._value("amount", first_seed, batch))
        if self.kind == "blur":
            return mnist_blur(images, noise_seed, tf.constant(self.kernels),
                              circular=dict(self.params)["boundary"] == "circular")
        if self.kind == "jpeg":
            return jpeg_compress(images, noise_seed, self._value("quality", first_seed, batch))
        raise AssertionError(f"no implementation for {self.kind}")  # _RULES and this disagree


class Degradation:
    """A parsed degradation spec: call it as ``deg(images, seed)``.

    ``images``: float32 ``[B, H, W, C]`` in [0, 1] (rank 4; eager tensors, numpy or symbolic
    tensors inside ``tf.data.Dataset.map``); ``seed``: int32 ``[2]``.  Same seed, same output.
    ``spec`` is the canonical spec string (no spaces, defaults left out); ``notes`` lists what a
    results file should record about it (for example where the blur kernels came from, and the
    notice when Hershey-font digits stood in for a missing MNIST file).
    """

    def __init__(self, chains: Sequence[Sequence[_Step]]):
        self._chains = tuple(tuple(chain) for chain in chains)
        notes: List[str] = []
        for chain in self._chains:
            for step in chain:
                if step.note and step.note not in notes:
                    notes.append(step.note)
        self.notes = notes

    @property
    def spec(self) -> str:
        return "|".join("+".join(step.spec for step in chain) for chain in self._chains)

    @property
    def chains(self) -> Tuple[Tuple[str, ...], ...]:
        """The canonical spec of every step, per ``|`` member."""
        return tuple(tuple(step.spec for step in chain) for chain in self._chains)

    def __repr__(self) -> str:
        return f"Degradation({self.spec!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Degradation) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    @staticmethod
    def _run_chain(chain: Sequence[_Step], images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        for step, step_seed in zip(chain, _split(seed, len(chain))):
            images = step(images, step_seed)
        return images

    def __call__(self, images, seed) -> tf.Tensor:
        images = _check_images(images)
        seed = _check_seed(seed)
        if len(self._chains) == 1:
            return self._run_chain(self._chains[0], images, seed)
        # '|': draw a member per image, run each member on its own images only, put back.
        choice_seed, *chain_seeds = _split(seed, 1 + len(self._chains))
        count = len(self._chains)
        batch = tf.shape(images)[0]
        choice = tf.random.stateless_uniform([batch], choice_seed, minval=0, maxval=count,
                                             dtype=tf.int32)
        if images.shape[0] == 1:
            # One image (the pipeline degrades element by element): run only its member.
            # switch_case also works under tf.vectorized_map, where dynamic_partition does not.
            branches = [lambda c=chain, s=chain_seed: self._run_chain(c, images, s)
                        for chain, chain_seed in zip(self._chains, chain_seeds)]
            result = tf.switch_case(choice[0], branches)
            result.set_shape(images.shape)
            return result
        groups = tf.dynamic_partition(images, choice, count)
        positions = tf.dynamic_partition(tf.range(batch), choice, count)
        outputs = []
        for chain, chain_seed, group in zip(self._chains, chain_seeds, groups):
            group.set_shape([None] + images.shape.as_list()[1:])
            outputs.append(_if_not_empty(
                group, lambda part, c=chain, s=chain_seed: self._run_chain(c, part, s)))
        result = tf.dynamic_stitch(positions, outputs)
        result.set_shape(images.shape)
        return result


def _parse_number(text: str, kind: str, where: str, rule: _ParamRule) -> Number:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number (must be {rule.rule}); "
                         f"{SPEC_HELP}") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not finite (must be {rule.rule})")
    if kind == "int":
        if not value.is_integer():
            raise ValueError(f"{where}: {text!r} is not an integer (must be {rule.rule})")
        value = int(value)
    if not rule.valid(value):
        raise ValueError(f"{where}: {text} is out of range (must be {rule.rule}); {SPEC_HELP}")
    return value


def _parse_value(text: str, where: str, rule: _ParamRule):
    if rule.kind == "choice":
        if text not in rule.choices:
            raise ValueError(f"{where}: {text!r} is not one of {', '.join(rule.choices)}")
        return text
    if ".." in text:
        if not rule.ranges:
            raise ValueError(f"{where}: a range a..b is not allowed here (must be {rule.rule})")
        low_text, high_text = text.split("..", 1)
        low = _parse_number(low_text.strip(), rule.kind, where, rule)
        high = _parse_number(high_text.strip(), rule.kind, where, rule)
        if low > high:
            raise ValueError(f"{where}: range {text} has a > b (write low..high)")
        return low if low == high else (low, high)
    return _parse_number(text, rule.kind, where, rule)


def _parse_step(text: str) -> _Step:
    name, has_params, params_text = (part.strip() for part in text.partition(":"))
    if name not in _RULES:
        raise ValueError(f"unknown degradation {name!r} in {text!r}; {SPEC_HELP}")
    rules = _RULES[name]
    valid_params = ", ".join(rules)
    given: Dict[str, object] = {}
    if has_params:
        for item in params_text.split(","):
            item = item.strip()
            key, has_value, value_text = (part.strip() for part in item.partition("="))
            if not item or not has_value or not key or not value_text:
                raise ValueError(f"malformed parameter {item!r} in {text!r}: write name=value "
                                 f"(parameters of {name}: {valid_params})")
            if key not in rules:
                raise ValueError(f"unknown parameter {key!r} of {name} in {text!r} "
                                 f"(parameters of {name}: {valid_params})")
            if key in given:
                raise ValueError(f"parameter {key!r} given twice in {text!r}")
            given[key] = _parse_value(value_text, f"{name}:{key}={value_text}", rules[key])
    for key, rule in rules.items():
        if key not in given:
            if rule.required:
                raise ValueError(f"{name} needs {key}=... ({rule.rule}) in {text!r}; "
                                 f"{SPEC_HELP}")
            given[key] = rule.default
    params = tuple((key, given[key]) for key in rules)
    if name == "blur":
        kernels, source = mnist.blur_kernels(int(given["size"]))
        if given["digit"] == "first":
            kernels = kernels[:1]
        return _Step(name, params, kernels=kernels, note=f"blur kernels: {source}")
    return _Step(name, params)


def from_spec(spec: Union[str, Degradation]) -> Degradation:
    """Parse a spec string such as ``"blur:kernel=mnist+gaussian:sigma=25.5"`` (see the module
    docstring) into a :class:`Degradation`.  Names and keys are case-insensitive and spaces
    around separators are ignored; ``.spec`` of the result is the canonical form.  A
    :class:`Degradation` is returned as it is.  Raises ``ValueError`` naming the bad part."""
    if isinstance(spec, Degradation):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a degradation spec is a string, got {type(spec).__name__}")
    text = spec.strip().lower()
    if not text:
        raise ValueError(f"empty degradation spec; {SPEC_HELP}")
    chains = []
    for member in text.split("|"):
        if not member.strip():
            raise ValueError(f"empty alternative in {spec!r} (nothing around a '|'); {SPEC_HELP}")
        chain = []
        for step in member.split("+"):
            if not step.strip():
                raise ValueError(f"empty step in {member.strip()!r} of {spec!r} "
                                 f"(nothing around a '+'); {SPEC_HELP}")
            chain.append(_parse_step(step.strip()))
        chains.append(chain)
    return Degradation(chains)
