"""GPU catalogue: the one table of GPU kinds users run, with what each precision mode needs of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPU:
    name: str
    memory_gb: float  # usable HBM per GPU as marketed by NVIDIA (decimal GB)
    compute_capability: float
    architecture: str


# Memory and compute capability from NVIDIA's product pages and CUDA's compute-capability table.
GPUS: dict[str, GPU] = {
    g.name: g
    for g in (
        GPU("A100", 80, 8.0, "ampere"),
        GPU("L40S", 48, 8.9, "ada"),
        GPU("H100", 80, 9.0, "hopper"),
        GPU("H800", 80, 9.0, "hopper"),
        GPU("H20", 96, 9.0, "hopper"),
        GPU("H200", 141, 9.0, "hopper"),
        GPU("B200", 180, 10.0, "blackwell"),
        GPU("GB200", 186, 10.0, "blackwell"),
    )
}

# What the stack needs of the hardware, by feature (the precision table refers to these by name).
#  - fp8 rollout: SGLang's block-FP8 GEMMs need FP8 tensor cores, i.e. sm89+ (Ada, Hopper, Blackwell).
#  - fp8 blockwise training: TransformerEngine's `Float8BlockScaling` recipe (`--fp8-recipe blockwise`)
#    is a Hopper recipe (TE docs, fp8_blockwise_scaling.rst); it needs sm90+.
#  - grouped GEMM (`--moe-grouped-gemm`) needs sm80+
#    (NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:851-853).
#  - INT4 QAT needs slime's `fake_int4_quant_cuda` extension, built for sm80+ (its setup.py arch list).
MIN_COMPUTE_CAPABILITY: dict[str, float] = {
    "fp8-rollout": 8.9,
    "fp8-block-training": 9.0,
    "grouped-gemm": 8.0,
    "int4-qat-kernel": 8.0,
    "int4-rollout": 8.0,  # Marlin W4A16 minimum capability 80 (sglang compressed_tensors_wNa16)
}


def gpu_names() -> list[str]:
    return list(GPUS)
