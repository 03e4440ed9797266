"""A vLLM worker process: serves one causal-LM checkpoint with prompt embeddings over a local socket.

Runs in its own Python environment (vLLM pins transformers / torch versions of its own), started by
[`VLLMWorkerBackend`] as `python vllm_worker.py`; it imports only vLLM and torch, never `migr_hf`.
The parent passes the socket address, an auth key (hex) and the `LLM(...)` arguments as JSON in the
environment variables `MIGR_VLLM_ADDRESS`, `MIGR_VLLM_AUTHKEY` and `MIGR_VLLM_LLM_KWARGS`.

Requests are `(op, payload)` tuples; every reply is `("ok", result)` or `("error", traceback)`:
- `("generate", {"prompt_embeds": [(L_i, H) tensors], "num_samples": [n_i], "sampling": {...}})` ->
  `[[(token_ids, logprobs) per sample] per prompt]`;
- `("load_weights", {name: tensor})` -> number of tensors loaded (then the prefix cache is reset);
- `("reset_prefix_cache", None)`, `("close", None)`.
"""

import io
import json
import os
import traceback
from multiprocessing.connection import Client


def send(connection, message) -> None:
    """Send with `torch.save` (tensors by value: torch's pickling would pass shared-memory handles instead)."""
    import torch

    buffer = io.BytesIO()
    torch.save(message, buffer)
    connection.send_bytes(buffer.getvalue())


def receive(connection):
    import torch

    return torch.load(io.BytesIO(connection.recv_bytes()), weights_only=False)


def _generate(llm, payload: dict) -> list:
    from vllm import SamplingParams

    sampling = dict(payload["sampling"])
    requests, params = [], []
    for embeds, n in zip(payload["prompt_embeds"], payload["num_samples"]):
        requests.append({"prompt_embeds": embeds})
        params.append(SamplingParams(n=n, logprobs=0, **sampling))
    outputs = llm.generate(requests, params, use_tqdm=False)
    results = []
    for output in outputs:
        samples = []
        for completion in output.outputs:
            ids = list(completion.token_ids)
            logprobs = [step[token].logprob for token, step in zip(ids, completion.logprobs)]
            samples.append((ids, logprobs))
        results.append(samples)
    return results


def main() -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    connection = Client(os.environ["MIGR_VLLM_ADDRESS"], authkey=bytes.fromhex(os.environ["MIGR_VLLM_AUTHKEY"]))
    try:
        from vllm import LLM

        llm = LLM(**json.loads(os.environ["MIGR_VLLM_LLM_KWARGS"]))
    except Exception:
        send(connection, ("error", traceback.format_exc()))
        return
    send(connection, ("ok", {"vocab_size": llm.llm_engine.model_config.get_vocab_size()}))
    while True:
        op, payload = receive(connection)
        try:
            if op == "close":
                send(connection, ("ok", None))
                return
            if op == "generate":
                result = _generate(llm, payload)
            elif op == "load_weights":
                # In-place reload through every worker (weights processed as at load time, e.g. CPU packing).
                llm.collective_rpc("reload_weights", kwargs={"weights_iterator": list(payload.items())})
                llm.reset_prefix_cache()
                result = len(payload)
            elif op == "reset_prefix_cache":
                result = llm.reset_prefix_cache()
            else:
                raise ValueError(f"unknown request {op!r}")
            send(connection, ("ok", result))
        except Exception:
            send(connection, ("error", traceback.format_exc()))


if __name__ == "__main__":
    main()
