"""Progressive neural networks (Rusu et al. 2016, "Progressive Neural Networks").

Learn task 1 with a column (a network). For task 2, freeze that column and add a new
one beside it, of the same depth, whose layers also read the earlier columns' hidden
activations through lateral connections (eq. 1):

    h_i^(k) = f( W_i^(k) h_{i-1}^(k) + sum_{j<k} U_i^(k:j) h_{i-1}^(j) ),   i >= 2

Layer 1 of every column reads only the input (h_0 = x). The earlier columns never
change, so task 1 cannot be forgotten; the new column reuses their features as it
sees fit, and the price is one column's parameters per task.

The adapter form (eq. 2) replaces each lateral sum by a small MLP over the earlier
columns' activations, concatenated:

    h_i^(k) = f( W_i^(k) h_{i-1}^(k) + U_i^(k) sigma( V_i^(k) alpha_{i-1} h_{i-1}^(<k) ) )

with a learned scalar alpha (the paper draws it small and random; here it starts at a
fixed small ``alpha_init``, so the earlier columns' features come in at a scale the new
column can match), a projection V of the (k-1) n_{i-1} concatenated units onto
n_{i-1} units, where n_{i-1} is the width of layer i-1 (the layer below the receiving
one, in every column), a nonlinearity sigma (ReLU), then U. For the second column V
is square; from the third on it reduces, which keeps each layer's lateral parameters
of the order of one column's however many columns there are.
"""

import numbers

import numpy as np

from tlcore import nn, ops
from tlcore.arguments import check_positive

LATERALS = ("linear", "adapter")


class Lateral(nn.Module):
    """Eq. 1's lateral term sum_{j<k} U^(k:j) h^(j): one bias-free Linear per earlier
    column (W of the receiving layer holds the bias)."""

    def __init__(self, earlier_widths, out_features):
        super().__init__()
        self.U = nn.ModuleList(nn.Linear(width, out_features, bias=False)
                               for width in earlier_widths)

    def forward(self, earlier):
        total = None
        for U, h in zip(self.U, earlier):
            term = U(h)
            total = term if total is None else total + term
        return total


class Adapter(nn.Module):
    """Eq. 2's lateral term U sigma(V (alpha * [h^(1), ..., h^(k-1)])): the earlier
    columns' activations concatenated, scaled by a learned scalar alpha, projected to
    ``width`` units by V (the paper: n_{i-1}, the width of one earlier column's
    h_{i-1}), passed through a ReLU, then mapped by U."""

    def __init__(self, earlier_widths, out_features, width, alpha_init):
        super().__init__()
        self.alpha = nn.Parameter(np.array(alpha_init, dtype=np.float32))
        self.V = nn.Linear(sum(earlier_widths), width)
        self.U = nn.Linear(width, out_features, bias=False)

    def forward(self, earlier):
        h = earlier[0] if len(earlier) == 1 else ops.concat(earlier, axis=1)
        return self.U(ops.relu(self.V(h * self.alpha)))


class Column(nn.Module):
    """One column: hidden layers W_1 .. W_L, a head, and (from the second column on) a
    lateral term for every layer from 2 on, the head included. ``adapter_width``: the
    units of every adapter's V, or None for the paper's n_{i-1} at layer i."""

    def __init__(self, sizes, out_features, earlier_columns, lateral, adapter_width,
                 alpha_init):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], out_features)
        self.laterals = nn.ModuleList()
        if earlier_columns:
            # Layer i (i >= 2) reads h_{i-1} of each earlier column: n_{i-1} = sizes[i-1].
            for receiving, width in zip(list(self.layers)[1:] + [self.head], sizes[1:]):
                earlier = [width] * earlier_columns
                out = receiving.out_features
                self.laterals.append(
                    Lateral(earlier, out) if lateral == "linear" else
                    Adapter(earlier, out, width if adapter_width is None else adapter_width,
                            alpha_init))

    def layer(self, i):
        """Layer i (0-based) of the column: a hidden layer, or the head for i = L."""
        return self.layers[i] if i < len(self.layers) else self.head


class ProgressiveNet(nn.Module):
    """Columns of MLPs with lateral connections (Rusu et al. 2016).

    ``ProgressiveNet(in_features, widths, out_features, lateral="linear",
    adapter_width=None, alpha_init=0.01)`` builds the first column:
    in_features -> widths[0] -> ... -> widths[-1] -> out_features, each hidden layer
    Linear then ReLU, the head Linear (logits). Inputs of shape (N, ...) are flattened
    to (N, in_features) (8x8 images: in_features=64).

    - ``lateral``: "linear" for eq. 1 (one U per earlier column and layer), "adapter"
      for eq. 2 (alpha, V, ReLU, U per layer over the concatenated earlier columns).
    - ``adapter_width``: the number of units every adapter's V projects to (default:
      the paper's n_{i-1} at layer i, the width of the layer below the receiving one:
      a 10-logit head over 64 hidden units gets a V of 64 units, not of 10 or 32).
    - ``alpha_init``: the adapters' initial alpha.

    ``add_column(out_features=None)`` freezes every column there is (requires_grad
    False: an optimizer leaves them bit-identical, weight decay included) and adds a
    new one of the same widths, with its own head (``out_features``: default, the
    first column's). ``forward(x, column=k)`` returns column k's output (0-based; None
    or -1: the last column); it computes columns 0..k and nothing after k.
    """

    def __init__(self, in_features, widths, out_features, lateral="linear",
                 adapter_width=None, alpha_init=0.01):
        super().__init__()
        self.in_features = check_positive("in_features", in_features)
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
            raise TypeError(f"widths must be a list of hidden layer widths, got {widths!r}")
        widths = tuple(widths)
        if not widths:
            raise ValueError("widths must name at least one hidden layer, got ()")
        self.widths = tuple(check_positive(f"widths[{i}]", w) for i, w in enumerate(widths))
        self.out_features = check_positive("out_features", out_features)
        if lateral not in LATERALS:
            raise ValueError(f"lateral must be one of {LATERALS}, got {lateral!r}")
        self.lateral = lateral
        self.adapter_width = (None if adapter_width is None
                              else check_positive("adapter_width", adapter_width))
        if not isinstance(alpha_init, numbers.Real) or isinstance(alpha_init, bool):
            raise TypeError(f"alpha_init must be a number, got {alpha_init!r}")
        self.alpha_init = float(alpha_init)
        self.columns = nn.ModuleList()
        self.add_column(out_features)

    def __len__(self):
        """The number of columns."""
        return len(self.columns)

    def add_column(self, out_features=None):
        """Freeze every existing column and append a new one; return its index."""
        out_features = (self.out_features if out_features is None
                        else check_positive("out_features", out_features))
        for column in self.columns:
            column.requires_grad_(False)
        sizes = (self.in_features,) + self.widths
        self.columns.append(Column(sizes, out_features, len(self.columns), self.lateral,
                                   self.adapter_width, self.alpha_init))
        return len(self.columns) - 1

    def column_index(self, column):
        """``column`` as a 0-based index, or a ValueError naming the valid range."""
        n = len(self.columns)
        if column is None:
            return n - 1
        if not isinstance(column, numbers.Integral) or isinstance(column, bool):
            raise TypeError(f"column must be an int, got {column!r}")
        if not -n <= column < n:
            raise ValueError(f"column must be in [0, {n}) (or [-{n}, -1] from the end), "
                             f"got {column}: the net has {n} column(s)")
        return int(column) % n

    def forward(self, x, column=None):
        k = self.column_index(column)
        if x.ndim < 2:
            raise ValueError(f"x must be a batch of shape (N, ...), got shape {x.shape}")
        if x.ndim > 2:
            x = ops.flatten(x, 1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample, got "
                             f"{x.shape[1]}")
        columns = list(self.columns)[:k + 1]
        h = [x] * len(columns)  # h_0^(c) = x for every column c
        depth = len(self.widths)
        for i in range(depth + 1):  # the hidden layers, then the heads
            new = []
            for c, column in enumerate(columns):
                z = column.layer(i)(h[c])
                if i >= 1 and c >= 1:
                    z = z + column.laterals[i - 1](h[:c])
                new.append(ops.relu(z) if i < depth else z)
            h = new
        return h[k]

    def extra_repr(self):
        return (f"in_features={self.in_features}, widths={self.widths}, "
                f"out_features={self.out_features}, lateral={self.lateral!r}, "
                f"columns={len(self.columns)}")
