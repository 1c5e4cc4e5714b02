"""The lecture's map of transfer learning, as text and as a figure (``tlcore map``).

Two questions sort the lecture's methods: is the source data labelled (the columns), is
the target data labelled (the rows)? Each of the four cells lists its methods and,
smaller, the ``tlcore run NAME`` experiments that show them. Everything is built from
``lecture_map.MAP``.

matplotlib is an optional extra (``pip install 'tlcore[plot]'``), imported only when a
figure is asked for.
"""

import os

from tlcore.experiments.lecture_map import MAP

# the figure: 840 x 600 px at dpi 100
WIDTH, HEIGHT, DPI = 8.4, 6.0, 100
FILLS = {(True, True): "#dbeafe", (True, False): "#dcfce7",   # light blue, light green
         (False, True): "#fef3c7", (False, False): "#fce7f3"}  # light amber, light pink
EDGES = {(True, True): "#3b82f6", (True, False): "#22c55e",
         (False, True): "#f59e0b", (False, False): "#ec4899"}


def _word(labelled):
    return "labelled" if labelled else "unlabelled"


def _runs(method):
    return ", ".join(f"tlcore run {name}" for name in method.experiments)


def format_map():
    """The map as plain text: one block per cell, its title, then each method with its
    page in docs/ and its experiments."""
    blocks = []
    for cell in MAP:
        lines = [cell.title]
        for method in cell.methods:
            lines.append(f"  {method.name}")
            lines.append(f"    page: docs/{method.page}")
            lines.append(f"    run:  {_runs(method)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _wrap(renderer, text, font, max_width, separator=" "):
    """``text`` split at ``separator`` into lines no wider than ``max_width`` pixels,
    as drawn in ``font`` (a part wider than that alone gets a line of its own)."""
    from matplotlib.font_manager import FontProperties
    prop = FontProperties(size=font["fontsize"], weight=font.get("weight", "normal"),
                          family=font.get("family", "sans-serif"))

    def fits(line):
        return renderer.get_text_width_height_descent(line, prop, ismath=False)[0] \
            <= max_width
    lines = []
    for part in text.split(separator):
        if lines and fits(lines[-1] + separator.rstrip() + " " + part):
            lines[-1] += separator.rstrip() + " " + part
        else:
            lines.append(part)
    return lines


def _check_path(path):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write the map to {path}: the directory {directory} "
                         f"does not exist")
    if os.path.isdir(path):
        raise ValueError(f"cannot write the map to {path}: it is a directory")
    return path


def draw_map(path):
    """Draw the lecture's map (a 2x2 grid: source labelled or not across, target
    labelled or not down) and save it as a PNG at ``path``; return ``path``.

    The parent directory must exist (a ValueError otherwise); needs matplotlib
    (MissingExtra, an ImportError, otherwise).
    """
    from tlcore.experiments.figures import require_matplotlib
    path = _check_path(path)
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import FancyBboxPatch

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    width, height = WIDTH * DPI, HEIGHT * DPI  # lay out in pixels
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(0, height)
    axes.axis("off")
    pixels_per_point = DPI / 72

    left, top, right, bottom, gap = 62, 92, 12, 12, 12  # margins for the axis titles
    cell_w = (width - left - right - gap) / 2
    cell_h = (height - top - bottom - gap) / 2

    axes.text(width / 2, height - 22, "The lecture's map of transfer learning",
              ha="center", va="center", fontsize=15, weight="bold")
    for column, labelled in enumerate((True, False)):
        x = left + column * (cell_w + gap) + cell_w / 2
        axes.text(x, height - top + 22, f"source data {_word(labelled)}", ha="center",
                  va="center", fontsize=12.5, weight="bold")
    for row, labelled in enumerate((True, False)):
        y = height - top - row * (cell_h + gap) - cell_h / 2
        axes.text(left - 28, y, f"target data {_word(labelled)}", ha="center",
                  va="center", rotation=90, fontsize=12.5, weight="bold")

    renderer = FigureCanvasAgg(figure).get_renderer()  # to measure the text
    name_font = dict(fontsize=12, weight="bold", color="#1f2937")
    run_font = dict(fontsize=9, family="monospace", color="#4b5563")
    pad, indent = 14, 10
    for cell in MAP:
        column = 0 if cell.source_labelled else 1
        row = 0 if cell.target_labelled else 1
        x0 = left + column * (cell_w + gap)
        y1 = height - top - row * (cell_h + gap)  # the top of the cell
        key = (cell.source_labelled, cell.target_labelled)
        axes.add_patch(FancyBboxPatch((x0, y1 - cell_h), cell_w, cell_h,
                                      boxstyle="round,pad=0,rounding_size=10",
                                      facecolor=FILLS[key], edgecolor=EDGES[key],
                                      linewidth=1.5))
        lines = []  # (x, text, font, line height), then a gap between methods
        for method in cell.methods:
            if lines:
                lines.append((None, "", name_font, 0.7 * name_font["fontsize"]))
            for text in _wrap(renderer, method.name, name_font, cell_w - 2 * pad):
                lines.append((x0 + pad, text, name_font, 1.35 * name_font["fontsize"]))
            for text in _wrap(renderer, _runs(method), run_font,
                              cell_w - 2 * pad - indent, separator=", "):
                lines.append((x0 + pad + indent, text, run_font,
                              1.35 * run_font["fontsize"]))
        block = sum(step for *_, step in lines) * pixels_per_point
        if block > cell_h - 2 * pad:
            raise ValueError(f"the map's cell {cell.title!r} does not fit its box")
        y = y1 - (cell_h - block) / 2  # the block centred in its box
        for x, text, font, step in lines:
            if x is not None:
                axes.text(x, y, text, ha="left", va="top", **font)
            y -= step * pixels_per_point
    figure.savefig(path, format="png", dpi=DPI)
    return path
