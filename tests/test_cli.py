"""The tlcore command."""

import pytest

from tlcore import cli, kernels


def test_info_names_version_blas_and_every_backend(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tlcore ")
    assert "BLAS:" in out
    for name in kernels.BACKENDS:
        assert f"  {name} " in out
    for name, reason in kernels.unavailable().items():
        assert reason in out


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
