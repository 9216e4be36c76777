"""GPU catalogue: the one table of GPU kinds users run, with what each precision mode needs of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPU:
    name: str
    memory_gb: float  # usable HBM per GPU as marketed by NVIDIA (decimal GB)
    compute_capability: float
    architecture: str
    bandwidth_tbs: float  # HBM bandwidth, TB/s: what bounds rollout decode
    bf16_tflops: float  # dense (no sparsity) tensor-core throughput
    fp8_tflops: float  # dense; 0 where the GPU has no FP8 tensor cores


# Memory, bandwidth and dense tensor throughput from NVIDIA's datasheets (SXM parts; GB200 per GPU);
# compute capability from CUDA's compute-capability table.
GPUS: dict[str, GPU] = {
    g.name: g
    for g in (
        GPU("A100", 80, 8.0, "ampere", 2.039, 312, 0),
        GPU("L40S", 48, 8.9, "ada", 0.864, 362, 733),
        GPU("H100", 80, 9.0, "hopper", 3.35, 989, 1979),
        GPU("H800", 80, 9.0, "hopper", 3.35, 989, 1979),
        GPU("H20", 96, 9.0, "hopper", 4.0, 148, 296),
        GPU("H200", 141, 9.0, "hopper", 4.8, 989, 1979),
        GPU("B200", 180, 10.0, "blackwell", 8.0, 2250, 4500),
        GPU("GB200", 186, 10.0, "blackwell", 8.0, 2500, 5000),
    )
}

@dataclass(frozen=True)
class Requirement:
    """What one feature needs of the GPU and of the software stack."""

    min_compute_capability: float
    software: str = ""  # what the image must provide; printed as a note by `validate`
    caution_architectures: tuple[str, ...] = ()  # known upstream failures on these: a warning
    caution_source: str = ""


# What the stack needs, by feature (the precision table refers to these by name).
#  - fp8 rollout: SGLang's block-FP8 GEMMs need FP8 tensor cores, i.e. sm89+ (Ada, Hopper, Blackwell).
#  - fp8 blockwise training: TransformerEngine's `Float8BlockScaling` recipe (`--fp8-recipe blockwise`)
#    is a Hopper recipe (TE docs, fp8_blockwise_scaling.rst); it needs sm90+ and CUDA >= 12.9
#    ("FP8 block scaled GEMM requires Hopper and CUDA >= 12.9", NVIDIA-NeMo/RL#971; THUDM/slime#34).
#    On Blackwell it failed upstream (THUDM/slime#953, volcengine/verl#6172; TE emulates it via MXFP8,
#    NVIDIA/TransformerEngine#2157).
#  - grouped GEMM (`--moe-grouped-gemm`) needs sm80+
#    (NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:851-853).
#  - INT4 QAT needs slime's `fake_int4_quant_cuda` extension, built for sm80+ (its setup.py arch list),
#    and slime's patched Megatron and SGLang (docker/patch/latest/*.patch, reference §5.1, §6.5).
REQUIREMENTS: dict[str, Requirement] = {
    "fp8-rollout": Requirement(8.9, "SGLang with block-FP8 (w8a8) kernels"),
    "fp8-block-training": Requirement(
        9.0, "CUDA >= 12.9 and TransformerEngine with the Float8BlockScaling recipe",
        caution_architectures=("blackwell",),
        caution_source="THUDM/slime#953, volcengine/verl#6172, NVIDIA/TransformerEngine#2157"),
    "grouped-gemm": Requirement(8.0),
    "int4-qat-kernel": Requirement(
        8.0, "slime's patched Megatron (OPEN_TRAINING_INT4_* fake quant), patched SGLang "
        "(post_process_weights) and the built fake_int4_quant_cuda extension"),
    # Marlin W4A16 minimum capability 80 (sglang compressed_tensors_wNa16)
    "int4-rollout": Requirement(8.0, "SGLang compressed-tensors W4A16 (Marlin) with slime's "
                                "post_process_weights patch"),
}
MIN_COMPUTE_CAPABILITY: dict[str, float] = {k: r.min_compute_capability for k, r in REQUIREMENTS.items()}


def canonical_gpu(value: object) -> object:
    """`h100` -> `H100`: GPU names are matched without regard to case; anything else is left to the schema."""
    if isinstance(value, str):
        return next((name for name in GPUS if name.lower() == value.lower()), value)
    return value


def gpu_names() -> list[str]:
    return list(GPUS)
