# test_tensor.py: arrays in and out of lightbox without copies (python/src/core.cc): a numpy
# array viewed as a lightbox.Tensor and the other way, written through from either side; the
# owner kept alive; a strided array copied (the one documented copy).
import gc

import numpy as np
import pytest

import lightbox


def test_numpy_into_tensor_shares_memory_both_ways():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = lightbox.Tensor(a)
    assert t.shape == (3, 4) and t.dtype == "float32"
    a[1, 2] = 100.0  # written through numpy, seen by lightbox
    v = t.numpy()
    assert v[1, 2] == 100.0
    v[0, 0] = -5.0  # written through lightbox's view, seen by the original array
    assert a[0, 0] == -5.0
    assert np.shares_memory(a, v)
    assert np.shares_memory(a, np.asarray(t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_every_engine_dtype_round_trips_without_copy(dtype):
    a = np.ones((2, 5), dtype=dtype)
    t = lightbox.Tensor(a)
    assert t.dtype == np.dtype(dtype).name
    assert np.shares_memory(a, t.numpy())


def test_tensor_keeps_the_array_alive_and_the_view_keeps_the_tensor():
    t = lightbox.Tensor(np.full((1000,), 3.0, dtype=np.float32))  # its only owner is the tensor
    gc.collect()
    v = t.numpy()
    del t
    gc.collect()
    assert float(v.sum()) == 3000.0


def test_strided_array_is_copied():
    a = np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2]
    t = lightbox.Tensor(a)
    np.testing.assert_array_equal(t.numpy(), a)
    assert not np.shares_memory(a, t.numpy())


def test_unsupported_dtype_is_a_lightbox_error():
    with pytest.raises(lightbox.Error, match="float32, float64, int64 or uint8"):
        lightbox.Tensor(np.ones(3, dtype=np.float16))


def test_dlpack_export_is_a_view():
    t = lightbox.Tensor(np.zeros(4, dtype=np.float32))
    b = np.from_dlpack(t)
    b[2] = 7.0
    assert t.numpy()[2] == 7.0


def test_state_dict_is_a_view_of_the_weights(model, images):
    before = model(images)
    sd = model.state_dict()
    sd["fc.bias"][:] += 1.0  # writes the model's own tensor
    np.testing.assert_allclose(model(images), before + 1.0, rtol=1e-5, atol=1e-5)


def test_logits_array_owns_its_memory(model, images):
    out = model(images)
    del model
    gc.collect()
    assert out.shape == (3, 2) and np.isfinite(out).all()
