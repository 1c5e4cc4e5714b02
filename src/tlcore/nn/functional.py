"""The functional forms of layers and losses: ``import tlcore.nn.functional as F``.

PyTorch's names, signatures and defaults (F.conv2d(x, weight, bias=None, stride=1,
padding=0, dilation=1, groups=1), F.cross_entropy(logits, target, reduction="mean"),
...), with ``axis=`` where numpy says axis. Each is the differentiable op of
tlcore.ops under the name a PyTorch user looks for.
"""

from tlcore.ops import (avg_pool2d, batch_norm, binary_cross_entropy_with_logits,  # noqa: F401
                        conv2d, cross_entropy, dropout, embedding, embedding_hinge_max_loss,
                        embedding_scores, grad_reverse, hinge_max_loss, hinge_sum_loss, kl_div,
                        leaky_relu, linear, log_softmax, max_pool2d, mse_loss, nll_loss, relu,
                        sigmoid, softmax, tanh, upsample_nearest)
