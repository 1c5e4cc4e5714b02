"""Build tlcore's two compiled modules with Cython:

* tlcore._native, the native kernels, from csrc/ (with OpenMP where the compiler has it);
* tlcore.autograd, the engine: src/tlcore/autograd.py itself, typed by autograd.pxd.

Both are optional: if Cython or a C compiler is missing, or a build fails, the package
still installs; the kernel registry then lists no "native" backend, and the engine runs
as the Python source (``tlcore info`` says which).
"""

import os
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_ext import build_ext


def openmp_flags(compiler):
    """(compile flags, link flags) for OpenMP, or ([], []) if a test program fails."""
    if os.environ.get("TLCORE_NO_OPENMP"):
        return [], []
    candidates = [(["/openmp"], [])] if sys.platform == "win32" else \
        [(["-fopenmp"], ["-fopenmp"]), (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "omp_test.c")
        with open(source, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        for cflags, lflags in candidates:
            try:
                objects = compiler.compile([source], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objects, os.path.join(tmp, "omp_test"),
                                         extra_postargs=lflags)
                return cflags, lflags
            except Exception:
                continue
    return [], []


class OptionalBuildExt(build_ext):
    """Add OpenMP flags to the kernels when they work; never fail the install over an
    extension."""

    def build_extensions(self):
        cflags, lflags = openmp_flags(self.compiler)
        optimise = ["-O3"] if sys.platform != "win32" else []
        for ext in self.extensions:
            kernels = ext.name == "tlcore._native"
            ext.extra_compile_args = optimise + (cflags if kernels else [])
            ext.extra_link_args = lflags if kernels else []
        print(f"tlcore._native: OpenMP {'on' if cflags else 'off'}")
        super().build_extensions()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # the pure-Python package still works without it
            without = ("the 'native' kernel backend will be unavailable"
                       if ext.name == "tlcore._native" else
                       "the engine will run as Python source")
            print(f"WARNING: {ext.name} was not built ({exc}); {without}", file=sys.stderr)


def extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("WARNING: Cython not found; tlcore._native will not be built", file=sys.stderr)
        return []
    from setuptools import Extension
    # one kernel source (conv.c, winograd.c, hinge.c, hinge_backward.c, pool.c on tiles.h and
    # simd.h), which each route_*.c includes and builds for its vector width; routes.c
    # lists the routes
    sources = ["csrc/_native.pyx", "csrc/routes.c", "csrc/team.c", "csrc/axpy.c",
               "csrc/route_avx512.c",
               "csrc/route_avx2.c", "csrc/route_base.c"]
    headers = ["csrc/routes.h", "csrc/route.h", "csrc/team.h", "csrc/axpy.h", "csrc/simd.h", "csrc/tiles.h", "csrc/conv.c",
               "csrc/winograd.c", "csrc/hinge.c", "csrc/hinge_backward.c", "csrc/pool.c"]
    # the engine: autograd.py compiled as it is, its types from autograd.pxd beside it
    engine = Extension("tlcore.autograd", ["src/tlcore/autograd.py"],
                       depends=["src/tlcore/autograd.pxd"])
    return cythonize([Extension("tlcore._native", sources, include_dirs=["csrc"],
                                depends=headers), engine],
                     compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
