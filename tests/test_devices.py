"""Where a model runs: --device auto's check, the description of a device that goes into the record."""

from __future__ import annotations

import argparse
import os
import platform
import sys

import pytest
import torch

from embedders.base import EmbedderUnavailable, LoadOptions
from embedders.devices import auto_unavailable, describe_device, free_cuda_memory, input_device, placement
from embedders.llm import load_pretrained
from harness.options import device_name
from tests.tiny_models import save_tiny_llama

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer on a machine without CUDA")


def test_cpu_is_described_by_its_machine():
    described = describe_device("cpu")
    assert described.startswith("cpu (") and platform.machine() in described
    assert f"{os.cpu_count()} logical cores" in described


def test_auto_is_described_by_the_devices_it_dispatched_to():
    assert describe_device("auto", ("cpu",)) == f"auto: {describe_device('cpu')}"
    with pytest.raises(ValueError, match="needs the devices the model was dispatched to"):
        describe_device("auto")


@NO_CUDA
def test_describing_an_absent_or_unknown_device_says_which():
    with pytest.raises(ValueError, match="'cuda:0': no CUDA device is available here"):
        describe_device("cuda:0")
    with pytest.raises(ValueError, match=r"device 'gpu0': .*e\.g\. cpu, cuda"):
        describe_device("gpu0")


def test_device_option_accepts_auto():
    assert device_name("auto") == device_name(" auto ") == "auto"
    assert device_name("cpu") == "cpu"


def test_auto_without_accelerate_names_the_package(monkeypatch, tmp_path):
    folder = save_tiny_llama(tmp_path / "tiny")
    monkeypatch.setitem(sys.modules, "accelerate", None)  # as if not installed: importing it fails
    assert "pip install accelerate" in auto_unavailable()
    with pytest.raises(argparse.ArgumentTypeError, match=r"--device auto .*pip install accelerate"):
        device_name("auto")
    with pytest.raises(EmbedderUnavailable, match=r"--device auto .*pip install accelerate"):
        load_pretrained("tiny", folder, "tiny weights", options=LoadOptions(device="auto"))


def test_a_tiny_model_on_auto_sits_on_the_cpu_here(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("with CUDA, auto places the model on the GPUs")
    folder = save_tiny_llama(tmp_path / "tiny")
    auto = load_pretrained("tiny", folder, "tiny weights", options=LoadOptions(device="auto"))
    cpu = load_pretrained("tiny", folder, "tiny weights", options=LoadOptions(device="cpu"))
    assert placement(auto.model) == placement(cpu.model) == ("cpu",)
    assert input_device(auto.model) == torch.device("cpu") and free_cuda_memory(torch.device("cpu")) is None
    words = ["cat", "the king", "river bank money"]
    assert (auto.embed_words(words).vectors == cpu.embed_words(words).vectors).all()
