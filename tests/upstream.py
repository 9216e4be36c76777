"""Upstream slime's launch arguments, transcribed from THUDM/slime@624b824a (reference §1-§2).

MODEL_SCRIPTS from scripts/models/*.sh; train.py argv from scripts/low_precision/*.sh. Tests compare the
plans of the shipped recipes and the args derived from each model's config.json against these, flag for flag,
up to the documented fixes (docs/upstream-fixes.md, docs/models.md).
"""

from __future__ import annotations

import ast

# MODEL_ARGS of every scripts/models/*.sh, as bash expands "${MODEL_ARGS[@]}" after sourcing the script with no
# MODEL_ARGS_* variables set: quotes removed, $((...)) evaluated, and MOE_LAYER_FREQ built by
# `printf -v MOE_LAYER_FREQ "[%s]" "$(IFS=', '; echo "${arr[*]}")"`, where ${arr[*]} joins with IFS's first
# character, a comma, so "[0,1,1,...]" with no spaces. Wrapper scripts (qwen3-4B-Instruct-2507.sh,
# deepseek-v3-{5,20}layer.sh, qwen3.5-35B-A3B-vl.sh) are expanded with the variables they set before sourcing.
# Source: THUDM/slime@624b824a:scripts/models/<key>.
MODEL_SCRIPTS: dict[str, str] = {
    "deepseek-v3-20layer.sh": (
        "--disable-bias-linear --num-layers 20 --hidden-size 7168 --ffn-hidden-size 18432 "
        "--num-attention-heads 128 --kv-channels 128 --normalization RMSNorm --position-embedding-type rope "
        "--norm-epsilon 1e-6 --swiglu --untie-embeddings-and-output-weights --vocab-size 129280 "
        "--multi-latent-attention --q-lora-rank 1536 --kv-lora-rank 512 --qk-head-dim 128 "
        "--qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-scaling-factor 40 --rotary-base "
        "10000 --mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 --no-rope-fusion --num-experts "
        "256 --moe-layer-freq [0,0,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] --moe-ffn-hidden-size 2048 "
        "--moe-router-topk 8 --moe-shared-expert-intermediate-size 2048 --moe-router-pre-softmax "
        "--moe-router-score-function sigmoid --moe-router-enable-expert-bias "
        "--moe-router-load-balancing-type seq_aux_loss --moe-token-dispatcher-type alltoall "
        "--moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 --moe-router-group-topk 4 "
        "--moe-router-num-groups 8 --moe-grouped-gemm --moe-router-topk-scaling-factor 2.5 "
        "--moe-router-dtype fp32 --moe-permute-fusion"
    ),
    "deepseek-v3-5layer.sh": (
        "--disable-bias-linear --num-layers 5 --hidden-size 7168 --ffn-hidden-size 18432 "
        "--num-attention-heads 128 --kv-channels 128 --normalization RMSNorm --position-embedding-type rope "
        "--norm-epsilon 1e-6 --swiglu --untie-embeddings-and-output-weights --vocab-size 129280 "
        "--multi-latent-attention --q-lora-rank 1536 --kv-lora-rank 512 --qk-head-dim 128 "
        "--qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-scaling-factor 40 --rotary-base "
        "10000 --mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 --no-rope-fusion --num-experts "
        "256 --moe-layer-freq [0,0,0,1,1] --moe-ffn-hidden-size 2048 --moe-router-topk 8 "
        "--moe-shared-expert-intermediate-size 2048 --moe-router-pre-softmax --moe-router-score-function "
        "sigmoid --moe-router-enable-expert-bias --moe-router-load-balancing-type seq_aux_loss "
        "--moe-token-dispatcher-type alltoall --moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 "
        "--moe-router-group-topk 4 --moe-router-num-groups 8 --moe-grouped-gemm "
        "--moe-router-topk-scaling-factor 2.5 --moe-router-dtype fp32 --moe-permute-fusion"
    ),
    "deepseek-v3.sh": (
        "--disable-bias-linear --num-layers 61 --hidden-size 7168 --ffn-hidden-size 18432 "
        "--num-attention-heads 128 --kv-channels 128 --normalization RMSNorm --position-embedding-type rope "
        "--norm-epsilon 1e-6 --swiglu --untie-embeddings-and-output-weights --vocab-size 129280 "
        "--multi-latent-attention --q-lora-rank 1536 --kv-lora-rank 512 --qk-head-dim 128 "
        "--qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-scaling-factor 40 --rotary-base "
        "10000 --mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 --no-rope-fusion --num-experts "
        "256 --moe-layer-freq "
        "[0,0,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"
        ",1,1,1,1,1,1,1,1,1,1,1] --moe-ffn-hidden-size 2048 --moe-router-topk 8 "
        "--moe-shared-expert-intermediate-size 2048 --moe-router-pre-softmax --moe-router-score-function "
        "sigmoid --moe-router-enable-expert-bias --moe-router-load-balancing-type seq_aux_loss "
        "--moe-token-dispatcher-type alltoall --moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 "
        "--moe-router-group-topk 4 --moe-router-num-groups 8 --moe-grouped-gemm "
        "--moe-router-topk-scaling-factor 2.5 --moe-router-dtype fp32 --moe-permute-fusion"
    ),
    "glm4-32B.sh": (
        "--spec slime_plugins.models.glm4 get_glm_spec --swiglu --num-layers 64 --hidden-size 6144 "
        "--ffn-hidden-size 23040 --num-attention-heads 48 --max-position-embeddings 32768 --seq-length 32768 "
        "--use-rotary-position-embeddings --disable-bias-linear --normalization RMSNorm --norm-epsilon 1e-5 "
        "--rotary-base 10000 --group-query-attention --num-query-groups 8 --vocab-size 151552 "
        "--post-self-attn-layernorm --post-mlp-layernorm --rotary-interleaved --rotary-percent 0.5 "
        "--no-rope-fusion --untie-embeddings-and-output-weights"
    ),
    "glm4-9B.sh": (
        "--spec slime_plugins.models.glm4 get_glm_spec --swiglu --num-layers 40 --hidden-size 4096 "
        "--ffn-hidden-size 13696 --num-attention-heads 32 --group-query-attention --num-query-groups 2 "
        "--use-rotary-position-embeddings --disable-bias-linear --add-qkv-bias --normalization RMSNorm "
        "--norm-epsilon 1e-5 --rotary-base 10000 --vocab-size 151552 --post-self-attn-layernorm "
        "--post-mlp-layernorm --rotary-interleaved --rotary-percent 0.5 --no-rope-fusion "
        "--untie-embeddings-and-output-weights"
    ),
    "glm4.5-106B-A12B.sh": (
        "--disable-bias-linear --group-query-attention --num-attention-heads 96 --num-query-groups 8 "
        "--kv-channels 128 --num-layers 46 --hidden-size 4096 --ffn-hidden-size 10944 --add-qkv-bias "
        "--normalization RMSNorm --position-embedding-type rope --rotary-percent 0.5 --swiglu "
        "--untie-embeddings-and-output-weights --vocab-size 151552 --rotary-base 1000000 "
        "--moe-ffn-hidden-size 1408 --moe-shared-expert-intermediate-size 1408 --moe-router-pre-softmax "
        "--moe-router-score-function sigmoid --moe-router-enable-expert-bias --moe-router-bias-update-rate 0 "
        "--moe-router-load-balancing-type seq_aux_loss --moe-token-dispatcher-type alltoall "
        "--moe-router-topk 8 --moe-layer-freq [0]*1+[1]*45 --num-experts 128 --moe-grouped-gemm "
        "--moe-router-dtype fp32 --moe-permute-fusion --moe-aux-loss-coeff 0"
    ),
    "glm4.5-355B-A32B.sh": (
        "--disable-bias-linear --qk-layernorm --group-query-attention --num-attention-heads 96 "
        "--num-query-groups 8 --kv-channels 128 --num-layers 92 --hidden-size 5120 --ffn-hidden-size 12288 "
        "--add-qkv-bias --normalization RMSNorm --position-embedding-type rope --rotary-percent 0.5 --swiglu "
        "--untie-embeddings-and-output-weights --vocab-size 151552 --rotary-base 1000000 "
        "--moe-ffn-hidden-size 1536 --moe-shared-expert-intermediate-size 1536 --moe-router-pre-softmax "
        "--moe-router-score-function sigmoid --moe-router-enable-expert-bias --moe-router-bias-update-rate 0 "
        "--moe-router-load-balancing-type seq_aux_loss --moe-token-dispatcher-type alltoall "
        "--moe-router-topk 8 --moe-router-topk-scaling-factor 2.5 --moe-layer-freq [0]*3+[1]*89 "
        "--num-experts 160 --moe-grouped-gemm --moe-router-dtype fp32 --moe-permute-fusion "
        "--moe-aux-loss-coeff 0"
    ),
    "glm4.7-30B-A3B.sh": (
        "--moe-layer-freq [0]*1+[1]*46 --num-experts 64 --moe-shared-expert-intermediate-size 1536 "
        "--moe-router-topk 4 --moe-grouped-gemm --moe-permute-fusion --moe-ffn-hidden-size 1536 "
        "--moe-router-score-function sigmoid --moe-router-pre-softmax --moe-router-enable-expert-bias "
        "--moe-router-bias-update-rate 0 --moe-router-load-balancing-type seq_aux_loss "
        "--moe-router-topk-scaling-factor 1.8 --moe-aux-loss-coeff 0 --moe-router-dtype fp32 "
        "--make-vocab-size-divisible-by 64 --num-layers 47 --hidden-size 2048 --ffn-hidden-size 10240 "
        "--num-attention-heads 20 --disable-bias-linear --add-qkv-bias --swiglu "
        "--untie-embeddings-and-output-weights --position-embedding-type rope --no-position-embedding "
        "--normalization RMSNorm --qk-layernorm --multi-latent-attention --q-lora-rank 768 --kv-lora-rank "
        "512 --qk-head-dim 192 --v-head-dim 256 --kv-channels 192 --qk-pos-emb-head-dim 64 --vocab-size "
        "154880 --rotary-base 1000000 --no-rope-fusion"
    ),
    "glm5-744B-A40B.sh": (
        "--spec slime_plugins.models.glm5.glm5 get_glm5_spec --moe-layer-freq [0]*3+[1]*75 --num-experts 256 "
        "--moe-shared-expert-intermediate-size 2048 --moe-router-topk 8 --moe-grouped-gemm "
        "--moe-permute-fusion --moe-ffn-hidden-size 2048 --moe-router-score-function sigmoid "
        "--moe-router-pre-softmax --moe-router-enable-expert-bias --moe-router-bias-update-rate 0 "
        "--moe-router-load-balancing-type seq_aux_loss --moe-router-topk-scaling-factor 2.5 "
        "--moe-aux-loss-coeff 0 --moe-router-dtype fp32 --make-vocab-size-divisible-by 16 --num-layers 78 "
        "--hidden-size 6144 --ffn-hidden-size 12288 --num-attention-heads 64 --disable-bias-linear --swiglu "
        "--untie-embeddings-and-output-weights --position-embedding-type rope --no-position-embedding "
        "--normalization RMSNorm --qk-layernorm --multi-latent-attention --q-lora-rank 2048 --kv-lora-rank "
        "512 --qk-head-dim 192 --v-head-dim 256 --kv-channels 192 --qk-pos-emb-head-dim 64 --vocab-size "
        "154880 --rotary-base 1000000 --enable-experimental --allgather-cp"
    ),
    "glm5.2-744B-A40B.sh": (
        "--spec slime_plugins.models.glm5.glm5 get_glm5_spec --moe-layer-freq [0]*3+[1]*75 --num-experts 256 "
        "--moe-shared-expert-intermediate-size 2048 --moe-router-topk 8 --moe-grouped-gemm "
        "--moe-permute-fusion --moe-ffn-hidden-size 2048 --moe-router-score-function sigmoid "
        "--moe-router-pre-softmax --moe-router-enable-expert-bias --moe-router-bias-update-rate 0 "
        "--moe-router-load-balancing-type seq_aux_loss --moe-router-topk-scaling-factor 2.5 "
        "--moe-aux-loss-coeff 0 --moe-router-dtype fp32 --make-vocab-size-divisible-by 16 --num-layers 78 "
        "--hidden-size 6144 --ffn-hidden-size 12288 --num-attention-heads 64 --disable-bias-linear --swiglu "
        "--untie-embeddings-and-output-weights --position-embedding-type rope --no-position-embedding "
        "--normalization RMSNorm --qk-layernorm --multi-latent-attention --q-lora-rank 2048 --kv-lora-rank "
        "512 --qk-head-dim 192 --v-head-dim 256 --kv-channels 192 --qk-pos-emb-head-dim 64 --vocab-size "
        "154880 --rotary-base 8000000 --enable-experimental --allgather-cp"
    ),
    "kimi-k2-thinking.sh": (
        "--disable-bias-linear --num-layers 61 --hidden-size 7168 --ffn-hidden-size 18432 "
        "--num-attention-heads 64 --kv-channels 64 --normalization RMSNorm --position-embedding-type rope "
        "--norm-epsilon 1e-5 --swiglu --untie-embeddings-and-output-weights --vocab-size 163840 "
        "--multi-latent-attention --q-lora-rank 1536 --kv-lora-rank 512 --qk-head-dim 128 "
        "--qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-scaling-factor 64.0 --rotary-base "
        "50000 --mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 --no-rope-fusion --num-experts "
        "384 --moe-layer-freq "
        "[0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"
        ",1,1,1,1,1,1,1,1,1,1,1] --moe-ffn-hidden-size 2048 --moe-router-topk 8 "
        "--moe-shared-expert-intermediate-size 2048 --moe-router-pre-softmax --moe-router-score-function "
        "sigmoid --moe-router-enable-expert-bias --moe-router-load-balancing-type seq_aux_loss "
        "--moe-token-dispatcher-type alltoall --moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 "
        "--moe-router-group-topk 1 --moe-router-num-groups 1 --moe-grouped-gemm "
        "--moe-router-topk-scaling-factor 2.827 --moe-router-dtype fp32 --moe-permute-fusion"
    ),
    "kimi-k2.sh": (
        "--disable-bias-linear --num-layers 61 --hidden-size 7168 --ffn-hidden-size 18432 "
        "--num-attention-heads 64 --kv-channels 64 --normalization RMSNorm --position-embedding-type rope "
        "--norm-epsilon 1e-6 --swiglu --untie-embeddings-and-output-weights --vocab-size 163840 "
        "--multi-latent-attention --q-lora-rank 1536 --kv-lora-rank 512 --qk-head-dim 128 "
        "--qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-scaling-factor 32.0 --rotary-base "
        "50000 --mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 --no-rope-fusion --num-experts "
        "384 --moe-layer-freq "
        "[0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"
        ",1,1,1,1,1,1,1,1,1,1,1] --moe-ffn-hidden-size 2048 --moe-router-topk 8 "
        "--moe-shared-expert-intermediate-size 2048 --moe-router-pre-softmax --moe-router-score-function "
        "sigmoid --moe-router-enable-expert-bias --moe-router-load-balancing-type seq_aux_loss "
        "--moe-token-dispatcher-type alltoall --moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 "
        "--moe-router-group-topk 1 --moe-router-num-groups 1 --moe-grouped-gemm "
        "--moe-router-topk-scaling-factor 2.827 --moe-router-dtype fp32 --moe-permute-fusion"
    ),
    "llama3.1-8B-Instruct.sh": (
        "--swiglu --num-layers 32 --hidden-size 4096 --ffn-hidden-size 14336 --num-attention-heads 32 "
        "--group-query-attention --num-query-groups 8 --max-position-embeddings 131072 "
        "--use-rotary-position-embeddings --disable-bias-linear --normalization RMSNorm --norm-epsilon 1e-5 "
        "--rotary-base 500000 --vocab-size 128256 --kv-channels 128 --use-rope-scaling "
        "--rotary-scaling-factor 8.0 --untie-embeddings-and-output-weights"
    ),
    "llama3.2-3B-Instruct-amd.sh": (
        "--swiglu --num-layers 28 --hidden-size 3072 --ffn-hidden-size 8192 --num-attention-heads 24 "
        "--group-query-attention --num-query-groups 8 --max-position-embeddings 131072 "
        "--use-rotary-position-embeddings --disable-bias-linear --normalization RMSNorm --norm-epsilon 1e-5 "
        "--rotary-base 500000 --vocab-size 128256 --kv-channels 128 --use-rope-scaling "
        "--rotary-scaling-factor 32.0"
    ),
    "llama3.2-3B-Instruct.sh": (
        "--swiglu --num-layers 28 --hidden-size 3072 --ffn-hidden-size 8192 --num-attention-heads 24 "
        "--group-query-attention --num-query-groups 8 --max-position-embeddings 131072 "
        "--use-rotary-position-embeddings --disable-bias-linear --normalization RMSNorm --norm-epsilon 1e-5 "
        "--rotary-base 500000 --vocab-size 128256 --kv-channels 128 --use-rope-scaling "
        "--rotary-scaling-factor 32.0"
    ),
    "mimo-7B-rl.sh": (
        "--swiglu --num-layers 36 --hidden-size 4096 --ffn-hidden-size 11008 --num-attention-heads 32 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--add-qkv-bias --normalization RMSNorm --norm-epsilon 1e-05 --rotary-base 640000 --vocab-size "
        "151680 --untie-embeddings-and-output-weights --max-position-embeddings 32768 --mtp-num-layers 1"
    ),
    "minimax-m2.sh": (
        "--spec slime_plugins.models.minimax_m2 get_minimax_m2_layer_spec --disable-bias-linear --num-layers "
        "62 --hidden-size 3072 --ffn-hidden-size 1536 --num-attention-heads 48 --kv-channels 128 "
        "--num-query-groups 8 --normalization RMSNorm --position-embedding-type rope --norm-epsilon 1e-6 "
        "--swiglu --untie-embeddings-and-output-weights --vocab-size 200064 --group-query-attention "
        "--rotary-percent 0.5 --rotary-base 5000000 --qk-layernorm --no-rope-fusion "
        "--attention-softmax-in-fp32 --num-experts 256 --moe-ffn-hidden-size 1536 --moe-router-topk 8 "
        "--moe-layer-freq [1]*62 --moe-router-pre-softmax --moe-router-score-function sigmoid "
        "--moe-router-enable-expert-bias --moe-router-load-balancing-type none --moe-token-dispatcher-type "
        "alltoall --moe-router-dtype fp32 --moe-aux-loss-coeff 0 --moe-grouped-gemm --moe-permute-fusion"
    ),
    "moonlight.sh": (
        "--disable-bias-linear --num-layers 27 --hidden-size 2048 --ffn-hidden-size 11264 "
        "--num-attention-heads 16 --kv-channels 128 --normalization RMSNorm --position-embedding-type rope "
        "--norm-epsilon 1e-5 --rotary-percent 1.0 --swiglu --untie-embeddings-and-output-weights "
        "--no-masked-softmax-fusion --vocab-size 163840 --multi-latent-attention --kv-lora-rank 512 "
        "--qk-head-dim 128 --qk-pos-emb-head-dim 64 --v-head-dim 128 --qk-layernorm --rotary-scaling-factor "
        "1 --rotary-base 50000 --mscale 1.0 --mscale-all-dim 1.0 --attention-softmax-in-fp32 "
        "--no-rope-fusion --num-experts 64 --moe-layer-freq "
        "[0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] --moe-ffn-hidden-size 1408 "
        "--moe-router-topk 6 --moe-shared-expert-intermediate-size 2816 --moe-router-pre-softmax "
        "--moe-router-score-function sigmoid --moe-router-enable-expert-bias "
        "--moe-router-load-balancing-type seq_aux_loss --moe-token-dispatcher-type alltoall "
        "--moe-aux-loss-coeff 0 --moe-router-bias-update-rate 0 --moe-router-group-topk 1 "
        "--moe-router-num-groups 1 --moe-grouped-gemm --moe-router-topk-scaling-factor 2.446 "
        "--moe-token-drop-policy probs --moe-router-dtype fp32 --moe-permute-fusion"
    ),
    "qwen2.5-0.5B.sh": (
        "--swiglu --num-layers 24 --hidden-size 896 --ffn-hidden-size 4864 --num-attention-heads 14 "
        "--use-rotary-position-embeddings --disable-bias-linear --add-qkv-bias --normalization RMSNorm "
        "--norm-epsilon 1e-6 --rotary-base 1000000 --group-query-attention --num-query-groups 2 --vocab-size "
        "151936"
    ),
    "qwen2.5-1.5B.sh": (
        "--swiglu --num-layers 28 --hidden-size 1536 --ffn-hidden-size 8960 --num-attention-heads 12 "
        "--use-rotary-position-embeddings --disable-bias-linear --add-qkv-bias --normalization RMSNorm "
        "--norm-epsilon 1e-6 --rotary-base 10000 --group-query-attention --num-query-groups 2 --vocab-size "
        "151936"
    ),
    "qwen2.5-32B.sh": (
        "--swiglu --num-layers 64 --hidden-size 5120 --ffn-hidden-size 27648 --num-attention-heads 40 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--add-qkv-bias --normalization RMSNorm --norm-epsilon 1e-5 --rotary-base 1000000 --vocab-size "
        "152064 --untie-embeddings-and-output-weights"
    ),
    "qwen2.5-3B.sh": (
        "--swiglu --num-layers 36 --hidden-size 2048 --ffn-hidden-size 11008 --num-attention-heads 16 "
        "--use-rotary-position-embeddings --disable-bias-linear --add-qkv-bias --normalization RMSNorm "
        "--norm-epsilon 1e-6 --rotary-base 1000000 --group-query-attention --num-query-groups 2 --vocab-size "
        "151936"
    ),
    "qwen2.5-7B.sh": (
        "--swiglu --num-layers 28 --hidden-size 3584 --ffn-hidden-size 18944 --num-attention-heads 28 "
        "--group-query-attention --num-query-groups 4 --use-rotary-position-embeddings --disable-bias-linear "
        "--add-qkv-bias --normalization RMSNorm --norm-epsilon 1e-06 --rotary-base 1000000 --vocab-size "
        "152064 --untie-embeddings-and-output-weights"
    ),
    "qwen3-0.6B.sh": (
        "--swiglu --num-layers 28 --hidden-size 1024 --ffn-hidden-size 3072 --num-attention-heads 16 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm"
    ),
    "qwen3-1.7B.sh": (
        "--swiglu --num-layers 28 --hidden-size 2048 --ffn-hidden-size 6144 --num-attention-heads 16 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm"
    ),
    "qwen3-14B.sh": (
        "--swiglu --num-layers 40 --hidden-size 5120 --ffn-hidden-size 17408 --num-attention-heads 40 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm --untie-embeddings-and-output-weights"
    ),
    "qwen3-235B-A22B.sh": (
        "--disable-bias-linear --qk-layernorm --group-query-attention --num-attention-heads 64 "
        "--num-query-groups 4 --kv-channels 128 --num-layers 94 --hidden-size 4096 --ffn-hidden-size 12288 "
        "--normalization RMSNorm --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent 1.0 "
        "--swiglu --untie-embeddings-and-output-weights --vocab-size 151936 --rotary-base 1000000 "
        "--moe-ffn-hidden-size 1536 --moe-router-score-function softmax --moe-token-dispatcher-type alltoall "
        "--moe-router-topk 8 --moe-layer-freq "
        "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"
        ",1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] "
        "--num-experts 128 --moe-grouped-gemm --moe-token-drop-policy probs --moe-router-dtype fp32 "
        "--moe-permute-fusion --moe-aux-loss-coeff 0"
    ),
    "qwen3-30B-A3B.sh": (
        "--disable-bias-linear --qk-layernorm --group-query-attention --num-attention-heads 32 "
        "--num-query-groups 4 --kv-channels 128 --num-layers 48 --hidden-size 2048 --ffn-hidden-size 6144 "
        "--normalization RMSNorm --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent 1.0 "
        "--swiglu --untie-embeddings-and-output-weights --vocab-size 151936 --rotary-base 1000000 "
        "--moe-ffn-hidden-size 768 --moe-router-score-function softmax --moe-token-dispatcher-type alltoall "
        "--moe-router-topk 8 --moe-layer-freq "
        "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] "
        "--num-experts 128 --moe-grouped-gemm --moe-token-drop-policy probs --moe-router-dtype fp32 "
        "--moe-permute-fusion --moe-aux-loss-coeff 0"
    ),
    "qwen3-32B.sh": (
        "--swiglu --num-layers 64 --hidden-size 5120 --ffn-hidden-size 25600 --num-attention-heads 64 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm --untie-embeddings-and-output-weights"
    ),
    "qwen3-4B-Instruct-2507.sh": (
        "--swiglu --num-layers 36 --hidden-size 2560 --ffn-hidden-size 9728 --num-attention-heads 32 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 5000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm"
    ),
    "qwen3-4B.sh": (
        "--swiglu --num-layers 36 --hidden-size 2560 --ffn-hidden-size 9728 --num-attention-heads 32 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm"
    ),
    "qwen3-8B.sh": (
        "--swiglu --num-layers 36 --hidden-size 4096 --ffn-hidden-size 12288 --num-attention-heads 32 "
        "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear "
        "--normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 1000000 --vocab-size 151936 --kv-channels "
        "128 --qk-layernorm --untie-embeddings-and-output-weights"
    ),
    "qwen3-next-80B-A3B.sh": (
        "--spec slime_plugins.models.qwen3_next get_qwen3_next_spec --disable-bias-linear --qk-layernorm "
        "--group-query-attention --num-attention-heads 16 --num-query-groups 2 --kv-channels 256 "
        "--num-layers 48 --hidden-size 2048 --ffn-hidden-size 5120 --use-gated-attention --normalization "
        "RMSNorm --apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent "
        "0.25 --swiglu --untie-embeddings-and-output-weights --vocab-size 151936 --rotary-base 10000000 "
        "--moe-ffn-hidden-size 512 --moe-shared-expert-intermediate-size 512 --moe-router-score-function "
        "softmax --moe-token-dispatcher-type alltoall --moe-router-topk 10 --moe-layer-freq "
        "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] "
        "--num-experts 512 --moe-grouped-gemm --moe-token-drop-policy probs --moe-router-dtype fp32 "
        "--moe-permute-fusion --moe-aux-loss-coeff 0 --attention-output-gate --moe-shared-expert-gate"
    ),
    "qwen3.5-0.8B.sh": (
        "--spec slime_plugins.models.qwen3_5 get_qwen3_5_spec --disable-bias-linear --qk-layernorm "
        "--group-query-attention --num-attention-heads 8 --num-query-groups 2 --kv-channels 256 --num-layers "
        "24 --hidden-size 1024 --ffn-hidden-size 3584 --use-gated-attention --normalization RMSNorm "
        "--apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent 0.25 "
        "--swiglu --vocab-size 248320 --rotary-base 10000000 --attention-output-gate"
    ),
    "qwen3.5-27B.sh": (
        "--spec slime_plugins.models.qwen3_5 get_qwen3_5_spec --disable-bias-linear --qk-layernorm "
        "--group-query-attention --num-attention-heads 24 --num-query-groups 4 --kv-channels 256 "
        "--num-layers 64 --hidden-size 5120 --ffn-hidden-size 17408 --use-gated-attention --normalization "
        "RMSNorm --apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent "
        "0.25 --swiglu --untie-embeddings-and-output-weights --vocab-size 248320 --rotary-base 10000000 "
        "--attention-output-gate"
    ),
    "qwen3.5-35B-A3B-vl.sh": (
        "--spec slime_plugins.models.qwen3_5_vl get_qwen3_5_vl_model_provider --disable-bias-linear "
        "--qk-layernorm --group-query-attention --num-attention-heads 16 --num-query-groups 2 --kv-channels "
        "256 --num-layers 40 --hidden-size 2048 --ffn-hidden-size 512 --use-gated-attention --normalization "
        "RMSNorm --apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent "
        "0.25 --swiglu --untie-embeddings-and-output-weights --vocab-size 248320 --rotary-base 10000000 "
        "--moe-ffn-hidden-size 512 --moe-shared-expert-intermediate-size 512 --moe-router-score-function "
        "softmax --moe-token-dispatcher-type alltoall --moe-router-topk 8 --moe-layer-freq "
        "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] --num-experts 256 "
        "--moe-grouped-gemm --moe-token-drop-policy probs --moe-router-dtype fp32 --moe-permute-fusion "
        "--moe-aux-loss-coeff 0 --attention-output-gate --moe-shared-expert-gate"
    ),
    "qwen3.5-35B-A3B.sh": (
        "--spec slime_plugins.models.qwen3_5 get_qwen3_5_spec --disable-bias-linear --qk-layernorm "
        "--group-query-attention --num-attention-heads 16 --num-query-groups 2 --kv-channels 256 "
        "--num-layers 40 --hidden-size 2048 --ffn-hidden-size 512 --use-gated-attention --normalization "
        "RMSNorm --apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent "
        "0.25 --swiglu --untie-embeddings-and-output-weights --vocab-size 248320 --rotary-base 10000000 "
        "--moe-ffn-hidden-size 512 --moe-shared-expert-intermediate-size 512 --moe-router-score-function "
        "softmax --moe-token-dispatcher-type alltoall --moe-router-topk 8 --moe-layer-freq "
        "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] --num-experts 256 "
        "--moe-grouped-gemm --moe-token-drop-policy probs --moe-router-dtype fp32 --moe-permute-fusion "
        "--moe-aux-loss-coeff 0 --attention-output-gate --moe-shared-expert-gate"
    ),
    "qwen3.5-4B.sh": (
        "--spec slime_plugins.models.qwen3_5 get_qwen3_5_spec --disable-bias-linear --qk-layernorm "
        "--group-query-attention --num-attention-heads 16 --num-query-groups 4 --kv-channels 256 "
        "--num-layers 32 --hidden-size 2560 --ffn-hidden-size 9216 --use-gated-attention --normalization "
        "RMSNorm --apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent "
        "0.25 --swiglu --vocab-size 248320 --rotary-base 10000000 --attention-output-gate"
    ),
    "qwen3.5-9B.sh": (
        "--spec slime_plugins.models.qwen3_5 get_qwen3_5_spec --disable-bias-linear --qk-layernorm "
        "--group-query-attention --num-attention-heads 16 --num-query-groups 4 --kv-channels 256 "
        "--num-layers 32 --hidden-size 4096 --ffn-hidden-size 12288 --use-gated-attention --normalization "
        "RMSNorm --apply-layernorm-1p --position-embedding-type rope --norm-epsilon 1e-6 --rotary-percent "
        "0.25 --swiglu --untie-embeddings-and-output-weights --vocab-size 248320 --rotary-base 10000000 "
        "--attention-output-gate"
    ),
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


def _script(model_script: str, cluster: str, ckpt: str, rollout: str, eval_: str, perf: str, grpo: str, opt: str,
            sglang: str, misc: str) -> str:
    return " ".join([cluster, MODEL_SCRIPTS[model_script], ckpt, rollout, ROLLOUT_COMMON, opt, OPT_COMMON, grpo,
                     GRPO_COMMON, perf, PERF_COMMON, eval_, sglang, misc, MISC_COMMON])


SCRIPTS = {
    "run-qwen3-4b-fp8.sh": _script(
        "qwen3-4B.sh", "--actor-num-nodes 1 --actor-num-gpus-per-node 8 --colocate",
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
        "qwen3-30B-A3B.sh", "--actor-num-nodes 2 --actor-num-gpus-per-node 8 --colocate",
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
        "qwen3-30B-A3B.sh", "--actor-num-nodes 1 --actor-num-gpus-per-node 8 --colocate",
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
        "moonlight.sh", "--actor-num-nodes 1 --actor-num-gpus-per-node 4 --colocate",
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
        "qwen3-235B-A22B.sh", "--actor-num-nodes 8 --actor-num-gpus-per-node 8 --colocate",
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
        "kimi-k2-thinking.sh", "--actor-num-nodes 32 --actor-num-gpus-per-node 8 --colocate "
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
