"""Build tlcore._native from csrc/ with Cython, with OpenMP where the compiler has it.

The extension is optional: if Cython or a C compiler is missing, or the build fails,
the package still installs and the kernel registry simply lists no "native" backend
(``tlcore info`` says so).
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
    """Add OpenMP flags when they work; never fail the install over the extension."""

    def build_extensions(self):
        cflags, lflags = openmp_flags(self.compiler)
        for ext in self.extensions:
            ext.extra_compile_args = ["-O3"] + cflags if sys.platform != "win32" else cflags
            ext.extra_link_args = lflags
        print(f"tlcore._native: OpenMP {'on' if cflags else 'off'}")
        try:
            super().build_extensions()
        except Exception as exc:  # the pure-Python package still works without it
            print(f"WARNING: tlcore._native was not built ({exc}); the 'native' kernel "
                  "backend will be unavailable", file=sys.stderr)


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
    sources = ["csrc/_native.pyx", "csrc/routes.c", "csrc/team.c", "csrc/route_avx512.c",
               "csrc/route_avx2.c", "csrc/route_base.c"]
    headers = ["csrc/routes.h", "csrc/route.h", "csrc/team.h", "csrc/simd.h", "csrc/tiles.h", "csrc/conv.c",
               "csrc/winograd.c", "csrc/hinge.c", "csrc/hinge_backward.c", "csrc/pool.c"]
    return cythonize([Extension("tlcore._native", sources, include_dirs=["csrc"],
                                depends=headers)],
                     compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
