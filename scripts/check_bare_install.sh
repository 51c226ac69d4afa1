#!/usr/bin/env bash
# Run by `make check-install`: in an environment made from requirements.txt alone, every module the
# package imports is declared, and the single-process CLI tracks a sample clip on the tiny models.
set -euo pipefail
PY=${1:?usage: check_bare_install.sh PYTHON}
cd "$(dirname "$0")/.."
checker=../shared/tools/check_declared_deps.py
if [ -f "$checker" ]; then
  undeclared=$("$PY" "$checker")
  if [ -n "$undeclared" ]; then
    echo "Imports not declared in pyproject.toml:"; echo "$undeclared"; exit 1
  fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
"$PY" -m lang_sam_tracker.testing.tiny_models --out "$work/models"
echo "$PWD/assets/people.mp4" > "$work/list.txt"
"$PY" scripts/batch_track_videos.py --video_list "$work/list.txt" --text_prompt person \
  --output_jsonl "$work/out.jsonl" --sam_config "$work/models/sam2_tiny.yaml" \
  --model_path "$work/models/sam2_tiny.pt" --detector_model "$work/models/grounding_dino_tiny" \
  --box_threshold 0 --max_objects 2 --fps 5
"$PY" - "$work/out.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
record = json.loads(lines[0])
print(f"bare install OK: {record['video_info']['processed_frames']} frames, {record['stats']['num_objects']} objects")
PY
