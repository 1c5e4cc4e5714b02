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
    sources = ["csrc/_native.pyx", "csrc/conv_avx512.c", "csrc/hinge_avx512.c",
               "csrc/winograd_avx512.c"]
    headers = ["csrc/conv_avx512.h", "csrc/hinge_avx512.h", "csrc/tiles_avx512.h",
               "csrc/winograd_avx512.h"]
    return cythonize([Extension("tlcore._native", sources, include_dirs=["csrc"],
                                depends=headers)],
                     compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
