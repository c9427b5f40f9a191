# conftest.py: fixtures of the Python package's tests (tests/python, docs/12-python.md): a small
# seeded ResNet18 saved as a checkpoint, images in model space, and the CLI that the results are
# compared against (LB_CLI, set by ctest; the tests that need it skip without it).
import os
import subprocess

import numpy as np
import pytest

import lightbox


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("LB_CLI")
    if not path or not os.path.exists(path):
        pytest.skip("LB_CLI is not set to the lightbox binary (ctest sets it)")
    return path


def run_cli(cli, *args):
    r = subprocess.run([cli, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """A width-8 ResNet18 (every op and name of the real one, fast) saved as a checkpoint."""
    path = str(tmp_path_factory.mktemp("model") / "w8.safetensors")
    lightbox.resnet18(in_channels=1, num_classes=2, width=8, seed=3).save(path)
    return path


@pytest.fixture
def model(weights):
    return lightbox.load(weights)


@pytest.fixture(scope="session")
def images():
    rng = np.random.default_rng(7)
    return rng.standard_normal((3, 1, 28, 28)).astype(np.float32)


@pytest.fixture(scope="session")
def background():
    rng = np.random.default_rng(8)
    return rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
