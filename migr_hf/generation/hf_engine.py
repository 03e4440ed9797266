"""[`HFGenerateEngine`]: transformers `generate` on the MIGR-Omni model itself (the default engine)."""

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .engine import GenerationEngine, GenerationOptions, GenerationOutput, cut_at_eos, per_prompt_counts


class HFGenerateEngine(GenerationEngine):
    """`model.generate` with the media inputs; log-probs from its processed scores.

    Args:
        pad_token_id: Padding id of the tokenizer.
    """

    name = "hf"

    def __init__(self, suppress_token_ids: Sequence[int], eos_token_ids: Sequence[int], pad_token_id: int):
        super().__init__(suppress_token_ids, eos_token_ids)
        self.pad_token_id = pad_token_id

    @torch.no_grad()
    def generate(
        self,
        model: nn.Module,
        inputs: Mapping[str, torch.Tensor],
        options: GenerationOptions,
        num_samples: int | Sequence[int] = 1,
    ) -> GenerationOutput:
        counts = per_prompt_counts(num_samples, inputs["input_ids"].shape[0])
        inputs = dict(inputs)
        num_return_sequences = counts[0]
        if len(set(counts)) > 1:
            # Uneven counts: one row per sample.
            index = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
            inputs = {name: value[index.to(value.device)] for name, value in inputs.items()}
            num_return_sequences = 1
        sampling = (
            {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p, "top_k": options.top_k}
            if options.do_sample
            else {"do_sample": False}
        )
        if options.seed is not None:
            torch.manual_seed(options.seed)
        output = model.generate(
            **inputs,
            max_new_tokens=options.max_new_tokens,
            num_return_sequences=num_return_sequences,
            suppress_tokens=self.suppress_token_ids,
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            return_dict_in_generate=True,
            output_scores=True,
            **sampling,
        )
        completions = output.sequences[:, inputs["input_ids"].shape[1] :]
        scores = torch.stack(output.scores, dim=1).float().log_softmax(-1)
        logprobs = scores.gather(-1, completions.unsqueeze(-1)).squeeze(-1)
        result = GenerationOutput()
        for ids, values in zip(completions.tolist(), logprobs.tolist()):
            ids, values = cut_at_eos(ids, values, self.eos_token_ids)
            result.completion_ids.append(ids)
            result.logprobs.append(values)
        return result


__all__ = ["HFGenerateEngine"]
