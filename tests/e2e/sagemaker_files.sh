#!/usr/bin/env bash
# sagemaker/*.json carry what the SageMaker contract requires
# (../shared/reference/sagemaker-contract.md): they parse, have the required fields, names,
# ARN and image-URI shapes, instance types and serverless ranges; only the known
# placeholders appear, and `sagemaker-deploy.sh render` fills every one of them in.
set -euo pipefail
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$repo_root/scripts/sagemaker-deploy.sh" render --out "$out" \
  --account-id 123456789012 --region eu-west-1 --bucket vr-models-test --image-tag 0.1.0 >/dev/null

python3 - "$repo_root" "$out" <<'PYTHON'
import json, pathlib, re, sys

root, rendered = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
templates = root / "sagemaker"
script = (root / "scripts" / "sagemaker-deploy.sh").read_text()
passed = failed = 0

def check(description, condition):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {description}")
    else:
        failed += 1
        print(f"FAIL {description}")

def script_name(variable):
    match = re.search(rf'^{variable}="([^"]+)"', script, re.M)
    return match.group(1) if match else None

files = ["model.json", "endpoint-config.json", "endpoint-config-serverless.json",
         "sagemaker-trust.json", "sagemaker-s3.json", "transform-job.json"]
docs = {}
for name in files:
    try:
        docs[name] = json.loads((templates / name).read_text())
        check(f"{name} parses", True)
    except Exception as error:  # noqa: BLE001 - any failure is the finding
        check(f"{name} parses ({error})", False)
if len(docs) != len(files):
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)

allowed = {"<account-id>", "<region>", "<bucket>", "<image-tag>", "<transform-job-name>"}
for name in files:
    used = set(re.findall(r"<[a-z-]+>", (templates / name).read_text()))
    check(f"{name}: only known placeholders ({sorted(used)})", used <= allowed)
    text = (rendered / name).read_text()
    check(f"{name}: render leaves no placeholder", not re.search(r"<[a-z-]+>", text))
    check(f"{name}: rendered file parses", bool(json.loads(text)))

name_pattern = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker resource names

# CreateModel
model = docs["model.json"]
rendered_model = json.loads((rendered / "model.json").read_text())
check("model.json: ModelName is a SageMaker name", name_pattern.match(model.get("ModelName", "")))
container = model.get("PrimaryContainer", {})
check("model.json: PrimaryContainer has Image, ModelDataUrl, Environment",
      {"Image", "ModelDataUrl", "Environment"} <= container.keys())
check("model.json: Image is <account-id>.dkr.ecr.<region>.amazonaws.com/REPO:<image-tag>",
      re.fullmatch(r"<account-id>\.dkr\.ecr\.<region>\.amazonaws\.com/[a-z0-9._/-]+:<image-tag>",
                   container.get("Image", "")))
check("model.json: Image repository is the one the script creates",
      container.get("Image", "").split("/", 1)[-1].split(":")[0] == script_name("repository_name"))
check("model.json: rendered Image is a real ECR image URI",
      re.fullmatch(r"\d{12}\.dkr\.ecr\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com/[a-z0-9._/-]+:[\w.-]{1,128}",
                   rendered_model["PrimaryContainer"]["Image"]))
check("model.json: ModelDataUrl is s3://<bucket>/....tar.gz",
      re.fullmatch(r"s3://<bucket>/[\w./-]+\.tar\.gz", container.get("ModelDataUrl", "")))
check("model.json: ModelDataUrl is where `upload` puts model.tar.gz",
      container.get("ModelDataUrl") == "s3://<bucket>/" + script_name("s3_prefix") + "/model.tar.gz")
environment = container.get("Environment", {})
check("model.json: Environment maps strings to strings",
      isinstance(environment, dict) and all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in environment.items()))
role_arn = model.get("ExecutionRoleArn", "")
check("model.json: ExecutionRoleArn is arn:aws:iam::<account-id>:role/NAME",
      re.fullmatch(r"arn:aws:iam::<account-id>:role/[\w+=,.@-]{1,64}", role_arn))
check("model.json: the role is the one the script creates",
      role_arn.rsplit("/", 1)[-1] == script_name("role_name"))
check("model.json: rendered ExecutionRoleArn has a 12-digit account",
      re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", rendered_model["ExecutionRoleArn"]))
check("model.json: ModelName is the one the script deletes",
      model.get("ModelName") == script_name("model_name"))

# CreateEndpointConfig, instance-based
config = docs["endpoint-config.json"]
check("endpoint-config.json: EndpointConfigName is a SageMaker name",
      name_pattern.match(config.get("EndpointConfigName", "")))
variants = config.get("ProductionVariants", [])
check("endpoint-config.json: one or more ProductionVariants", isinstance(variants, list) and variants)
for variant in variants:
    check("endpoint-config.json: variant has VariantName, ModelName, InitialInstanceCount, "
          "InstanceType, InitialVariantWeight",
          {"VariantName", "ModelName", "InitialInstanceCount", "InstanceType",
           "InitialVariantWeight"} <= variant.keys())
    check("endpoint-config.json: VariantName is a SageMaker name",
          name_pattern.match(variant.get("VariantName", "")))
    check("endpoint-config.json: variant serves model.json's model",
          variant.get("ModelName") == model["ModelName"])
    check("endpoint-config.json: InitialInstanceCount is an integer >= 1",
          isinstance(variant.get("InitialInstanceCount"), int) and variant["InitialInstanceCount"] >= 1)
    check("endpoint-config.json: InstanceType is ml.FAMILY.SIZE (e.g. ml.t2.medium)",
          re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", variant.get("InstanceType", "")))
    check("endpoint-config.json: InitialVariantWeight is a number >= 0",
          isinstance(variant.get("InitialVariantWeight"), (int, float)) and variant["InitialVariantWeight"] >= 0)

# CreateEndpointConfig, serverless
serverless = docs["endpoint-config-serverless.json"]
check("endpoint-config-serverless.json: EndpointConfigName is a SageMaker name, not the instance one's",
      name_pattern.match(serverless.get("EndpointConfigName", ""))
      and serverless["EndpointConfigName"] != config["EndpointConfigName"])
for variant in serverless.get("ProductionVariants", []) or [{}]:
    limits = variant.get("ServerlessConfig", {})
    check("endpoint-config-serverless.json: variant serves model.json's model",
          variant.get("ModelName") == model["ModelName"] and name_pattern.match(variant.get("VariantName", "")))
    check("endpoint-config-serverless.json: no InstanceType or count on a serverless variant",
          "InstanceType" not in variant and "InitialInstanceCount" not in variant)
    memory = limits.get("MemorySizeInMB")
    check("endpoint-config-serverless.json: MemorySizeInMB in 1024..6144, a multiple of 1024",
          isinstance(memory, int) and 1024 <= memory <= 6144 and memory % 1024 == 0)
    concurrency = limits.get("MaxConcurrency")
    check("endpoint-config-serverless.json: MaxConcurrency in 1..200",
          isinstance(concurrency, int) and 1 <= concurrency <= 200)

# IAM trust policy
trust = docs["sagemaker-trust.json"]
check("sagemaker-trust.json: Version 2012-10-17", trust.get("Version") == "2012-10-17")
check("sagemaker-trust.json: lets sagemaker.amazonaws.com call sts:AssumeRole",
      any(s.get("Effect") == "Allow" and s.get("Action") in ("sts:AssumeRole", ["sts:AssumeRole"])
          and s.get("Principal", {}).get("Service") in ("sagemaker.amazonaws.com", ["sagemaker.amazonaws.com"])
          for s in trust.get("Statement", [])))

# IAM access policy
policy = docs["sagemaker-s3.json"]
check("sagemaker-s3.json: Version 2012-10-17", policy.get("Version") == "2012-10-17")
def allowed_on(action):
    resources = []
    for statement in policy.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and action in actions:
            found = statement.get("Resource", [])
            resources += [found] if isinstance(found, str) else found
    return resources
check("sagemaker-s3.json: s3:GetObject on the bucket's objects",
      "arn:aws:s3:::<bucket>/*" in allowed_on("s3:GetObject"))
check("sagemaker-s3.json: s3:ListBucket on the bucket", "arn:aws:s3:::<bucket>" in allowed_on("s3:ListBucket"))
for action in ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
               "ecr:BatchGetImage", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
               "logs:DescribeLogStreams", "cloudwatch:PutMetricData"]:
    check(f"sagemaker-s3.json: allows {action}", bool(allowed_on(action)))
check("sagemaker-s3.json: batch output writable where transform-job.json writes",
      any(docs["transform-job.json"]["TransformOutput"]["S3OutputPath"].replace("s3://", "arn:aws:s3:::")
          + "*" == resource for resource in allowed_on("s3:PutObject")))

# CreateTransformJob
job = docs["transform-job.json"]
check("transform-job.json: runs model.json's model", job.get("ModelName") == model["ModelName"])
check("transform-job.json: JSON Lines in, SplitType=Line",
      job["TransformInput"].get("ContentType") == "application/jsonlines"
      and job["TransformInput"].get("SplitType") == "Line")
check("transform-job.json: JSON Lines out, AssembleWith=Line",
      job["TransformOutput"].get("Accept") == "application/jsonlines"
      and job["TransformOutput"].get("AssembleWith") == "Line")
check("transform-job.json: BatchStrategy SINGLE_RECORD or MULTI_RECORD, MaxPayloadInMB 1..100",
      job.get("BatchStrategy") in ("SINGLE_RECORD", "MULTI_RECORD") and 1 <= job.get("MaxPayloadInMB", 0) <= 100)
check("transform-job.json: input and output under s3://<bucket>/",
      job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].startswith("s3://<bucket>/")
      and job["TransformOutput"]["S3OutputPath"].startswith("s3://<bucket>/"))
check("transform-job.json: InstanceType is ml.FAMILY.SIZE, count >= 1",
      re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", job["TransformResources"].get("InstanceType", ""))
      and job["TransformResources"].get("InstanceCount", 0) >= 1)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PYTHON
