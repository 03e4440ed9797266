"""MIGR GRPO: modality-aligned order, modality-grounded reasoning and answer rewards (paper section 3.2).

    accelerate launch --config_file examples/accelerate/multi_gpu.yaml examples/grpo.py \
        --config examples/recipes/migr_grpo_8gpu.yaml

Flags are those of trl's `ScriptArguments`, `MIGRGRPOConfig` and `ModelConfig`; `--help` lists them.
"""

from migr_hf.trainers.entrypoints import main

if __name__ == "__main__":
    main("grpo")
