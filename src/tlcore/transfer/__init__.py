"""The methods of the transfer-learning lecture, one file per section.

    finetune.py     conservative training (L2SP, distillation) and layer transfer
    multitask.py    multi-task learning with shared layers
    progressive.py  progressive neural networks
    dann.py         domain-adversarial training
    zeroshot.py     zero-shot learning by attributes, attribute embedding, ConSE
    selftaught.py   self-taught learning: an autoencoder's encoder as features
    clustering.py   k-means (k-means++ seeding), NMI and purity, for self-taught clustering

Each is a thin layer of modules, losses and a training step over tlcore.nn, so a
learner sees the method and nothing else.
"""

from tlcore.transfer.multitask import (MultiTaskModel, multitask_loss,  # noqa: F401
                                       task_accuracies)
from tlcore.transfer.progressive import ProgressiveNet  # noqa: F401
from tlcore.transfer.zeroshot import AttributeClassifier, AttributeEmbedding, ConSE  # noqa: F401
from tlcore.transfer.finetune import (L2SP, copy_layers, distillation_loss, freeze,  # noqa: F401
                                      param_groups, unfreeze)
from tlcore.transfer.dann import DANN, annealed_lr, grl_lambda, train_dann  # noqa: F401
from tlcore.transfer.selftaught import ConvAutoencoder, feature_extractor  # noqa: F401
from tlcore.transfer.clustering import KMeans  # noqa: F401
