# test_torch.py: PyTorch interop. Tensors cross without copies (DLPack) both ways, and a lightbox
# ResNet18 and torchvision's, same weights, give the same logits and input gradients. Skipped
# with the reason when torch (or torchvision) is not importable: tools/test.sh does not install
# them (PyPI's torch is gigabytes of CUDA wheels); Debian's python3-torch(vision) runs them.
import numpy as np
import pytest

import lightbox

torch = pytest.importorskip("torch", reason="torch is not importable (install python3-torch to run these)")


def test_torch_tensor_into_lightbox_shares_memory():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    lt = lightbox.Tensor(t)
    t[1, 1] = 42.0
    assert lt.numpy()[1, 1] == 42.0
    lt.numpy()[0, 0] = -1.0
    assert t[0, 0].item() == -1.0


def test_lightbox_tensor_into_torch_shares_memory():
    lt = lightbox.Tensor(np.zeros((2, 2), dtype=np.float32))
    t = torch.from_dlpack(lt)
    t[0, 1] = 3.0
    assert lt.numpy()[0, 1] == 3.0


def test_model_takes_torch_tensors(model, images):
    np.testing.assert_array_equal(model(torch.from_numpy(images)), model(images))


def torchvision_twin(model):
    tv = pytest.importorskip("torchvision", reason="torchvision is not importable (python3-torchvision)")
    net = tv.models.resnet18(num_classes=2)
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return net.eval()


def test_same_logits_and_input_gradients_as_torchvision(images):
    model = lightbox.resnet18(in_channels=1, num_classes=2, seed=11)
    net = torchvision_twin(model)
    x = torch.from_numpy(images.copy()).requires_grad_()
    logits = net(x)
    logits[:, 1].sum().backward()
    p = model.probe(images, backward_output=1)
    np.testing.assert_allclose(p["logits"], logits.detach().numpy(), rtol=1e-4, atol=1e-4)
    g = x.grad.numpy()
    np.testing.assert_allclose(p["input_grad"], g, rtol=1e-3, atol=1e-4 * np.abs(g).max())
