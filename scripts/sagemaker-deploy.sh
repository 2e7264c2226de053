#!/usr/bin/env bash
# Deploys vr to Amazon SageMaker, one step at a time or all of them, as the README's
# "AWS SageMaker deployment" section describes. --dry-run prints every command (and every
# JSON document, filled in) instead of running it: no AWS credentials or network needed.
#
#   scripts/sagemaker-deploy.sh [options] STEP...
#
# Steps, in the order `all` runs them:
#   repository       create the ECR repository (scan on push)
#   login            log the container engine in to ECR
#   build            build the image for linux/amd64 (docker buildx, or podman)
#   tag              tag it with the ECR image URI
#   push             push it to ECR
#   package          model.tar.gz from a pipeline model dir (ratings.csv, mappings.bin,
#                    als_model.bin, and ann_index.bin and videos.csv when present, at the
#                    archive's top, as SageMaker unpacks it into /opt/ml/model)
#   upload           create the bucket if missing, upload model.tar.gz
#   role             create the execution role from sagemaker-trust.json + sagemaker-s3.json
#   model            create-model from sagemaker/model.json
#   endpoint-config  create-endpoint-config from sagemaker/endpoint-config.json
#                    (sagemaker/endpoint-config-serverless.json with --serverless)
#   endpoint         create-endpoint (billing starts here)
#   wait             wait until the endpoint is InService
#   invoke           invoke it with the README's request, print the answer
# Other steps:
#   all              every step above, in order
#   batch-transform  a batch transform job over JSON Lines in S3 (SplitType=Line), waits,
#                    downloads the output; --batch-input FILE uploads a local file first
#   train            a multi-instance training job (sagemaker/training-job.json: 2 instances,
#                    the shards ShardedByS3Key, mappings FullyReplicated) on the shards of
#                    --train-dir (vr-features --shards N output), uploaded first; waits, prints
#                    the status and downloads model.tar.gz
#   cleanup          delete the endpoint, the endpoint config and the model
#   render           only fill in the JSON files and print them
#
# Options (each also from the environment variable named):
#   --account-id ID     AWS_ACCOUNT_ID   12-digit AWS account
#   --region REGION     AWS_REGION       e.g. us-east-1
#   --bucket NAME       VR_BUCKET        S3 bucket for model.tar.gz and batch data
#   --image-tag TAG     VR_IMAGE_TAG     image tag, e.g. latest or a git revision
#   --model-dir DIR     model dir for `package` (default: artifacts)
#   --out DIR           where filled-in JSON, model.tar.gz and answers go (default:
#                       build/sagemaker)
#   --engine NAME       VR_CONTAINER_ENGINE: docker (default) or podman
#   --serverless        use the serverless endpoint config
#   --batch-input FILE  JSON Lines file to upload for batch-transform
#   --train-dir DIR     vr-features --shards output for `train` (default: artifacts)
#   --dry-run           print the commands, run none of them
#   -h, --help          this text
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
templates="$repo_root/sagemaker"

# Names shared with the JSON templates (tests check that they agree).
repository_name="video-recommender-api"
role_name="video-recommender-sagemaker-role"
role_policy_name="video-recommender-sagemaker-access"
model_name="video-recommender-model"
endpoint_name="video-recommender-endpoint"
s3_prefix="video-recommender"
local_image="video-recommender-api"

all_steps=(repository login build tag push package upload role model endpoint-config endpoint wait invoke)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'sagemaker-deploy: error: %s\n' "$*" >&2; exit 2; }

account_id="${AWS_ACCOUNT_ID:-}"
region="${AWS_REGION:-}"
bucket="${VR_BUCKET:-}"
image_tag="${VR_IMAGE_TAG:-}"
engine="${VR_CONTAINER_ENGINE:-docker}"
model_dir="artifacts"
out_dir="$repo_root/build/sagemaker"
serverless=false
batch_input=""
train_dir="artifacts"
dry_run=false
steps=()

while [ $# -gt 0 ]; do
  case "$1" in
    --account-id) account_id="${2:?--account-id needs a value}"; shift 2 ;;
    --account-id=*) account_id="${1#*=}"; shift ;;
    --region) region="${2:?--region needs a value}"; shift 2 ;;
    --region=*) region="${1#*=}"; shift ;;
    --bucket) bucket="${2:?--bucket needs a value}"; shift 2 ;;
    --bucket=*) bucket="${1#*=}"; shift ;;
    --image-tag) image_tag="${2:?--image-tag needs a value}"; shift 2 ;;
    --image-tag=*) image_tag="${1#*=}"; shift ;;
    --model-dir) model_dir="${2:?--model-dir needs a value}"; shift 2 ;;
    --model-dir=*) model_dir="${1#*=}"; shift ;;
    --out) out_dir="${2:?--out needs a value}"; shift 2 ;;
    --out=*) out_dir="${1#*=}"; shift ;;
    --engine) engine="${2:?--engine needs a value}"; shift 2 ;;
    --engine=*) engine="${1#*=}"; shift ;;
    --batch-input) batch_input="${2:?--batch-input needs a value}"; shift 2 ;;
    --batch-input=*) batch_input="${1#*=}"; shift ;;
    --train-dir) train_dir="${2:?--train-dir needs a value}"; shift 2 ;;
    --train-dir=*) train_dir="${1#*=}"; shift ;;
    --serverless) serverless=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    all) steps+=("${all_steps[@]}"); shift ;;
    repository|login|build|tag|push|package|upload|role|model|endpoint-config|endpoint|wait|invoke|batch-transform|train|cleanup|render)
      steps+=("$1"); shift ;;
    *) die "unknown step '$1' (see --help)" ;;
  esac
done
[ ${#steps[@]} -gt 0 ] || { usage >&2; exit 2; }
case "$engine" in docker|podman) ;; *) die "--engine must be docker or podman, not '$engine'" ;; esac

# --- Settings: which steps need which, checked before anything runs ---------------------
# The settings each step needs.
settings_of() {
  case "$1" in
    repository|endpoint-config|endpoint|wait|invoke|cleanup) echo region ;;
    login) echo account region ;;
    build) echo image ;;
    tag|push) echo account region image ;;
    package) ;;
    upload|batch-transform) echo region bucket ;;
    role) echo account bucket ;;
    model|render|train) echo account region bucket image ;;
  esac
}
needs() {  # needs SETTING: true when any requested step needs it
  local step
  for step in "${steps[@]}"; do
    [[ " $(settings_of "$step") " == *" $1 "* ]] && return 0
  done
  return 1
}

check_setting() {  # check_setting SETTING VALUE FLAG VARIABLE PATTERN DESCRIPTION
  local setting="$1" value="$2" flag="$3" variable="$4" pattern="$5" description="$6"
  needs "$setting" || return 0
  [ -n "$value" ] || die "missing $variable: set it or pass $flag ($description)"
  [[ "$value" =~ $pattern ]] || die "$variable '$value' is not valid ($description)"
}
check_setting account "$account_id" --account-id AWS_ACCOUNT_ID '^[0-9]{12}$' "the 12-digit AWS account id"
check_setting region "$region" --region AWS_REGION '^[a-z]{2}(-[a-z]+)+-[0-9]+$' "an AWS region such as us-east-1"
check_setting bucket "$bucket" --bucket VR_BUCKET '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' "an S3 bucket name"
check_setting image "$image_tag" --image-tag VR_IMAGE_TAG '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' "an image tag such as latest"

registry="$account_id.dkr.ecr.$region.amazonaws.com"
image_uri="$registry/$repository_name:$image_tag"
model_url="s3://$bucket/$s3_prefix/model.tar.gz"
if $serverless; then config_template="endpoint-config-serverless.json"; else config_template="endpoint-config.json"; fi
endpoint_config_name="$(sed -n 's/.*"EndpointConfigName": *"\([^"]*\)".*/\1/p' "$templates/$config_template")"
transform_job_name="video-recommender-batch-$(date -u +%Y%m%d-%H%M%S)"
training_job_name="video-recommender-train-$(date -u +%Y%m%d-%H%M%S)"

# --- Running or printing ------------------------------------------------------------------
# Quotes an argument for the printed command line only where the shell needs it.
quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then printf '%s' "$1"
  else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
print_command() {
  local first=true arg
  for arg in "$@"; do
    $first || printf ' '
    quote "$arg"
    first=false
  done
  printf '\n'
}
run() {  # run COMMAND...: prints it; runs it unless --dry-run
  print_command "$@"
  $dry_run || "$@"
}
step_header() { printf '\n# ---- %s: %s\n' "$1" "$2"; }

mkdir -p "$out_dir"
# Fills the placeholders of a sagemaker/ template into $out_dir and prints the result.
render() {
  local template="$1" output="$out_dir/$1"
  sed -e "s|<account-id>|$account_id|g" -e "s|<region>|$region|g" -e "s|<bucket>|$bucket|g" \
      -e "s|<image-tag>|$image_tag|g" -e "s|<transform-job-name>|$transform_job_name|g" \
      -e "s|<training-job-name>|$training_job_name|g" \
      "$templates/$template" > "$output"
  if grep -q '<[a-z-]*>' "$output"; then
    die "$output still has a placeholder: $(grep -o '<[a-z-]*>' "$output" | sort -u | tr '\n' ' ')"
  fi
  printf '# %s (from sagemaker/%s):\n' "$output" "$template"
  sed 's/^/#   /' "$output"
}

# --- The steps ----------------------------------------------------------------------------
step_repository() {
  step_header repository "ECR repository with scan on push"
  print_command aws ecr describe-repositories --repository-names "$repository_name" --region "$region"
  printf '# only if it does not exist yet:\n'
  if $dry_run || ! aws ecr describe-repositories --repository-names "$repository_name" --region "$region" >/dev/null 2>&1; then
    run aws ecr create-repository --repository-name "$repository_name" \
      --image-scanning-configuration scanOnPush=true --region "$region"
  fi
  run aws ecr put-image-scanning-configuration --repository-name "$repository_name" \
    --image-scanning-configuration scanOnPush=true --region "$region"
}

step_login() {
  step_header login "log $engine in to ECR"
  printf 'aws ecr get-login-password --region %s | %s login --username AWS --password-stdin %s\n' \
    "$region" "$engine" "$registry"
  $dry_run || aws ecr get-login-password --region "$region" \
    | "$engine" login --username AWS --password-stdin "$registry"
}

step_build() {
  step_header build "image for linux/amd64"
  if [ "$engine" = docker ]; then
    run docker buildx build --platform linux/amd64 --output=type=docker \
      -f "$repo_root/docker/Dockerfile" -t "$local_image:$image_tag" "$repo_root"
  else
    run podman build --platform linux/amd64 --format docker \
      -f "$repo_root/docker/Dockerfile" -t "$local_image:$image_tag" "$repo_root"
  fi
  run "$engine" inspect "$local_image:$image_tag" --format '{{.Architecture}}'
}

step_tag() {
  step_header tag "tag the image for ECR"
  run "$engine" tag "$local_image:$image_tag" "$image_uri"
}

step_push() {
  step_header push "push the image to ECR"
  run "$engine" push "$image_uri"
}

step_package() {
  step_header package "model.tar.gz from $model_dir"
  local file
  if ! $dry_run; then
    for file in ratings.csv mappings.bin als_model.bin; do
      [ -f "$model_dir/$file" ] || die "$model_dir/$file is missing: run the pipeline (make pipeline) or pass --model-dir"
    done
  fi
  # The similar-video index (vr-index) travels with the model it was built from, and the
  # catalog (videos.csv, docs/catalog.md) with the model it rules, when the folder has them.
  local files=(ratings.csv mappings.bin als_model.bin)
  [ -f "$model_dir/ann_index.bin" ] && files+=(ann_index.bin)
  [ -f "$model_dir/videos.csv" ] && files+=(videos.csv)
  # Fixed owner, order and times: the same model gives the same archive.
  printf 'tar -C %s --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - %s | gzip -n > %s\n' \
    "$(quote "$model_dir")" "${files[*]}" "$(quote "$out_dir/model.tar.gz")"
  if ! $dry_run; then
    tar -C "$model_dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
      -cf - "${files[@]}" | gzip -n > "$out_dir/model.tar.gz.tmp"
    mv -f "$out_dir/model.tar.gz.tmp" "$out_dir/model.tar.gz"
    printf '# wrote %s (%s bytes)\n' "$out_dir/model.tar.gz" "$(wc -c < "$out_dir/model.tar.gz")"
  fi
}

step_upload() {
  step_header upload "model.tar.gz to $model_url"
  print_command aws s3api head-bucket --bucket "$bucket" --region "$region"
  printf '# only if the bucket does not exist yet:\n'
  if $dry_run || ! aws s3api head-bucket --bucket "$bucket" --region "$region" >/dev/null 2>&1; then
    run aws s3 mb "s3://$bucket" --region "$region"
  fi
  run aws s3 cp "$out_dir/model.tar.gz" "$model_url" --region "$region"
}

step_role() {
  step_header role "execution role $role_name"
  render sagemaker-trust.json
  run aws iam create-role --role-name "$role_name" \
    --assume-role-policy-document "file://$out_dir/sagemaker-trust.json"
  render sagemaker-s3.json
  run aws iam put-role-policy --role-name "$role_name" --policy-name "$role_policy_name" \
    --policy-document "file://$out_dir/sagemaker-s3.json"
  run aws iam wait role-exists --role-name "$role_name"
}

step_model() {
  step_header model "SageMaker model $model_name"
  render model.json
  run aws sagemaker create-model --cli-input-json "file://$out_dir/model.json" --region "$region"
}

step_endpoint_config() {
  step_header endpoint-config "endpoint config $endpoint_config_name"
  render "$config_template"
  run aws sagemaker create-endpoint-config --cli-input-json "file://$out_dir/$config_template" \
    --region "$region"
}

step_endpoint() {
  step_header endpoint "endpoint $endpoint_name (billing starts here)"
  run aws sagemaker create-endpoint --endpoint-name "$endpoint_name" \
    --endpoint-config-name "$endpoint_config_name" --region "$region"
}

step_wait() {
  step_header wait "until $endpoint_name is InService"
  run aws sagemaker wait endpoint-in-service --endpoint-name "$endpoint_name" --region "$region"
  run aws sagemaker describe-endpoint --endpoint-name "$endpoint_name" \
    --query EndpointStatus --output text --region "$region"
}

step_invoke() {
  step_header invoke "the README's request"
  run aws sagemaker-runtime invoke-endpoint --endpoint-name "$endpoint_name" \
    --content-type application/json --accept application/json \
    --cli-binary-format raw-in-base64-out --body '{"user_id": "u001", "k": 3}' \
    --region "$region" "$out_dir/response.json"
  run cat "$out_dir/response.json"
}

step_batch_transform() {
  step_header batch-transform "job $transform_job_name over s3://$bucket/$s3_prefix/batch-input/"
  if [ -n "$batch_input" ]; then
    $dry_run || [ -f "$batch_input" ] || die "--batch-input $batch_input does not exist"
    run aws s3 cp "$batch_input" "s3://$bucket/$s3_prefix/batch-input/$(basename "$batch_input")" \
      --content-type application/jsonlines --region "$region"
  fi
  render transform-job.json
  run aws sagemaker create-transform-job --cli-input-json "file://$out_dir/transform-job.json" \
    --region "$region"
  run aws sagemaker wait transform-job-completed-or-stopped \
    --transform-job-name "$transform_job_name" --region "$region"
  run aws sagemaker describe-transform-job --transform-job-name "$transform_job_name" \
    --query TransformJobStatus --output text --region "$region"
  run aws s3 cp "s3://$bucket/$s3_prefix/batch-output/" "$out_dir/batch-output/" --recursive \
    --region "$region"
}

step_train() {
  step_header train "multi-instance training job $training_job_name on the shards of $train_dir"
  local shards=()
  if ! $dry_run; then
    [ -f "$train_dir/ratings-shards.json" ] && [ -f "$train_dir/mappings.bin" ] \
      || die "$train_dir has no ratings-shards.json and mappings.bin (run vr-features --shards N --dir $train_dir)"
  fi
  mapfile -t shards < <(cd "$train_dir" 2>/dev/null && ls ratings-*-of-*.csv 2>/dev/null)
  [ ${#shards[@]} -gt 0 ] || shards=("ratings-00000-of-00002.csv" "ratings-00001-of-00002.csv")
  local shard
  for shard in "${shards[@]}"; do
    run aws s3 cp "$train_dir/$shard" "s3://$bucket/$s3_prefix/training/shards/$shard" --region "$region"
  done
  for shard in mappings.bin ratings-shards.json; do
    run aws s3 cp "$train_dir/$shard" "s3://$bucket/$s3_prefix/training/mappings/$shard" --region "$region"
  done
  render training-job.json
  run aws sagemaker create-training-job --cli-input-json "file://$out_dir/training-job.json" --region "$region"
  run aws sagemaker wait training-job-completed-or-stopped --training-job-name "$training_job_name" \
    --region "$region"
  run aws sagemaker describe-training-job --training-job-name "$training_job_name" \
    --query '[TrainingJobStatus, FailureReason]' --output text --region "$region"
  run aws s3 cp "s3://$bucket/$s3_prefix/training/output/$training_job_name/output/model.tar.gz" \
    "$out_dir/model.tar.gz" --region "$region"
}

step_cleanup() {
  step_header cleanup "delete the endpoint, its config and the model"
  run aws sagemaker delete-endpoint --endpoint-name "$endpoint_name" --region "$region"
  run aws sagemaker wait endpoint-deleted --endpoint-name "$endpoint_name" --region "$region"
  run aws sagemaker delete-endpoint-config --endpoint-config-name "$endpoint_config_name" \
    --region "$region"
  run aws sagemaker delete-model --model-name "$model_name" --region "$region"
}

step_render() {
  step_header render "the filled-in JSON files in $out_dir"
  local template
  for template in model.json endpoint-config.json endpoint-config-serverless.json \
                  sagemaker-trust.json sagemaker-s3.json transform-job.json training-job.json; do
    render "$template"
  done
}

if $dry_run; then
  printf '# sagemaker-deploy dry run: nothing below is executed\n'
fi
for step in "${steps[@]}"; do
  "step_${step//-/_}"
done
