# test_notebook.py: the example notebook (docs/notebooks/seed_study.ipynb) runs top to bottom: every
# code cell is executed in order in one namespace, as Jupyter would (no kernel needed), with one
# short epoch of training on the shipped data. The notebook is committed with its outputs cleared.
import json
import os

import pytest

NOTEBOOK = os.path.join(os.environ.get("LB_SOURCE_DIR", "."), "docs", "notebooks", "seed_study.ipynb")


def test_notebook_is_committed_without_outputs():
    nb = json.load(open(NOTEBOOK))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_notebook_runs(tmp_path, monkeypatch):
    data = os.path.join(os.environ.get("LB_SOURCE_DIR", "."), "data", "pneumoniamnist.npz")
    if not os.path.exists(data):
        pytest.skip(f"{data} not found")
    monkeypatch.setenv("LB_DATA", data)
    monkeypatch.setenv("LB_RUN", str(tmp_path / "run"))
    monkeypatch.setenv("LB_EPOCHS", "1")
    monkeypatch.setenv("LB_FIXTURES", os.path.join(os.environ.get("LB_SOURCE_DIR", "."), "tests", "fixtures", "explain"))
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__main__"}
    for i, cell in enumerate(json.load(open(NOTEBOOK))["cells"]):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{NOTEBOOK}:cell{i}", "exec"), ns)
    assert ns["metrics"]["auc"] > 0.5  # one epoch already separates the classes
    assert [s["cell"] for s in ns["chosen"]] == ["tp", "fp", "fn", "tn"]
    assert ns["e"].values.shape == (4, 2, 1, 28, 28)
    assert abs(ns["e"].gaps).max() < 1e-3  # DeepSHAP's completeness
    if ns["agreement"] is not None:
        assert ns["agreement"] > 0.999  # shap with the same max-pool rule: the same numbers
