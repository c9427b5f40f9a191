# test_stubs.py: the committed type stubs (python/lightbox/_core.pyi) are what nanobind's stubgen
# makes of the module as built, so editors complete today's API. Regenerate with
#   PYTHONPATH=build/python build/pyvenv/bin/python -m nanobind.stubgen -m lightbox._core -o python/lightbox/_core.pyi
import os
import subprocess
import sys

import pytest

import lightbox

STUBGEN_VERSION = "3.1.0"  # the nanobind that made the committed stub (tools/lib/common.sh pins it)


def test_core_stub_is_up_to_date(tmp_path):
    nanobind = pytest.importorskip("nanobind", reason="nanobind is not importable")
    if nanobind.__version__ != STUBGEN_VERSION:
        pytest.skip(f"nanobind {nanobind.__version__}: the stub was made with {STUBGEN_VERSION}, whose output may differ")
    out = tmp_path / "_core.pyi"
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "lightbox._core", "-o", str(out)], check=True)
    committed = os.path.join(os.path.dirname(lightbox.__file__), "_core.pyi")
    assert open(committed).read() == out.read_text(), "python/lightbox/_core.pyi is stale; regenerate it (see above)"


def test_package_is_typed():
    assert os.path.exists(os.path.join(os.path.dirname(lightbox.__file__), "py.typed"))
