#!/usr/bin/env bash
# The fine-tuning recipe search of issue 23 (models/README.md): the shipped
# model fine-tuned on GUE subsets under several recipes at equal step
# counts, judged on the dev sets only (test is reported once, at the end,
# by `dnagpu gue`). Writes OUT/<recipe>/<subset>/ (each run's folder) and
# appends one line per run to OUT/dev.csv.
#   scripts/recipe/search.sh [OUT] [GUE]   (env: DNAGPU, STEPS, SUBSETS, RECIPES)
set -euo pipefail
out=${1:-runs/recipe-search}
gue=${2:-../shared/data/GUE}
dnagpu=${DNAGPU:-target/release/dnagpu}
steps=${STEPS:-400}
subsets=${SUBSETS:-"mouse/0 tf/2 prom/prom_core_all"}
# name:flags — LoRA at its default, full fine-tuning at two peak rates.
recipes=${RECIPES:-"lora-1e-3:--mode lora --lr 1e-3;full-1e-4:--mode full --lr 1e-4;full-3e-4:--mode full --lr 3e-4"}

mkdir -p "$out"
[ -s "$out/dev.csv" ] || echo "recipe,subset,steps,best_step,dev_mcc,dev_f1,dev_accuracy,dev_loss,train_seconds" >"$out/dev.csv"
IFS=';' read -ra recipe_list <<<"$recipes"
for subset in $subsets; do
  for recipe in "${recipe_list[@]}"; do
    name=${recipe%%:*}
    flags=${recipe#*:}
    run="$out/$name/$subset"
    if [ -s "$run/metrics.json" ]; then continue; fi
    echo "== $name on $subset ($steps steps)" >&2
    # shellcheck disable=SC2086 # the recipe's flags are words
    "$dnagpu" --backend cpu finetune --data "$gue/$subset" --output "$run" --overwrite \
      --max-steps "$steps" --eval-every $((steps / 2)) $flags
    python3 - "$run/metrics.json" "$name" "$subset" "$steps" >>"$out/dev.csv" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); d = m["dev"]
print(",".join(map(str, [sys.argv[2], sys.argv[3], sys.argv[4], m["best_step"],
      round(d["mcc"], 4), round(d["f1_macro"], 4), round(d["accuracy"], 4), round(d["loss"], 4),
      round(m["train_seconds"], 1)])))
PY
  done
done
column -s, -t "$out/dev.csv" >&2
