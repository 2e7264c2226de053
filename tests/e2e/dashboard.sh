#!/usr/bin/env bash
# vr-serve's dashboard (/ui) against the real server and in headless Chromium.
#   - a model made by scripts/pipeline.sh from vr-generate's data (so metadata.json holds
#     evaluation figures), titles from a CSV, one of them with markup in it;
#   - the JSON under /ui/api/: model card, live traffic (after real requests and a SIGHUP
#     reload), a user, a video; unknown and hostile ids answer 404 {"detail"}, never 500;
#     POST is 405 (read-only); no answer holds a file path;
#   - Chromium renders every panel with that data (data-ready="true", rows in each table),
#     with no script error (the page counts them, and Chromium's console log has none), no
#     request leaving 127.0.0.1 (Chromium's network log), markup in ids and titles shown as
#     text; a screenshot goes to $VR_TEST_ARTIFACTS (default: build/test-artifacts);
#   - --no-ui: /ui answers 404.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/serve.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${VR_BIN_DIR:-$repo_root/build/bin}"
artifacts="${VR_TEST_ARTIFACTS:-$bin/../test-artifacts}"
chromium=""
for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  [ -x "$candidate" ] && { chromium="$candidate"; break; }
done
[ -n "$chromium" ] || skip "chromium not found (scripts/install-deps.sh installs Debian's chromium)"

serve_test_work_dir
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# --- A model with evaluation figures, and titles ---------------------------------------------
"$bin/vr-generate" --users 300 --videos 120 --events 6000 --seed 7 -o "$work/interactions.csv" 2>/dev/null
VR_BIN_DIR="$bin" "$repo_root/scripts/pipeline.sh" --factors 8 --iterations 5 "$work/interactions.csv" "$work/models" 2>"$work/pipeline.log" \
  || { cat "$work/pipeline.log"; exit 1; }
python3 - "$work" <<'PY'
import csv, sys
work = sys.argv[1]
videos = sorted({row["video_id"] for row in csv.DictReader(open(f"{work}/interactions.csv"))})
with open(f"{work}/titles.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["video_id", "title"])
    for index, video in enumerate(videos):
        # One title carries markup: the page must show it as text.
        writer.writerow([video, f'Video <img src=x id=injected> number {index}' if index == 0 else f"Video number {index}"])
PY
user="$(sed -n 2p "$work/interactions.csv" | cut -d, -f1)"
video="$(sed -n 2p "$work/interactions.csv" | cut -d, -f2)"

start_server() {  # start_server LOG [options...]: sets server_pid and base
  local log="$1"; shift
  start_vr_serve "$log" --model-dir "$work/models/current" "$@"
  base="http://127.0.0.1:$port"
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""; }

start_server "$work/serve.log" --titles "$work/titles.csv"

# --- Traffic for the live panel: requests, a 404, a reload --------------------------------------
for _ in $(seq 40); do
  curl -sf -H 'Content-Type: application/json' -d "{\"user_id\": \"$user\", \"k\": 5}" "$base/invocations" >/dev/null
done
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"user_id": "nobody", "k": 5}' "$base/invocations"
kill -HUP "$server_pid"
for _ in $(seq 100); do grep -q '"event":"model_reloaded"' "$work/serve.log" && break; sleep 0.1; done

# --- The JSON API ----------------------------------------------------------------------------------
status_of() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
api_check() {  # api_check DESCRIPTION PATH EXPECTED_STATUS PYTHON_EXPRESSION_ON_doc
  local status
  status="$(status_of "$base$2")"
  if [ "$status" != "$3" ]; then fail "$1: status $status: $(head -c 300 "$work/body")"; return; fi
  if python3 -c 'import json, sys; doc = json.load(open(sys.argv[1])); sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$work/body" "$4"; then
    ok "$1"
  else
    fail "$1: $(head -c 400 "$work/body")"
  fi
  # Never a file path (the test's folder is in every path the server knows).
  if grep -q "$work" "$work/body"; then fail "$1: the answer holds a file path"; fi
}
api_check "model card" /ui/api/model 200 \
  'doc["kind"] == "als" and doc["hyperparameters"]["factors"] == 8 and doc["hyperparameters"]["iterations"] == 5
   and doc["data"]["users"] > 100 and doc["data"]["videos"] > 50 and doc["data"]["ratings"] > 1000
   and isinstance(doc["pipeline"]["evaluation"], dict) and doc["pipeline"]["input_name"] == "interactions.csv"
   and doc["trained_at"].endswith("Z") and len(doc["version"]) > 0'
api_check "live: /invocations counted, percentiles, errors, reload history" /ui/api/live 200 \
  'any(r["route"] == "/invocations" and r["requests"] >= 41 and r["client_errors"] >= 1 and r["p99_ms"] is not None
       and r["per_second"] > 0 for r in doc["routes"])
   and [e["trigger"] for e in doc["reloads"]][-1] == "start-up" and doc["reloads"][0]["trigger"] == "SIGHUP"
   and len(doc["series"]) == 30 and sum(s["requests"] for s in doc["series"]) >= 41'
api_check "user: history with titles, recommendations with explanations" "/ui/api/user?id=$user&k=5" 200 \
  'doc["user_id"] == "'"$user"'" and doc["history_total"] >= 1 and doc["history"][0]["title"].startswith("Video ")
   and len(doc["recommendations"]) == 5 and all(r["because"] and r["title"] for r in doc["recommendations"])
   and not {r["video_id"] for r in doc["recommendations"]} & {h["video_id"] for h in doc["history"]}'
api_check "video: similar videos and how often recommended" "/ui/api/video?id=$video&k=5" 200 \
  'doc["video_id"] == "'"$video"'" and len(doc["similar"]) == 5 and all(s["video_id"] != "'"$video"'" for s in doc["similar"])
   and doc["recommended"]["of_users"] > 100 and 0 <= doc["recommended"]["users"] <= doc["recommended"]["of_users"] and doc["recommended"]["depth"] == 20'
api_check "unknown user: 404 with a detail" "/ui/api/user?id=nobody" 404 'doc["detail"] == "User '"'"'nobody'"'"' not found"'
api_check "unknown video: 404 with a detail" "/ui/api/video?id=%3Cscript%3E" 404 'doc["detail"] == "Video '"'"'<script>'"'"' not found"'
api_check "no id: 422 with a detail" "/ui/api/user" 422 '"detail" in doc'
api_check "bad k: 422 with a detail" "/ui/api/user?id=$user&k=0" 422 '"detail" in doc'
api_check "invalid UTF-8 id: 404, not 500" "/ui/api/user?id=%FF%FE" 404 '"detail" in doc'
status="$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '' "$base/ui/api/user?id=$user")"
[ "$status" = 405 ] && ok "POST is refused (405): read-only" || fail "POST /ui/api/user answered $status"
headers="$(curl -s -D - -o /dev/null "$base/ui")"
grep -qi "^content-security-policy: default-src 'none'" <<< "$headers" && ok "/ui sets a Content-Security-Policy" \
  || fail "/ui has no Content-Security-Policy header"

# --- Headless Chromium ----------------------------------------------------------------------------
# Chromium's autofill would send the page's form signatures to Google's autofill server (a
# browser feature, not the page's doing): turned off so the network log holds the page's own.
chrome() {  # chrome PROFILE NETLOG ARGS...: every host name but 127.0.0.1 unresolvable
  local profile="$1" netlog="$2"; shift 2
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-default-apps --disable-extensions \
    --disable-features=AutofillServerCommunication \
    --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --user-data-dir="$profile" \
    --log-net-log="$netlog" --enable-logging=stderr --v=0 --virtual-time-budget=10000 "$@"
}
page_url="$base/ui#user=$user&video=$video"
chrome "$work/profile" "$work/netlog.json" --dump-dom "$page_url" >"$work/dom.html" 2>"$work/chrome.log" \
  || { tail -n 20 "$work/chrome.log"; fail "chromium --dump-dom failed"; }
python3 - "$work/dom.html" "$user" "$video" <<'PY' && ok "every panel rendered with data, markup shown as text" || fail "panels (DOM above)"
import re, sys
dom, user, video = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
problems = []
for panel in ("model-card", "live", "user", "video"):
    if not re.search(rf'<section id="{panel}"[^>]*data-ready="true"', dom):
        problems.append(f"panel {panel} not rendered")
def section(name):
    match = re.search(rf'<section id="{name}".*?</section>', dom, re.S)
    return match.group(0) if match else ""
checks = {
    "model card shows kind and factors": "<dd>als</dd>" in section("model-card") and "<dt>factors</dt>" in section("model-card"),
    "model card shows evaluation figures": '<table id="evaluation">' in section("model-card"),
    "live table has /invocations": 'data-route="/invocations"' in section("live"),
    "live chart has bars": section("live").count('class="bar"') >= 30,
    "reload history lists SIGHUP and start-up": "SIGHUP" in section("live") and "start-up" in section("live"),
    "user history and recommendations": 'class="history"' in section("user") and 'class="recommendations"' in section("user"),
    "because-you-watched shown": section("user").count('class="because"') >= 5,
    "user's titles shown": "Video number" in section("user"),
    "similar videos shown": 'class="similar"' in section("video") and "In the top" in section("video"),
    "status serving": 'data-state="ready"' in dom,
    "no script errors": "data-script-errors" not in dom and 'id="script-errors" class="error" hidden' in dom,
    "markup in a title is text": 'id="injected"' not in dom,
}
problems += [name for name, passed in checks.items() if not passed]
if problems:
    print("\n".join(problems)); print(dom[:3000]); sys.exit(1)
PY
if grep -E "Uncaught|Refused to|ERROR:CONSOLE" "$work/chrome.log" | grep -v "ERROR:bus\|dbus\|gpu" ; then
  fail "Chromium logged script errors or blocked loads (above)"
else
  ok "Chromium's console log has no script error or blocked load"
fi
# Chromium's network log: every request the page made (its initiator, or its network isolation
# key, is the page's site) went to this server. (Chromium also tries its own services, such as
# update checks, with no page behind them; the resolver rule above leaves them unresolvable.)
python3 - "$work/netlog.json" "$base" <<'PY' && ok "every request of the page stayed on 127.0.0.1" || fail "the page's requests left loopback"
import json, sys
log, base = json.load(open(sys.argv[1])), sys.argv[2]
names = {value: name for name, value in log["constants"]["logEventTypes"].items()}
page_urls = []
for event in log["events"]:
    params = event.get("params", {})
    if names[event["type"]] != "URL_REQUEST_START_JOB" or "url" not in params:
        continue
    if params.get("initiator", "").startswith("http://127.0.0.1") or "127.0.0.1" in params.get("network_isolation_key", ""):
        page_urls.append(params["url"])
outside = sorted({url for url in page_urls if not url.startswith(base + "/")})
if outside or not any(url.startswith(base + "/ui/api/") for url in page_urls):
    print("outside:", outside, "page requests:", sorted(set(page_urls))); sys.exit(1)
print(f"{len(page_urls)} requests, all to {base}")
PY

# Hostile ids typed into the address: a message, as text.
hostile='%3Cimg%20src%3Dx%20id%3Dhostile%3E'
chrome "$work/profile2" "$work/netlog2.json" --dump-dom "$base/ui#user=$hostile&video=$hostile" >"$work/dom2.html" 2>/dev/null || true
if grep -q 'No user &lt;img src=x id=hostile&gt; in this model.' "$work/dom2.html" \
   && grep -q 'No video &lt;img src=x id=hostile&gt; in this model.' "$work/dom2.html" && ! grep -q 'id="hostile"' "$work/dom2.html"; then
  ok "unknown, hostile ids show a message, escaped"
else
  fail "hostile ids: $(grep -o 'class="message"[^<]*' "$work/dom2.html" | head -3)"
fi

mkdir -p "$artifacts"
chrome "$work/profile3" "$work/netlog3.json" --hide-scrollbars --window-size=1400,2400 \
  --screenshot="$artifacts/dashboard.png" "$page_url" >/dev/null 2>&1 || true
if [ "$(stat -c %s "$artifacts/dashboard.png" 2>/dev/null || echo 0)" -gt 20000 ]; then
  ok "screenshot saved: $(cd "$artifacts" && pwd)/dashboard.png"
else
  fail "no screenshot in $artifacts"
fi
stop_server

# --- --no-ui ------------------------------------------------------------------------------------
start_server "$work/serve-no-ui.log" --no-ui
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/ui")"
[ "$status" = 404 ] && ok "--no-ui: /ui answers 404" || fail "--no-ui: /ui answered $status"
stop_server

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "dashboard: all checks passed"
