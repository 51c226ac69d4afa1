#!/usr/bin/env bash
# Multi-GPU batch tracking: edit the variables below, then run `bash run_batch_tracking_multiprocess.sh`.
# Every variable can also be overridden from the environment, e.g. TEXT_PROMPT="person . dog" bash ...
# Arguments are passed on to the script after the variables' flags, so they win:
#   bash run_batch_tracking_multiprocess.sh --help
#   bash run_batch_tracking_multiprocess.sh --video_list clips/ --text_prompt "person, dog" --save_masks
# Relative paths (the list, the outputs, the models, and the video paths inside the list) are taken
# from the directory you run it in, as with the python scripts.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

VIDEO_LIST="${VIDEO_LIST:-video_list.txt}"            # one video path per line
TEXT_PROMPT="${TEXT_PROMPT:-car}"                     # "car", or several classes: "person . dog"
OUTPUT_JSONL="${OUTPUT_JSONL:-outputs/results.jsonl}" # one JSON line per finished video
OUTPUT_VIDEO_DIR="${OUTPUT_VIDEO_DIR:-}"              # annotated videos go here when set
GPU_IDS="${GPU_IDS:-}"                                # e.g. "0 1 2 3"; empty: every visible GPU
NUM_WORKERS="${NUM_WORKERS:-}"                        # empty: one per GPU (1 CPU worker without CUDA)
RESUME="${RESUME:-true}"                              # false: move the old results aside, start afresh
SAM_TYPE="${SAM_TYPE:-sam2.1_hiera_large}"
MODEL_PATH="${MODEL_PATH:-models/sam2/checkpoints/sam2.1_hiera_large.pt}"
DETECTION_FREQUENCY="${DETECTION_FREQUENCY:-1}"
EXTRA_ARGS="${EXTRA_ARGS:-}"                          # any other flags, see --help
PYTHON="${PYTHON:-python}"

SCRIPT="${HERE}/scripts/batch_track_videos_multiprocess.py"
previous=""
for arg in "$@"; do
    case "${arg}" in
        -h|--help) exec "${PYTHON}" "${SCRIPT}" --help ;;  # help only: no banner, no check, no run
        --video_list|--video-list|--video_list=*|--video-list=*) VIDEO_LIST_GIVEN=1 ;;
        --output_jsonl=*|--output-jsonl=*) OUTPUT_JSONL="${arg#*=}" ;;  # the closing count reads it
    esac
    case "${previous}" in --output_jsonl|--output-jsonl) OUTPUT_JSONL="${arg}" ;; esac
    previous="${arg}"
done

# The list first: nothing else is worth checking without it (a list given as an argument: python checks it).
if [ -z "${VIDEO_LIST_GIVEN:-}" ] && [ ! -e "${VIDEO_LIST}" ] && [ -z "$(compgen -G "${VIDEO_LIST}" || true)" ]; then
    echo "error: VIDEO_LIST ${VIDEO_LIST} not found (relative paths start from $(pwd)); set VIDEO_LIST=/path/to/list.txt" >&2
    exit 2
fi
if [ -n "${VIDEO_LIST_GIVEN:-}" ]; then
    listed="given as an argument"
elif [ -f "${VIDEO_LIST}" ] && ! [[ "${VIDEO_LIST,,}" =~ \.(mp4|m4v|mov|avi|mkv|webm|mpg|mpeg|ts|mts|m2ts|wmv|flv|3gp|ogv)$ ]]; then
    listed="$(grep -cv '^[[:space:]]*\(#.*\)\?$' "${VIDEO_LIST}" || true) video path(s) listed"
else
    listed="a video, a folder or a glob"
fi
if [ -n "${GPU_IDS}" ]; then
    workers="${NUM_WORKERS:-one per listed GPU}"
else
    workers="${NUM_WORKERS:-one per visible GPU; 1 CPU worker if none}"
fi

echo "================ lang-sam-tracker batch ================"
echo "Working directory:   $(pwd)"
echo "Video list:          ${VIDEO_LIST} (${listed})"
echo "Text prompt:         ${TEXT_PROMPT}"
echo "Output JSONL:        ${OUTPUT_JSONL}"
echo "Annotated videos:    ${OUTPUT_VIDEO_DIR:-(off)}"
echo "GPU ids:             ${GPU_IDS:-(all visible, if any)}"
echo "Workers:             ${workers}"
echo "Resume:              ${RESUME}"
echo "SAM 2:               ${SAM_TYPE} (${MODEL_PATH})"
echo "Detection frequency: ${DETECTION_FREQUENCY}"
[ "$#" -gt 0 ] && echo "Arguments:           $*"
echo "========================================================="

args=(--video_list "${VIDEO_LIST}" --text_prompt "${TEXT_PROMPT}" --output_jsonl "${OUTPUT_JSONL}"
      --sam_type "${SAM_TYPE}" --model_path "${MODEL_PATH}" --detection_frequency "${DETECTION_FREQUENCY}")
[ -n "${OUTPUT_VIDEO_DIR}" ] && args+=(--output_video_dir "${OUTPUT_VIDEO_DIR}")
[ -n "${GPU_IDS}" ] && args+=(--gpu_ids ${GPU_IDS})
[ -n "${NUM_WORKERS}" ] && args+=(--num_workers "${NUM_WORKERS}")
[ "${RESUME}" = "true" ] && args+=(--resume) || args+=(--no-resume)

status=0
# exec-free on purpose: the summary below must still print; signals reach python through the process group.
# python checks every flag, path and model before it starts any work (exit 2 with one line if not).
"${PYTHON}" "${SCRIPT}" "${args[@]}" ${EXTRA_ARGS} "$@" || status=$?

echo "========================================================="
if [ "${status}" -eq 2 ]; then
    echo "Nothing was run (exit status 2): see the error above"
    exit "${status}"
fi
done_count=$( [ -f "${OUTPUT_JSONL}" ] && wc -l < "${OUTPUT_JSONL}" || echo 0)
failed_file="${OUTPUT_JSONL%.jsonl}.failed.jsonl"
failed_count=$( [ -f "${failed_file}" ] && wc -l < "${failed_file}" || echo 0)
echo "Finished with exit status ${status}: ${done_count} record(s) in ${OUTPUT_JSONL}, ${failed_count} failure line(s) in ${failed_file}"
exit "${status}"
