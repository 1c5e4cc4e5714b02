"""tlcore run finetune --plot DIR: the figure is written and the numbers do not change."""

import pytest

from tlcore.experiments.finetune import EXPERIMENT

TINY = dict(hidden=16, source_epochs=1, steps=3, warmup=2)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_the_figure_and_changes_no_number(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    plotted = EXPERIMENT.run(seeds=[0], plot=str(tmp_path), **TINY)
    figure = tmp_path / "finetune-curves_seed0.png"
    assert figure.read_bytes()[:8] == PNG_SIGNATURE
    assert f"wrote {figure}" in capsys.readouterr().out
    assert EXPERIMENT.run(seeds=[0], **TINY)["rows"] == plotted["rows"]
