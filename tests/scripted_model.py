"""A tiny MIGR-Omni checkpoint that greedily writes a fixed MIGR completion: ``from scripted_model import ...``.

The copy of the random tiny checkpoint gets a `sequence_bias` in its generation config: the ``k``-th token of the
completion gets a bias of ``100 k`` when the ``k - 1`` tokens before it are the completion's start, so the longest
matching prefix wins over the random logits and greedy decoding writes the completion, then EOS. The whole
pipeline (media decoding, processor, `generate`, parsing) runs as for a trained model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from transformers import GenerationConfig

from migr_hf import MIGROmniProcessor

SCRIPTED_COMPLETION = (
    "<vis_desc>In the video, the woman smiles broadly.</vis_desc>"
    "<aud_desc>In the audio, the laughter is bright and the tone is cheerful.</aud_desc>"
    "<think>Based on the smile and the cheerful laughter, we can infer that she is happy.</think>"
    "<answer>happy</answer>"
)


def make_scripted_checkpoint(source: Path, target: Path, completion: str = SCRIPTED_COMPLETION) -> Path:
    """Copy the checkpoint at ``source`` to ``target`` with a generation config that forces ``completion``."""
    shutil.copytree(source, target)
    tokenizer = MIGROmniProcessor.from_pretrained(target).tokenizer
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    config = GenerationConfig.from_pretrained(target)
    config.sequence_bias = [[ids[: k + 1], 100.0 * (k + 1)] for k in range(len(ids))]
    config.save_pretrained(target)
    return target
