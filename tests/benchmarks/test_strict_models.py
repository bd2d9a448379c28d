"""One strict pydantic base (benchmarks.yaml_models.Strict) under cards, suites, retriever params
and compression params: an unknown key is an error everywhere, and cards stay frozen."""
import pydantic
import pytest

from benchmarks.cards import DatasetCard
from benchmarks.compress import CompressionParams
from benchmarks.suites import Suite
from benchmarks.yaml_models import Strict
from retrievers.base import Params


@pytest.mark.parametrize("model", [DatasetCard, Suite, CompressionParams, Params])
def test_every_file_model_is_strict(model):
    assert issubclass(model, Strict)
    assert model.model_config["extra"] == "forbid"


def test_unknown_keys_are_refused_and_model_fields_allowed():
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        CompressionParams(quantise="int8")

    class WithModel(Params):
        model: str = "m"
        model_path: str | None = None  # no protected-namespace warning, no error

    assert WithModel(model_path="x").model_path == "x"
    with pytest.raises(pydantic.ValidationError):
        WithModel(modle="x")


def test_cards_keep_their_own_settings_on_top():
    assert DatasetCard.model_config["frozen"] is True and DatasetCard.model_config["populate_by_name"] is True
    assert "frozen" not in Suite.model_config
