# test_evaluate.py: predictions, sample selection, metrics and the model comparison from Python;
# the comparison equals `lightbox compare` on the same two checkpoints and data.
import json
import os

import numpy as np
import pytest

import lightbox
from conftest import run_cli


@pytest.fixture(scope="session")
def data_path():
    path = os.path.join(os.environ.get("LB_SOURCE_DIR", "."), "data", "pneumoniamnist.npz")
    if not os.path.exists(path):
        pytest.skip(f"{path} not found (the shipped PneumoniaMNIST file)")
    return path


def test_select_follows_the_confusion_cells():
    labels = [1, 0, 1, 0, 1, 0]
    scores = [0.9, 0.8, 0.2, 0.1, 0.7, 0.3]
    sel = lightbox.select(labels, scores, "tp,fp,fn,tn", per_cell=1)
    assert [(s["cell"], s["index"]) for s in sel] == [("tp", 0), ("fp", 1), ("fn", 2), ("tn", 3)]
    confident = lightbox.select(labels, scores, "tp", per_cell=1, order="confident")
    assert confident[0]["index"] == 0
    with pytest.raises(lightbox.Error, match="labels but"):
        lightbox.select([1, 0], [0.5])
    with pytest.raises(lightbox.Error):
        lightbox.select(labels, scores, "tp,xx")


def test_metrics_agree_with_their_definitions():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    m = lightbox.evaluate(scores, labels, threshold=0.5, resamples=50)
    pred = scores >= 0.5
    tp = int(np.sum(pred & (labels == 1)))
    assert m["confusion"]["tp"] == tp
    acc = np.mean(pred == (labels == 1))
    assert m["metrics"]["accuracy"] == pytest.approx(acc)
    pos, neg = scores[labels == 1], scores[labels == 0]
    auc = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert m["auc"] == pytest.approx(auc)


def test_predict_and_compare_equal_the_cli(cli, data_path, tmp_path):
    paths = []
    for seed in (1, 2):
        p = str(tmp_path / f"m{seed}.safetensors")
        lightbox.resnet18(width=8, seed=seed).save(p)
        paths.append(p)
    run_cli(cli, "compare", paths[0], paths[1], "--data", data_path, "--out", str(tmp_path / "cmp"))
    cli_json = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    pa = lightbox.predict(lightbox.load(paths[0]), data_path)
    pb = lightbox.predict(lightbox.load(paths[1]), data_path)
    assert pa["probs"].shape == (624, 2) and pa["labels"].shape == (624,)
    c = lightbox.compare(pa["probs"][:, 1], pb["probs"][:, 1], pa["labels"])
    for test in ("mcnemar", "delong"):
        for k, v in cli_json[test].items():
            if isinstance(v, float):
                assert c[test][k] == pytest.approx(v, rel=1e-9, abs=1e-12), (test, k)
            else:
                assert c[test][k] == v, (test, k)


def test_load_split(data_path):
    s = lightbox.load_split(data_path, "val")
    assert s["images"].dtype == np.uint8 and s["images"].shape[1:] == (28, 28, 1)
    assert s["labels"].shape == (s["images"].shape[0],)
    with pytest.raises(lightbox.Error):
        lightbox.load_split(data_path, "holdout")


def test_multiclass_and_multilabel_metrics():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), 60)
    labels = rng.integers(0, 3, 60)
    m = lightbox.evaluate(probs, labels, resamples=0)
    assert m["task"] == "multi-class" and m["classes"] == 3
    assert m["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    flags = rng.integers(0, 2, (60, 4))
    ml = lightbox.evaluate(rng.random((60, 4)), flags, resamples=0)
    assert ml["task"] == "multi-label" and len(ml["per_class"]) == 4
    with pytest.raises(lightbox.Error):
        lightbox.evaluate(probs, np.full(60, 5), resamples=0)  # a label out of range


def test_select_multiclass_one_vs_rest():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    labels = np.array([0, 0, 1, 2])
    # Class 0: sample 0 is TP, 1 is FN (belongs to 0, argmax 1), 2 is FP (argmax 0, label 1), 3 is TN.
    sel = lightbox.select(labels, probs, "tp,fp,fn,tn", cls=0)
    assert [(s["cell"], s["index"]) for s in sel] == [("tp", 0), ("fp", 2), ("fn", 1), ("tn", 3)]
    own = lightbox.select(labels, probs, "tp,fp", per_cell=2)  # each sample on its predicted class
    assert [(s["cell"], s["index"]) for s in own] == [("tp", 0), ("tp", 3), ("fp", 1), ("fp", 2)]
    with pytest.raises(lightbox.Error, match="give cls=K for fn and tn"):
        lightbox.select(labels, probs, "tp,fn")
    two = np.stack([1 - np.array([0.9, 0.2]), np.array([0.9, 0.2])], axis=1)
    assert lightbox.select([1, 0], two, "tp,tn") == lightbox.select([1, 0], [0.9, 0.2], "tp,tn")


def test_compare_multiclass_and_multilabel():
    # A right everywhere, B wrong on samples 1 and 4: McNemar counts them; DeLong per class.
    labels = np.array([0, 1, 2, 0, 1, 2])
    a = np.eye(3)[labels] * 0.8 + 0.1 / 1.5
    b = a.copy()
    b[[1, 4]] = b[[0, 0]]
    c = lightbox.compare(a, b, labels)
    assert c["task"] == "multi-class"
    assert c["mcnemar"]["b_a_right_b_wrong"] == 2 and c["mcnemar"]["c_a_wrong_b_right"] == 0
    assert len(c["per_class"]) == 3 and c["accuracy_a"] == 1.0
    flags = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    ml = lightbox.compare(np.array([[.9, .2], [.1, .3], [.8, .1], [.2, .4]]),
                          np.array([[.4, .6], [.2, .1], [.3, .2], [.1, .1]]), flags)
    assert ml["task"] == "multi-label, binary-class"
    assert [p["mcnemar"]["b_a_right_b_wrong"] for p in ml["per_class"]] == [2, 1]
    assert "error" in ml["per_class"][1]["delong"]  # label 1 is never present
    with pytest.raises(lightbox.Error, match="labels differ|label entries"):
        lightbox.compare(a, b, labels[:5])
