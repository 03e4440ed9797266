"""migr-hf: Modality-Importance-Guided Reasoning (MIGR) on the Hugging Face stack."""

import re
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent

# Bounds claim what CI tests: requirements/lock.txt (the exact versions `make test` installs) and the newest
# releases these bounds allow (`make test-latest`, run by CI on every change). Lower bounds are the oldest releases
# the code is written for:
# - transformers 5.24 renamed `past_key_values` to `cache` in model forwards and outputs; migr-hf follows it.
# - trl: MIGRGRPOTrainer overrides private GRPOTrainer methods, so only the tested minor release is allowed
#   (checked at trainer construction: migr_hf/trainers/trl_compat.py).
# torch is a range that the CPU wheel 2.13 satisfies: install CPU torch first (see the Makefile) so that pip does
# not pull a multi-GB CUDA build.
INSTALL_REQUIRES = [
    "torch>=2.6",
    "transformers>=5.24,<6",
    "trl>=1.16,<1.17",  # keep in step with migr_hf/trainers/trl_compat.py
    "peft>=0.21",
    "datasets>=5.2",
    "accelerate>=1.15",
    "evaluate>=0.4.6",
    "huggingface_hub>=2.4",
    "tokenizers>=0.22",
    "safetensors>=0.5",
    "av>=18,<19",
    "numpy>=1.26",
    "pyyaml>=6",
    "tqdm>=4.66",
    "openpyxl>=3.1",
    "matplotlib>=3.8",
    "pillow>=10",
    "pyarrow>=15",
    "jinja2>=3.1",
]

EXTRAS = {
    "judge": ["openai>=1.60"],
    "demo": ["gradio>=5"],
    "deepspeed": ["deepspeed>=0.16"],
    "quantization": ["bitsandbytes>=0.45"],
}
EXTRAS["test"] = [
    "pytest>=8",
    "pytest-xdist>=3.6",
    "hypothesis>=6.100",
    "playwright>=1.50",
    *EXTRAS["judge"],
    *EXTRAS["demo"],
]
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="migr-hf",
    version=re.search(r"__version__ = \"([^\"]+)\"", (HERE / "migr_hf" / "version.py").read_text()).group(1),
    description="Modality-Importance-Guided Reasoning for multimodal emotion understanding, on transformers/trl",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.11",
    packages=find_namespace_packages(include=["migr_hf", "migr_hf.*"], exclude=["*.__pycache__"]),
    include_package_data=True,
    package_data={"migr_hf": ["**/*.jinja", "**/*.json", "**/*.yaml", "**/*.md", "**/*.txt"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["migr-hf=migr_hf.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
