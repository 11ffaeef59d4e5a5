"""Security checklist: local binding, no unpickling of user files, trusted model folder only."""
import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_app_binds_to_localhost_unless_configured():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False


def _calls(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                names.append(f"{f.value.id}.{f.attr}")
    return names


@pytest.mark.parametrize("folder", ["core", "app", "pages"])
def test_no_code_unpickles_or_torch_loads_a_file(folder):
    banned = {"pickle.load", "pickle.loads", "torch.load", "dill.load", "joblib.load", "cloudpickle.load"}
    found = {str(p.relative_to(ROOT)): sorted(set(_calls(p)) & banned) for p in (ROOT / folder).rglob("*.py")}
    assert not {k: v for k, v in found.items() if v}


def test_app_pages_load_models_only_through_the_trusted_folder():
    """Pages never pass explicit=True (the command-line escape hatch) to the model loader."""
    for page in list((ROOT / "pages").glob("*.py")) + list((ROOT / "app").glob("*.py")):
        assert "explicit=True" not in page.read_text(), page


def test_uploaded_file_path_is_refused_as_a_model(tmp_path, monkeypatch):
    from core.model.inference import ModelError, resolve_model_dir

    upload = tmp_path / "uploads" / "model.nequip.zip"
    upload.parent.mkdir()
    upload.write_bytes(b"PK\x03\x04 not a model")
    (upload.parent / "model.json").write_text("{}")
    with pytest.raises(ModelError, match="Refusing to load"):
        resolve_model_dir(upload)
