#!/usr/bin/env bash
# `make lint`: static checks of the container and deployment files.
#   - docker/Dockerfile with dockerfilelint (npm package, pinned, run through npx; Debian
#     has no hadolint package);
#   - the container and SageMaker shell scripts with shellcheck (Debian's package, installed
#     here if missing);
#   - every sagemaker/*.json parses.
# Exit status: 0 clean, 1 findings.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root" || exit 1
status=0

echo "lint: dockerfilelint docker/Dockerfile"
npx --yes dockerfilelint@1.8.0 docker/Dockerfile || status=1

if ! command -v shellcheck >/dev/null; then
  scripts/install-deps.sh shellcheck || { echo "lint: cannot install shellcheck" >&2; exit 1; }
fi
shell_scripts=(docker/entrypoint.sh docker/train.sh scripts/sagemaker-deploy.sh
               scripts/container-test.sh scripts/podman-base.sh scripts/package-test.sh scripts/lint.sh
               packaging/vr-serve-start packaging/vr-pipeline-start packaging/postinst packaging/prerm packaging/postrm
               tests/e2e/sagemaker_files.sh tests/e2e/sagemaker_deploy_dry_run.sh
               tests/e2e/container.sh tests/e2e/container_scripts.sh tests/e2e/package.sh)
echo "lint: shellcheck ${shell_scripts[*]}"
shellcheck -x "${shell_scripts[@]}" || status=1

echo "lint: sagemaker/*.json parse"
for file in sagemaker/*.json; do
  python3 -m json.tool "$file" >/dev/null || { echo "lint: $file is not valid JSON"; status=1; }
done

[ $status -eq 0 ] && echo "lint: clean"
exit $status
