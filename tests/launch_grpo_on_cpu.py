"""`examples/grpo.py` for the scale-out tests: the shipped accelerate configs on CPU processes (gloo).

    accelerate launch --config_file examples/accelerate/fsdp.yaml --num_processes 2 ... tests/launch_grpo_on_cpu.py <grpo flags>

accelerate 1.16 turns FSDP on only for accelerator devices: in CPU processes its state stays `MULTI_CPU` and the
model is wrapped in DDP whatever the config says. torch's FSDP2 (`fully_shard`) itself runs on CPU over gloo, so
this script promotes the state to FSDP with the plugin accelerate built from the launched config (DeepSpeed needs
no help: its CPU accelerator runs over gloo). Then it runs the GRPO entry point, and each rank ends by writing
`rank-<R>.json` (steps, distributed type, FSDP-wrapped modules, clips through the towers, whether the entry point
destroyed the process group) to $RANK_REPORT_DIR.
"""

import json
import os
from pathlib import Path

import torch.distributed as dist
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType
from torch.distributed.fsdp import FSDPModule

from migr_hf.trainers.entrypoints import main

_accelerator_state_init = AcceleratorState.__init__


def _accelerator_state_with_cpu_fsdp(self, *args, fsdp_plugin=None, **kwargs):
    _accelerator_state_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin


if __name__ == "__main__":
    AcceleratorState.__init__ = _accelerator_state_with_cpu_fsdp
    trainer = main("grpo")
    counts = trainer.tower_passes.counts
    report = {
        "steps": trainer.state.global_step,
        "distributed_type": trainer.accelerator.distributed_type.value,
        "fsdp_modules": sum(isinstance(module, FSDPModule) for module in trainer.model.modules()),
        "vision_tower_clips": counts["vision"],
        "audio_tower_clips": counts["audio"],
        "process_group_destroyed": not dist.is_initialized(),
    }
    rank = trainer.accelerator.process_index
    Path(os.environ["RANK_REPORT_DIR"], f"rank-{rank}.json").write_text(json.dumps(report))
