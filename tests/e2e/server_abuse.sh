#!/usr/bin/env bash
# vr-serve under abuse and load: the real server on a loopback port, attacked by raw sockets
# (python3) while a watcher asks GET /ping every 100 ms. Every abuse case has its own check;
# throughout, /ping must answer 200 in under 2 s, and the server must still be running at the
# end. Then a soak: wrk against POST /invocations with valid requests, zero non-2xx allowed,
# resident memory (VmRSS) reported after warm-up and at the end.
#
# Usage: tests/e2e/server_abuse.sh [SOAK_SECONDS]   (default 10; `make reliability` uses 600)
# Environment: VR_BIN_DIR, VR_SOURCE_DIR. Skips (77) without vr-serve or python3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/serve.sh"

soak_seconds=${1:-10}
bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
source_dir=${VR_SOURCE_DIR:?VR_SOURCE_DIR not set}
require_built vr-serve vr-features vr-train vr-generate
command -v python3 >/dev/null || skip "python3 missing"

serve_test_work_dir
cd "$work"

"$bin/vr-generate" --users 2000 --videos 500 --events 40000 --seed 3 -o events.csv 2>/dev/null
"$bin/vr-features" events.csv --dir model 2>/dev/null
"$bin/vr-train" --dir model --factors 16 --iterations 5 --quiet 2>/dev/null
user=$(sed -n '2p' events.csv | cut -d, -f1)
# API docs assets for the path-traversal checks, with a file beside the folder that must never
# be served.
mkdir -p docs
printf 'body { margin: 0 }\n' > docs/swagger-ui.css
printf 'root:x:0:0:secret\n' > secret.txt

# Small body limit and keep-alive timeout so the abuse cases are quick; the default 128 connection
# threads, so that 100 idle connections leave room for /ping.
# Under AddressSanitizer (the build-asan pass) freed memory waits in a quarantine before reuse,
# 256 MB by default plus 1 MB per thread, and counts in the resident memory that the header
# floods and the soak bound: a small quarantine keeps those bounds about the server's own
# memory while recent frees are still caught. A build without ASan ignores the variable.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64" \
  start_vr_serve server.log --model-dir model --threads 2 --max-body-mb 1 --keep-alive-timeout 3 --no-access-log \
  --docs-dir "$work/docs"

python3 - "$port" "$user" "$server_pid" <<'PY'
import json, os, socket, sys, threading, time

port, user, server_pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
failures = []
ping_worst = [0.0]
ping_errors = []
stop = threading.Event()

def request(raw, timeout=10.0, read_all=True):
    """Sends raw bytes, returns (status, body) of the answer, or (None, reason)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if not read_all and b"\r\n\r\n" in data:
                break
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                break
        if not data:
            return None, "closed without an answer"
        status = int(data.split(b" ", 2)[1])
        return status, data.partition(b"\r\n\r\n")[2]
    except (ConnectionError, OSError) as error:
        return None, str(error)
    finally:
        s.close()

def post(path, body, content_type="application/json", extra=b""):
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode() + extra + b"\r\n"
    return request(head + body)

def watcher():
    while not stop.is_set():
        started = time.monotonic()
        status, body = request(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
        elapsed = time.monotonic() - started
        ping_worst[0] = max(ping_worst[0], elapsed)
        if status != 200 or elapsed >= 2.0:
            ping_errors.append(f"/ping answered {status} in {elapsed:.2f} s")
        stop.wait(0.1)

def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if detail else ""), flush=True)
    if not condition:
        failures.append(name)

threading.Thread(target=watcher, daemon=True).start()

# 1. Slow clients sending their headers a byte at a time, fewer than the connection threads.
def slow_client(results, index):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    raw = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    try:
        for byte in raw:
            s.sendall(bytes([byte]))
            time.sleep(0.05)
        data = s.recv(4096)
        results[index] = data.startswith(b"HTTP/1.1 200")
    except OSError:
        results[index] = False
    finally:
        s.close()
slow = [None] * 16
threads = [threading.Thread(target=slow_client, args=(slow, i)) for i in range(16)]
for t in threads: t.start()
for t in threads: t.join()
check("16 slow clients (headers a byte every 50 ms) are answered", all(slow), f"{sum(bool(x) for x in slow)}/16")

# 2. Checks that wait for the server's read timeout (30 s), run in the background meanwhile:
#    a client that stops part way through its headers is cut off, and a declared
#    Content-Length far over the limit gets its 413 at once, before any body is read.
timeout_results = {}
def stalled_headers():
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"GET /ping HTTP/1.1\r\nHo")
    started = time.monotonic()
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    timeout_results["stalled"] = (time.monotonic() - started, data)
    s.close()
def oversized_declaration():
    started = time.monotonic()
    status, body = request(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999\r\n"
                           b"Connection: close\r\n\r\n{}", timeout=60)
    timeout_results["declared"] = (status, time.monotonic() - started)
waiting = [threading.Thread(target=stalled_headers), threading.Thread(target=oversized_declaration)]
for t in waiting: t.start()

# 3. Many idle connections (100, below the 128 connection threads) that send nothing.
idle = []
for _ in range(100):
    try:
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        break
time.sleep(1)
status, body = request(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=10)
check(f"{len(idle)} idle connections: /ping still answers", status == 200, f"status {status}")
for c in idle: c.close()

# 4. Bodies over the limit (1 MiB): declared, and chunked without a length.
status, body = post("/invocations", b"{" + b" " * (2 << 20) + b"}")
too_large = {"detail": "Request body is larger than 1048576 bytes"}
check("a 2 MiB body: 413 JSON", status == 413 and json.loads(body) == too_large, f"status {status} {body[:200]!r}")
chunk = b" " * 65536
chunked = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(40)) + b"0\r\n\r\n"
status, body = request(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
check("a chunked 2.5 MiB body: 413 JSON", status == 413 and json.loads(body) == too_large, f"status {status} {body[:200]!r}")

# 5. Deeply nested and huge JSON.
status, body = post("/invocations", b"[" * 200000 + b"]" * 200000)
too_deep = {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error",
                        "ctx": {"error": "nested deeper than 64 levels"}}]}
check("JSON nested 200000 deep: 422 json_invalid", status == 422 and json.loads(body) == too_deep, f"status {status} {body[:200]!r}")
status, body = post("/invocations", b'{"a":' * 100000 + b"1" + b"}" * 100000)
check("objects nested 100000 deep: 422 json_invalid", status == 422 and json.loads(body) == too_deep, f"status {status} {body[:200]!r}")
huge = json.dumps({"history": [f"v{i}" for i in range(90000)], "k": 3}).encode()
status, body = post("/invocations", huge)
check(f"a {len(huge) >> 10} KiB history list of 90000 ids: 422 too_long", status == 422 and json.loads(body) == {"detail": [
      {"type": "too_long", "loc": ["body", "history"], "msg": "List should have at most 10000 items after validation, not 90000",
       "ctx": {"actual_length": 90000, "field_type": "List", "max_length": 10000}}]}, f"status {status} {body[:200]!r}")
status, body = post("/invocations", json.dumps({"user_id": "x" * 900000}).encode())
check("a 900 KB user id: 404 JSON naming it", status == 404 and json.loads(body) == {"detail": f"User '{'x' * 900000}' not found"},
      f"status {status} {body[:200]!r}")

# 6. Invalid UTF-8, and broken JSON cut inside a multi-byte character.
status, body = post("/invocations", b'{"user_id": "\xff\xfe"}')
check("invalid UTF-8: 400 JSON", status == 400 and json.loads(body) == {"detail": "There was an error parsing the body"},
      f"status {status} {body[:200]!r}")
status, body = post("/invocations", b'{"user_id": \xd1\xbd\x11')
broken = json.loads(body) if status == 422 else {}
check("JSON broken inside a UTF-8 character: 422 json_invalid at byte 12", status == 422 and len(broken["detail"]) == 1
      and broken["detail"][0]["type"] == "json_invalid" and broken["detail"][0]["loc"] == ["body", 12], f"status {status} {body[:200]!r}")
status, body = post("/invocations", b'{"user_id": "u1"}\n\xff\n{"k": 0}\n', "application/jsonlines")
check("JSON Lines with an invalid line answer every line", status == 200 and body.count(b"\n") == 3, f"status {status}")

# 7. Header floods: many headers, one huge header, a huge request line; memory stays bounded.
def peak_rss_kb():
    with open(f"/proc/{server_pid}/status") as status_file:
        return int(next(line for line in status_file if line.startswith("VmHWM:")).split()[1])
flood = b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(20000))
status, body = request(b"GET /ping HTTP/1.1\r\nHost: x\r\n" + flood + b"Connection: close\r\n\r\n")
check("20000 headers: 431 with its JSON detail", status == 431 and json.loads(body) ==
      {"detail": "Request header fields too large: more than 100 headers"}, f"status {status} {body[:200]!r}")
status, body = request(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\nConnection: close\r\n\r\n")
check("a 1 MiB header: 431 with its JSON detail", status == 431 and json.loads(body) ==
      {"detail": "Request header fields too large: a header line is longer than 8192 bytes"}, f"status {status} {body[:200]!r}")
many_small = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 700) for i in range(99))
status, body = request(b"GET /ping HTTP/1.1\r\nHost: x\r\n" + many_small + b"\r\n")
check("99 headers of 700 bytes (69 KB): 431 with its JSON detail", status == 431 and json.loads(body) ==
      {"detail": "Request header fields too large: the request head is larger than 65536 bytes"}, f"status {status} {body[:200]!r}")
status, body = request(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check("a 100 KB path: 414 with its JSON detail", status == 414 and json.loads(body) ==
      {"detail": "URI too long: the request line is longer than 8192 bytes"}, f"status {status} {body[:200]!r}")
# 16 clients at once, each sending 200,000 headers (4 MB): were they stored, the server's peak
# resident memory would grow by hundreds of MB; each is cut off at 64 KiB.
peak_before = peak_rss_kb()
huge_flood = b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Flood-%06d: v\r\n" % i for i in range(200000)) + b"\r\n"
flood_statuses = []
def flood_client():
    flood_statuses.append(request(huge_flood, timeout=20)[0])
flooders = [threading.Thread(target=flood_client) for _ in range(16)]
for t in flooders: t.start()
for t in flooders: t.join()
peak_growth = peak_rss_kb() - peak_before
check("16 x 4 MB header floods: peak memory grows by under 32 MB", peak_growth < 32 * 1024,
      f"peak RSS grew by {peak_growth} kB; answers {flood_statuses}")

# 8. Path tricks: the docs assets folder (--docs-dir) serves its own files and nothing beside
#    it (secret.txt sits next to it), every refusal as the JSON 404 of an unknown route.
status, body = request(b"GET /docs/assets/swagger-ui.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check("GET /docs/assets/swagger-ui.css -> 200 with the file", status == 200 and body == b"body { margin: 0 }\n",
      f"status {status} {body[:80]!r}")
not_found = {"detail": "Not Found"}
for path in [b"/docs/assets/../secret.txt", b"/docs/assets/../../secret.txt", b"/docs/assets/%2e%2e/secret.txt",
             b"/docs/assets/%2E%2E/%2e%2e/secret.txt", b"/docs/assets/..%2fsecret.txt", b"/docs/assets/..%2Fsecret.txt",
             b"/docs/assets/%2e%2e%2fsecret.txt", b"/docs/assets/..%5csecret.txt", b"/docs/assets/....//secret.txt",
             b"/docs/assets/.%2e/secret.txt", b"/docs/assets//../secret.txt", b"/docs/assets/%252e%252e/secret.txt",
             b"/docs/assets/swagger-ui.css/../../secret.txt", b"/docs/assets/..", b"/docs/assets/%00../secret.txt",
             b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/etc/passwd", b"/docs/../../etc/passwd",
             b"/assets/..%2f..%2f..%2fetc%2fpasswd", b"/ping%2F..%2Fetc%2Fpasswd", b"//ping/../../etc/passwd",
             b"/invocations%00", b"/%ff%fe", b"/docs/%2e%2e%2f%2e%2e%2fetc/passwd"]:
    status, body = request(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(f"GET {path.decode('latin-1')} -> 404 JSON, no file content", status == 404 and json.loads(body) == not_found,
          f"status {status} {body[:80]!r}")
status, body = request(b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check("GET * -> 404 JSON", status == 404 and json.loads(body) == not_found, f"status {status} {body[:80]!r}")

# 9. Methods other than those served.
def raw_answer(raw):
    """Everything the server sends on one connection until it closes it (at most 5 s)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    data = b""
    try:
        s.sendall(raw)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        s.close()
    return data
for method in [b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]:
    for path, allowed in [(b"/invocations", b"POST"), (b"/ping", b"GET")]:
        answer = raw_answer(method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        check(f"{method.decode()} {path.decode()} -> 405 JSON, Allow: {allowed.decode()}", answer.startswith(b"HTTP/1.1 405 ")
              and b"\r\nAllow: " + allowed + b"\r\n" in answer and answer.endswith(b'\r\n\r\n{"detail":"Method Not Allowed"}'),
              repr(answer[:300]))
# Methods the library does not route: one 400 per request, the connection closed after it
# (never a 400 for each of its header lines).
for method in [b"TRACE", b"CONNECT", b"PROPFIND", b"FOO"]:
    for path in [b"/invocations", b"/ping"]:
        answer = raw_answer(method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nX-A: 1\r\nConnection: close\r\n\r\n")
        check(f"{method.decode()} {path.decode()} -> one 400 JSON", answer.startswith(b"HTTP/1.1 400 ")
              and answer.count(b"HTTP/1.1") == 1 and answer.endswith(b'\r\n\r\n{"detail":"Bad Request"}'), repr(answer[:300]))
status, body = request(b"GET /ping HTTP/9.9\r\n\r\n")
check("HTTP/9.9 -> 400 JSON", status == 400 and json.loads(body) == {"detail": "Bad Request"}, f"status {status} {body!r}")
status, body = request(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))
check("a TLS handshake on the plain port -> 400 JSON at once", status == 400 and json.loads(body) ==
      {"detail": "Bad Request: not an HTTP/1.1 request (this port does not speak TLS)"}, f"status {status} {body!r}")

for t in waiting: t.join()
stalled_seconds, stalled_answer = timeout_results["stalled"]
stalled_body = stalled_answer.partition(b"\r\n\r\n")[2]
check("a stalled half-sent request gets 408 JSON at its 30 s deadline, then is closed",
      stalled_answer.startswith(b"HTTP/1.1 408 ") and json.loads(stalled_body or b"{}") ==
      {"detail": "Request timeout: the request did not arrive within 30 s"} and 29.5 < stalled_seconds < 32,
      f"{stalled_answer[:60]!r} after {stalled_seconds:.1f} s")
declared_status, declared_seconds = timeout_results["declared"]
check("a declared Content-Length of 10 GB is refused with 413 at once", declared_status == 413 and declared_seconds < 2,
      f"status {declared_status} after {declared_seconds:.1f} s")

# A keep-alive client declaring far too much (over 4x the limit) gets its 413 at once, and the
# connection is closed by the keep-alive timeout (3 s here) at the latest.
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 7000000\r\n\r\n" + b"{" * 1000)
answer = b""
started = time.monotonic()
first_answer = None
try:
    while time.monotonic() - started < 6:
        chunk = s.recv(65536)
        if not chunk: break
        if first_answer is None: first_answer = time.monotonic() - started
        answer += chunk
except OSError:
    pass
closed = time.monotonic() - started
s.close()
check("keep-alive: 7 MB declared -> 413 JSON at once, then the connection is closed",
      answer.startswith(b"HTTP/1.1 413") and b'"detail"' in answer and first_answer is not None
      and first_answer < 1 and closed < 5,
      f"{answer[:40]!r} after {first_answer} s, closed after {closed:.1f} s")

# The server is alive and answered /ping in under 2 s throughout.
stop.set()
time.sleep(0.3)
alive = os.path.exists(f"/proc/{server_pid}")
check("vr-serve is still running", alive)
check(f"/ping answered 200 in under 2 s throughout (worst {ping_worst[0]:.3f} s)", not ping_errors, "; ".join(ping_errors[:3]))
status, body = post("/invocations", json.dumps({"user_id": user, "k": 3}).encode())
check("a valid request still works", status == 200, f"status {status}")
print(f"server_abuse: {len(failures)} failures")
sys.exit(1 if failures else 0)
PY

# --- Soak: wrk, valid requests only. -----------------------------------------------------------
command -v wrk >/dev/null || skip "wrk not installed: the soak cannot run (scripts/install-deps.sh installs it)"
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
cat > request.lua <<EOF
wrk.method = "POST"
wrk.body = '{"user_id": "$user", "k": 10}'
wrk.headers["Content-Type"] = "application/json"
EOF
warmup=$(( soak_seconds / 10 > 2 ? soak_seconds / 10 : 2 ))
wrk -t2 -c16 -d"${warmup}s" -s request.lua "http://127.0.0.1:$port/invocations" >/dev/null
rss_start=$(rss_kb)
ping_log=$work/ping.txt
( end=$(( $(date +%s) + soak_seconds )); while (( $(date +%s) < end )); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 5 "http://127.0.0.1:$port/ping"; sleep 0.5
  done ) >"$ping_log" &
pinger=$!
wrk -t2 -c32 -d"${soak_seconds}s" --latency -s request.lua "http://127.0.0.1:$port/invocations" >wrk.txt
wait "$pinger"
rss_end=$(rss_kb)
requests=$(awk '/requests in/ { print $1 }' wrk.txt)
non2xx=$(awk '/Non-2xx/ { print $NF }' wrk.txt)
socket_errors=$(grep -o 'Socket errors:.*' wrk.txt || true)
ping_worst=$(awk '{ if ($2 > worst) worst = $2 } END { printf "%.3f", worst }' "$ping_log")
ping_bad=$(awk '$1 != 200 || $2 >= 2 { bad++ } END { print bad + 0 }' "$ping_log")
echo "soak: ${soak_seconds} s, $requests requests ($(awk '/Requests\/sec/ { print $2 }' wrk.txt)/s), non-2xx ${non2xx:-0}" \
  "${socket_errors:+($socket_errors)}; p99 $(awk '/ 99%/ { print $2 }' wrk.txt); RSS after warm-up ${rss_start} kB, at the end ${rss_end} kB;" \
  "/ping worst ${ping_worst} s over $(wc -l <"$ping_log") probes"
status=0
[[ -z ${non2xx:-} ]] || { echo "FAIL soak: $non2xx non-2xx answers to valid requests" >&2; status=1; }
[[ $ping_bad -eq 0 ]] || { echo "FAIL soak: $ping_bad /ping probes failed or took 2 s or more" >&2; status=1; }
kill -0 "$server_pid" || { echo "FAIL soak: vr-serve died" >&2; status=1; }
# Flat memory: the end may not exceed the post-warm-up figure by more than 50% + 20 MB.
(( rss_end <= rss_start * 3 / 2 + 20480 )) || { echo "FAIL soak: RSS grew from $rss_start to $rss_end kB" >&2; status=1; }
exit $status
