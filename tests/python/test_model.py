# test_model.py: load, forward and probe from Python equal `lightbox probe` on the same files
# (tools/cli/probe.cc), and the model's metadata, save/load and ImageNet-style loading.
import os

import numpy as np
import pytest

import lightbox
from conftest import run_cli


def test_meta_of_a_fresh_model(model):
    m = model.meta
    assert (m["in_channels"], m["num_classes"], m["width"]) == (1, 2, 8)
    assert m["normalization"] == (0.5, 0.5)


def test_probe_equals_the_cli(cli, weights, model, images, tmp_path):
    np.save(tmp_path / "x.npy", images)
    out = tmp_path / "probe"
    run_cli(cli, "probe", "--weights", weights, "--input", str(tmp_path / "x.npy"), "--capture", "layer1,layer4",
            "--backward-output", "1", "--out", str(out))
    p = model.probe(images, capture=["layer1", "layer4"], backward_output=1)
    files = sorted(f[:-4] for f in os.listdir(out))
    assert sorted(p) == files  # the same tensors, named as the CLI's files
    for name in files:
        np.testing.assert_allclose(p[name], np.load(out / f"{name}.npy"), rtol=1e-6, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(model(images), np.load(out / "logits.npy"), rtol=1e-6, atol=1e-7)


def test_gradient_of_a_sum_of_logits_matches_finite_differences(model):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 28, 28)).astype(np.float64)
    g = model.probe(x.astype(np.float32), backward_output=0)["input_grad"]
    d = rng.standard_normal(x.shape)
    d /= np.linalg.norm(d)
    eps = 1e-2
    f = lambda z: float(model(z.astype(np.float32))[:, 0].sum())
    fd = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
    assert abs(fd - float((g * d).sum())) < 2e-2 * max(1.0, abs(fd))


def test_save_and_load_round_trip(model, images, tmp_path):
    path = str(tmp_path / "copy.safetensors")
    model.save(path)
    np.testing.assert_array_equal(lightbox.load(path)(images), model(images))


def test_load_state_dict_from_another_model(images):
    a = lightbox.resnet18(width=8, seed=1)
    b = lightbox.resnet18(width=8, seed=2)
    assert not np.allclose(a(images), b(images))
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    np.testing.assert_array_equal(a(images), b(images))


def test_imagenet_style_weights_adapt_conv1_and_fc(tmp_path):
    rgb = lightbox.resnet18(in_channels=3, num_classes=10, width=64, seed=5)
    path = str(tmp_path / "rgb.safetensors")
    rgb.save(path)
    grey = lightbox.resnet18(in_channels=1, num_classes=2, seed=0)
    report = grey.load_imagenet(path, conv1="sum")
    assert "conv1.weight" in report["adapted"]
    assert "fc.weight" in report["reinitialised"]
    w = rgb.state_dict()["conv1.weight"]
    np.testing.assert_allclose(grey.state_dict()["conv1.weight"][:, 0], w.sum(axis=1), rtol=1e-5, atol=1e-7)
