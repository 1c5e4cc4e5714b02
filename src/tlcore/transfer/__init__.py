"""The methods of the transfer-learning lecture, one file per section.

    finetune.py     conservative training (L2SP, distillation) and layer transfer
    multitask.py    multi-task learning with shared layers
    progressive.py  progressive neural networks
    dann.py         domain-adversarial training
    zeroshot.py     zero-shot learning by attributes, attribute embedding, ConSE

Each is a thin layer of modules, losses and a training step over tlcore.nn, so a
learner sees the method and nothing else.
"""
