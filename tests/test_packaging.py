"""Every package directory ships in wheels (pyproject lists packages explicitly)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {"pinnlab." + ".".join(p.parent.relative_to(ROOT / "pinnlab").parts)
             for p in (ROOT / "pinnlab").rglob("__init__.py") if p.parent != ROOT / "pinnlab"}
    assert found | {"pinnlab", "pinnlab.samplers", "pinnlab.optimizers"} <= listed
    assert cfg["package-dir"] == {"pinnlab": "pinnlab", "pinnlab.samplers": "samplers",
                                  "pinnlab.optimizers": "optimizers"}


def test_non_python_sources_are_package_data():
    """Files the code reads from its own package (the C++ kernel) are declared, so wheels carry them."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = cfg.get("package-data", {})
    for path in (ROOT / "pinnlab").rglob("*.cpp"):
        package = "pinnlab." + ".".join(path.parent.relative_to(ROOT / "pinnlab").parts)
        assert path.name in data.get(package, []), f"{path} is not in [tool.setuptools.package-data]"
