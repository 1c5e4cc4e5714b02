"""Every kernel of every backend refuses invalid arguments with a Python exception, never
a crash: the kernels are public, and the compiled ones index without bounds checks, so
kernels/validate.py checks each call first.

The calls run in child processes (this file, run as a script), one per backend and
many calls each, so that a crash (a signal) fails a test instead of ending the run. The
child prints each case before it calls the kernel and its outcome after: after a crash
the parent knows the case, and starts a new child from the next one. Hypothesis draws
the cases in the child: a valid call of the kernel, then one thing broken (an index out
of range, a shape that does not fit, a geometry value out of its range, a wrong type or
dtype). Every case must raise ValueError, TypeError or IndexError with a message.

``python tests/test_kernel_fuzz.py`` prints the outcomes per kernel and backend (the
same cases as the tests; PYTHONPATH=<another tree>/src runs them on other code).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from backend_marks import needs_backend
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

KERNELS = ("grad_reverse_backward", "embedding_scores", "hinge_max_forward",
           "embedding_hinge_max_forward", "hinge_max_backward", "maxpool2d_forward",
           "maxpool2d_backward", "conv2d_forward", "conv2d_backward_input",
           "conv2d_backward_weight", "axpy")
CLEAN = (ValueError, TypeError, IndexError)
CHILD_TIMEOUT = 120  # seconds for one child's cases
LARGEST = 2**31 - 1  # validate.LARGEST: the largest stride, padding, dilation, groups


# ------------------------------------------------------------------- the invalid calls


def values(shape, dtype=np.float32):
    """Normal values (the checks look at shapes, not values)."""
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def index_dtypes():
    """Any integer dtype, in either byte order."""
    kinds = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
    return st.builds(lambda name, order: np.dtype(name).newbyteorder(order),
                     st.sampled_from(kinds), st.sampled_from("<>"))


@st.composite
def out_of_range(draw, size):
    """An index dtype, and a value of that dtype outside [0, size)."""
    dtype = draw(index_dtypes())
    info = np.iinfo(dtype)
    choices = [st.integers(int(info.min), -1)] if info.min < 0 else []
    if info.max >= size:
        choices.append(st.integers(size, int(info.max)))
    return dtype, draw(st.one_of(choices))


@st.composite
def bad_indices(draw, index, size):
    """``index`` (valid, every value below 128) in any integer dtype, with one value
    outside [0, size)."""
    dtype, value = draw(out_of_range(size))
    bad = index.astype(dtype)
    bad[np.unravel_index(draw(st.integers(0, index.size - 1)), index.shape)] = value
    return bad


def bad_geometry_value(low):
    """A value a stride (low 1), padding (low 0), dilation or groups may not take."""
    return st.one_of(st.integers(-2**40, low - 1), st.integers(LARGEST + 1, 2**70),
                     st.sampled_from([2.0, "2", None, True, (1, 1, 1), (1,), np.float64(1)]))


@st.composite
def broken_pair(draw, value, low):
    """The pair ``value`` with one component replaced by a bad value, or as a whole."""
    bad = draw(bad_geometry_value(low))
    if isinstance(bad, int) and not isinstance(bad, bool) and draw(st.booleans()):
        return (bad, value[1]) if draw(st.booleans()) else (value[0], bad)
    return bad


@st.composite
def broken_array(draw, array, fixed_rank=True, index=False, optional=False):
    """(label, ``array`` made invalid as an argument): not an array (nor None, where the
    argument is ``optional``), a dtype the kernel does not take, or (where the rank is
    fixed) an axis more or less."""
    ways = ["not an array", "dtype"] + (["rank"] if fixed_rank else [])
    way = draw(st.sampled_from(ways))
    if way == "not an array":
        return way, draw(st.sampled_from([array.tolist(), 1.0, "array"]
                                         + ([] if optional else [None])))
    if way == "dtype":
        bad = [np.float64, np.bool_, np.complex128] if index else [np.bool_, np.complex128,
                                                                   object]
        dtype = draw(st.sampled_from(bad))
        return f"dtype {np.dtype(dtype)}", array.astype(dtype)
    if draw(st.booleans()):
        return "an axis less", array[0, ...]
    return "an axis more", array[None]


def replace(args, name, value):
    args = dict(args)
    args[name] = value
    return args


def small(low=1, high=4):
    return st.integers(low, high)


@st.composite
def invalid_grad_reverse_backward(draw):
    shape = tuple(draw(st.lists(small(), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    args = {"grad": values(shape, dtype), "lambda_": 0.5, "out": None}
    grad = args["grad"]
    way = draw(st.sampled_from(["out size", "out shape", "out dtype", "out read-only",
                                "out", "lambda_", "grad"]))
    if way == "out size":
        size = grad.size + draw(st.sampled_from([-1, 1, 3]))
        return way, replace(args, "out", np.empty(size, dtype))
    if way == "out shape":  # the same number of elements
        out = np.empty((1, grad.size) if grad.ndim == 1 else (grad.size,), dtype)
        return way, replace(args, "out", out)
    if way == "out dtype":
        other = draw(st.sampled_from([np.float16, np.float32, np.float64, np.int32]))
        other = np.float16 if other == dtype else other
        return way, replace(args, "out", np.empty(shape, other))
    if way == "out read-only":
        out = np.empty(shape, dtype)
        out.flags.writeable = False
        return way, replace(args, "out", out)
    if way == "out":
        label, bad = draw(broken_array(np.empty(shape, dtype), optional=True))
        return f"out: {label}", replace(args, "out", bad)
    if way == "lambda_":
        return way, replace(args, "lambda_", draw(st.sampled_from(
            ["0.5", None, True, 1j, [0.5], np.ones(2)])))
    label, bad = draw(broken_array(grad, fixed_rank=False))
    if label == "not an array" or draw(st.booleans()):
        return f"grad: {label}", replace(args, "grad", bad)
    return "grad: integer", replace(args, "grad", np.ones(shape, np.int64))


@st.composite
def invalid_embedding_scores(draw):
    n, c, d = draw(small()), draw(small()), draw(small())
    paired = draw(st.booleans())
    args = {"f": values((n, d)), "g": values((n if paired else c, d)), "paired": paired}
    way = draw(st.sampled_from(["paired rows", "D", "paired", "f", "g"]))
    if way == "paired rows":
        return way, {"f": args["f"], "g": values((n + draw(small()), d)), "paired": True}
    if way == "D":
        return way, replace(args, "g", values((args["g"].shape[0], d + draw(small()))))
    if way == "paired":
        return way, replace(args, "paired", draw(st.sampled_from([1, "yes", None, 0.0])))
    label, bad = draw(broken_array(args[way]))
    return f"{way}: {label}", replace(args, way, bad)


@st.composite
def invalid_hinge_max_forward(draw):
    n, c = draw(small()), draw(small(2, 5))
    target = np.arange(n) % c
    args = {"scores": values((n, c)), "target": target, "margin": 1.0}
    way = draw(st.sampled_from(["target range", "target range", "target length",
                                "one class", "integer scores", "margin", "scores",
                                "target"]))
    if way == "target range":
        return way, replace(args, "target", draw(bad_indices(target, c)))
    if way == "target length":
        return way, replace(args, "target", np.arange(n + draw(st.sampled_from([-1, 1]))) % c)
    if way == "one class":
        return way, replace(replace(args, "scores", values((n, 1))), "target",
                            np.zeros(n, np.int64))
    if way == "integer scores":
        return way, replace(args, "scores", np.ones((n, c), np.int64))
    if way == "margin":
        return way, replace(args, "margin", draw(st.sampled_from(["1", None, False, 1j])))
    label, bad = draw(broken_array(args[way], index=way == "target"))
    return f"{way}: {label}", replace(args, way, bad)


@st.composite
def invalid_embedding_hinge_max_forward(draw):
    n, c, d = draw(small()), draw(small(2, 5)), draw(small())
    target = np.arange(n) % c
    args = {"f": values((n, d)), "g": values((c, d)), "target": target, "margin": 1.0}
    way = draw(st.sampled_from(["target range", "target range", "target length", "D",
                                "one class", "margin", "f", "g", "target"]))
    if way == "target range":
        return way, replace(args, "target", draw(bad_indices(target, c)))
    if way == "target length":
        return way, replace(args, "target", np.arange(n + 1) % c)
    if way == "D":
        return way, replace(args, "g", values((c, d + draw(small()))))
    if way == "one class":
        return way, replace(replace(args, "g", values((1, d))), "target",
                            np.zeros(n, np.int64))
    if way == "margin":
        return way, replace(args, "margin", draw(st.sampled_from(["1", None, True])))
    label, bad = draw(broken_array(args[way], index=way == "target"))
    return f"{way}: {label}", replace(args, way, bad)


@st.composite
def invalid_hinge_max_backward(draw):
    n, c, d = draw(small()), draw(small(2, 5)), draw(small())
    target = np.arange(n) % c
    args = {"f": values((n, d)), "g": values((c, d)), "target": target,
            "negative": (target + 1) % c, "weight": values(n)}
    way = draw(st.sampled_from(["target range", "negative range", "negative range",
                                "index length", "weight length", "D", "f", "g", "target",
                                "negative", "weight"]))
    if way in ("target range", "negative range"):
        name = way.split()[0]
        return way, replace(args, name, draw(bad_indices(args[name], c)))
    if way == "index length":
        name = draw(st.sampled_from(["target", "negative"]))
        return f"{name} length", replace(args, name, np.arange(n + 1) % c)
    if way == "weight length":
        return way, replace(args, "weight", values(n + draw(st.sampled_from([-1, 1]))))
    if way == "D":
        return way, replace(args, "g", values((c, d + 1)))
    label, bad = draw(broken_array(args[way], index=way in ("target", "negative")))
    return f"{way}: {label}", replace(args, way, bad)


@st.composite
def invalid_maxpool2d_forward(draw):
    kernel = (draw(small(1, 3)), draw(small(1, 3)))
    stride = (draw(small(1, 3)), draw(small(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    size = [k + draw(st.integers(0, 3)) for k in kernel]
    x = values((draw(small(1, 2)), draw(small(1, 2)), *size))
    args = {"x": x, "kernel": kernel, "stride": stride, "padding": padding}
    way = draw(st.sampled_from(["kernel", "stride", "padding", "padding", "padding > k/2",
                                "too small", "x"]))
    if way in ("kernel", "stride", "padding"):
        low = 0 if way == "padding" else 1
        return way, replace(args, way, draw(broken_pair(args[way], low)))
    if way == "padding > k/2":
        axis = draw(st.integers(0, 1))
        bad = list(padding)
        bad[axis] = kernel[axis] // 2 + draw(small(1, 3))
        return way, replace(args, "padding", tuple(bad))
    if way == "too small":
        big = (size[0] + draw(small(1, 3)), kernel[1])
        return way, {"x": x, "kernel": big, "stride": stride, "padding": (0, 0)}
    label, bad = draw(broken_array(x))
    return f"x: {label}", replace(args, "x", bad)


@st.composite
def invalid_maxpool2d_backward(draw):
    n, c, height, width = draw(small(1, 2)), draw(small(1, 2)), draw(small()), draw(small())
    out_shape = (n, c, draw(small(1, 3)), draw(small(1, 3)))
    plane = height * width
    argmax = np.arange(np.prod(out_shape)).reshape(out_shape) % plane
    args = {"grad_out": values(out_shape), "argmax": argmax, "x_shape": (n, c, height, width)}
    way = draw(st.sampled_from(["argmax range", "argmax range", "argmax past its plane",
                                "argmax shape", "N or C", "x_shape", "grad_out", "argmax"]))
    if way == "argmax range":
        return way, replace(args, "argmax", draw(bad_indices(argmax, plane)))
    if way == "argmax past its plane":  # the first element of the next plane
        bad = argmax.copy()
        bad.flat[draw(st.integers(0, bad.size - 1))] = plane
        return way, replace(args, "argmax", bad)
    if way == "argmax shape":
        return way, replace(args, "argmax", argmax[..., :-1] if out_shape[3] > 1
                            else argmax[..., None])
    if way == "N or C":
        axis = draw(st.integers(0, 1))
        x_shape = list(args["x_shape"])
        x_shape[axis] += 1
        return way, replace(args, "x_shape", tuple(x_shape))
    if way == "x_shape":
        bad = draw(st.sampled_from([(n, c, height), (n, c, -height, width),
                                    (n, c, float(height), width), None, "shape",
                                    (n, c, height, width, 1)]))
        return way, replace(args, "x_shape", bad)
    label, bad = draw(broken_array(args[way], index=way == "argmax"))
    return f"{way}: {label}", replace(args, way, bad)


@st.composite
def conv_call(draw):
    """A valid convolution: (x shape, weight shape, settings dict, output shape)."""
    groups = draw(small(1, 2))
    c_in, c_out = groups * draw(small(1, 2)), groups * draw(small(1, 2))
    kernel = (draw(small(1, 3)), draw(small(1, 3)))
    settings_ = {"stride": (draw(small(1, 2)), draw(small(1, 2))),
                 "padding": (draw(st.integers(0, 1)), draw(st.integers(0, 1))),
                 "dilation": (draw(small(1, 2)), draw(small(1, 2))), "groups": groups}
    size = [d * (k - 1) + 1 + draw(st.integers(0, 3))
            for k, d in zip(kernel, settings_["dilation"])]
    x_shape = (draw(small(1, 2)), c_in, *size)
    w_shape = (c_out, c_in // groups, *kernel)
    out = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(
        size, kernel, settings_["stride"], settings_["padding"], settings_["dilation"])]
    return x_shape, w_shape, settings_, (x_shape[0], c_out, *out)


@st.composite
def broken_conv_settings(draw, settings_, x_shape, w_shape):
    """(label, settings, x shape, weight shape) with the geometry broken."""
    way = draw(st.sampled_from(["stride", "padding", "dilation", "dilation", "groups",
                                "groups mismatch", "too small"]))
    if way in ("stride", "padding", "dilation"):
        low = 0 if way == "padding" else 1
        return way, replace(settings_, way, draw(broken_pair(settings_[way], low))), \
            x_shape, w_shape
    if way == "groups":
        return way, replace(settings_, "groups", draw(bad_geometry_value(1))), x_shape, w_shape
    if way == "groups mismatch":
        how = draw(st.sampled_from(["C_in", "C_out", "weight"]))
        if how == "C_in":  # groups 2 on an odd number of input channels
            x_shape = (x_shape[0], 2 * draw(small(0, 1)) + 1, *x_shape[2:])
            w_shape = (2 * w_shape[0], max(1, x_shape[1] // 2), *w_shape[2:])
            return "groups mismatch: C_in", replace(settings_, "groups", 2), x_shape, w_shape
        if how == "C_out":
            x_shape = (x_shape[0], 2 * x_shape[1], *x_shape[2:])
            w_shape = (2 * w_shape[0] + 1, x_shape[1] // 2, *w_shape[2:])
            return "groups mismatch: C_out", replace(settings_, "groups", 2), x_shape, w_shape
        w_shape = (w_shape[0], w_shape[1] + draw(small(1, 2)), *w_shape[2:])
        return "groups mismatch: weight", settings_, x_shape, w_shape
    x_shape = (*x_shape[:2], 1, x_shape[3])
    w_shape = (*w_shape[:2], w_shape[2] + 2 + 2 * settings_["padding"][0], w_shape[3])
    return way, settings_, x_shape, w_shape


@st.composite
def invalid_conv2d_forward(draw):
    x_shape, w_shape, settings_, _ = draw(conv_call())
    if draw(st.integers(0, 3)):
        label, settings_, x_shape, w_shape = draw(broken_conv_settings(settings_, x_shape,
                                                                       w_shape))
        return label, {"x": values(x_shape), "weight": values(w_shape), **settings_}
    name = draw(st.sampled_from(["x", "weight"]))
    args = {"x": values(x_shape), "weight": values(w_shape), **settings_}
    label, bad = draw(broken_array(args[name]))
    return f"{name}: {label}", replace(args, name, bad)


def broken_shape(draw, shape):
    return draw(st.sampled_from([shape[:3], (*shape[:3], -1), (*shape[:3], 1.0), None,
                                 (*shape, 1)]))


def broken_conv2d_backward(draw, operand, shape_name):
    """A broken call of one of conv2d's backward kernels: they differ only in which
    operand they take as an array (``weight`` or ``x``) and which one as a shape."""
    x_shape, w_shape, settings_, out_shape = draw(conv_call())
    shapes = {"x_shape": x_shape, "weight_shape": w_shape}
    arrays = {"x": values(x_shape), "weight": values(w_shape)}
    args = {"grad_out": values(out_shape), operand: arrays[operand],
            shape_name: shapes[shape_name], **settings_}
    way = draw(st.sampled_from(["geometry", "geometry", "grad_out shape", shape_name,
                                "grad_out", operand]))
    if way == "geometry":
        label, settings_, x_shape, w_shape = draw(broken_conv_settings(settings_, x_shape,
                                                                       w_shape))
        shapes = {"x_shape": x_shape, "weight_shape": w_shape}
        arrays = {"x": values(x_shape), "weight": values(w_shape)}
        return label, {**args, operand: arrays[operand], shape_name: shapes[shape_name],
                       **settings_}
    if way == "grad_out shape":
        axis = draw(st.integers(0, 3))
        shape = list(out_shape)
        shape[axis] += 1
        return way, replace(args, "grad_out", values(shape))
    if way == shape_name:
        return way, replace(args, shape_name, broken_shape(draw, shapes[shape_name]))
    label, bad = draw(broken_array(args[way]))
    return f"{way}: {label}", replace(args, way, bad)


@st.composite
def invalid_conv2d_backward_input(draw):
    return broken_conv2d_backward(draw, "weight", "x_shape")


@st.composite
def invalid_conv2d_backward_weight(draw):
    return broken_conv2d_backward(draw, "x", "weight_shape")


@st.composite
def invalid_axpy(draw):
    shape = tuple(draw(st.lists(small(), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    args = {"alpha": -0.5, "x": values(shape, dtype), "y": values(shape, dtype)}
    way = draw(st.sampled_from(["x size", "x shape", "x dtype", "y read-only", "alpha",
                                "x", "y"]))
    if way == "x size":
        size = args["y"].size + draw(st.sampled_from([-1, 1, 3]))
        return way, replace(args, "x", values(size, dtype) if size else values(0, dtype))
    if way == "x shape":  # the same number of elements
        size = args["y"].size
        return way, replace(args, "x", values((1, size) if len(shape) == 1 else (size,),
                                              dtype))
    if way == "x dtype":
        other = draw(st.sampled_from([np.float16, np.float32, np.float64, np.int32]))
        other = np.float16 if other == dtype else other
        return way, replace(args, "x", np.ones(shape, other))
    if way == "y read-only":
        y = values(shape, dtype)
        y.flags.writeable = False
        return way, replace(args, "y", y)
    if way == "alpha":
        return way, replace(args, "alpha", draw(st.sampled_from(
            ["0.5", None, True, 1j, [0.5], np.ones(2)])))
    label, bad = draw(broken_array(args[way], fixed_rank=False))
    return f"{way}: {label}", replace(args, way, bad)


INVALID = {kernel: globals()[f"invalid_{kernel}"] for kernel in KERNELS}


# --------------------------------------------------------------- the issue's examples
# Each crashed, wrote out of bounds or returned garbage before validate.py.


def _argmax_far_outside():
    return np.ones((1, 1, 2, 2)), np.array([[[[0, 1], [2, 10**9]]]]), (1, 1, 4, 4)


def _argmax_in_the_next_plane():
    """Two planes of 2x2: index 4 is the first element of the next plane."""
    return np.ones((1, 2, 1, 1)), np.array([[[[4]], [[0]]]]), (1, 2, 2, 2)


ISSUE_EXAMPLES = {  # name: (backend, kernel, arguments, the error expected)
    "argmax far outside its plane, native": (
        "native", "maxpool2d_backward", _argmax_far_outside, IndexError),
    "argmax far outside its plane, numba": (
        "numba", "maxpool2d_backward", _argmax_far_outside, IndexError),
    "negative padding and stride, native": (
        "native", "maxpool2d_forward",
        lambda: (values((1, 1, 8, 8)), (2, 2), (-1, 1), (-100000, 0)), ValueError),
    "groups that do not divide C_in, numba": (
        "numba", "conv2d_forward",
        lambda: (values((1, 3, 5, 5)), values((2, 1, 3, 3)), (1, 1), (0, 0), (1, 1), 2),
        ValueError),
    "out= one element short, numba": (
        "numba", "grad_reverse_backward", lambda: (values(6), 0.5, np.empty(5)), ValueError),
    "paired scores of different shapes, numba": (
        "numba", "embedding_scores", lambda: (values((6, 3)), values((2, 3)), True),
        ValueError),
    "negative dilation, numpy": (
        "numpy", "conv2d_forward",
        lambda: (values((1, 1, 5, 5)), values((1, 1, 3, 3)), (1, 1), (0, 0), (-1, -1), 1),
        ValueError),
    "hinge target of -1, numpy": (
        "numpy", "hinge_max_forward", lambda: (values((2, 3)), np.array([0, -1]), 1.0),
        IndexError),
    **{f"argmax in the next plane, {backend}": (
        backend, "maxpool2d_backward", _argmax_in_the_next_plane, IndexError)
       for backend in ("numpy", "numba", "native")},
}


# ------------------------------------------------------------------- the child process


def describe(value):
    """A short text for an argument: an array's dtype and shape (and its values, if a
    few integers), else its repr."""
    if isinstance(value, np.ndarray):
        text = f"array {value.dtype.str} {value.shape}"
        if value.dtype.kind in "iu" and value.size <= 8:
            text += f" {value.ravel().tolist()}"
        return text
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _on_gpu(value):
    """A numpy array as a cupy array (the same, where cupy cannot hold it). Integer
    arrays (the index arrays) stay numpy arrays, which the cupy kernels take: the range
    of an index array on the GPU is not checked (see validate._check_indices); the
    kernels turn a bad one into a NaN (test_a_gpu_argmax_out_of_range_gives_a_nan)."""
    import cupy
    if not isinstance(value, np.ndarray) or value.dtype.kind in "iu":
        return value
    try:
        return cupy.asarray(value)
    except (TypeError, ValueError):
        return value


class Child:
    """Runs cases one by one, each announced before its call and reported after it
    (one JSON line each), skipping the first ``skip`` (run by an earlier child)."""

    def __init__(self, skip):
        self.index, self.skip = 0, skip

    def run(self, backend, kernel, name, args):
        from tlcore.kernels import registry
        index, self.index = self.index, self.index + 1
        if index < self.skip:
            return
        case = {"index": index, "backend": backend, "kernel": kernel, "case": name,
                "args": [describe(a) for a in args]}
        print("CASE " + json.dumps(case), flush=True)
        if backend == "cupy":
            args = [_on_gpu(a) for a in args]
        try:
            registry.implementation(kernel, backend)(*args)
            result = {"error": None}
        except Exception as error:  # what a case is for: any Python exception
            result = {"error": f"{type(error).__name__}: {error}"[:400],
                      "clean": isinstance(error, CLEAN)}
        print("DONE " + json.dumps({"index": index, **result}), flush=True)


def child_main(suite, backends, examples, skip):
    child = Child(skip)
    if suite == "examples":
        for name, (backend, kernel, make, _) in ISSUE_EXAMPLES.items():
            if backend in backends:
                child.run(backend, kernel, name, make())
        return
    for backend in backends:
        for kernel in KERNELS:
            @settings(max_examples=examples, derandomize=True, database=None,
                      deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(INVALID[kernel]())
            def fuzz(case):
                name, args = case
                child.run(backend, kernel, name, list(args.values()))
            fuzz()


def run_cases(suite, backends, examples=0):
    """{index: case and outcome} of every case of ``suite`` ("fuzz" or "examples") on
    ``backends``, run by children of this file: after a crash (or a hang), the case is
    recorded as such and a new child goes on from the next one."""
    results, skip = {}, 0
    while True:
        command = [sys.executable, os.path.abspath(__file__), suite, ",".join(backends),
                   str(examples), str(skip)]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=CHILD_TIMEOUT)
            stdout, stderr, status = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = (expired.stdout or b"", expired.stderr or b"")
            stdout, stderr = (s.decode() if isinstance(s, bytes) else s for s in (stdout, stderr))
            status = "a hang"
        cases = {}
        for line in stdout.splitlines():
            kind, _, record = line.partition(" ")
            if kind == "CASE":
                case = json.loads(record)
                cases[case["index"]] = case
            elif kind == "DONE":
                outcome = json.loads(record)
                results[outcome["index"]] = {**cases[outcome["index"]], **outcome}
        if status == 0:
            return results
        how = status if status == "a hang" else (
            f"signal {-status}" if status < 0 else f"exit status {status}")
        unfinished = sorted(set(cases) - set(results))
        if not unfinished:  # a heap that an earlier case corrupted, found at exit
            if not cases:
                raise AssertionError(f"the child failed before any case ({how}):\n"
                                     f"{stderr[-3000:]}")
            results["exit"] = {"backend": ",".join(backends), "kernel": "(none)",
                               "case": "the child's exit, after every case",
                               "args": [], "crash": f"{how}: {stderr.strip()[-200:]}"}
            return results
        results[unfinished[0]] = {**cases[unfinished[0]], "crash": how}
        skip = unfinished[0] + 1


def outcome(result):
    """"clean" (a ValueError, TypeError or IndexError naming the kernel), "unnamed" (one
    that does not name it), "other exception", "returned" or "crash"."""
    if "crash" in result:
        return "crash"
    if result["error"] is None:
        return "returned"
    if not result["clean"]:
        return "other exception"
    return "clean" if result["kernel"] in result["error"] else "unnamed"


def summary(results):
    """Failures first: one line per case that did not raise a clean error."""
    lines = [f"{r['backend']} {r['kernel']} [{r['case']}] {r['args']}: {outcome(r)}"
             + (f" ({r.get('crash') or r['error']})" if outcome(r) != "returned" else "")
             for r in results.values() if outcome(r) != "clean"]
    return "\n".join(lines[:20]) + (f"\n... and {len(lines) - 20} more" if len(lines) > 20
                                    else "")


# ----------------------------------------------------------------------------- tests


BACKENDS = [pytest.param(name, marks=needs_backend(name))
            for name in ("numpy", "numba", "native", "cupy")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_calls_raise_python_errors_never_crash(backend):
    """Hypothesis-drawn invalid calls of every kernel (the profile's max_examples each),
    in child processes: each must raise ValueError, TypeError or IndexError naming the
    kernel; a crash, a hang, a return or another exception fails."""
    results = run_cases("fuzz", [backend], settings.default.max_examples)
    assert {r["kernel"] for r in results.values()} == set(KERNELS)
    failed = [r for r in results.values() if outcome(r) != "clean"]
    assert not failed, (f"{len(failed)} of {len(results)} invalid calls on {backend} did "
                        f"not raise a clean error:\n{summary(results)}")


@needs_backend("cupy")
def test_a_gpu_argmax_out_of_range_gives_a_nan():
    """An argmax already on the GPU is not read back to check its range: the kernel
    makes its plane's first element NaN instead of writing outside the plane."""
    import cupy

    from tlcore.kernels import registry
    grad_out, argmax, x_shape = _argmax_in_the_next_plane()
    grad = registry.implementation("maxpool2d_backward", "cupy")(
        cupy.asarray(grad_out), cupy.asarray(argmax), x_shape)
    grad = cupy.asnumpy(grad)
    assert np.isnan(grad[0, 0, 0, 0]) and not np.isnan(grad[0, 0]).all()
    np.testing.assert_array_equal(grad[0, 1], [[1, 0], [0, 0]])


@pytest.fixture(scope="module")
def issue_outcomes():
    """{example name: its case and outcome} for the issue's examples, run in children."""
    from tlcore import kernels
    results = run_cases("examples", kernels.available())
    return {r["case"]: r for r in results.values()}


@pytest.mark.parametrize("name", [pytest.param(name, marks=needs_backend(example[0]))
                                  for name, example in ISSUE_EXAMPLES.items()])
def test_the_issue_examples_raise_a_clear_error(name, issue_outcomes):
    backend, kernel, _, error = ISSUE_EXAMPLES[name]
    result = issue_outcomes[name]
    assert outcome(result) == "clean", summary({0: result})
    assert result["error"].startswith(f"{error.__name__}: {kernel}: "), result["error"]


def test_every_kernel_is_reached_through_its_validator():
    """get, implementation and the module's own name give one function, the validated
    one; the float-dtype fallback to the reference is behind it too."""
    import importlib

    from tlcore import kernels
    from tlcore.kernels import registry
    for backend in kernels.available():
        module = importlib.import_module(registry._MODULES[backend])
        for kernel in kernels.ops(backend):
            validated = registry.implementation(kernel, backend)
            assert validated is getattr(module, kernel) and callable(validated.unchecked)
    with kernels.use("numpy"):
        assert kernels.get("maxpool2d_backward", np.ones(1)) is registry._kernels[
            ("maxpool2d_backward", "numpy")]
    with pytest.raises(KeyError, match="has no validator"):
        registry.register("fft", "numpy")


@pytest.mark.parametrize("dtype", ["int8", ">i4", "<u2", ">u8", "int64"])
def test_index_arrays_of_any_integer_dtype_and_byte_order_are_taken(dtype):
    """The same results as int64 indices, on every CPU backend."""
    from tlcore import kernels
    from tlcore.kernels import reference, registry
    x = values((2, 3, 5, 4))
    out, argmax = reference.maxpool2d_forward(x, (2, 2), (1, 2), (1, 0))
    grad = values(out.shape)
    scores, target = values((4, 3)), np.array([2, 0, 1, 2])
    expected_grad = reference.maxpool2d_backward(grad, argmax, x.shape)
    expected_loss, expected_negative = reference.hinge_max_forward(scores, target, 1.0)
    for backend in kernels.available():
        run = registry.implementation
        np.testing.assert_array_equal(
            run("maxpool2d_backward", backend)(grad, argmax.astype(dtype), x.shape),
            expected_grad)
        loss, negative = run("hinge_max_forward", backend)(scores, target.astype(dtype), 1.0)
        np.testing.assert_array_equal(negative, expected_negative)
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)


# ---------------------------------------------------------------------- the report


def report(examples):
    """Every case of every available backend: the count of each outcome per kernel."""
    from tlcore import kernels
    outcomes = ("clean", "unnamed", "other exception", "returned", "crash")
    print(f"{'backend':<8}{'kernel':<29}{'cases':>6}" + "".join(f"{o:>17}" for o in outcomes))
    failures = {}
    for backend in kernels.available():
        results = run_cases("fuzz", [backend], examples)
        for kernel in KERNELS:
            mine = [r for r in results.values() if r["kernel"] == kernel]
            counts = [sum(outcome(r) == o for r in mine) for o in outcomes]
            print(f"{backend:<8}{kernel:<29}{len(mine):>6}"
                  + "".join(f"{c:>17}" for c in counts))
        if "exit" in results:
            print(f"{backend:<8}then {outcome(results['exit'])} at exit: "
                  f"{results['exit']['crash']}")
        failures[backend] = summary(results)
    results = run_cases("examples", kernels.available())
    print("\nthe issue's examples:")
    for r in results.values():
        print(f"  {r['case']}: {outcome(r)} ({r.get('crash') or r['error']})")
    for backend, text in failures.items():
        if text:
            print(f"\n{backend}, the calls without a clean error:\n{text}")


if __name__ == "__main__":
    if len(sys.argv) == 5:  # a child: suite, backends, max_examples, skip
        child_main(sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]))
    else:  # python tests/test_kernel_fuzz.py [max_examples]
        report(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
