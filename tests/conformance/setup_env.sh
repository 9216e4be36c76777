#!/usr/bin/env bash
# Rebuild the conformance environment from scratch: slime and Megatron-LM at the pinned commits (Megatron patched
# as slime's image patches it), and a venv with the pinned sglang and sglang-router. Several GB; minutes.
#
#   tests/conformance/setup_env.sh SLIME_GIT MEGATRON_GIT [DIR]
#
# SLIME_GIT / MEGATRON_GIT: clones of THUDM/slime and NVIDIA/Megatron-LM (any clone holding the commits).
# DIR (default ~/.cache/recipe-runner-conformance) receives slime/, Megatron-LM/, venv/ and env.sh; then
#   source DIR/env.sh && python -m pytest -q tests/conformance
# The system Python must hold the CPU build of torch (as .ci/run installs it): the venv reuses it.
set -euo pipefail
SLIME_COMMIT=624b824a898ab0ec1fcb4d373004c7f3852bf515
SLIME_GIT=$(realpath "$1"); MEGATRON_GIT=$(realpath "$2")
DIR=${3:-$HOME/.cache/recipe-runner-conformance}
mkdir -p "$DIR"; DIR=$(realpath "$DIR")
rm -rf "$DIR/slime" "$DIR/Megatron-LM" "$DIR/venv"

git clone -q "$SLIME_GIT" "$DIR/slime"
git -C "$DIR/slime" checkout -q "$SLIME_COMMIT"
dockerfile="$DIR/slime/docker/Dockerfile"
MEGATRON_COMMIT=$(sed -n 's/^ARG MEGATRON_COMMIT=\([0-9a-f]*\)$/\1/p' "$dockerfile")
# SGLANG_IMAGE_TAG=v0.5.15.post1-cu129 -> sglang 0.5.15.post1
SGLANG_VERSION=$(sed -n 's/^ARG SGLANG_IMAGE_TAG=v\([^-]*\).*$/\1/p' "$dockerfile")

git clone -q "$MEGATRON_GIT" "$DIR/Megatron-LM"
git -C "$DIR/Megatron-LM" checkout -q "$MEGATRON_COMMIT"
# As the image does (docker/Dockerfile, "Patches"): megatron.patch, then megatron-sglang-aligned.patch.
for patch in megatron.patch megatron-sglang-aligned.patch; do
    git -C "$DIR/Megatron-LM" apply --3way "$DIR/slime/docker/patch/latest/$patch"
done

python3 -m venv --system-site-packages "$DIR/venv"
pip="$DIR/venv/bin/python -m pip install --quiet --no-deps"
# sglang and the router with --no-deps: their full requirements are the GPU stack. What importing
# sglang.srt.server_args and slime's argument parsing needs on CPU, pinned to what sglang pins or allows:
$pip "sglang==$SGLANG_VERSION" sglang-router==0.3.2 transformers==5.12.1 tokenizers==0.22.2 \
    huggingface_hub==1.33.0 torchvision==0.28.0 triton==3.9.0 pybase64==1.5.1 setproctitle==1.3.8 \
    starlette==1.10.0 fastapi==0.165.0 uvicorn==0.54.0 pyzmq==27.3.0 dill==0.4.1 openai==3.57.0 \
    partial-json-parser==0.2.1.1.post7 msgspec==0.23.0 sentencepiece==0.2.3

cat > "$DIR/env.sh" <<ENV
export RR_CONFORMANCE_SLIME=$DIR/slime
export RR_CONFORMANCE_MEGATRON=$DIR/Megatron-LM
export RR_CONFORMANCE_PYTHON=$DIR/venv/bin/python
ENV
echo "slime $SLIME_COMMIT, Megatron-LM $MEGATRON_COMMIT (patched), sglang $SGLANG_VERSION: source $DIR/env.sh"
