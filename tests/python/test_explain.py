# test_explain.py: every explainer from Python equals `lightbox explain` on the same files (values,
# expected values, outputs, gaps), at the input and at a layer; shap's layout is a view of
# lightbox's; progress reaches a Python callback.
import json

import numpy as np
import pytest

import lightbox
from conftest import run_cli

CASES = [
    ("gradient", "input", {"nsamples": 20}),
    ("gradient", "layer2", {"nsamples": 20}),
    ("deep", "input", {}),
    ("deep", "layer3", {}),
    ("partition", "input", {"max_evals": 60, "masker": "blur:8"}),
    ("ig", "input", {"steps": 16}),
]


def cli_flags(options):
    flags = []
    for k, v in options.items():
        flags += [f"--{k.replace('_', '-')}", str(v)]
    return flags


@pytest.mark.parametrize("method, layer, options", CASES, ids=[f"{m}@{l}" for m, l, _ in CASES])
def test_equals_the_cli(cli, weights, model, images, background, tmp_path, method, layer, options):
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "bg.npy", background)
    out = tmp_path / "out"
    needs_bg = method in ("gradient", "deep")
    run_cli(cli, "explain", "--method", method, "--weights", weights, "--input", str(tmp_path / "x.npy"),
            "--layer", layer, "--seed", "4", "--out", str(out), "--quiet",
            *(["--background", str(tmp_path / "bg.npy")] if needs_bg else []), *cli_flags(options))
    e = lightbox.explain(model, images, method, background=background if needs_bg else None, layer=layer, seed=4,
                         **options)
    np.testing.assert_allclose(e.values, np.load(out / "values.npy"), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e.expected, np.load(out / "expected.npy"), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e.outputs, np.load(out / "outputs.npy"), rtol=1e-9, atol=1e-12)
    if e.gaps is not None:
        np.testing.assert_allclose(e.gaps, np.load(out / "gaps.npy"), rtol=1e-9, atol=1e-12)
    if method == "gradient":
        np.testing.assert_allclose(e.variances, np.load(out / "variances.npy"), rtol=1e-9, atol=1e-12)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["method"] == method
    assert e.values.shape[:2] == (3, 2)


def test_deep_is_complete_and_shap_layout_is_a_view(model, images, background):
    e = lightbox.explain(model, images, "deep", background=background)
    assert e.values.shape == (3, 2, 1, 28, 28) and e.values.dtype == np.float64
    assert e.expected.shape == (2,)
    # DeepSHAP's completeness: f(x) - E f(b) = sum of the values, up to float32 rounding.
    np.testing.assert_allclose(e.outputs - e.expected, e.values.sum(axis=(2, 3, 4)), atol=1e-3)
    sv = e.shap_values()
    assert len(sv) == 2 and sv[1].shape == (3, 28, 28, 1)
    assert np.shares_memory(sv[1], e.values)
    np.testing.assert_array_equal(sv[1][:, :, :, 0], e.values[:, 1, 0])
    assert e.shap_values(channels_last=False)[0].shape == (3, 1, 28, 28)
    assert e.pixel_values().shape == (3, 28, 28, 1)


def test_explainers_describe_the_registry():
    names = [e["name"] for e in lightbox.explainers()]
    assert names == ["gradient", "deep", "partition", "ig"]
    ig = next(e for e in lightbox.explainers() if e["name"] == "ig")
    assert "steps" in ig["options"] and not ig["layers"]


def test_progress_callback_sees_every_image(model, images):
    events = []
    lightbox.explain(model, images, "ig", steps=8, progress=lambda *a: events.append(a))
    assert events[0][:3] == ("start", "ig", 3)
    assert sum(e[1] for e in events if e[0] == "update") == 3
    assert events[-1][0] == "finish"


def test_an_exception_in_a_progress_callback_reaches_the_caller(model, images):
    def fail(event, *args):
        if event == "update":
            raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        lightbox.explain(model, images, "ig", steps=4, progress=fail)
    assert lightbox.explain(model, images, "ig", steps=4).values.shape == (3, 2, 1, 28, 28)
