"""The PyTorch module classes of the bring-your-own-checkpoint fixtures (make_byo.py) and of the
round-trip check (python_test.go, -tags torch): each is nmflow's mlp 12 -> 5 -> 3 (or cnn
[1,6,6], conv 3, dense 5, 3 classes) under another key naming."""
from collections import OrderedDict

from torch import nn


def sequential():
    """The ordinary loop's net: keys 0.weight, 0.bias, 2.weight, 2.bias."""
    return nn.Sequential(nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))


class Layers(nn.Module):
    """keys layers.0.*, layers.2.*"""

    def __init__(self):
        super().__init__()
        self.layers = sequential()

    def forward(self, x):
        return self.layers(x)


class Custom(nn.Module):
    """keys net.fc_in.*, classifier.*"""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(OrderedDict([("fc_in", nn.Linear(12, 5)), ("act", nn.ReLU())]))
        self.classifier = nn.Linear(5, 3)

    def forward(self, x):
        return self.classifier(self.net(x))


class Lit(nn.Module):
    """A LightningModule's shape: the net in self.model, keys model.0.*, model.2.*"""

    def __init__(self):
        super().__init__()
        self.model = sequential()

    def forward(self, x):
        return self.model(x)


class ConvNet(nn.Module):
    """nmflow's cnn as features.0.* (Conv2d) and classifier.1.*, classifier.3.* (Linear)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(27, 5), nn.ReLU(), nn.Linear(5, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


def data_parallel():
    """keys module.0.*, module.2.* (nn.DataParallel works without a GPU as a plain wrapper)."""
    return nn.DataParallel(sequential())


# Fixture name -> (module factory, what torch.save wrote around net.state_dict(); "" = nothing).
MLP_FIXTURES = OrderedDict([
    ("sequential", (sequential, "")),
    ("layers", (Layers, "")),
    ("custom", (Custom, "")),
    ("training_loop", (sequential, "model_state_dict")),
    ("lightning", (Lit, "state_dict")),
    ("dataparallel", (data_parallel, "")),
])
