#!/usr/bin/env bash
# docs/client.md's examples, run as they stand against the real vr-serve (the model trained on
# data/ by this test): every ```bash and ```python block, in order, with VR_URL pointing at the
# server. The AWS CLI and boto3 examples run as a dry run: stand-ins for `aws` (on PATH) and
# the `boto3` module (on PYTHONPATH) check the call's shape as SageMaker's runtime API takes it
# and pass the body to the same server, so the example's request is what vr-serve answers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/serve.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${VR_BIN_DIR:-$repo_root/build/bin}"
require_built vr-serve vr-features vr-train
serve_test_work_dir
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

"$bin/vr-features" "$repo_root/data/interactions.csv" --dir "$work/model" 2>/dev/null
"$bin/vr-train" --dir "$work/model" --quiet
start_vr_serve "$work/serve.log" --model-dir "$work/model" --no-access-log
export VR_URL="http://127.0.0.1:$port"

# --- Stand-ins for the AWS CLI and boto3 -------------------------------------------------------
mkdir -p "$work/fake-bin" "$work/fake-python/boto3"
cat > "$work/fake-bin/aws" <<'FAKE'
#!/usr/bin/env python3
"""Stand-in for `aws sagemaker-runtime invoke-endpoint`: checks the arguments as AWS CLI v2
reads them, sends the body to $VR_URL/invocations, writes the answer to the output file."""
import json, os, sys, urllib.error, urllib.request
args = sys.argv[1:]
assert args[:2] == ["sagemaker-runtime", "invoke-endpoint"], args
options, rest = {}, args[2:]
while rest and rest[0].startswith("--"):
    options[rest[0]] = rest[1]; rest = rest[2:]
assert len(rest) == 1, f"one output file expected, got {rest}"
assert options.get("--endpoint-name"), "--endpoint-name is required"
assert "--body" in options, "--body is required"
# AWS CLI v2 base64-decodes --body unless told the text is raw.
assert options.get("--cli-binary-format") == "raw-in-base64-out", "AWS CLI v2 needs --cli-binary-format raw-in-base64-out"
content_type = options.get("--content-type", "application/octet-stream")
request = urllib.request.Request(os.environ["VR_URL"] + "/invocations", data=options["--body"].encode(),
                                 headers={"Content-Type": content_type, "Accept": options.get("--accept", "*/*")})
try:
    with urllib.request.urlopen(request) as response:
        body, answer_type = response.read(), response.headers["Content-Type"]
except urllib.error.HTTPError as error:
    sys.exit(f"An error occurred (ModelError) when calling the InvokeEndpoint operation: Received client error ({error.code}) from primary with message \"{error.read().decode()}\"")
open(rest[0], "wb").write(body)
print(json.dumps({"ContentType": answer_type, "InvokedProductionVariant": "AllTraffic"}, indent=4))
FAKE
chmod +x "$work/fake-bin/aws"
cat > "$work/fake-python/boto3/__init__.py" <<'FAKE'
"""Stand-in for boto3's sagemaker-runtime client: invoke_endpoint with the parameters the real
API takes, answered by $VR_URL/invocations."""
import io, os, urllib.error, urllib.request


class ModelError(Exception):
    pass


class _Exceptions:
    ModelError = ModelError


class _Runtime:
    exceptions = _Exceptions

    def invoke_endpoint(self, *, EndpointName, Body, ContentType="application/octet-stream", Accept="*/*", **other):
        allowed = {"CustomAttributes", "TargetModel", "TargetVariant", "TargetContainerHostname", "InferenceId",
                   "EnableExplanations", "InferenceComponentName", "SessionId"}
        assert set(other) <= allowed, f"unknown parameters {set(other) - allowed}"
        data = Body.encode() if isinstance(Body, str) else Body
        request = urllib.request.Request(os.environ["VR_URL"] + "/invocations", data=data,
                                         headers={"Content-Type": ContentType, "Accept": Accept})
        try:
            with urllib.request.urlopen(request) as response:
                return {"Body": io.BytesIO(response.read()), "ContentType": response.headers["Content-Type"],
                        "InvokedProductionVariant": "AllTraffic"}
        except urllib.error.HTTPError as error:
            raise ModelError(f"Received client error ({error.code}) from primary with message \"{error.read().decode()}\"")


def client(service_name, **kwargs):
    assert service_name == "sagemaker-runtime", service_name
    return _Runtime()
FAKE

# --- The examples, in order ----------------------------------------------------------------------
python3 - "$repo_root/docs/client.md" "$work/blocks" <<'PY'
import os, re, sys
text, out = open(sys.argv[1]).read(), sys.argv[2]
os.makedirs(out)
for index, (language, code) in enumerate(re.findall(r"```(bash|python)\n(.*?)```", text, re.S)):
    open(f"{out}/{index:02d}.{'sh' if language == 'bash' else 'py'}", "w").write(code)
PY
blocks=("$work"/blocks/*)
[ ${#blocks[@]} -eq 5 ] || fail "expected 5 examples in docs/client.md, found ${#blocks[@]}"
cd "$work"
for block in "${blocks[@]}"; do
  name="$(basename "$block")"
  if [[ "$block" == *.sh ]]; then
    output="$(PATH="$work/fake-bin:$PATH" bash -euo pipefail "$block" 2>&1)" || { fail "$name exits non-zero: $output"; continue; }
  else
    output="$(PYTHONPATH="$work/fake-python" python3 "$block" 2>&1)" || { fail "$name exits non-zero: $output"; continue; }
  fi
  printf -- '--- %s\n%s\n' "$name" "$output"
  first_line="$(head -n 1 "$block")"
  case "$name:$(tr '\n' ' ' < "$block")" in
    *aws\ sagemaker-runtime*)
      python3 -c 'import json, sys; doc = json.load(open("answer.json")); assert doc["userId"] == "u001" and len(doc["recommendations"]) == 3, doc' \
        && ok "$name: AWS CLI example (dry run) answers u001 with 3 videos" || fail "$name: AWS CLI answer.json" ;;
    *boto3*)
      python3 -c 'import ast, sys; ids = ast.literal_eval(sys.argv[1].strip().splitlines()[-1]); assert len(ids) == 3 and all(i.startswith("v") for i in ids), ids' "$output" \
        && ok "$name: boto3 example (dry run) prints 3 video ids" || fail "$name: boto3 output" ;;
    *jsonlines*)
      python3 -c 'import json, sys; lines = [json.loads(l) for l in sys.argv[1].strip().splitlines()]; assert len(lines) == 2 and lines[0]["userId"] == "u001" and lines[1]["similarTo"] == "v003", lines' "$output" \
        && ok "$name: JSON Lines example answers two lines" || fail "$name: JSON Lines output" ;;
    *urllib*)
      lines="$(wc -l <<< "$output")"
      [ "$lines" -ge 3 ] && grep -q "because of v00" <<< "$output" && grep -qF "vr-serve answered 404: User 'no-such-user' not found" <<< "$output" \
        && ok "$name: Python example prints explained recommendations and the 404" || fail "$name: Python output" ;;
    *curl*)
      grep -q '{"status":"ok"}' <<< "$output" && grep -q '"userId":"u001"' <<< "$output" \
        && ok "$name: curl example answers /ping and /invocations" || fail "$name: curl output" ;;
    *) fail "$name: no check for this example ($first_line)" ;;
  esac
done

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "client docs: every example ran"
