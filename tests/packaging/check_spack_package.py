"""Checks packaging/spack/packages/kvsim/package.py without Spack: the file must parse (ast),
and, loaded against a stub of the `spack.package` API that records every directive, declare
the +cuda, +mpi and cuda_arch variants, the Kokkos dependencies per variant, and give CMake the
Kokkos prefixes, the backend and, with +cuda, Kokkos' nvcc_wrapper. The stub stands in for
Spack's directives (version, variant, depends_on, conflicts, ...) and CMakePackage's define
helpers only; Spack's own concretizer is not run (`spack spec kvsim+cuda cuda_arch=90` with a
real Spack is the full check)."""

import ast
import sys
import types
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[2] / "packaging/spack/packages/kvsim/package.py"

calls = []


def directive(name):
    def record(*args, **kwargs):
        calls.append((name, args, kwargs))
    return record


class Spec:
    """Just enough of a concrete spec: satisfies() on +variant/~variant, and spec['dep']."""

    def __init__(self, variants, cuda_arch="none"):
        self.variants, self.cuda_arch = variants, cuda_arch

    def satisfies(self, constraint):
        ok = True
        for token in constraint.replace("~", " ~").replace("+", " +").split():
            if token.startswith("+"):
                ok &= self.variants.get(token[1:], False)
            elif token.startswith("~"):
                ok &= not self.variants.get(token[1:], False)
            elif token.startswith("cuda_arch="):
                ok &= token.split("=", 1)[1] == self.cuda_arch
        return ok

    def __getitem__(self, name):
        return types.SimpleNamespace(prefix=f"/opt/{name}", kokkos_cxx=f"/opt/{name}/bin/nvcc_wrapper")


class CMakePackage:
    def __init__(self, spec):
        self.spec = spec

    def define(self, name, value):
        if isinstance(value, bool):
            value = "ON" if value else "OFF"
        return f"-D{name}={value}"

    def define_from_variant(self, name, variant):
        return self.define(name, self.spec.variants.get(variant, False))


class CudaPackage:
    cuda_arch_values = ("70", "80", "90")


stub = types.ModuleType("spack.package")
for name in ("version", "variant", "depends_on", "conflicts", "maintainers", "license", "generator", "patch",
             "provides", "requires"):
    setattr(stub, name, directive(name))
stub.CMakePackage, stub.CudaPackage = CMakePackage, CudaPackage
stub.__all__ = [n for n in vars(stub) if not n.startswith("_")]
sys.modules["spack"] = types.ModuleType("spack")
sys.modules["spack.package"] = stub


def fail(message):
    print(f"{RECIPE}: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    source = RECIPE.read_text()
    try:
        ast.parse(source, str(RECIPE))
    except SyntaxError as err:
        fail(f"line {err.lineno}: {err.msg}")
    namespace = {}
    exec(compile(source, str(RECIPE), "exec"), namespace)
    cls = namespace.get("Kvsim")
    if cls is None or not issubclass(cls, CMakePackage) or not issubclass(cls, CudaPackage):
        fail("no class Kvsim(CMakePackage, CudaPackage)")
    variants = {args[0] for name, args, _ in calls if name == "variant"}
    if "mpi" not in variants:
        fail("no 'mpi' variant")  # cuda and cuda_arch come from CudaPackage
    deps = [(args[0], kwargs.get("when", "")) for name, args, kwargs in calls if name == "depends_on"]
    names = {d.split()[0].split("@")[0] for d, _ in deps}
    for need in ("kokkos", "kokkos-kernels", "yaml-cpp", "hdf5", "mpi", "cli11", "cmake"):
        if need not in names:
            fail(f"no depends_on('{need}')")
    if ("kokkos +cuda +wrapper", "+cuda") not in deps or ("hdf5 +mpi", "+mpi") not in deps:
        fail("+cuda must ask for kokkos +cuda +wrapper, +mpi for hdf5 +mpi")
    if not any(d == "kokkos cuda_arch=90" and w == "+cuda cuda_arch=90" for d, w in deps):
        fail("cuda_arch is not passed on to kokkos")
    cuda = cls(Spec({"cuda": True, "mpi": True}, "90")).cmake_args()
    host = cls(Spec({"cuda": False, "mpi": True})).cmake_args()
    for want in ("-DKokkos_ROOT=/opt/kokkos", "-DKokkosKernels_ROOT=/opt/kokkos-kernels", "-DKVSIM_BACKEND=cuda",
                 "-DCMAKE_CXX_COMPILER=/opt/kokkos/bin/nvcc_wrapper", "-DKVSIM_ENABLE_TESTS=OFF"):
        if want not in cuda:
            fail(f"+cuda: cmake_args lacks {want}: {cuda}")
    if "-DKVSIM_BACKEND=cpu" not in host or any("CMAKE_CXX_COMPILER" in a for a in host):
        fail(f"~cuda: expected the cpu backend and the default compiler: {host}")
    # The CMake options it sets must be this project's.
    cmake = (RECIPE.parents[4] / "CMakeLists.txt").read_text()
    for option in ("KVSIM_ENABLE_TESTS", "KVSIM_BACKEND"):
        if option not in cmake:
            fail(f"sets {option}, which CMakeLists.txt does not define")
    print(f"{RECIPE.name}: ok ({len(deps)} dependencies, variants {sorted(variants)} + cuda, cuda_arch)")


main()
