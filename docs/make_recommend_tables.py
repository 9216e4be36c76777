"""Print the tables of docs/recommend.md: `python docs/make_recommend_tables.py > /tmp/tables.md`.

For each shipped recipe's model: its cluster, and one smaller cluster. Rows are what `recommend` prints
(best row of each feasible mode first), in markdown.
"""

from __future__ import annotations

from recipe_runner import api
from recipe_runner.errors import UserError
from recipe_runner.estimate import GB
from recipe_runner.recommend import Request, _engine_label, _train_label

CASES = (  # model option, GPU, nodes, GPUs per node: the shipped recipe's cluster, then a smaller one
    ("qwen3-4b", "H200", 1, 8), ("qwen3-4b", "H200", 1, 4),
    ("qwen3-30b-a3b", "H200", 2, 8), ("qwen3-30b-a3b", "H200", 1, 8), ("qwen3-30b-a3b", "H200", 1, 4),
    ("moonlight-16b-a3b", "H200", 1, 4), ("moonlight-16b-a3b", "H200", 1, 2),
    ("qwen3-235b-a22b", "H200", 8, 8), ("qwen3-235b-a22b", "H200", 4, 8), ("qwen3-235b-a22b", "H100", 4, 8),
    ("kimi-k2-thinking", "H200", 32, 8), ("kimi-k2-thinking", "H200", 16, 8),
)


def main() -> None:
    for model, gpu, nodes, gpn in CASES:
        print(f"\n#### `recipe-runner recommend {model} --gpus {gpu} --nodes {nodes}"
              + (f" --gpus-per-node {gpn}`" if gpn != 8 else "`") + "\n")
        try:
            rec, _ = api.recommend(model, Request(gpu, nodes, gpn))
        except UserError as e:
            print("```\n" + e.render() + "\n```")
            continue
        print("| mode | train layout | rollout engine | train GB/GPU | rollout GB/GPU | KV tokens/engine | "
              "rollout share | index |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rec.rows:
            print(f"| {r.mode} | {_train_label(r.recipe)} | {_engine_label(r.recipe)} | "
                  f"{r.estimate.train.total / GB:.0f} | {r.estimate.rollout.weights / GB:.1f} | "
                  f"{r.estimate.rollout.kv_tokens:,} | {r.rollout_share:.0%} | {r.index:.2f} |")
        for x in rec.excluded:
            print(f"\nexcluded: {x.mode} ({x.reason}): {x.message}")


if __name__ == "__main__":
    main()
