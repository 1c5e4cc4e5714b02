"""The README's Python example runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write files
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no python example"
    namespaces = []
    for block in blocks:
        namespaces.append({})
        exec(compile(block, "README.md", "exec"), namespaces[-1])
    first = namespaces[0]  # "A first look": a loss, its backward, a gradcheck
    assert first["w"].grad.shape == (3, 4) and first["x"].grad.shape == (8, 4)
    training = namespaces[1]  # "Training a network": five epochs of a small CNN
    assert training["accuracy"] > 0.9
    import tlcore
    saved = tlcore.load(tmp_path / "digits-cnn.npz")
    assert list(saved) == list(training["model"].state_dict())
