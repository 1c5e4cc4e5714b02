"""The CUDA sources of the cupy backend compile with nvcc, so that a kernel that does not
compile fails here, on any machine with the CUDA toolkit, GPU or not.

The sources are read from tlcore.kernels.backends.cuda_sources (which does not import cupy) and
put in one translation unit, compiled by one nvcc call:

* RAW_SOURCE as cupy.RawModule compiles it, plus a host table that takes the address of
  every (kernel, dtype) instance cupy asks for by name expression, so that each
  template is instantiated and compiled for float and double;
* each ElementwiseKernel and ReductionKernel body inside an equivalent __global__
  function (one thread per element, or per reduced row), the parameters bound as cupy
  binds them: inputs as const values, outputs as references.
"""

import re
import shutil
import subprocess
import sys

import pytest

from tlcore.kernels.backends import cuda_sources

NVCC = shutil.which("nvcc")
# sm_80 (Ampere) is accepted by the CUDA 12 and CUDA 13 toolkits alike, and has the
# double-precision atomicAdd the max-pool backward uses. --ptx: the whole front end and
# the device code generation, without ptxas and the host compiler (3x faster than -c).
NVCC_FLAGS = ["--ptx", "-arch=sm_80", "-std=c++17"]

needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not on the PATH")


def _params(text):
    """'T grad, T scale' -> [('T', 'grad'), ('T', 'scale')]."""
    return [tuple(part.split()) for part in text.split(",")]


def _elementwise_check(name, in_params, out_params, operation):
    inputs, outputs = _params(in_params), _params(out_params)
    args = [f"const {t}* {p}_array" for t, p in inputs] + [f"{t}* {p}_array" for t, p in outputs]
    binds = [f"const {t} {p} = {p}_array[i];" for t, p in inputs]
    binds += [f"{t}& {p} = {p}_array[i];" for t, p in outputs]
    return f"""
template <typename T>
__global__ void check_{name}({", ".join(args)}, long long size) {{
    const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < size) {{
        {" ".join(binds)}
        {operation};
    }}
}}
"""


def _reduction_check(name, in_params, out_params, map_expr, reduce_expr, post_map, identity):
    inputs, outputs = _params(in_params), _params(out_params)
    args = [f"const {t}* {p}_array" for t, p in inputs] + [f"{t}* {p}_array" for t, p in outputs]
    binds = " ".join(f"const {t} {p} = {p}_array[row * length + k];" for t, p in inputs)
    out_binds = " ".join(f"{t}& {p} = {p}_array[row];" for t, p in outputs)
    return f"""
template <typename T>
__global__ void check_{name}({", ".join(args)}, long long rows, long long length) {{
    const long long row = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (row < rows) {{
        T a = T({identity});
        for (long long k = 0; k < length; ++k) {{
            {binds}
            const T b = ({map_expr});
            a = ({reduce_expr});
        }}
        {out_binds}
        {post_map};
    }}
}}
"""


def translation_unit():
    """One .cu text holding every CUDA source of the cupy backend, instantiated."""
    parts = [cuda_sources.RAW_SOURCE]
    instances = list(cuda_sources.all_name_expressions())
    for name, spec in cuda_sources.ELEMENTWISE.items():
        parts.append(_elementwise_check(name, *spec[:3]))
        instances += [f"check_{name}<{c_type}>" for c_type in cuda_sources.DTYPES.values()]
    for name, spec in cuda_sources.REDUCTION.items():
        parts.append(_reduction_check(name, *spec[:6]))
        instances += [f"check_{name}<{c_type}>" for c_type in cuda_sources.DTYPES.values()]
    table = ",\n    ".join(f"(void*)&{instance}" for instance in instances)
    parts.append(f"void* tlcore_kernel_instances[] = {{\n    {table}\n}};\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """nvcc's result for the whole translation unit (one call for every test here)."""
    folder = tmp_path_factory.mktemp("cuda")
    source = folder / "tlcore_kernels.cu"
    source.write_text(translation_unit())
    result = subprocess.run([NVCC, *NVCC_FLAGS, str(source), "-o", str(folder / "kernels.ptx")],
                            capture_output=True, text=True, timeout=600)
    return result, folder


@needs_nvcc
def test_every_cuda_source_compiles_with_nvcc(compiled):
    result, _ = compiled
    assert result.returncode == 0, f"nvcc failed:\n{result.stdout}\n{result.stderr}"


@needs_nvcc
def test_every_kernel_instance_is_in_the_ptx(compiled):
    """Each raw kernel was compiled for float and double: its entry is in the PTX under
    its mangled name (the template argument f or d: _Z13tlcore_im2colIfEv...)."""
    result, folder = compiled
    assert result.returncode == 0, f"nvcc failed:\n{result.stderr}"
    ptx = (folder / "kernels.ptx").read_text()
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    for kernel in cuda_sources.RAW_KERNELS:
        for mangled_type in ("f", "d"):
            prefix = f"_Z{len(kernel)}{kernel}I{mangled_type}Ev"
            assert any(e.startswith(prefix) for e in entries), f"{prefix}... not in the PTX"
    for name in list(cuda_sources.ELEMENTWISE) + list(cuda_sources.REDUCTION):
        check = f"check_{name}"
        assert any(f"{len(check)}{check}I" in e for e in entries), f"{check} not in the PTX"


def test_sources_agree_with_the_python_side():
    """The constants both sides rely on match: the hinge block size, and one template
    per raw kernel name."""
    assert f"#define TLCORE_HINGE_BLOCK {cuda_sources.HINGE_BLOCK}" in cuda_sources.RAW_SOURCE
    assert cuda_sources.HINGE_BLOCK & (cuda_sources.HINGE_BLOCK - 1) == 0  # a power of two
    for kernel in cuda_sources.RAW_KERNELS:
        assert re.search(rf"__global__ void {kernel}\(", cuda_sources.RAW_SOURCE), kernel
    assert cuda_sources.name_expression("tlcore_im2col", "float64") == "tlcore_im2col<double>"


def test_cuda_sources_do_not_import_cupy():
    """The test above reads the sources on machines without cupy: keep it that way."""
    code = "import sys, tlcore.kernels.backends.cuda_sources; assert 'cupy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
