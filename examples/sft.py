"""Modality-aligned SFT of MIGR-Omni on the MI-reordered reasoning dataset (paper section 3.1).

    accelerate launch --config_file examples/accelerate/multi_gpu.yaml examples/sft.py \
        --config examples/recipes/migr_sft_8gpu.yaml

Flags are those of trl's `ScriptArguments`, `MIGRSFTConfig` and `ModelConfig`; `--help` lists them.
"""

from migr_hf.trainers.entrypoints import main

if __name__ == "__main__":
    main("sft")
