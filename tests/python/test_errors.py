# test_errors.py: every error path raises lightbox.Error with the engine's (the CLI's) one-line
# message, never crashes the interpreter; Ctrl-C during a computation is a KeyboardInterrupt.
import os
import signal
import threading
import time

import numpy as np
import pytest

import lightbox


def test_error_is_one_exception_type():
    assert issubclass(lightbox.Error, Exception)


def test_missing_file(tmp_path):
    with pytest.raises(lightbox.Error, match="nothing.safetensors"):
        lightbox.load(str(tmp_path / "nothing.safetensors"))


def test_corrupt_file(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(lightbox.Error):
        lightbox.load(str(p))


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 1, 28, 28), dtype=np.float64), "expected float32 \\(N, 1, H, W\\) in model space"),
    (np.zeros((1, 28, 28), dtype=np.float32), "expected float32 \\(N, 1, H, W\\)"),
    (np.zeros((2, 3, 28, 28), dtype=np.float32), "expected float32 \\(N, 1, H, W\\)"),
    (np.full((1, 1, 28, 28), np.nan, dtype=np.float32), "contains NaN or inf"),
])
def test_bad_images(model, x, message):
    with pytest.raises(lightbox.Error, match=message):
        model(x)
    with pytest.raises(lightbox.Error, match=message):
        lightbox.explain(model, x, "ig")


def test_bad_explain_arguments(model, images, background):
    with pytest.raises(lightbox.Error, match="method must be gradient, deep, partition or ig"):
        lightbox.explain(model, images, "lime")
    with pytest.raises(lightbox.Error, match="needs a background"):
        lightbox.explain(model, images, "deep")
    with pytest.raises(lightbox.Error, match="explains the input only"):
        lightbox.explain(model, images, "ig", layer="layer2")
    with pytest.raises(lightbox.Error, match="no explainer has an option 'bogus'"):
        lightbox.explain(model, images, "ig", bogus=3)
    with pytest.raises(lightbox.Error, match="steps"):
        lightbox.explain(model, images, "ig", steps="many")
    with pytest.raises(lightbox.Error, match="layer"):
        lightbox.explain(model, images, "gradient", background=background, layer="layer9")
    with pytest.raises(lightbox.Error):
        lightbox.explain(model, images, "ig", model_output="odds")


def test_bad_probe_arguments(model, images):
    with pytest.raises(lightbox.Error, match="no module named 'layer7'"):
        model.probe(images, capture=["layer7"])
    with pytest.raises(lightbox.Error, match="is not an output"):
        model.probe(images, backward_output=2)


def test_bad_state_dict(model):
    sd = model.state_dict()
    with pytest.raises(lightbox.Error, match="fc.weight"):
        model.load_state_dict({**sd, "fc.weight": np.zeros((3, 3), dtype=np.float32)})
    with pytest.raises(lightbox.Error, match="missing"):
        model.load_state_dict({"fc.bias": sd["fc.bias"]})


def test_bad_model_spec():
    with pytest.raises(lightbox.Error, match="must be positive"):
        lightbox.resnet18(num_classes=0)
    with pytest.raises(lightbox.Error, match="conv1"):
        lightbox.resnet18().load_imagenet("x.safetensors", conv1="green")


def _long_call(model):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    return lightbox.explain(model, x, "ig", steps=400, batch_size=50)


def test_gil_is_released_during_compute(model):
    done = []
    t = threading.Thread(target=lambda: done.append(_long_call(model)))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.3)  # returns only if the explainer let go of the GIL
    alive = t.is_alive()
    t.join()
    assert alive, f"the call finished before the main thread woke ({time.monotonic() - t0:.2f} s): too short"
    assert done and done[0].values.shape == (64, 2, 1, 28, 28)


def test_ctrl_c_interrupts_a_long_call_cleanly(model, images):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    updates = []

    def press_ctrl_c(event, *args):  # a real SIGINT, sent while the engine is inside the call
        if event == "update":
            updates.append(args)
            if len(updates) == 1:
                os.kill(os.getpid(), signal.SIGINT)

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        lightbox.explain(model, x, "ig", steps=400, batch_size=50, progress=press_ctrl_c)
    assert len(updates) <= 2  # stopped at the next image, not after all 64
    assert time.monotonic() - t0 < 30
    # The flag is cleared and Python's own SIGINT handler is back.
    assert lightbox.explain(model, images, "ig", steps=8).values.shape == (3, 2, 1, 28, 28)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
