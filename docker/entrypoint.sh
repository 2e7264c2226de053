#!/usr/bin/env bash
# The image's exec-form ENTRYPOINT. SageMaker starts the container as `IMAGE serve` for
# endpoints and batch transform, and as `IMAGE train` for training jobs.
#
#   serve [vr-serve options]   vr-serve on 0.0.0.0:${SAGEMAKER_BIND_TO_PORT:-8080}, model
#                              from ${VR_MODEL_DIR:-/opt/ml/model}, catalog (docs/catalog.md)
#                              from $VR_CATALOG, else videos.csv in that model directory when
#                              model.tar.gz carries one; options given here win
#   train                      the SageMaker training contract (vr-train-job, docker/train.sh)
#   anything else              run as a command, e.g. `vr-recommend --help` or `bash`
#
# Every branch execs, so the server is PID 1 and receives SageMaker's SIGTERM directly.
set -euo pipefail

command="${1:-serve}"
[ $# -gt 0 ] && shift

case "$command" in
  serve)
    # Defaults only for the options the caller did not pass (vr-serve rejects repeats).
    defaults=()
    has_option() {
      local name="$1" arg
      for arg in "${@:2}"; do
        [[ "$arg" == "$name" || "$arg" == "$name="* ]] && return 0
      done
      return 1
    }
    has_option --model-dir "$@" || defaults+=(--model-dir "${VR_MODEL_DIR:-/opt/ml/model}")
    has_option --host "$@" || defaults+=(--host 0.0.0.0)
    has_option --port "$@" || defaults+=(--port "${SAGEMAKER_BIND_TO_PORT:-8080}")
    # A catalog mounted apart from the model (VR_CATALOG) wins over one inside model.tar.gz.
    if ! has_option --catalog "$@"; then
      if [[ -n "${VR_CATALOG:-}" ]]; then
        defaults+=(--catalog "$VR_CATALOG")
      elif ! has_option --model-dir "$@" && [[ -f "${VR_MODEL_DIR:-/opt/ml/model}/videos.csv" ]]; then
        defaults+=(--catalog "${VR_MODEL_DIR:-/opt/ml/model}/videos.csv")
      fi
    fi
    exec vr-serve serve "${defaults[@]}" "$@"
    ;;
  train)
    exec vr-train-job "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
