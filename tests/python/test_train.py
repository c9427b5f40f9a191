# test_train.py: training from Python with a config dict and a progress callback; a run stopped
# after one epoch and resumed ends where an uninterrupted run ends.
import numpy as np
import pytest

import lightbox


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A MedMNIST-format .npz small enough to train on in a second."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 64), ("val", 32), ("test", 32)):
        labels = rng.integers(0, 2, (n, 1))
        images = (rng.random((n, 28, 28)) * 100 + labels[:, :, None] * 100).astype(np.uint8)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, **arrays)
    return str(path)


def config(data, out, **kw):
    return {"data": data, "out": str(out), "epochs": 2, "batch_size": 32, "seed": 1, **kw}


def test_train_reports_events_and_returns_history(tiny_data, tmp_path):
    events = []
    r = lightbox.train(config(tiny_data, tmp_path / "run"), progress=lambda e, info: events.append((e, info)))
    names = [e for e, _ in events]
    assert names[0] == "run_start"
    assert names.count("epoch_start") == 2 and names.count("batch_end") == 4
    assert len(r["history"]) == 2 and r["history"][1]["epoch"] == 2
    assert r["best_path"].endswith("best.safetensors")
    model = lightbox.load(r["best_path"])
    assert model.meta["config"]["epochs"] == 2


def test_resume_continues_exactly(tiny_data, tmp_path):
    full = lightbox.train(config(tiny_data, tmp_path / "full"))
    part = lightbox.train(config(tiny_data, tmp_path / "part", stop_after=1))
    assert len(part["history"]) == 1
    rest = lightbox.train(config(tiny_data, tmp_path / "part", resume=True))
    assert [h["train_loss"] for h in rest["history"]] == [h["train_loss"] for h in full["history"]]


def test_bad_config(tiny_data, tmp_path):
    with pytest.raises(lightbox.Error, match="unknown setting 'epochz'"):
        lightbox.train({"epochz": 3})
    with pytest.raises(lightbox.Error, match="lr"):
        lightbox.train(config(tiny_data, tmp_path / "bad", lr=-1.0))
    with pytest.raises(lightbox.Error, match="nothing.npz"):
        lightbox.train(config(str(tmp_path / "nothing.npz"), tmp_path / "bad2"))


def test_default_config_is_the_seed_recipe():
    c = lightbox.default_train_config()
    assert (c["lr"], c["momentum"], c["batch_size"], c["epochs"]) == (0.01, 0.9, 128, 5)


def test_ctrl_c_saves_a_resumable_state(tiny_data, tmp_path):
    import os
    import signal

    full = lightbox.train(config(tiny_data, tmp_path / "full", batch_size=8))
    seen = []

    def press_ctrl_c(event, info):  # Ctrl-C while batch 3 of epoch 1 reports
        if event == "batch_end":
            seen.append(info)
            if len(seen) == 3:
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        lightbox.train(config(tiny_data, tmp_path / "cut", batch_size=8), progress=press_ctrl_c)
    assert len(seen) < 16  # stopped inside the first epoch, not at the end
    rest = lightbox.train(config(tiny_data, tmp_path / "cut", batch_size=8, resume=True))
    assert [h["train_loss"] for h in rest["history"]] == [h["train_loss"] for h in full["history"]]


def test_an_exception_in_the_callback_reaches_the_caller(tiny_data, tmp_path):
    def fail(event, info):
        if event == "batch_end":
            raise ValueError("stop from the callback")

    with pytest.raises(ValueError, match="stop from the callback"):
        lightbox.train(config(tiny_data, tmp_path / "cb"), progress=fail)
