"""A damaged cached model is found (size and hash recorded at write), named and rebuilt."""

import json

import pytest

from fixtures.models import cache


class Saveable:
    """Writes what save_pretrained would: a config and a weights file."""

    def __init__(self, weights: bytes):
        self.weights = weights

    def save_pretrained(self, folder):
        (folder / "config.json").write_text(json.dumps({"model_type": "toy"}))
        (folder / "model.safetensors").write_bytes(self.weights)


@pytest.fixture(autouse=True)
def fresh_checks():
    cache._VERIFIED.clear()
    yield
    cache._VERIFIED.clear()


def test_an_intact_entry_is_used(tmp_path):
    entry = cache.save_atomically(tmp_path / "m", Saveable(b"x" * 100))
    assert cache.is_intact(entry)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_entry_is_named_and_removed_for_a_rebuild(tmp_path, capsys, damage):
    entry = cache.save_atomically(tmp_path / "m", Saveable(b"x" * 100))
    weights = entry / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(b"x" * 40)
    elif damage == "flip":
        weights.write_bytes(b"y" + b"x" * 99)
    else:
        weights.unlink()
    assert not cache.is_intact(entry)
    err = capsys.readouterr().err
    assert f"cache entry {entry} is damaged" in err and str(weights) in err and "rebuilding" in err
    assert not entry.exists()  # the caller builds it again


def test_an_entry_from_before_manifests_is_adopted_when_it_reads(tmp_path):
    import torch
    from safetensors.torch import save_file

    entry = tmp_path / "old"
    entry.mkdir()
    (entry / "config.json").write_text("{}")
    save_file({"w": torch.ones(3)}, entry / "model.safetensors")
    assert cache.is_intact(entry) and (entry / cache.MANIFEST).is_file()
    cache._VERIFIED.clear()
    (entry / cache.MANIFEST).unlink()
    (entry / "model.safetensors").write_bytes(b"\x10\x00")  # truncated: "invalid header length"
    assert not cache.is_intact(entry) and not entry.exists()


def test_the_pretrained_tiny_base_is_rebuilt_when_its_weights_are_cut(tmp_path, monkeypatch):
    from fixtures.models import pretrain

    monkeypatch.setenv("PEFT_BENCH_CACHE", str(tmp_path))
    built = []
    monkeypatch.setattr(pretrain, "pretrain", lambda model, tokenizer, **kw: built.append(1))
    from transformers import BertConfig

    def config():
        return BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)

    path = pretrain.get_pretrained_dir("toy", config(), None, family="bert")
    (path / "model.safetensors").write_bytes(b"\x10\x00")
    cache._VERIFIED.clear()
    assert pretrain.get_pretrained_dir("toy", config(), None, family="bert") == path
    assert len(built) == 2 and cache.get_damage(path) is None
