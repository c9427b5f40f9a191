# test_stubs.py: the committed type stubs (python/lightbox/_core.pyi) are what nanobind's stubgen
# makes of the module as built, so editors complete today's API. Regenerate with
#   PYTHONPATH=build/python build/pyvenv/bin/python -m nanobind.stubgen -m lightbox._core -o python/lightbox/_core.pyi
import os
import subprocess
import sys

import pytest

import lightbox


def test_core_stub_is_up_to_date(tmp_path):
    pytest.importorskip("nanobind.stubgen", reason="nanobind's stubgen is not importable")
    out = tmp_path / "_core.pyi"
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "lightbox._core", "-o", str(out)], check=True)
    committed = os.path.join(os.path.dirname(lightbox.__file__), "_core.pyi")
    assert open(committed).read() == out.read_text(), "python/lightbox/_core.pyi is stale; regenerate it (see above)"


def test_package_is_typed():
    assert os.path.exists(os.path.join(os.path.dirname(lightbox.__file__), "py.typed"))
