"""Upstream slime's launch arguments, transcribed from THUDM/slime@624b824a (reference §1-§2).

MODEL_ARGS from scripts/models/*.sh; train.py argv from scripts/low_precision/*.sh. Tests compare the
plans of the shipped recipes against these, flag for flag, up to the documented fixes.
"""

from __future__ import annotations

import ast

QWEN_MOE_FIXED = ("--moe-router-score-function softmax --moe-token-dispatcher-type alltoall --moe-grouped-gemm "
                  "--moe-token-drop-policy probs --moe-router-dtype fp32 --moe-permute-fusion --moe-aux-loss-coeff 0")
MLA_FIXED = ("--normalization RMSNorm --position-embedding-type rope --swiglu --disable-bias-linear "
             "--untie-embeddings-and-output-weights --vocab-size 163840 --multi-latent-attention --kv-lora-rank 512 "
             "--qk-head-dim 128 --qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-base 50000 "
             "--mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 --no-rope-fusion "
             "--moe-router-pre-softmax --moe-router-score-function sigmoid --moe-router-enable-expert-bias "
             "--moe-router-load-balancing-type seq_aux_loss --moe-token-dispatcher-type alltoall "
             "--moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 --moe-router-group-topk 1 "
             "--moe-router-num-groups 1 --moe-grouped-gemm --moe-router-dtype fp32 --moe-permute-fusion")


def _qwen_moe(layers: int, hidden: int, ffn: int, heads: int, groups: int, moe_ffn: int) -> str:
    return (f"--disable-bias-linear --qk-layernorm --group-query-attention --num-attention-heads {heads} "
            f"--num-query-groups {groups} --kv-channels 128 --num-layers {layers} --hidden-size {hidden} "
            f"--ffn-hidden-size {ffn} --normalization RMSNorm --position-embedding-type rope --norm-epsilon 1e-6 "
            "--rotary-percent 1.0 --swiglu --untie-embeddings-and-output-weights --vocab-size 151936 "
            f"--rotary-base 1000000 --moe-ffn-hidden-size {moe_ffn} --moe-router-topk 8 "
            f"--moe-layer-freq [1]*{layers} --num-experts 128 " + QWEN_MOE_FIXED)


MODEL_ARGS = {
    "qwen3-4b": "--swiglu --num-layers 36 --hidden-size 2560 --ffn-hidden-size 9728 --num-attention-heads 32 "
                "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
                "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 "
                "--kv-channels 128 --qk-layernorm",
    "qwen3-30b-a3b": _qwen_moe(48, 2048, 6144, 32, 4, 768),
    "qwen3-235b-a22b": _qwen_moe(94, 4096, 12288, 64, 4, 1536),
    "moonlight-16b-a3b": "--num-layers 27 --hidden-size 2048 --ffn-hidden-size 11264 --num-attention-heads 16 "
                         "--kv-channels 128 --norm-epsilon 1e-5 --rotary-percent 1.0 --no-masked-softmax-fusion "
                         "--rotary-scaling-factor 1 --num-experts 64 --moe-layer-freq [0]+[1]*26 "
                         "--moe-ffn-hidden-size 1408 --moe-router-topk 6 --moe-shared-expert-intermediate-size 2816 "
                         "--moe-router-topk-scaling-factor 2.446 --moe-token-drop-policy probs " + MLA_FIXED,
    "kimi-k2-thinking": "--num-layers 61 --hidden-size 7168 --ffn-hidden-size 18432 --num-attention-heads 64 "
                        "--kv-channels 64 --norm-epsilon 1e-5 --q-lora-rank 1536 --rotary-scaling-factor 64.0 "
                        "--num-experts 384 --moe-layer-freq [0]+[1]*60 --moe-ffn-hidden-size 2048 --moe-router-topk 8 "
                        "--moe-shared-expert-intermediate-size 2048 --moe-router-topk-scaling-factor 2.827 "
                        + MLA_FIXED,
}

ROLLOUT_COMMON = "--input-key prompt --label-key label --apply-chat-template --rollout-shuffle --balance-data " \
                 "--n-samples-per-prompt 8"
PERF_COMMON = "--sequence-parallel --expert-tensor-parallel-size 1 --recompute-granularity full " \
              "--recompute-method uniform --recompute-num-layers 1 --use-dynamic-batch-size"
GRPO_COMMON = "--advantage-estimator grpo --use-kl-loss --kl-loss-coef 0.00 --kl-loss-type low_var_kl " \
              "--entropy-coef 0.00 --eps-clip 0.2 --eps-clip-high 0.28"
OPT_COMMON = ("--optimizer adam --lr 1e-6 --lr-decay-style constant --weight-decay 0.1 --adam-beta1 0.9 "
              "--adam-beta2 0.98")
CPU_OFFLOAD = "--optimizer-cpu-offload --overlap-cpu-optimizer-d2h-h2d --use-precision-aware-optimizer"
MISC_COMMON = "--attention-dropout 0.0 --hidden-dropout 0.0 --accumulate-allreduce-grads-in-fp32 " \
              "--attention-softmax-in-fp32"
CUDA_GRAPH_BS = "--sglang-cuda-graph-bs 1 2 4 8 " + " ".join(str(x) for x in range(16, 257, 8))
FP8_TRAIN = "--transformer-impl transformer_engine --bf16 --fp8-format e4m3 --fp8-recipe blockwise"


def _script(model: str, cluster: str, ckpt: str, rollout: str, eval_: str, perf: str, grpo: str, opt: str,
            sglang: str, misc: str) -> str:
    return " ".join([cluster, MODEL_ARGS[model], ckpt, rollout, ROLLOUT_COMMON, opt, OPT_COMMON, grpo, GRPO_COMMON,
                     perf, PERF_COMMON, eval_, sglang, misc, MISC_COMMON])


SCRIPTS = {
    "run-qwen3-4b-fp8.sh": _script(
        "qwen3-4b", "--actor-num-nodes 1 --actor-num-gpus-per-node 8 --colocate",
        "--hf-checkpoint /root/Qwen3-4B-FP8 --ref-load /root/Qwen3-4B_torch_dist --load /root/qwen3-4b_cp8_fp8 "
        "--save /root/rl-model/qwen3-4b_cp8_fp8 --save-interval 20",
        "--prompt-data /root/dapo-math-17k/dapo-math-17k.jsonl --rm-type deepscaler --num-rollout 3000 "
        "--rollout-batch-size 32 --rollout-max-response-len 8192 --rollout-temperature 1 --global-batch-size 256",
        "--eval-interval 20 --eval-prompt-data aime /root/data/aime-2024.jsonl --n-samples-per-eval-prompt 16 "
        "--eval-max-response-len 16384 --eval-top-p 1",
        "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 1 --context-parallel-size 1 "
        "--expert-model-parallel-size 1 --max-tokens-per-gpu 9216",
        "", "", "--rollout-num-gpus-per-engine 2 --sglang-mem-fraction-static 0.7", "--attention-backend flash"),
    "run-qwen3-30b-a3b-fp8.sh": _script(
        "qwen3-30b-a3b", "--actor-num-nodes 2 --actor-num-gpus-per-node 8 --colocate",
        "--hf-checkpoint /root/Qwen3-30B-A3B-FP8/ --ref-load /root/Qwen3-30B-A3B_torch_dist/ "
        "--load /root/Qwen3-30B-A3B_slime/ --save /root/Qwen3-30B-A3B_slime/ --save-interval 20",
        "--prompt-data /root/dapo-math-17k.jsonl --rm-type math --num-rollout 200 --rollout-batch-size 16 "
        "--rollout-max-response-len 8192 --rollout-temperature 1 --global-batch-size 128",
        "--eval-interval 20 --eval-prompt-data aime /root/aime-2024.jsonl --n-samples-per-eval-prompt 16 "
        "--eval-max-response-len 16384 --eval-top-p 1",
        "--tensor-model-parallel-size 1 --pipeline-model-parallel-size 4 --context-parallel-size 1 "
        "--expert-model-parallel-size 4 --max-tokens-per-gpu 20480 --moe-enable-deepep "
        "--moe-token-dispatcher-type flex " + FP8_TRAIN,
        "--use-tis", CPU_OFFLOAD, "--rollout-num-gpus-per-engine 8 --sglang-mem-fraction-static 0.6 "
        + CUDA_GRAPH_BS + " --sglang-expert-parallel-size 8", "--attention-backend flash"),
    "run-qwen3-30B-A3B-int4.sh": _script(
        "qwen3-30b-a3b", "--actor-num-nodes 1 --actor-num-gpus-per-node 8 --colocate",
        "--hf-checkpoint /root/Qwen3-30B-A3B-INT4/ --ref-load /root/Qwen3-30B-A3B_torch_dist/ "
        "--load /root/Qwen3-30B-A3B_slime/ --save /root/Qwen3-30B-A3B_slime/ --save-interval 20",
        "--prompt-data /root/dapo-math-17k/dapo-math-17k.jsonl --rm-type deepscaler --num-rollout 100 "
        "--rollout-batch-size 32 --rollout-max-response-len 8192 --rollout-temperature 0.8 --global-batch-size 256",
        "--eval-interval 10 --eval-prompt-data /root/aime-2024/aime-2024.jsonl --n-samples-per-eval-prompt 8 "
        "--eval-max-response-len 16384 --eval-top-p 0.7",
        "--tensor-model-parallel-size 4 --pipeline-model-parallel-size 1 --context-parallel-size 1 "
        "--expert-model-parallel-size 8 --max-tokens-per-gpu 8192",
        "--use-tis", CPU_OFFLOAD, "--rollout-num-gpus-per-engine 1 --sglang-mem-fraction-static 0.7 " + CUDA_GRAPH_BS,
        "--attention-backend flash"),
    "run-moonlight-16B-A3B-int4.sh": _script(
        "moonlight-16b-a3b", "--actor-num-nodes 1 --actor-num-gpus-per-node 4 --colocate",
        "--hf-checkpoint /root/Moonlight-16B-A3B-Instruct-INT4 "
        "--ref-load /root/Moonlight-16B-A3B-Instruct-INT4_torch_dist "
        "--load /root/Moonlight-16B-A3B_slime/ --save /root/Moonlight-16B-A3B_slime/ --save-interval 20",
        "--prompt-data /root/dapo-math-17k/dapo-math-17k.jsonl --rm-type math --num-rollout 3000 "
        "--rollout-batch-size 128 --rollout-max-response-len 4096 --rollout-temperature 0.8 "
        "--over-sampling-batch-size 256 --dynamic-sampling-filter-path "
        "slime.rollout.filter_hub.dynamic_sampling_filters.check_reward_nonzero_std --num-steps-per-rollout 4",
        "--eval-interval 20 --eval-prompt-data aime /root/aime-2024/aime-2024.jsonl --n-samples-per-eval-prompt 8 "
        "--eval-max-response-len 4096 --eval-top-p 0.7",
        "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 1 --context-parallel-size 1 "
        "--expert-model-parallel-size 4 --max-tokens-per-gpu 8192",
        "", CPU_OFFLOAD, "--rollout-num-gpus-per-engine 4 --sglang-mem-fraction-static 0.7 " + CUDA_GRAPH_BS,
        "--moe-enable-deepep --moe-token-dispatcher-type flex"),
    "run-qwen3-235B-A22B-int4.sh": _script(
        "qwen3-235b-a22b", "--actor-num-nodes 8 --actor-num-gpus-per-node 8 --colocate",
        "--hf-checkpoint /root/Qwen3-235B-A22B-INT4/ --ref-load /root/Qwen3-235B-A22B_torch_dist/ "
        "--load /root/Qwen3-235B-A22B-slime/ --save /root/Qwen3-235B-A22B-slime/ --save-interval 20",
        "--prompt-data /root/dapo-math-17k/dapo-math-17k.jsonl --rm-type deepscaler --num-rollout 300 "
        "--rollout-batch-size 32 --rollout-max-response-len 8192 --rollout-temperature 0.8 --global-batch-size 256",
        "--eval-interval 10 --eval-prompt-data aime /root/aime-2024/aime-2024.jsonl --n-samples-per-eval-prompt 16 "
        "--eval-max-response-len 16384 --eval-top-p 0.7",
        "--tensor-model-parallel-size 4 --pipeline-model-parallel-size 4 --context-parallel-size 2 "
        "--expert-model-parallel-size 16 --decoder-last-pipeline-num-layers 22 --max-tokens-per-gpu 16384",
        "--use-tis", CPU_OFFLOAD, "--rollout-num-gpus-per-engine 8 --sglang-mem-fraction-static 0.7 --sglang-ep-size 8 "
        + CUDA_GRAPH_BS, "--attention-backend flash --no-check-for-nan-in-loss-and-grad"),
    "run-kimi-k2-Thinking-int4.sh": _script(
        "kimi-k2-thinking", "--actor-num-nodes 32 --actor-num-gpus-per-node 8 --colocate "
        "--update-weight-buffer-size 2147483648",
        "--hf-checkpoint /root/Kimi-K2-Thinking/ --ref-load /root/Kimi-K2_thinking_torch_dist/ "
        "--load /root/Kimi-K2-thinking_slime/ --save /root/Kimi-K2-thinking_slime/ --save-interval 20",
        "--prompt-data /root/dapo-math-17k/dapo-math-17k.jsonl --rm-type math --num-rollout 100 "
        "--rollout-batch-size 128 --rollout-max-response-len 16384 --rollout-temperature 0.8 "
        "--over-sampling-batch-size 256 --dynamic-sampling-filter-path "
        "slime.rollout.filter_hub.dynamic_sampling_filters.check_reward_nonzero_std --num-steps-per-rollout 4",
        "--eval-interval 10 --eval-prompt-data aime /root/aime-2024/aime-2024.jsonl --n-samples-per-eval-prompt 16 "
        "--eval-max-response-len 16384 --eval-top-p 0.7",
        "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 8 --context-parallel-size 4 "
        "--expert-model-parallel-size 32 --decoder-last-pipeline-num-layers 5 --max-tokens-per-gpu 16384",
        "--use-tis", CPU_OFFLOAD, "--rollout-num-gpus-per-engine 8 --sglang-mem-fraction-static 0.7 --sglang-ep-size 8 "
        "--sglang-server-concurrency 1024", "--attention-backend flash --no-check-for-nan-in-loss-and-grad"),
}

# Flags whose values are paths on the user's machine: compared for presence only.
PATH_FLAGS = {"--hf-checkpoint", "--ref-load", "--load", "--save", "--prompt-data", "--eval-prompt-data"}

# Aliases: same Megatron/slime destination, different spelling.
ALIASES = {"--sglang-expert-parallel-size": "--sglang-ep-size"}


def parse_args(argv: list[str] | str) -> dict[str, tuple]:
    """argv -> {flag: normalized values}; argparse semantics: the last occurrence wins."""
    if isinstance(argv, str):
        argv = argv.split()
    out: dict[str, tuple] = {}
    i = 0
    while i < len(argv):
        flag = argv[i]
        assert flag.startswith("--"), f"value without a flag: {flag}"
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        values = argv[i + 1:j]
        if flag == "--moe-layer-freq":
            values = [" ".join(values)]
        out[ALIASES.get(flag, flag)] = tuple(_norm(flag, v) for v in values)
        i = j
    return out


def _norm(flag: str, value: str) -> object:
    if flag == "--moe-layer-freq":
        return tuple(eval(value, {"__builtins__": {}}))  # upstream writes "[0]+[1]*26" or "[0, 1, ...]"
    try:
        return float(value)
    except ValueError:
        return ast.literal_eval(value) if value.startswith("[") else value
