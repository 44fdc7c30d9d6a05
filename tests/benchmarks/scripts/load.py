"""Latency of one chat completion, at a given concurrency, run inside the host under test.

    python3 load.py URL KEY CLIENTS REQUESTS   -> JSON {p50_ms, p99_ms, ...} on stdout
    python3 load.py --serve PORT               -> a stand-in for the model with no proxy in
                                                  front: it answers every POST with the same
                                                  chat completion LiteLLM's mock returns

Stdlib only (the host has nothing else); no proxy; every request must answer 200.
"""

import json
import statistics
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = {"model": "aiws-mock", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = json.dumps(
    {
        "id": "chatcmpl-direct",
        "object": "chat.completion",
        "created": 0,
        "model": "aiws-mock",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "aiws mock answer"},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
    }
).encode()


class Direct(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets connections at 20 concurrent clients
    daemon_threads = True


def measure(url, key, clients, requests):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = json.dumps(BODY).encode()
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}

    def call():
        with opener.open(urllib.request.Request(url, data, headers), timeout=60) as reply:
            reply.read()
            return reply.status == 200

    return measure_calls(call, clients, requests)


def measure_calls(call, clients, requests):
    """`clients` threads share `requests` calls of `call` (True: answered as expected); the
    latency percentiles of the good ones, and how many failed."""
    samples, failures, lock = [], [], threading.Lock()
    per_client = requests // clients

    def client():
        for _ in range(per_client):
            started = time.perf_counter()
            try:
                ok = call()
            except Exception as exc:  # counted, reported, and the run fails
                ok = False
                with lock:
                    failures.append(repr(exc))
            with lock:
                if ok:
                    samples.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    samples.sort()
    return {
        "clients": clients,
        "requests": len(samples),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 2),
        "per_s": round(len(samples) / wall, 1),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        Server(("127.0.0.1", int(sys.argv[2])), Direct).serve_forever()
    else:
        url, key, clients, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(measure(url, key, clients, requests)))
