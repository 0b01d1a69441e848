"""skrobust.nn: the small networks shipped for users and tests."""

import pytest
import torch

from skrobust.nn import MLP, SmallCNN

# Layers interval bound propagation knows (see skrobust.nn's docstring).
BOUNDABLE = (
    torch.nn.Flatten,
    torch.nn.Linear,
    torch.nn.Conv2d,
    torch.nn.ReLU,
    torch.nn.MaxPool2d,
    torch.nn.AvgPool2d,
    torch.nn.Dropout,
    torch.nn.BatchNorm2d,
)


def test_mlp_structure_and_shapes():
    net = MLP(12, 3, hidden_layer_sizes=(8, 5), activation=torch.nn.Tanh, dropout=0.1)
    assert isinstance(net, torch.nn.Sequential)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (12, 8),
        (8, 5),
        (5, 3),
    ]
    assert sum(isinstance(m, torch.nn.Tanh) for m in net) == 2
    assert sum(isinstance(m, torch.nn.Dropout) for m in net) == 2
    assert net(torch.rand(7, 12)).shape == (7, 3)
    assert net(torch.rand(7, 3, 2, 2)).shape == (7, 3)  # flattened
    assert (net.n_features_in, net.n_classes) == (12, 3)


def test_mlp_without_hidden_layers_is_linear():
    net = MLP(4, 2, hidden_layer_sizes=())
    x = torch.rand(5, 4)
    expected = x @ net[1].weight.T + net[1].bias
    torch.testing.assert_close(net(x), expected)
    assert not any(isinstance(m, torch.nn.Dropout) for m in MLP(4, 2))


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({}, (1, 8, 8)),
        ({"in_channels": 3, "image_size": 32}, (3, 32, 32)),
        ({"image_size": (7, 9), "channels": (4, 4, 4), "kernel_size": 5}, (1, 7, 9)),
        ({"hidden_size": 6, "dropout": 0.5, "batch_norm": True}, (1, 8, 8)),
        ({"image_size": 28, "channels": (8,)}, (1, 28, 28)),
    ],
)
def test_small_cnn_shapes(kwargs, shape):
    net = SmallCNN(10, **kwargs)
    assert net(torch.rand(4, *shape)).shape == (4, 10)
    assert all(isinstance(m, BOUNDABLE) for m in net), list(net)


def test_small_cnn_default_layers():
    net = SmallCNN(10)
    net(torch.zeros(1, 1, 8, 8))  # the input size is inferred at the first call
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear"]
    assert net[-1].in_features == 32 * 4 * 4
    assert (net.in_channels, net.image_size) == (1, (8, 8))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 7, 9)])
def test_small_cnn_infers_its_input_size(shape):
    explicit = SmallCNN(4, in_channels=shape[0], image_size=shape[1:], hidden_size=6)
    inferred = SmallCNN(4, hidden_size=6)
    x = torch.rand(3, *shape)
    inferred(x)  # materializes the lazy layers
    # the same architecture: the explicit net's weights fit and give its outputs
    assert [type(m) for m in inferred] == [type(m) for m in explicit]
    inferred.load_state_dict(explicit.state_dict())
    torch.testing.assert_close(inferred(x), explicit(x))
    assert (inferred.in_channels, inferred.image_size) == (shape[0], shape[1:])


def test_skorch_classifier_sizes_a_small_cnn_from_the_data():
    import numpy as np
    from skorch import NeuralNetClassifier

    from skrobust import SkorchClassifier
    from skrobust.attacks import PGD
    from skrobust.defenses import AdversarialTrainingClassifier

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 1, 12, 12)).astype(np.float32)
    y = (X[:, 0, :6].mean(axis=(1, 2)) > X[:, 0, 6:].mean(axis=(1, 2))).astype(int)
    net = NeuralNetClassifier(
        SmallCNN,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    plain = SkorchClassifier(net, random_state=0).fit(X, y)
    module = plain.net_.module_
    assert (module.in_channels, module.image_size) == (1, (12, 12))
    assert module[-1].in_features == 32 * 6 * 6
    # not lazy: tools that read the layers before any forward pass work too
    at = AdversarialTrainingClassifier(net, attack=PGD(eps=0.1, n_iter=2))
    assert at.fit(X, y).predict(X).shape == (40,)


def test_networks_output_logits_with_gradients():
    x = torch.rand(3, 1, 8, 8, requires_grad=True)
    for net in (MLP(64, 10), SmallCNN(10)):
        out = net(x)
        assert not torch.allclose(out.sum(dim=1), torch.ones(3))  # not probabilities
        (grad,) = torch.autograd.grad(out[:, 0].sum(), x)
        assert grad.shape == x.shape and grad.abs().sum() > 0


def test_invalid_arguments():
    with pytest.raises(ValueError, match="dropout"):
        MLP(4, 2, dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        SmallCNN(2, dropout=-0.1)
    with pytest.raises(ValueError, match="odd"):
        SmallCNN(2, kernel_size=4)
    with pytest.raises(ValueError, match="image_size"):
        SmallCNN(2, image_size=(8, 8, 8))
