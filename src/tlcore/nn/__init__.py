"""Layers and models: Module, Parameter, containers and PyTorch's layers by name.

    from tlcore import nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
"""

from tlcore.nn import functional, init  # noqa: F401
from tlcore.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tlcore.nn.containers import ModuleDict, ModuleList, Sequential
from tlcore.nn.conv import Conv2d
from tlcore.nn.dropout import Dropout
from tlcore.nn.embedding import Embedding
from tlcore.nn.flatten import Flatten
from tlcore.nn.linear import Identity, Linear
from tlcore.nn.module import Module
from tlcore.nn.normalization import BatchNorm1d, BatchNorm2d
from tlcore.nn.parameter import Parameter
from tlcore.nn.pooling import AvgPool2d, MaxPool2d
from tlcore.nn.reverse import GradientReversal
from tlcore.nn.upsample import Upsample

__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Embedding",
           "Flatten", "GradientReversal", "Identity", "LeakyReLU", "Linear", "LogSoftmax",
           "MaxPool2d", "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "Tanh", "Upsample", "functional", "init"]
