"""Image degradations as pure TensorFlow functions of ``(images, seed)``, and a registry of them.

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

The kinds
---------
:data:`KINDS` maps each name to its :class:`DegradationKind`: the parameters (:class:`Param`:
type, valid range, default), the TF function and how its arguments are prepared.  The parser,
the validation, :func:`spec_help` (the text CLIs show) and :func:`gaussian_sigma` (the noise
level of a plain Gaussian spec, for denoisers told the level) all read that table, so a new
kind is its TF function plus one entry there.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from kerasdenoise.data import mnist

__all__ = [
    "Degradation", "DegradationKind", "Param", "KINDS", "from_spec", "spec_help",
    "gaussian_sigma",
    "gaussian_noise", "poisson_noise", "poisson_gaussian_noise", "salt_and_pepper_noise",
    "mnist_blur", "jpeg_compress",
]

Number = Union[int, float]
#: A parameter's value: a python number (same for every image) or a tensor ``[B]`` (one per image).
ParamValue = Union[Number, tf.Tensor, np.ndarray]


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _format_number(value: Number) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# --------------------------------------------------------------------------------------------
# Parameters: declared once, read by the functions' checks, the spec parser and the help
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One parameter of a degradation kind, written ``name=value`` in a spec.

    ``type`` is ``"float"``, ``"int"`` or ``"choice"``.  A number is valid from ``low`` to
    ``high`` (``None``: no bound; ``low_open``: ``low`` itself is not valid); a choice is one of
    ``choices``.  ``default`` ``None`` makes the parameter required.  A ``drawn`` number may be
    written as a range ``a..b``: each image then gets its own value, drawn uniformly
    (:meth:`sample`).  ``doc`` completes the rule shown in errors and help.
    """
    name: str
    type: str = "float"
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    choices: Tuple[str, ...] = ()
    default: Optional[Union[int, float, str]] = None
    drawn: bool = True
    doc: str = ""

    def __post_init__(self):
        if self.type not in ("float", "int", "choice"):
            raise ValueError(f"parameter {self.name}: type must be float, int or choice, "
                             f"got {self.type!r}")
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"parameter {self.name}: choices go with type 'choice' only")
        if self.default is not None:
            valid = (self.default in self.choices if self.type == "choice"
                     else self.accepts(float(self.default)))
            if not valid:
                raise ValueError(f"parameter {self.name}: default {self.default!r} is not "
                                 f"{self.rule}")

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def takes_range(self) -> bool:
        return self.drawn and self.type != "choice"

    @property
    def rule(self) -> str:
        """What the parameter accepts, in words (``"a number >= 0 (0-255 scale)"``)."""
        if self.type == "choice":
            words = self.choices[0] if len(self.choices) == 1 else (
                f"{', '.join(self.choices[:-1])} or {self.choices[-1]}")
        else:
            noun = "an integer" if self.type == "int" else "a number"
            low, high = self.low, self.high
            if low is not None and high is not None:
                if self.type == "int" and not self.low_open:
                    words = f"{noun} in {_format_number(low)}..{_format_number(high)}"
                else:
                    words = (f"{noun} in {'(' if self.low_open else '['}{_format_number(low)}, "
                             f"{_format_number(high)}]")
            elif low is not None:
                words = f"{noun} {'>' if self.low_open else '>='} {_format_number(low)}"
            elif high is not None:
                words = f"{noun} <= {_format_number(high)}"
            else:
                words = noun
        return f"{words} ({self.doc})" if self.doc else words

    def accepts(self, number: float) -> bool:
        """Whether a finite number is valid (integer-valued for an ``int`` parameter)."""
        if self.type == "int" and not float(number).is_integer():
            return False
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            return False
        return self.high is None or number <= self.high

    def check(self, value: Number) -> Number:
        """A python number given to a degradation function, returned when valid."""
        if not math.isfinite(float(value)) or not self.accepts(float(value)):
            raise ValueError(f"{self.name} must be {self.rule}, got {value!r}")
        return value

    def parse(self, text: str, where: str):
        """The value of ``text`` from a spec: a word, a number, or a range ``(low, high)``.
        ``where`` (the ``kind:name=value`` text) leads every error."""
        if self.type == "choice":
            if text not in self.choices:
                raise ValueError(f"{where}: {text!r} is not one of {', '.join(self.choices)}")
            return text
        if ".." in text:
            if not self.takes_range:
                raise ValueError(f"{where}: a range a..b is not allowed here (must be {self.rule})")
            low_text, high_text = text.split("..", 1)
            low = self._parse_number(low_text.strip(), where)
            high = self._parse_number(high_text.strip(), where)
            if low > high:
                raise ValueError(f"{where}: range {text} has a > b (write low..high)")
            return low if low == high else (low, high)
        return self._parse_number(text, where)

    def _parse_number(self, text: str, where: str) -> Number:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not a number (must be {self.rule}); "
                             f"{spec_help()}") from None
        if not math.isfinite(value):
            raise ValueError(f"{where}: {text!r} is not finite (must be {self.rule})")
        if self.type == "int":
            if not value.is_integer():
                raise ValueError(f"{where}: {text!r} is not an integer (must be {self.rule})")
            value = int(value)
        if not self.accepts(value):
            raise ValueError(f"{where}: {text} is out of range (must be {self.rule}); "
                             f"{spec_help()}")
        return value

    def sample(self, value, seed: tf.Tensor, batch: tf.Tensor):
        """The value for a batch: a parsed value itself, or for a range ``(low, high)`` one
        uniform draw per image (a tensor ``[batch]``)."""
        if not isinstance(value, tuple):
            return value
        low, high = value
        if self.type == "int":
            return tf.random.stateless_uniform([batch], seed, minval=int(low),
                                               maxval=int(high) + 1, dtype=tf.int32)
        return tf.random.stateless_uniform([batch], seed, minval=low, maxval=high)

    def format(self, value) -> str:
        """A parsed value as a spec writes it (canonical form)."""
        if isinstance(value, tuple):
            return f"{_format_number(value[0])}..{_format_number(value[1])}"
        if isinstance(value, str):
            return value
        return _format_number(value)

    @property
    def usage(self) -> str:
        """``name=VALUE`` as the help shows it (``digit=random|first`` for a choice)."""
        value = "|".join(self.choices) if self.type == "choice" else self.name.upper()
        return f"{self.name}={value}"

    @property
    def description(self) -> str:
        """The help's note on the parameter ("" when its usage says it all)."""
        if self.type == "choice" and not self.doc and self.required:
            return ""
        subject = self.name if self.type == "choice" else self.name.upper()
        default = "" if self.required else f", default {self.format(self.default)}"
        return f"{subject}: {self.rule}{default}"


_SIGMA = Param("sigma", low=0, doc="0-255 scale")
_PEAK = Param("peak", low=0, low_open=True)
_AMOUNT = Param("amount", low=0, high=1)
_QUALITY = Param("quality", "int", low=1, high=100)
_BLUR_PARAMS = (
    Param("kernel", "choice", choices=("mnist",)),
    Param("size", "int", low=1, default=mnist.DEFAULT_KERNEL_SIZE, drawn=False,
          doc="kernel side"),
    Param("digit", "choice", choices=("random", "first"), default="random",
          doc="first: one fixed digit for every image"),
    Param("boundary", "choice", choices=("symmetric", "circular"), default="symmetric",
          doc="circular: as an FFT convolution"),
)


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


def _per_image(value: ParamValue, param: Param) -> tf.Tensor:
    """A parameter as a float32 tensor that broadcasts against ``[B, H, W, C]``.

    Python numbers are validated against ``param``; tensors are taken as they are, a scalar
    for the whole batch or a vector ``[B]`` with one value per image.
    """
    if _is_number(value):
        return tf.constant(float(param.check(value)), tf.float32)
    tensor = tf.cast(tf.convert_to_tensor(value), tf.float32)
    if tensor.shape.rank == 0:
        return tensor
    if tensor.shape.rank == 1:
        return tf.reshape(tensor, [-1, 1, 1, 1])
    raise ValueError(f"{param.name} must be a number or a vector [batch], got shape {tensor.shape}")


def _if_not_empty(images: tf.Tensor, apply: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
    """``apply(images)``, or ``images`` itself for an empty batch (some ops refuse zero sizes,
    and a ``|`` spec can hand a member no image at all)."""
    result = tf.cond(tf.shape(images)[0] > 0, lambda: apply(images), lambda: images)
    result.set_shape(images.shape)
    return result


# --------------------------------------------------------------------------------------------
# The degradations as plain functions
# --------------------------------------------------------------------------------------------

def gaussian_noise(images, seed, sigma: ParamValue) -> tf.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma / 255`` (sigma on the 0-255 scale).

    ``sigma`` >= 0: a number, or a tensor ``[B]`` with one level per image.  Not clipped.
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    sigma = _per_image(sigma, _SIGMA)
    noise = tf.random.stateless_normal(tf.shape(images), seed, dtype=tf.float32)
    return images + noise * (sigma / 255.0)


def poisson_noise(images, seed, peak: ParamValue) -> tf.Tensor:
    """Poisson (shot) noise with the image scaled to ``peak``: ``y = Poisson(peak * x) / peak``.

    A smaller peak means fewer photons, hence more noise (variance ``x / peak``).  ``peak`` > 0:
    a number or a tensor ``[B]``.  Negative input values count as 0.  Not clipped.
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    peak = _per_image(peak, _PEAK)
    rate = peak * tf.maximum(images, 0.0)
    counts = tf.random.stateless_poisson(tf.shape(images), seed, lam=rate, dtype=tf.float32)
    return counts / peak


def poisson_gaussian_noise(images, seed, sigma: ParamValue, peak: ParamValue) -> tf.Tensor:
    """Poisson-Gaussian noise: ``y = Poisson(peak * x) / peak + N(0, (sigma / 255)^2)``.

    The DN-ResNet paper's mixed noise (it uses ``peak = 10 * sigma``).  Not clipped.
    """
    seed = _check_seed(seed)
    poisson_seed, gaussian_seed = _split(seed, 2)
    return gaussian_noise(poisson_noise(images, poisson_seed, peak), gaussian_seed, sigma)


def salt_and_pepper_noise(images, seed, amount: ParamValue) -> tf.Tensor:
    """Set a fraction ``amount`` of the pixels to 0 (pepper) or 1 (salt), with equal probability.

    Each pixel is hit independently with probability ``amount`` (in [0, 1]; a number or a
    tensor ``[B]``); a hit pixel gets the same value in all channels.  Values stay in [0, 1].
    """
    images = _check_images(images)
    seed = _check_seed(seed)
    amount = _per_image(amount, _AMOUNT)
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


def jpeg_compress(images, seed, quality: ParamValue) -> tf.Tensor:
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
    if _is_number(quality):
        quality = tf.constant(int(_QUALITY.check(quality)), tf.int32)
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
# The kinds
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DegradationKind:
    """One kind of degradation: its spec name, parameters and TF function, in one place.

    ``tf_fn(images, seed, **arguments)`` degrades a batch.  Without ``prepare`` its arguments
    are the parameters themselves, a range drawn per image (:meth:`Param.sample`).  With it,
    ``prepare(values)`` turns the parsed values (by name) into the arguments once, at parse
    time, and returns them with a note for results files (blur loads its kernel stack there).
    """
    name: str
    doc: str
    params: Tuple[Param, ...]
    tf_fn: Callable[..., tf.Tensor]
    prepare: Optional[Callable[[Mapping[str, object]], Tuple[Dict[str, object], str]]] = None

    def __post_init__(self):
        names = [param.name for param in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"degradation {self.name}: parameter names repeat: {names}")
        if self.prepare is None:
            # Fails at import, not at the first spec, when the table and the function disagree.
            inspect.signature(self.tf_fn).bind(None, None, **dict.fromkeys(names))

    def param(self, name: str) -> Param:
        return next(param for param in self.params if param.name == name)

    @property
    def usage(self) -> str:
        """The spec form: ``blur:kernel=mnist[,size=SIZE][,digit=random|first]...``."""
        required = ",".join(param.usage for param in self.params if param.required)
        optional = "".join(f"[,{param.usage}]" for param in self.params if not param.required)
        return f"{self.name}:{required}{optional}"

    @property
    def help(self) -> str:
        notes = [self.doc] + [param.description for param in self.params if param.description]
        return f"{self.usage} ({'; '.join(notes)})"


def _blur_arguments(values: Mapping[str, object]) -> Tuple[Dict[str, object], str]:
    # Loaded at parse time: the note must name the kernels' source (MNIST or the Hershey
    # stand-in) before anything runs.
    kernels, source = mnist.blur_kernels(int(values["size"]))
    if values["digit"] == "first":
        kernels = kernels[:1]
    return {"kernels": kernels, "circular": values["boundary"] == "circular"}, \
        f"blur kernels: {source}"


#: Every kind a spec may name, by name, in the order the help lists them.
KINDS: Mapping[str, DegradationKind] = MappingProxyType({kind.name: kind for kind in (
    DegradationKind("gaussian", "additive white Gaussian noise", (_SIGMA,), gaussian_noise),
    DegradationKind("poisson", "y = Poisson(peak x) / peak", (_PEAK,), poisson_noise),
    DegradationKind("poisson-gaussian", "Poisson noise, then Gaussian noise", (_SIGMA, _PEAK),
                    poisson_gaussian_noise),
    DegradationKind("saltpepper", "a fraction of the pixels set to 0 or 1", (_AMOUNT,),
                    salt_and_pepper_noise),
    DegradationKind("blur", "convolution with an MNIST-digit kernel drawn per image",
                    _BLUR_PARAMS, mnist_blur, prepare=_blur_arguments),
    DegradationKind("jpeg", "JPEG encode and decode of the 8-bit image", (_QUALITY,),
                    jpeg_compress),
)})


def spec_help() -> str:
    """The spec grammar and every kind with its parameters, as one paragraph (CLI help and the
    tail of spec errors)."""
    drawn = list(dict.fromkeys(param.name for kind in KINDS.values() for param in kind.params
                               if param.takes_range))
    return (f"valid degradations: {'; '.join(kind.help for kind in KINDS.values())}. "
            f"Values of {', '.join(drawn)} may be ranges a..b (drawn per image); '+' chains "
            "steps left to right; '|' picks one chain per image.")


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Step:
    """One degradation of a chain, its parameters parsed and validated."""
    kind: DegradationKind
    values: Tuple[object, ...]  # one per kind.params; a range is a (low, high) tuple
    arguments: Optional[Dict[str, object]] = field(default=None, compare=False, repr=False)
    note: Optional[str] = field(default=None, compare=False)

    def value(self, name: str):
        return self.values[[param.name for param in self.kind.params].index(name)]

    @property
    def spec(self) -> str:
        shown = [f"{param.name}={param.format(value)}"
                 for param, value in zip(self.kind.params, self.values)
                 if param.required or value != param.default]
        return f"{self.kind.name}:{','.join(shown)}" if shown else self.kind.name

    def __call__(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        # Sub-seed 0 drives the noise, sub-seed i + 1 draws parameter i.  stateless_split's
        # first rows do not depend on how many are asked for, so a kind given one more
        # parameter keeps its earlier outputs.
        noise_seed, *param_seeds = _split(seed, 1 + len(self.kind.params))
        if self.arguments is not None:
            return self.kind.tf_fn(images, noise_seed, **self.arguments)
        batch = tf.shape(images)[0]
        drawn = {param.name: param.sample(value, param_seed, batch)
                 for param, value, param_seed in zip(self.kind.params, self.values, param_seeds)}
        return self.kind.tf_fn(images, noise_seed, **drawn)


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


def _parse_step(text: str) -> _Step:
    name, has_params, params_text = (part.strip() for part in text.partition(":"))
    kind = KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown degradation {name!r} in {text!r}; {spec_help()}")
    names = [param.name for param in kind.params]
    valid_params = ", ".join(names)
    given: Dict[str, object] = {}
    if has_params:
        for item in params_text.split(","):
            item = item.strip()
            key, has_value, value_text = (part.strip() for part in item.partition("="))
            if not item or not has_value or not key or not value_text:
                raise ValueError(f"malformed parameter {item!r} in {text!r}: write name=value "
                                 f"(parameters of {name}: {valid_params})")
            if key not in names:
                raise ValueError(f"unknown parameter {key!r} of {name} in {text!r} "
                                 f"(parameters of {name}: {valid_params})")
            if key in given:
                raise ValueError(f"parameter {key!r} given twice in {text!r}")
            given[key] = kind.param(key).parse(value_text, f"{name}:{key}={value_text}")
    for param in kind.params:
        if param.name not in given:
            if param.required:
                raise ValueError(f"{name} needs {param.name}=... ({param.rule}) in {text!r}; "
                                 f"{spec_help()}")
            given[param.name] = param.default
    values = tuple(given[param.name] for param in kind.params)
    if kind.prepare is None:
        return _Step(kind, values)
    arguments, note = kind.prepare(given)
    return _Step(kind, values, arguments=arguments, note=note)


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
        raise ValueError(f"empty degradation spec; {spec_help()}")
    chains = []
    for member in text.split("|"):
        if not member.strip():
            raise ValueError(f"empty alternative in {spec!r} (nothing around a '|'); {spec_help()}")
        chain = []
        for step in member.split("+"):
            if not step.strip():
                raise ValueError(f"empty step in {member.strip()!r} of {spec!r} "
                                 f"(nothing around a '+'); {spec_help()}")
            chain.append(_parse_step(step.strip()))
        chains.append(chain)
    return Degradation(chains)


def gaussian_sigma(spec: Union[str, Degradation], who: str = "this denoiser") -> float:
    """The sigma (0-255 scale) of a spec that is one Gaussian noise of a fixed level, such as
    ``gaussian:sigma=25``: the noise level for a denoiser that must be told it (BM3D).

    The spec goes through :func:`from_spec`, so it is written and checked as everywhere else.
    Anything else (other kinds, chains, alternatives, a range of levels) raises ``ValueError``
    naming ``who`` and the spec.
    """
    try:
        degradation = from_spec(spec)
    except ValueError as err:
        raise ValueError(f"{who}: bad noise spec {spec!r}: {err}") from None
    gaussian = KINDS["gaussian"]
    steps = [step for chain in degradation._chains for step in chain]
    if len(steps) == 1 and steps[0].kind is gaussian:
        sigma = steps[0].value("sigma")
        if not isinstance(sigma, tuple):
            return float(sigma)
        raise ValueError(f"{who} needs one known noise level, got the range "
                         f"sigma={gaussian.param('sigma').format(sigma)} in {spec!r}")
    raise ValueError(f"{who} only handles additive Gaussian noise of a known level, given as "
                     f"{gaussian.usage} with {gaussian.param('sigma').description}; "
                     f"got noise spec {spec!r}")
