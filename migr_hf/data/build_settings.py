"""Settings of the dataset builds (`migr_hf.data.builder.build_dataset`): the shared ones in `BuildSettings`,
one subclass per kind of dataset."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .fau import FAUConfig
from .jsonl import FailurePolicy
from .modality_importance import MIRule
from .reorder import UndeterminedPolicy

PathLike = str | os.PathLike


@dataclass
class BuildSettings:
    """What both builds take: where to write, the benchmark fold, the MI source and rule, media handling.

    Attributes:
        output_dir: Dataset folder (see the module docstring); reusing it resumes an interrupted build.
        dfew_root, mafw_root: Official release roots; their training samples of ``fold`` are read.
        mi_file: Precomputed MI JSONL; without it the build runs the `MIEstimator` it is given (resumable).
        mi_rule: MI rule override (`MIRule`, mapping or YAML/JSON path); default rule otherwise.
        check_media: Probe every clip and leave out missing or corrupt ones.
        require_audio: With ``check_media``, also leave out clips without an audio stream.
        embed_media: Store the clip bytes in a ``video_bytes`` column.
        media_root: Store ``video`` paths relative to this folder (absolute paths otherwise).
        batch_size: Samples per MI estimation batch.
        cache_dir: `datasets` cache for the reload.
        failure_policy: When a stage that fails for most samples stops the build (default `FailurePolicy()`).
    """

    kind: ClassVar[str]
    output_dir: PathLike
    dfew_root: PathLike | None = None
    mafw_root: PathLike | None = None
    fold: int = 5
    mi_file: PathLike | None = None
    mi_rule: MIRule | Mapping[str, str] | PathLike | None = None
    check_media: bool = True
    require_audio: bool = True
    embed_media: bool = False
    media_root: PathLike | None = None
    batch_size: int = 8
    show_progress: bool = True
    cache_dir: PathLike | None = None
    failure_policy: FailurePolicy | None = None

    def sources(self) -> dict[str, Any]:
        """The benchmark inputs of this kind of build, by argument name."""
        return {"dfew_root": self.dfew_root, "mafw_root": self.mafw_root}

    def validate(self) -> None:
        if all(value is None for value in self.sources().values()):
            raise ValueError(f"no input given; pass at least one of {', '.join(self.sources())}")

    def kind_settings(self) -> dict[str, Any]:
        """The settings of this kind of build recorded in the card, besides the shared ones."""
        return {}


@dataclass
class SFTBuildSettings(BuildSettings):
    """Settings of the modality-aligned SFT build: EMER plus FAU-filtered DFEW/MAFW training samples.

    Attributes:
        emer_v1, emer_v2: EMER CSVs (V2 first on duplicate names). ``emer_labels``: MER2023 labels for V2.
        emer_video_dir: Folder of the MER2023 clips named ``<name>.<ext>``.
        openface_dir: ``<openface_dir>/<dfew|mafw>/<clip stem>.csv`` (required with DFEW/MAFW).
        fau_config: FAU table/thresholds (`FAUConfig` or override file); default otherwise.
        mafw_captions: Give MAFW's English captions (``Labels/descriptive_text.xlsx``, when present) to the writer.
        undetermined: What to do with undetermined-MI samples: "both" orders, one order, or "drop".
    """

    kind: ClassVar[str] = "sft"
    emer_v1: PathLike | None = None
    emer_v2: PathLike | None = None
    emer_labels: PathLike | Mapping[str, str] | None = None
    emer_video_dir: PathLike | None = None
    openface_dir: PathLike | None = None
    fau_config: FAUConfig | PathLike | None = None
    mafw_captions: bool = True
    undetermined: UndeterminedPolicy = "both"

    def sources(self) -> dict[str, Any]:
        return {"emer_v1": self.emer_v1, "emer_v2": self.emer_v2, **super().sources()}

    def validate(self) -> None:
        super().validate()
        if (self.dfew_root is not None or self.mafw_root is not None) and self.openface_dir is None:
            raise ValueError("DFEW/MAFW samples are FAU-filtered: pass openface_dir")


@dataclass
class GRPOBuildSettings(BuildSettings):
    """Settings of the GRPO build: DFEW/MAFW training samples with their MI label.

    Attributes:
        drop_undetermined: Leave out samples whose MI is undetermined.
    """

    kind: ClassVar[str] = "grpo"
    drop_undetermined: bool = False

    def kind_settings(self) -> dict[str, Any]:
        return {"drop_undetermined": self.drop_undetermined}
