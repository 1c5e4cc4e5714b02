"""The lecture's map (experiments/lecture_map.py) names what exists, covers every
experiment, and ``tlcore map`` prints and draws it."""

import pathlib

import pytest

from tlcore import cli, experiments
from tlcore.experiments.lecture_map import MAP, OUTSIDE_THE_MAP, group_of

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENGINE_CHECK = "digits-cnn"  # the engine's own experiment: outside the map


def named_experiments():
    return {name for cell in MAP for method in cell.methods for name in method.experiments}


def test_the_map_has_the_four_cells_once_each():
    assert sorted((cell.source_labelled, cell.target_labelled) for cell in MAP) == \
        sorted((s, t) for s in (True, False) for t in (True, False))
    assert all(cell.methods for cell in MAP)


def test_every_experiment_the_map_names_is_registered():
    missing = sorted(named_experiments() - set(experiments.REGISTRY))
    assert not missing, f"the map names experiments the registry lacks: {missing}"


def test_every_page_the_map_names_is_in_docs():
    missing = sorted({method.page for cell in MAP for method in cell.methods
                      if not (DOCS / method.page).is_file()})
    assert not missing, f"the map names pages docs/ lacks: {missing}"


@pytest.mark.parametrize("name", [name for name in experiments.REGISTRY
                                  if name != ENGINE_CHECK])
def test_every_registered_experiment_is_in_exactly_one_cell(name):
    cells = [cell.title for cell in MAP if name in cell.experiments]
    assert len(cells) == 1, f"{name} is in cells {cells}"
    # more than one method only within that cell (zero-shot: two methods, one experiment)
    methods = [method.name for cell in MAP for method in cell.methods
               if name in method.experiments]
    assert methods and group_of(name) == cells[0]


def test_the_engine_check_is_outside_the_map():
    assert ENGINE_CHECK in experiments.REGISTRY
    assert ENGINE_CHECK not in named_experiments()
    assert group_of(ENGINE_CHECK) == OUTSIDE_THE_MAP


def test_map_prints_each_cell_and_method(capsys):
    assert cli.main(["map"]) == 0
    out = capsys.readouterr().out
    for cell in MAP:
        assert cell.title in out
        for method in cell.methods:
            assert method.name in out and f"docs/{method.page}" in out
            for name in method.experiments:
                assert f"tlcore run {name}" in out


def test_map_plot_writes_a_small_png(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="tlcore map --plot needs matplotlib")
    path = tmp_path / "map.png"
    assert cli.main(["map", "--plot", str(path)]) == 0
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) < 150 * 1024
    assert str(path) in capsys.readouterr().out


def test_map_plot_into_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    from tlcore.experiments.map_plot import draw_map
    path = tmp_path / "no" / "map.png"
    with pytest.raises(ValueError, match="does not exist") as info:
        draw_map(path)
    assert str(path) in str(info.value)
    with pytest.raises(SystemExit) as info:
        cli.main(["map", "--plot", str(path)])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert str(path) in captured.err and "does not exist" in captured.err
    assert captured.out == ""  # refused before printing anything
    assert not path.parent.exists()


def test_map_rejects_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["map", "--bogus"])
    assert info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_run_all_groups_its_summary_by_the_map_cells_in_order():
    from tlcore.experiments.suite import format_summary, summary_rows

    def result(name, section):
        return {"experiment": name, "section": section,
                "rows": [{"method": "m", "metric": "acc", "mean": 0.5, "std": 0.0,
                          "values": [0.5]}],
                "claims": [{"claim": "m acc >= 0.4", "holds": True, "method": "m",
                            "metric": "acc", "baseline": None, "at_least": 0.4,
                            "source": "lecture"}]}
    summary = summary_rows([result("self-taught-clustering", "self-taught clustering"),
                            result("finetune", "conservative training"),
                            result("digits-cnn", "engine")])
    assert [row["cell"] for row in summary] == [
        "source unlabelled, target unlabelled", "source labelled, target labelled",
        OUTSIDE_THE_MAP]
    text = format_summary(summary, seconds=1.0)
    headings = [line for line in text.splitlines() if line.startswith("[")]
    assert headings == [f"[{OUTSIDE_THE_MAP}]", "[source labelled, target labelled]",
                        "[source unlabelled, target unlabelled]"]
    assert text.index("digits-cnn") < text.index("finetune") < text.index("self-taught-clus")
