"""[`VLLMEngine`]: vLLM serving the MIGR-Omni language model alone, fed with MIGR-Omni prompt embeddings.

The towers, projectors and gate run in the training / inference process (`MIGROmniModel.embed_prompt`); the
exported Qwen2 checkpoint runs in vLLM with `enable_prompt_embeds=True`. vLLM pins its own transformers, so it
lives in its own Python environment and runs as a worker process ([`VLLMWorkerBackend`]); the interpreter is
given by `python=` or the `MIGR_HF_VLLM_PYTHON` environment variable (`make vllm-venv` builds `.venv-vllm`).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from transformers.utils import logging

from .export_language_model import (
    extract_language_model,
    language_model_parameter_names,
    language_model_state_dict,
)
from .vllm_worker import receive, send
from .engine import GenerationEngine, GenerationOptions, GenerationOutput, cut_at_eos, per_prompt_counts

logger = logging.get_logger(__name__)

VLLM_PYTHON_ENV = "MIGR_HF_VLLM_PYTHON"
Samples = list[list[tuple[list[int], list[float]]]]


class VLLMBackend(Protocol):
    """What [`VLLMEngine`] needs from vLLM (the worker process, or a fake with the same semantics in tests)."""

    vocab_size: int

    def generate(self, prompt_embeds: list[torch.Tensor], num_samples: list[int], sampling: dict[str, Any]) -> Samples:
        """`(L_i, H)` prompt embeddings, samples per prompt and `vllm.SamplingParams` fields -> per prompt, per sample
        `(token_ids, logprobs)`."""

    def load_weights(self, tensors: Mapping[str, torch.Tensor]) -> int:
        """Load causal-LM tensors by name and reset the prefix cache; returns how many were loaded."""

    def close(self) -> None: ...


class VLLMWorkerBackend:
    """A `vllm.LLM` in a worker process of another Python environment, reached over a local socket.

    Args:
        llm_kwargs: `vllm.LLM(...)` arguments (`model` = the exported checkpoint directory, ...).
        python: The interpreter of the vLLM environment (default: `$MIGR_HF_VLLM_PYTHON`).
        startup_timeout: Seconds to wait for the engine to load.
    """

    def __init__(self, llm_kwargs: Mapping[str, Any], python: str | None = None, startup_timeout: float = 900.0):
        python = python or os.environ.get(VLLM_PYTHON_ENV)
        if not python:
            raise ValueError(
                f"the vLLM engine runs in its own Python environment: pass python= or set {VLLM_PYTHON_ENV} "
                "(e.g. .venv-vllm/bin/python after `make vllm-venv`)"
            )
        authkey = secrets.token_bytes(32)
        self._listener = Listener(family="AF_UNIX", authkey=authkey)
        env = {
            **os.environ,
            "MIGR_VLLM_ADDRESS": self._listener.address,
            "MIGR_VLLM_AUTHKEY": authkey.hex(),
            "MIGR_VLLM_LLM_KWARGS": json.dumps(dict(llm_kwargs)),
        }
        worker = Path(__file__).with_name("vllm_worker.py")
        self.process = subprocess.Popen([python, str(worker)], env=env, stdout=sys.stderr)
        accepted: list = []
        thread = threading.Thread(target=lambda: accepted.append(self._listener.accept()), daemon=True)
        thread.start()
        thread.join(startup_timeout)
        if not accepted:
            self.process.kill()
            raise RuntimeError(f"the vLLM worker ({python}) did not connect within {startup_timeout:.0f} s")
        self._connection = accepted[0]
        self.vocab_size = self._reply("starting the vLLM engine")["vocab_size"]

    def _reply(self, what: str) -> Any:
        try:
            status, result = receive(self._connection)
        except EOFError:
            raise RuntimeError(f"the vLLM worker exited while {what} (exit code {self.process.wait()})") from None
        if status != "ok":
            raise RuntimeError(f"the vLLM worker failed while {what}:\n{result}")
        return result

    def _call(self, op: str, payload: Any = None) -> Any:
        send(self._connection, (op, payload))
        return self._reply(op)

    def generate(self, prompt_embeds: list[torch.Tensor], num_samples: list[int], sampling: dict[str, Any]) -> Samples:
        return self._call("generate", {"prompt_embeds": prompt_embeds, "num_samples": num_samples, "sampling": sampling})

    def load_weights(self, tensors: Mapping[str, torch.Tensor]) -> int:
        return self._call("load_weights", dict(tensors))

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._call("close")
            except (RuntimeError, OSError):
                pass
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._listener.close()


def _base_model(model: nn.Module) -> nn.Module:
    """The `MIGROmniForCausalLM` under PEFT / distributed wrappers (whatever has `embed_prompt`)."""
    while not hasattr(model, "embed_prompt"):
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif hasattr(model, "module"):
            model = model.module
        else:
            raise TypeError(f"{type(model).__name__} has no embed_prompt: the vLLM engine needs a MIGR-Omni model")
    return model


class VLLMEngine(GenerationEngine):
    """Generation with vLLM on the exported language model, prompts given as MIGR-Omni prompt embeddings.

    Each prompt is embedded once (`embed_prompt`: towers or tower states, projectors, gate, splice) and sent
    with `n` = its number of samples. The placeholder tokens are masked out of the sampling distribution
    (`allowed_token_ids`), and log-probs are those of the processed distribution (`logprobs_mode=
    "processed_logprobs"`), as trl's importance-sampling correction needs. `sync_weights` sends the language
    model's weights (LoRA merged) after an optimizer step; the worker then resets its prefix cache.

    Args:
        backend: The vLLM backend ([`VLLMWorkerBackend`]).
        parameter_names: Names of the exported causal LM's tensors; every sync must cover all of them.
        dtype: dtype of the prompt embeddings and weights sent to the engine.
    """

    name = "vllm"

    def __init__(
        self,
        backend: VLLMBackend,
        suppress_token_ids: Sequence[int],
        eos_token_ids: Sequence[int],
        parameter_names: set[str],
        dtype: torch.dtype = torch.float32,
        export_dir: str | os.PathLike | None = None,
    ):
        super().__init__(suppress_token_ids, eos_token_ids)
        self.backend = backend
        self.parameter_names = parameter_names
        self.dtype = dtype
        self.synced_names: set[str] = set()
        self._export_dir = export_dir
        suppressed = set(self.suppress_token_ids)
        self.allowed_token_ids = [token for token in range(backend.vocab_size) if token not in suppressed]

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        suppress_token_ids: Sequence[int],
        eos_token_ids: Sequence[int],
        *,
        python: str | None = None,
        llm_kwargs: Mapping[str, Any] | None = None,
        backend_factory=None,
    ) -> "VLLMEngine":
        """Export the language model of `model` to a temporary checkpoint and start vLLM on it.

        Args:
            python: Interpreter of the vLLM environment (default `$MIGR_HF_VLLM_PYTHON`).
            llm_kwargs: Extra `vllm.LLM(...)` arguments (e.g. `gpu_memory_utilization`, `enable_sleep_mode`,
                `max_model_len`, `tensor_parallel_size`).
            backend_factory: `callable(llm_kwargs) -> VLLMBackend` replacing the worker process (tests).
        """
        base = _base_model(model)
        export_dir = Path(tempfile.mkdtemp(prefix="migr-vllm-lm-"))
        language_model = extract_language_model(model)
        language_model.save_pretrained(export_dir)
        dtype = base.dtype
        kwargs = {
            "model": str(export_dir),
            "enable_prompt_embeds": True,
            "dtype": str(dtype).removeprefix("torch."),
            "logprobs_mode": "processed_logprobs",
            "enable_prefix_caching": True,
            **(llm_kwargs or {}),
        }
        backend = backend_factory(kwargs) if backend_factory is not None else VLLMWorkerBackend(kwargs, python=python)
        return cls(
            backend,
            suppress_token_ids,
            eos_token_ids,
            parameter_names=language_model_parameter_names(base.config),
            dtype=dtype,
            export_dir=export_dir,
        )

    def sampling(self, options: GenerationOptions) -> dict[str, Any]:
        """The `vllm.SamplingParams` fields of `options` (greedy is temperature 0)."""
        fields: dict[str, Any] = {
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature if options.do_sample else 0.0,
            "allowed_token_ids": self.allowed_token_ids,
            "stop_token_ids": self.eos_token_ids,
        }
        if options.do_sample:
            fields["top_p"] = options.top_p
            if options.top_k:
                fields["top_k"] = options.top_k
        if options.seed is not None:
            fields["seed"] = options.seed
        return fields

    @torch.no_grad()
    def generate(
        self,
        model: nn.Module,
        inputs: Mapping[str, torch.Tensor],
        options: GenerationOptions,
        num_samples: int | Sequence[int] = 1,
    ) -> GenerationOutput:
        counts = per_prompt_counts(num_samples, inputs["input_ids"].shape[0])
        media = {name: value for name, value in inputs.items() if name not in ("input_ids", "attention_mask")}
        embeds = _base_model(model).embed_prompt(inputs["input_ids"], **media).inputs_embeds
        mask = inputs["attention_mask"].bool()
        prompt_embeds = [row[keep].to("cpu", self.dtype) for row, keep in zip(embeds, mask)]
        samples = self.backend.generate(prompt_embeds, counts, self.sampling(options))
        result = GenerationOutput()
        for prompt_samples in samples:
            for ids, logprobs in prompt_samples:
                ids, logprobs = cut_at_eos(ids, logprobs, self.eos_token_ids)
                result.completion_ids.append(ids)
                result.logprobs.append(logprobs)
        return result

    def sync_weights(self, model: nn.Module) -> None:
        """Send every language-model tensor of `model` (LoRA merged) to vLLM; it resets its prefix cache."""
        tensors = language_model_state_dict(model, expected=self.parameter_names)
        loaded = self.backend.load_weights({name: tensor.to("cpu", self.dtype) for name, tensor in tensors.items()})
        if loaded != len(self.parameter_names):
            raise RuntimeError(f"vLLM loaded {loaded} of the {len(self.parameter_names)} language-model tensors")
        self.synced_names = set(tensors)

    def close(self) -> None:
        self.backend.close()
        if self._export_dir is not None:
            shutil.rmtree(self._export_dir, ignore_errors=True)
            self._export_dir = None


__all__ = ["VLLMBackend", "VLLMEngine", "VLLMWorkerBackend", "VLLM_PYTHON_ENV"]
