#!/usr/bin/env bash
# vr-serve's request limits, through the real binary on loopback ports:
#   1. more slow clients than --io-threads (heads trickled, bodies trickled) while /ping must
#      answer at once, and each slow request cut with 408 at its total deadline (--read-timeout)
#      although it sends a byte every 0.3 s (a per-recv timeout would never cut it);
#   2. --max-headers / --max-header-kb: 431 with a JSON detail at the limit, 200 under it;
#   3. the work budget: 10,000 explained instances with k = 1000 -> 413 at once, and
#      --max-request-items;
#   4. {"userId": ...} as an alias of user_id, and both with different values -> 422;
#   5. /metrics names the model directory without its absolute path;
#   6. SAGEMAKER_* environment values get the flags' range checks.
# Environment: VR_BIN_DIR. Skips (77) without the tools or python3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/serve.sh"

bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
require_built vr-serve vr-features vr-train vr-generate
command -v python3 >/dev/null || skip "python3 missing"

serve_test_work_dir
cd "$work"

"$bin/vr-generate" --users 300 --videos 200 --events 6000 --seed 5 -o events.csv 2>/dev/null
"$bin/vr-features" events.csv --dir model 2>/dev/null
"$bin/vr-train" --dir model --factors 8 --iterations 3 --quiet 2>/dev/null
user=$(sed -n '2p' events.csv | cut -d, -f1)
other_user=$(awk -F, -v user="$user" 'NR > 1 && $1 != user { print $1; exit }' events.csv)

# Starts vr-serve on the model with the given options; sets server_pid and port.
start_server() { start_vr_serve server.log --model-dir model "$@"; }
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || { echo "vr-serve exited with $? after SIGTERM" >&2; exit 1; }
  server_pid=""
}

# 2 threads answer requests; every request must arrive within 3 s; at most 200,000
# recommendations per request (the explained ones keep their default, 100,000).
start_server --io-threads 2 --read-timeout 3 --max-headers 5 --max-header-kb 2 --max-request-items 200000
python3 - "$port" "$user" "$other_user" "$work/model" <<'PY'
import json, os, select, socket, sys, threading, time

port, user, other_user, model_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
failures = []

def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if detail else ""), flush=True)
    if not condition:
        failures.append(name)

def read_answer(s):
    """(status, body) of one answer on socket s, or (None, reason)."""
    data = b""
    try:
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    return int(data.split(b" ", 2)[1]), body[:length[0]]
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as error:
        return None, str(error)
    return None, f"incomplete answer {data[:80]!r}"

def request(raw, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        return read_answer(s)
    except OSError as error:
        return None, str(error)
    finally:
        s.close()

def post(body, content_type="application/json"):
    return request((f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)

def ping():
    started = time.monotonic()
    status, body = request(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
    return status, body, time.monotonic() - started

timeout_detail = {"detail": "Request timeout: the request did not arrive within 3 s"}

# --- 1. Slow clients: 4 trickling their head, 4 trickling their body, against 2 threads. -----
results = {}
def trickle(name, prefix, endless):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    started = time.monotonic()
    answered = None
    try:
        s.sendall(prefix)
        # A byte every 0.3 s, for far longer than the 3 s deadline, until an answer comes.
        for _ in range(40):
            if select.select([s], [], [], 0.3)[0]:
                answered = time.monotonic() - started
                break
            s.sendall(endless)
    except OSError:
        pass
    results[name] = (read_answer(s), answered)
    s.close()
slow = []
for i in range(4):
    slow.append(threading.Thread(target=trickle, args=(f"head{i}", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a")))
    body_head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    slow.append(threading.Thread(target=trickle, args=(f"body{i}", body_head + b"[", b" ")))
for t in slow: t.start()
time.sleep(1.0)  # every slow client is connected and sending
probes = [ping() for _ in range(5)]
worst = max(seconds for _, _, seconds in probes)
check("8 slow clients on 2 threads: /ping answers 200 at once", all(s == 200 and json.loads(b) == {"status": "ok"}
      for s, b, _ in probes) and worst < 1.0, f"statuses {[s for s, _, _ in probes]}, worst {worst:.3f} s")
for t in slow: t.join()
for name in sorted(results):
    (status, body), seconds = results[name]
    check(f"slow client {name}: 408 with its JSON detail at the 3 s deadline",
          status == 408 and json.loads(body) == timeout_detail and seconds is not None and 2.9 < seconds < 4.0,
          f"status {status}, body {body!r}, after {seconds} s")
status, body, seconds = ping()
check("after the slow clients, /ping answers 200", status == 200, f"status {status}")

# --- 2. Header limits (--max-headers 5, --max-header-kb 2). ---------------------------------
def get_with_headers(count, size=8):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * size) for i in range(count - 2))
    return request(b"GET /ping HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
status, body = get_with_headers(5)
check("5 headers (the limit) are answered 200", status == 200, f"status {status} {body!r}")
status, body = get_with_headers(6)
check("6 headers over --max-headers 5: 431 with a JSON detail", status == 431 and json.loads(body) ==
      {"detail": "Request header fields too large: more than 5 headers"}, f"status {status} {body!r}")
status, body = get_with_headers(5, 700)
check("a 2.1 KiB head over --max-header-kb 2: 431 with a JSON detail", status == 431 and json.loads(body) ==
      {"detail": "Request header fields too large: the request head is larger than 2048 bytes"}, f"status {status} {body!r}")

# --- 3. The work budget. ---------------------------------------------------------------------
amplifier = json.dumps({"instances": [{"user_id": user, "k": 1000, "explain": True}] * 10000}).encode()
started = time.monotonic()
status, body = post(amplifier)
seconds = time.monotonic() - started
check("10,000 explained instances with k = 1000: 413 with its JSON detail, at once",
      status == 413 and json.loads(body) == {"detail": "Request asks for too much work: more than 100000 explained "
      "recommendations in total (the sum of k over its requests with explain); split it"} and seconds < 5,
      f"status {status} {body[:200]!r} after {seconds:.2f} s")
lines = "".join(json.dumps({"user_id": user, "k": 1000}) + "\n" for _ in range(201)).encode()
status, body = post(lines, "application/jsonlines")
check("201 JSON lines with k = 1000: 413 (more than --max-request-items 200000)",
      status == 413 and json.loads(body) == {"detail": "Request asks for too much work: more than 200000 "
      "recommendations in total (the sum of k over its requests); split it"}, f"status {status} {body[:200]!r}")
status, body = post(json.dumps({"instances": [{"user_id": user, "k": 10, "explain": True}] * 100}).encode())
check("100 explained instances with k = 10 are answered", status == 200 and
      len(json.loads(body)["predictions"]) == 100, f"status {status}")

# --- 4. userId. -------------------------------------------------------------------------------
status, alias_body = post(json.dumps({"userId": user, "k": 3}).encode())
status_plain, plain_body = post(json.dumps({"user_id": user, "k": 3}).encode())
check("{\"userId\": ...} is answered as {\"user_id\": ...}", status == 200 and alias_body == plain_body and
      json.loads(alias_body)["userId"] == user, f"status {status} {alias_body[:120]!r}")
status, body = post(json.dumps({"user_id": user, "userId": other_user}).encode())
check("user_id and userId naming different users: 422", status == 422 and json.loads(body) == {"detail": [
      {"type": "value_error", "loc": ["body", "userId"], "msg": "Value error, user_id and userId name different users",
       "input": other_user}]}, f"status {status} {body!r}")
status, body = post(json.dumps({"user_id": user, "userId": user, "k": 3}).encode())
check("user_id and userId naming the same user: answered", status == 200 and body == plain_body, f"status {status}")
status, body = request(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
spec = json.loads(body)
check("/openapi.json documents userId", "userId" in spec["components"]["schemas"]["InvocationRequest"]["properties"])

# --- 5. /metrics. ------------------------------------------------------------------------------
status, body = request(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
absolute = os.path.realpath(model_dir).encode()
check("/metrics names the model directory without its absolute path",
      status == 200 and b'directory="model"' in body and absolute not in body, f"status {status}")

print(f"server_limits: {len(failures)} failures")
sys.exit(1 if failures else 0)
PY
stop_server

# --- 6. SAGEMAKER_* values are checked as the flags are. ------------------------------------------
status=0
expect_refused() {  # expect_refused NAME=VALUE MESSAGE
  local output code=0
  output=$(env "$1" "$bin/vr-serve" --model-dir model --host 127.0.0.1 --port 0 2>&1 >/dev/null) || code=$?
  if [[ $code -ne 0 && $code -ne 1 && $output == *"$2"* ]]; then
    echo "ok   $1 is refused (exit $code): $output" | head -n 1
  else
    echo "FAIL $1: exit $code, expected a flag error containing '$2': $output" >&2
    status=1
  fi
}
expect_refused SAGEMAKER_BIND_TO_PORT=70000 "SAGEMAKER_BIND_TO_PORT: value 70000 is out of range: it must be from 0 to 65535"
expect_refused SAGEMAKER_BIND_TO_PORT=http "SAGEMAKER_BIND_TO_PORT: value http is not a whole number"
expect_refused SAGEMAKER_MAX_PAYLOAD_IN_MB=0 "SAGEMAKER_MAX_PAYLOAD_IN_MB: value 0 is out of range: it must be from 1 to 100"
expect_refused SAGEMAKER_MAX_PAYLOAD_IN_MB=101 "SAGEMAKER_MAX_PAYLOAD_IN_MB: value 101 is out of range: it must be from 1 to 100"
expect_refused SAGEMAKER_MAX_CONCURRENT_TRANSFORMS=0 "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: value 0 is out of range: it must be from 1 to 4096"
expect_refused SAGEMAKER_BATCH_STRATEGY=EVERYTHING "SAGEMAKER_BATCH_STRATEGY: EVERYTHING not in {SINGLE_RECORD,MULTI_RECORD}"

# Values in range are used.
SAGEMAKER_MAX_PAYLOAD_IN_MB=2 SAGEMAKER_MAX_CONCURRENT_TRANSFORMS=3 SAGEMAKER_BATCH_STRATEGY=SINGLE_RECORD start_server
parameters=$(curl -fs "http://127.0.0.1:$port/execution-parameters")
if [[ $parameters == '{"BatchStrategy":"SINGLE_RECORD","MaxConcurrentTransforms":3,"MaxPayloadInMB":2}' ]]; then
  echo "ok   SAGEMAKER_* values in range reach /execution-parameters: $parameters"
else
  echo "FAIL /execution-parameters gave $parameters" >&2
  status=1
fi
stop_server
exit $status
