#!/usr/bin/env bash
# Catalog rules (videos.csv: hidden, availability windows, categories) through the real
# binaries:
#   vr-recommend: every mode (--user, --history, --similar exact and ANN, --users, --all-users,
#     --explain, --unknown-user popular) with --catalog answers exactly as with --exclude of the
#     same videos and never returns one of them, although each is some user's best video; a
#     header-only catalog answers byte for byte as no catalog; --now decides windows;
#     --category / --exclude-category against a hand-computed rule; bad files name file, line
#     and field.
#   vr-serve: single, instances and JSON Lines bodies, fold-in, similar_to, explain, popular and
#     the precomputed table (filtered at look-up, scored when it cannot fill k) never return a
#     hidden video and answer as "exclude" does; without a catalog the answers are unchanged;
#     categories / exclude_categories / fields and their 422s; a takedown reloaded from the file
#     and on SIGHUP under load with zero failed requests; a broken file is rejected and the old
#     catalog kept; /metrics shows the catalog's version, size and hidden count; a model reload
#     binds the catalog to the new model and reports how it fits.
# Environment: VR_BIN_DIR. Skips (77) without the tools, curl or python3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/serve.sh"

bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
require_built vr-serve vr-recommend vr-features vr-train vr-generate vr-index
command -v python3 >/dev/null || skip "python3 missing"
command -v curl >/dev/null || skip "curl missing"

work=$(mktemp -d)
cleanup() {
  for pid_file in "$work"/*.pid; do
    [[ -f $pid_file ]] && kill -TERM "$(cat "$pid_file")" 2>/dev/null || true
  done
  sleep 0.2
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

"$bin/vr-generate" --users 300 --videos 400 --events 9000 --seed 7 -o events.csv 2>/dev/null
"$bin/vr-features" events.csv --dir model 2>/dev/null
"$bin/vr-train" --dir model --factors 8 --iterations 5 --quiet 2>/dev/null
"$bin/vr-index" --dir model --threads 1 2>/dev/null

fail() { echo "FAILED: $*" >&2; exit 1; }
recommend() { "$bin/vr-recommend" --dir model "$@"; }

# Every user's best video (k = 1), hidden; plus two videos out of their window at --now.
recommend --all-users -k 1 --format csv | tail -n +2 | cut -d, -f3 | sort -u >best.txt
[[ $(wc -l <best.txt) -ge 5 ]] || fail "expected several distinct best videos"
python3 - <<'PY'
import csv
best = [line.strip() for line in open("best.txt")]
videos = sorted({row["video_id"] for row in csv.DictReader(open("events.csv"))})
others = [v for v in videos if v not in best]
with open("videos.csv", "w") as out:
    out.write("video_id,title,categories,available_from,available_to,hidden,language\n")
    for v in best:
        out.write(f"{v},Title of {v},hidden-ones,,,true,en\n")
    # Expired at --now 2026-12-01, and not yet available.
    out.write(f"{others[0]},Old,,,2026-06-01T00:00:00Z,false,fr\n")
    out.write(f"{others[1]},Soon,,2027-01-01,,false,fr\n")
    out.write("not-in-the-model,Ghost,,,,false,en\n")
with open("left_out.txt", "w") as out:
    out.write("\n".join(best + others[:2]) + "\n")
# Categories by the number in the id: "even" or "odd", and "tens" for multiples of ten.
with open("categories.csv", "w") as out:
    out.write("video_id,categories\n")
    for v in videos:
        n = int(v.lstrip("v"))
        out.write(f"{v},{'even' if n % 2 == 0 else 'odd'}{'|tens' if n % 10 == 0 else ''}\n")
PY
left_out=$(paste -sd, left_out.txt)
now=2026-12-01T00:00:00Z
user=$(recommend --all-users -k 1 --format csv | sed -n 2p | cut -d, -f1)
video=$(head -1 best.txt)
history="$video,$(sed -n 2p best.txt),$(tail -1 left_out.txt)"
cut -d, -f1 events.csv | tail -n +2 | sort -u | head -50 >users.txt
echo "someone-new" >>users.txt

# --- vr-recommend: each mode with the catalog = the same mode with --exclude -------------------
check_mode() {
  local with without
  with=$(recommend --catalog videos.csv --now "$now" "$@" --unknown-user popular 2>catalog.err) || { cat catalog.err; fail "vr-recommend $* --catalog"; }
  without=$(recommend --exclude "$left_out" "$@" --unknown-user popular) || fail "vr-recommend $* --exclude"
  [[ "$with" == "$without" ]] || fail "vr-recommend $*: --catalog differs from --exclude of the same videos"
  while read -r id; do
    if grep -qw -- "$id" <<<"$(sed 's/"because": *\[[^]]*\]//g' <<<"$with")"; then
      # an explanation may name a hidden watched video; a recommendation may not
      fail "vr-recommend $*: returned left-out video $id"
    fi
  done <left_out.txt
  grep -q "lists 1 videos the model does not know" catalog.err || fail "the unknown catalog id is not reported"
}
check_mode --user "$user" -k 10
check_mode --user "$user" -k 5 --explain --format json
check_mode --user someone-new -k 10
check_mode --history "$history" -k 10
check_mode --similar "$video" -k 10 --retrieval exact
check_mode --similar "$video" -k 10 --retrieval ann
check_mode --similar "$(sed -n 3p best.txt)" -k 390 --retrieval ann
check_mode --users users.txt -k 8
check_mode --all-users -k 8 --threads 2
check_mode --all-users -k 8 --format csv --scan full

# A catalog that leaves nothing out answers byte for byte as no catalog.
echo "video_id" >empty.csv
for mode in "--user $user" "--similar $video" "--all-users" "--history $history --explain"; do
  # shellcheck disable=SC2086
  [[ "$(recommend $mode -k 7 --catalog empty.csv)" == "$(recommend $mode -k 7)" ]] || fail "header-only catalog changed $mode"
done

# --now decides the windows: before 2026-06-01 the first of them is available again.
early=$(recommend --all-users -k 400 --catalog videos.csv --now 2026-01-01)
expired=$(sed -n "$(($(wc -l <best.txt) + 1))p" left_out.txt)
grep -q "\"$expired\"" <<<"$early" || fail "$expired is inside its window at 2026-01-01 but was never recommended"
grep -q "\"$expired\"" <<<"$(recommend --all-users -k 400 --catalog videos.csv --now $now)" && fail "$expired recommended after its window"

# Categories against the rule that made them.
python3 - "$bin" <<'PY'
import json, subprocess, sys
bin = sys.argv[1]
def run(*args):
    out = subprocess.run([f"{bin}/vr-recommend", "--dir", "model", "--all-users", "-k", "12", "--format", "csv", *args],
                         check=True, capture_output=True, text=True).stdout
    return [line.split(",") for line in out.splitlines()[1:]]
num = lambda v: int(v.lstrip("v"))
videos = sorted({line.split(",")[1] for line in open("events.csv").read().splitlines()[1:]})
cases = [
    (["--category", "even"], lambda n: n % 2 == 0),
    (["--category", "tens,odd"], lambda n: n % 2 == 1 or n % 10 == 0),
    (["--exclude-category", "odd"], lambda n: n % 2 == 0),
    (["--category", "even", "--exclude-category", "tens"], lambda n: n % 2 == 0 and n % 10 != 0),
]
for args, keep in cases:
    got = run("--catalog", "categories.csv", *args)
    expected = run("--exclude", ",".join(v for v in videos if not keep(num(v))))
    assert got == expected, f"{args}: differs from the hand-computed exclusion"
    assert all(keep(num(row[2])) for row in got), f"{args}: a video outside the filter"
assert run("--catalog", "categories.csv", "--category", "no-such-category") == [], "an unknown category matched"
PY
recommend --user "$user" --category even >/dev/null 2>err.txt && fail "--category without --catalog accepted"
grep -q "need --catalog" err.txt || fail "--category without --catalog: no clear error"

# Bad files: file, line and field, exit 1.
printf 'video_id,hidden\nv1,true\nv2,perhaps\n' >bad.csv
set +e
recommend --user "$user" --catalog bad.csv 2>err.txt; code=$?
set -e
[[ $code == 1 ]] || fail "a broken catalog exited $code"
grep -q "bad.csv:3: field hidden: 'perhaps'" err.txt || { cat err.txt; fail "no file:line: field in the error"; }
recommend --user "$user" --catalog videos.csv --now yesterday >/dev/null 2>err.txt && fail "--now yesterday accepted"

# --- vr-serve ------------------------------------------------------------------------------------
# Starts vr-serve with the given options; echoes the port. Log in $1.log, process id in $1.pid.
# (Run as $(start_server ...): the server's stdout goes to $1.out, not to the caller's pipe.)
start_server() {
  local name=$1
  shift
  start_vr_serve "$name.log" --model-dir model --threads 2 --io-threads 8 "$@" >"$name.out"
  echo "$server_pid" >"$name.pid"
  echo "$port"
}
# Waits until a server's precomputed table is ready.
wait_table() {
  for _ in $(seq 1 400); do
    curl -fs "http://127.0.0.1:$1/metrics" | grep -q '^vr_precomputed_ready 1' && return 0
    sleep 0.05
  done
  fail "the precomputed table of port $1 never became ready"
}
cp videos.csv served.csv
plain=$(start_server plain --unknown-user popular --precompute-k 10)
catalog=$(start_server catalog --unknown-user popular --precompute-k 10 --catalog served.csv --catalog-watch-interval 0.2)
wait_table "$plain"
wait_table "$catalog"
# With --precompute-k 10 and each user's best hidden, k = 3 is answered from the rows (filtered)
# and k = 10 cannot be (a full row lost its best video): both paths are exercised.
python3 - "$plain" "$catalog" <<'PY'
import json, sys, urllib.request, urllib.error
plain, catalog = sys.argv[1], sys.argv[2]
left_out = [line.strip() for line in open("left_out.txt") if line.strip()]
users = [line.strip() for line in open("users.txt")]
best = [line.strip() for line in open("best.txt")]

def post(port, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=data,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)

def returned(answer):
    if "predictions" in answer:
        return [v for p in answer["predictions"] for v in returned(p)]
    return [r["videoId"] for r in answer.get("recommendations", [])]

requests = []
for user in users:
    requests.append({"user_id": user, "k": 3})   # plain: the table, filtered, or scored
    requests.append({"user_id": user, "k": 10})  # the row lost a video: scored
requests += [{"user_id": users[0], "k": 5, "explain": True},
             {"history": best[:3], "k": 10},
             {"user_id": users[1], "history": best[3:5], "k": 10},
             {"similar_to": best[0], "k": 10},
             {"similar_to": users and best[-1], "k": 390},
             {"user_id": "nobody-knows", "k": 10}]
sources = set()
for request in requests:
    status, body, headers = post(catalog, request)
    assert status == 200, (request, status, body)
    answer = json.loads(body)
    bad = set(returned(answer)) & set(left_out)
    assert not bad, f"{request} returned hidden or out-of-window {bad}"
    # The same request with "exclude" on the server without a catalog gives the same answer.
    excluded = dict(request, exclude=left_out)
    status2, body2, _ = post(plain, excluded)
    assert status2 == 200 and json.loads(body2) == answer, f"{request}: catalog answer differs from exclude"
    assert headers.get("X-Catalog-Version"), "no X-Catalog-Version header"

# Batches: instances and JSON Lines, same rule.
status, body, _ = post(catalog, {"instances": requests})
assert status == 200
for prediction, request in zip(json.loads(body)["predictions"], requests):
    assert not set(returned(prediction)) & set(left_out), request
lines = "\n".join(json.dumps(r) for r in requests).encode()
status, body, _ = post(catalog, lines, "application/jsonlines")
assert status == 200
answers = [json.loads(line) for line in body.decode().splitlines()]
assert len(answers) == len(requests)
for answer in answers:
    assert not set(returned(answer)) & set(left_out)

# The table answered some plain requests and scoring the rest (metrics by source).
metrics = urllib.request.urlopen(f"http://127.0.0.1:{catalog}/metrics").read().decode()
def metric(name):
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} missing from /metrics")
assert metric('vr_invocation_answers_total{source="precomputed"}') > 0, "no plain request came from the table"
assert metric("vr_catalog_hidden_videos") == len(best)
assert metric("vr_catalog_videos") == len(best) + 3
assert metric("vr_catalog_unknown_videos") == 1
assert 'vr_catalog_info{version="' in metrics

# Without a catalog nothing changes: a plain request answers as before (and fields/categories
# have their documented no-catalog meaning).
status, body, headers = post(plain, {"user_id": users[0], "k": 3})
assert "X-Catalog-Version" not in headers and "vr_catalog" not in urllib.request.urlopen(
    f"http://127.0.0.1:{plain}/metrics").read().decode()
assert json.loads(post(plain, {"user_id": users[0], "categories": ["even"]})[1])["recommendations"] == []

# Filters and fields.
status, body, _ = post(catalog, {"user_id": users[0], "k": 5, "categories": ["hidden-ones"]})
assert status == 200 and json.loads(body)["recommendations"] == [], "hidden videos came back through a category"
status, body, _ = post(catalog, {"user_id": users[0], "k": 5, "fields": ["title", "categories"]})
for item in json.loads(body)["recommendations"]:
    assert list(item) == ["videoId", "score", "title", "categories"], item
status, body, _ = post(catalog, {"user_id": users[0], "k": 5})
for item in json.loads(body)["recommendations"]:
    assert list(item) == ["videoId", "score"], item
for bad, loc in [({"user_id": users[0], "categories": "travel"}, ["body", "categories"]),
                 ({"user_id": users[0], "exclude_categories": [1]}, ["body", "exclude_categories", 0]),
                 ({"user_id": users[0], "fields": ["title", "rating"]}, ["body", "fields", 1])]:
    status, body, _ = post(catalog, bad)
    assert status == 422, (bad, status)
    assert json.loads(body)["detail"][0]["loc"] == loc, body
print("vr-serve answers checked:", len(requests), "requests")
PY

# Documented in /openapi.json.
curl -fs "http://127.0.0.1:$catalog/openapi.json" | python3 -c '
import json, sys
props = json.load(sys.stdin)["components"]["schemas"]["InvocationRequest"]["properties"]
assert {"categories", "exclude_categories", "fields"} <= set(props), props.keys()'

# --- live updates: takedowns under load, a broken file, SIGHUP ----------------------------------
python3 - "$catalog" "$(cat catalog.pid)" <<'PY'
import json, os, signal, sys, threading, time, urllib.request, urllib.error
port, pid = sys.argv[1], int(sys.argv[2])
users = [line.strip() for line in open("users.txt")][:40]
failures, answered = [], [0]
stop = threading.Event()

def post(body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()), response.headers["X-Catalog-Version"]

def load():
    i = 0
    while not stop.is_set():
        try:
            post({"user_id": users[i % len(users)], "k": 5})
            answered[0] += 1
        except Exception as error:  # any failed request fails the test
            failures.append(repr(error))
        i += 1

def write_catalog(text):
    with open("served.csv.tmp", "w") as out:
        out.write(text)
    os.replace("served.csv.tmp", "served.csv")

def metrics():
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()

threads = [threading.Thread(target=load) for _ in range(4)]
for thread in threads:
    thread.start()
try:
    base = open("videos.csv").read()
    for round in range(3):
        # Take down the video user 0 now gets first; it must disappear within the watch interval.
        answer, version = post({"user_id": users[0], "k": 1})
        target = answer["recommendations"][0]["videoId"]
        base += f"{target},Taken down,,,,true,en\n"
        started = time.monotonic()
        write_catalog(base)
        while True:
            answer, new_version = post({"user_id": users[0], "k": 5})
            if target not in [r["videoId"] for r in answer["recommendations"]]:
                break
            assert time.monotonic() - started < 5, f"{target} still recommended 5 s after the takedown"
            time.sleep(0.01)
        assert new_version != version
        print(f"takedown {round}: {target} gone after {time.monotonic() - started:.3f} s")
    # A broken file: rejected, logged, the old catalog keeps answering.
    answer, version = post({"user_id": users[0], "k": 5})
    write_catalog("video_id,hidden\nv1,sometimes\n")
    deadline = time.monotonic() + 5
    while 'vr_catalog_reloads_total{result="failed"} 1' not in metrics():
        assert time.monotonic() < deadline, "the broken catalog was never reported"
        time.sleep(0.05)
    again, same_version = post({"user_id": users[0], "k": 5})
    assert same_version == version and again == answer, "the broken catalog replaced the old one"
    # Catalog changes never reloaded the model.
    assert '"event":"model_reloaded"' not in open("catalog.log").read(), "a catalog change reloaded the model"
    # SIGHUP reloads whatever the file holds now.
    write_catalog(base)
    time.sleep(0.5)
    ok_before = [l for l in metrics().splitlines() if l.startswith('vr_catalog_reloads_total{result="ok"}')][0]
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while [l for l in metrics().splitlines() if l.startswith('vr_catalog_reloads_total{result="ok"}')][0] == ok_before:
        assert time.monotonic() < deadline, "SIGHUP did not reload the catalog"
        time.sleep(0.05)
finally:
    stop.set()
    for thread in threads:
        thread.join()
assert not failures, f"{len(failures)} requests failed during reloads: {failures[:3]}"
assert answered[0] > 50, answered[0]
print("requests answered during reloads:", answered[0], "failed: 0")
PY
grep '"event":"catalog_reload_failed"' catalog.log | grep -q 'served.csv:2: field hidden' ||
  { cat catalog.log >&2; fail "the broken catalog's error was not logged"; }
# A model reload binds the catalog to the new model before publishing it: the reload's log line
# says how the catalog fits the new model, and a model that knows none of its videos is
# reported then (here the new model's ids are renamed v -> w).
sed 's/,v\([0-9]\)/,w\1/' events.csv >renamed.csv
"$bin/vr-features" renamed.csv --dir renamed 2>/dev/null
"$bin/vr-train" --dir renamed --factors 8 --iterations 5 --quiet 2>/dev/null
ln -s model current
cp videos.csv swap.csv
"$bin/vr-serve" --model-dir current --host 127.0.0.1 --port 0 --threads 2 --catalog swap.csv --watch-interval 0.2 \
  --precompute-k 0 >swap.out 2>swap.log &
echo $! >swap.pid
for _ in $(seq 1 400); do grep -q '"event":"model_loaded"' swap.log && break; sleep 0.05; done
grep '"event":"model_loaded"' swap.log | grep -q '"catalog_unknown_videos":1' ||
  { cat swap.log >&2; fail "the first model's load line does not say how the catalog fits it"; }
ln -s renamed current.new && mv -T current.new current
for _ in $(seq 1 400); do grep -q '"event":"model_reloaded"' swap.log && break; sleep 0.05; done
grep '"event":"model_reloaded"' swap.log | grep -q '"catalog_listed_videos":0' ||
  { cat swap.log >&2; fail "the reload's log line does not say the catalog lists none of the new model's videos"; }
grep -q '"event":"catalog_matches_no_model_video"' swap.log ||
  { cat swap.log >&2; fail "a catalog that fits none of the new model's videos was not reported at reload"; }
kill -TERM "$(cat swap.pid)"
wait "$(cat swap.pid)" 2>/dev/null || true
rm -f swap.pid
echo "catalog: all checks passed"
