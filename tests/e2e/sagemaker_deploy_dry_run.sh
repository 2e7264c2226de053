#!/usr/bin/env bash
# shellcheck disable=SC2016  # bash -c '...' snippets take their values as "$1"...
# scripts/sagemaker-deploy.sh: the dry run of `all` prints the README's whole deployment in
# order with every placeholder filled in and runs nothing; without --dry-run the same calls
# are made (against stand-in aws and docker commands that record them); a missing setting
# is an error naming it; `package` makes a model.tar.gz that unpacks into a model dir
# vr-serve loads (that last part is skipped, visibly, while vr-serve is not built).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin_dir="${VR_BIN_DIR:-$repo_root/build/bin}"
deploy="$repo_root/scripts/sagemaker-deploy.sh"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { local description="$1"; shift; if "$@"; then ok "$description"; else not_ok "$description"; fi; }

# Stand-ins for aws and docker: they record each call; the existence checks answer "no".
mkdir -p "$work/fake-bin"
for tool in aws docker; do
  cat > "$work/fake-bin/$tool" <<FAKE
#!/usr/bin/env bash
# docker login reads the password to its end before the call is recorded: aws comes first.
[ "\$1" = login ] && cat > /dev/null
printf '%s\n' "$tool \$*" >> "$work/calls.log"
case "\$*" in
  "ecr describe-repositories"*|"s3api head-bucket"*) exit 254 ;;
  "ecr get-login-password"*) echo fake-password ;;
  "sagemaker-runtime invoke-endpoint"*) for last; do :; done; echo '{"userId": "u001"}' > "\$last" ;;
esac
exit 0
FAKE
  chmod +x "$work/fake-bin/$tool"
done
export PATH="$work/fake-bin:$PATH"
: > "$work/calls.log"

settings=(AWS_ACCOUNT_ID=123456789012 AWS_REGION=us-east-1 VR_BUCKET=vr-models-test VR_IMAGE_TAG=0.1.0)
run_deploy() { env "${settings[@]}" "$deploy" --out "$work/out" "$@"; }

# --- Dry run of all --------------------------------------------------------------------------
if run_deploy --dry-run all > "$work/dry.txt" 2> "$work/dry.err"; then
  ok "dry run of all exits 0"
else
  not_ok "dry run of all exits 0: $(cat "$work/dry.err")"
fi
check "dry run runs no aws or docker command" test ! -s "$work/calls.log"
check "dry run leaves no placeholder" bash -c '! grep -n "<[a-z-]*>" "$1"' _ "$work/dry.txt"
grep -v -e '^#' -e '^$' "$work/dry.txt" > "$work/dry.commands"

expected=(
  '^aws ecr describe-repositories --repository-names video-recommender-api --region us-east-1$'
  '^aws ecr create-repository --repository-name video-recommender-api --image-scanning-configuration scanOnPush=true --region us-east-1$'
  '^aws ecr put-image-scanning-configuration --repository-name video-recommender-api --image-scanning-configuration scanOnPush=true --region us-east-1$'
  '^aws ecr get-login-password --region us-east-1 \| docker login --username AWS --password-stdin 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com$'
  '^docker buildx build --platform linux/amd64 --output=type=docker -f \S+/docker/Dockerfile -t video-recommender-api:0\.1\.0 \S+$'
  "^docker inspect video-recommender-api:0\.1\.0 --format '\{\{\.Architecture\}\}'$"
  '^docker tag video-recommender-api:0\.1\.0 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/video-recommender-api:0\.1\.0$'
  '^docker push 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/video-recommender-api:0\.1\.0$'
  '^tar -C artifacts .* ratings\.csv mappings\.bin als_model\.bin \| gzip -n > \S+/model\.tar\.gz$'
  '^aws s3api head-bucket --bucket vr-models-test --region us-east-1$'
  '^aws s3 mb s3://vr-models-test --region us-east-1$'
  '^aws s3 cp \S+/model\.tar\.gz s3://vr-models-test/video-recommender/model\.tar\.gz --region us-east-1$'
  '^aws iam create-role --role-name video-recommender-sagemaker-role --assume-role-policy-document file://\S+/sagemaker-trust\.json$'
  '^aws iam put-role-policy --role-name video-recommender-sagemaker-role --policy-name \S+ --policy-document file://\S+/sagemaker-s3\.json$'
  '^aws iam wait role-exists --role-name video-recommender-sagemaker-role$'
  '^aws sagemaker create-model --cli-input-json file://\S+/model\.json --region us-east-1$'
  '^aws sagemaker create-endpoint-config --cli-input-json file://\S+/endpoint-config\.json --region us-east-1$'
  '^aws sagemaker create-endpoint --endpoint-name video-recommender-endpoint --endpoint-config-name video-recommender-config --region us-east-1$'
  '^aws sagemaker wait endpoint-in-service --endpoint-name video-recommender-endpoint --region us-east-1$'
  '^aws sagemaker describe-endpoint --endpoint-name video-recommender-endpoint --query EndpointStatus --output text --region us-east-1$'
  "^aws sagemaker-runtime invoke-endpoint --endpoint-name video-recommender-endpoint --content-type application/json --accept application/json --cli-binary-format raw-in-base64-out --body '\{\"user_id\": \"u001\", \"k\": 3\}' --region us-east-1 \S+/response\.json$"
  '^cat \S+/response\.json$'
)
mapfile -t printed < "$work/dry.commands"
if [ ${#printed[@]} -eq ${#expected[@]} ]; then
  ok "dry run prints ${#expected[@]} commands"
else
  not_ok "dry run prints ${#expected[@]} commands, not ${#printed[@]}"
fi
for i in "${!expected[@]}"; do
  if [[ "${printed[$i]:-}" =~ ${expected[$i]} ]]; then
    ok "command $((i + 1)): ${printed[$i]:0:90}"
  else
    not_ok "command $((i + 1)) should match ${expected[$i]}, got: ${printed[$i]:-nothing}"
  fi
done

# The JSON shown is the filled-in file: the model's image and role point at the account.
check "dry run shows the filled-in model.json" python3 - "$work/dry.txt" <<'PYTHON'
import json, re, sys
text = open(sys.argv[1]).read()
block = re.search(r"^# \S+/model\.json \(from sagemaker/model\.json\):\n((?:#   .*\n)+)", text, re.M)
model = json.loads("".join(line[4:] + "\n" for line in block.group(1).splitlines()))
assert model["PrimaryContainer"]["Image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/video-recommender-api:0.1.0"
assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://vr-models-test/video-recommender/model.tar.gz"
assert model["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/video-recommender-sagemaker-role"
PYTHON

# --- The real run makes the same calls ------------------------------------------------------
mkdir -p "$work/model"
printf 'user_idx,video_idx,rating\n' > "$work/model/ratings.csv"
: > "$work/model/mappings.bin"; : > "$work/model/als_model.bin"
: > "$work/calls.log"
if run_deploy --model-dir "$work/model" all > "$work/real.txt" 2>&1; then
  ok "run of all (stand-in aws/docker) exits 0"
else
  not_ok "run of all exits 0: $(tail -n 3 "$work/real.txt")"
fi
grep -v -e '^tar ' -e '^cat ' -e '| docker login' "$work/dry.commands" \
  | sed "s|^tar -C artifacts|tar -C $work/model|" > "$work/expected-calls"
# The login pipeline is two calls; the stand-ins see arguments unquoted.
sed -e "s/'{{.Architecture}}'/{{.Architecture}}/" -e "s/--body '\(.*\)'/--body \1/" "$work/expected-calls" \
  | awk '/^docker buildx/ && !done { print "aws ecr get-login-password --region us-east-1";
                                    print "docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com"; done = 1 }
         { print }' > "$work/expected-calls.2"
check "the real run makes the dry run's calls, in order" diff "$work/expected-calls.2" "$work/calls.log"
check "the real run packaged model.tar.gz" test -s "$work/out/model.tar.gz"

# --- Flags, --serverless, batch transform, cleanup --------------------------------------------
out="$(run_deploy --dry-run --region eu-west-1 --image-tag v2 build tag 2>&1)"
check "flags override the environment" grep -q 'eu-west-1.amazonaws.com/video-recommender-api:v2' <<< "$out"
out="$(run_deploy --dry-run --serverless endpoint-config endpoint 2>&1)"
check "--serverless uses endpoint-config-serverless.json" \
  grep -q 'create-endpoint-config --cli-input-json file://\S*/endpoint-config-serverless.json' <<< "$out"
check "--serverless endpoint uses the serverless config name" \
  grep -q -- '--endpoint-config-name video-recommender-serverless-config' <<< "$out"
out="$(run_deploy --dry-run --batch-input users.jsonl batch-transform 2>&1)"
check "batch-transform uploads the JSON Lines input" \
  grep -q '^aws s3 cp users.jsonl s3://vr-models-test/video-recommender/batch-input/users.jsonl --content-type application/jsonlines' <<< "$out"
check "batch-transform creates the job, SplitType=Line" \
  bash -c 'grep -q "^aws sagemaker create-transform-job --cli-input-json file://" <<< "$1" && grep -q "\"SplitType\": \"Line\"" <<< "$1"' _ "$out"
check "batch-transform waits and fetches the output" \
  bash -c 'grep -q "wait transform-job-completed-or-stopped" <<< "$1" && grep -q "s3://vr-models-test/video-recommender/batch-output/ .* --recursive" <<< "$1"' _ "$out"
check "batch-transform leaves no placeholder" bash -c '! grep -q "<[a-z-]*>" <<< "$1"' _ "$out"
mkdir -p "$work/shards"
for file in ratings-00000-of-00002.csv ratings-00001-of-00002.csv mappings.bin ratings-shards.json; do
  : > "$work/shards/$file"
done
out="$(run_deploy --dry-run --train-dir "$work/shards" train 2>&1)"
check "train uploads each shard under training/shards/ (ShardedByS3Key)" \
  bash -c 'for i in 0 1; do grep -q "^aws s3 cp \S*/ratings-0000$i-of-00002.csv s3://vr-models-test/video-recommender/training/shards/ratings-0000$i-of-00002.csv" <<< "$1" || exit 1; done' _ "$out"
check "train uploads mappings.bin and the manifest under training/mappings/" \
  bash -c 'grep -q "s3://vr-models-test/video-recommender/training/mappings/mappings.bin" <<< "$1" && grep -q "training/mappings/ratings-shards.json" <<< "$1"' _ "$out"
check "train creates a 2-instance job, shards ShardedByS3Key, mappings FullyReplicated" \
  bash -c 'grep -q "^aws sagemaker create-training-job --cli-input-json file://" <<< "$1" && grep -q "\"InstanceCount\": 2" <<< "$1" && grep -q "\"S3DataDistributionType\": \"ShardedByS3Key\"" <<< "$1" && grep -q "\"S3DataDistributionType\": \"FullyReplicated\"" <<< "$1"' _ "$out"
check "train waits, reports the status and fetches model.tar.gz" \
  bash -c 'grep -q "wait training-job-completed-or-stopped --training-job-name video-recommender-train-" <<< "$1" && grep -q "describe-training-job" <<< "$1" && grep -q "output/model.tar.gz" <<< "$1"' _ "$out"
check "train leaves no placeholder" bash -c '! grep -q "<[a-z-]*>" <<< "$1"' _ "$out"
status=0; out="$(run_deploy --train-dir "$work/nothing-here" train 2>&1)" || status=$?
check "train without shards is an error naming the folder" \
  bash -c '[ "$1" -ne 0 ] && grep -q "nothing-here has no ratings-shards.json" <<< "$2"' _ "$status" "$out"
out="$(run_deploy --dry-run cleanup 2>&1 | grep '^aws' | awk '{print $3}' | tr '\n' ' ')"
check "cleanup deletes endpoint, endpoint config, model in that order" \
  test "$out" = "delete-endpoint wait delete-endpoint-config delete-model "

# --- Missing or invalid settings ---------------------------------------------------------------
for variable in AWS_ACCOUNT_ID AWS_REGION VR_BUCKET VR_IMAGE_TAG; do
  others=()
  for setting in "${settings[@]}"; do [[ "$setting" == "$variable="* ]] || others+=("$setting"); done
  status=0
  out="$(env -u "$variable" "${others[@]}" "$deploy" --dry-run --out "$work/out" all 2>&1)" || status=$?
  check "missing $variable: an error naming it" \
    bash -c '[ "$1" -ne 0 ] && grep -q "missing $2" <<< "$3"' _ "$status" "$variable" "$out"
done
status=0; out="$(env AWS_ACCOUNT_ID=1234 AWS_REGION=us-east-1 VR_BUCKET=b-b VR_IMAGE_TAG=x "$deploy" --dry-run model 2>&1)" || status=$?
check "an invalid account id is an error naming it" bash -c '[ "$1" -ne 0 ] && grep -q "AWS_ACCOUNT_ID .1234. is not valid" <<< "$2"' _ "$status" "$out"
status=0; out="$(env -u AWS_ACCOUNT_ID -u VR_BUCKET -u VR_IMAGE_TAG AWS_REGION=us-east-1 "$deploy" --dry-run --out "$work/out" endpoint 2>&1)" || status=$?
check "a step asks only for what it uses (endpoint: the region)" test "$status" -eq 0
status=0; out="$("$deploy" --out "$work/out" --model-dir "$work/nothing-here" package 2>&1)" || status=$?
check "package without a model dir is an error naming the file" \
  bash -c '[ "$1" -ne 0 ] && grep -q "nothing-here/ratings.csv is missing" <<< "$2"' _ "$status" "$out"

# --- package -> model.tar.gz -> a model dir vr-serve loads ------------------------------------
if [ -x "$bin_dir/vr-features" ] && [ -x "$bin_dir/vr-train" ]; then
  "$bin_dir/vr-features" "$repo_root/data/interactions.csv" --dir "$work/pipeline" 2>/dev/null
  "$bin_dir/vr-train" --dir "$work/pipeline" --quiet 2>/dev/null
  "$deploy" --out "$work/package" --model-dir "$work/pipeline" package > /dev/null
  check "package: model.tar.gz holds exactly the model dir's three files at its top" \
    test "$(tar tzf "$work/package/model.tar.gz" | sort | tr '\n' ' ')" = "als_model.bin mappings.bin ratings.csv "
  mkdir -p "$work/unpacked"
  tar xzf "$work/package/model.tar.gz" -C "$work/unpacked"
  check "package: the unpacked files equal the pipeline's" \
    bash -c 'for f in ratings.csv mappings.bin als_model.bin; do cmp -s "$1/$f" "$2/$f" || exit 1; done' _ "$work/pipeline" "$work/unpacked"
  "$deploy" --out "$work/package2" --model-dir "$work/pipeline" package > /dev/null
  check "package: the same model gives a byte-identical archive" cmp -s "$work/package/model.tar.gz" "$work/package2/model.tar.gz"
  if [ -x "$bin_dir/vr-serve" ]; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$bin_dir/vr-serve" serve --model-dir "$work/unpacked" --host 127.0.0.1 --port "$port" 2> "$work/serve.log" &
    server_pid=$!
    status=000
    for _ in $(seq 100); do
      status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/ping" || true)"
      [ "$status" = 200 ] && break
      sleep 0.1
    done
    check "package: vr-serve loads the unpacked model.tar.gz (/ping 200)" test "$status" = 200
    answer="$(curl -s --max-time 5 -H 'Content-Type: application/json' -d '{"user_id": "u001", "k": 3}' "http://127.0.0.1:$port/invocations")"
    check "package: vr-serve answers /invocations from it" \
      python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["userId"] == "u001" and len(d["recommendations"]) == 3' "$answer"
  else
    skip "vr-serve is not built in $bin_dir: model.tar.gz cannot be served"
  fi
else
  skip "vr-features/vr-train are not built in $bin_dir: the package cannot be tested on a real model"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
