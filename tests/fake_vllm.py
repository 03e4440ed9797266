"""A stand-in for the vLLM worker with its semantics, on transformers: the exported causal LM fed prompt
embeddings, `n` samples per prompt, `allowed_token_ids`, processed log-probs, `load_weights` by name."""

import torch
from transformers import AutoModelForCausalLM


class FakeVLLMBackend:
    def __init__(self, llm_kwargs: dict):
        assert llm_kwargs["enable_prompt_embeds"] and llm_kwargs["logprobs_mode"] == "processed_logprobs"
        self.model = AutoModelForCausalLM.from_pretrained(llm_kwargs["model"], dtype=torch.float32).eval()
        self.vocab_size = self.model.config.vocab_size
        self.loads: list[set[str]] = []
        self.requests: list[dict] = []

    @torch.no_grad()
    def generate(self, prompt_embeds, num_samples, sampling):
        self.requests.append(sampling)
        allowed = set(sampling["allowed_token_ids"])
        greedy = sampling["temperature"] == 0
        decoding = {"do_sample": False} if greedy else {
            "do_sample": True, "temperature": sampling["temperature"], "top_p": sampling.get("top_p", 1.0),
            "top_k": sampling.get("top_k", 0),
        }
        results = []
        for embeds, n in zip(prompt_embeds, num_samples):
            out = self.model.generate(
                inputs_embeds=embeds[None].float(),
                attention_mask=torch.ones(1, embeds.shape[0], dtype=torch.long),
                max_new_tokens=sampling["max_tokens"],
                num_return_sequences=n,
                suppress_tokens=[t for t in range(self.vocab_size) if t not in allowed],
                eos_token_id=sampling["stop_token_ids"],
                pad_token_id=sampling["stop_token_ids"][0],
                return_dict_in_generate=True,
                output_scores=True,
                **decoding,
            )
            logprobs = torch.stack(out.scores, 1).float().log_softmax(-1).gather(-1, out.sequences[..., None])[..., 0]
            results.append(list(zip(out.sequences.tolist(), logprobs.tolist())))
        return results

    def load_weights(self, tensors):
        self.model.load_state_dict(dict(tensors), strict=True)
        self.loads.append(set(tensors))
        return len(tensors)

    def close(self):
        pass
