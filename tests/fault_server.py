"""A local OpenAI-compatible chat-completions server that misbehaves on purpose.

Tests and the throughput benchmark point the real `openai` client at it. Answers are a pure function
of the request body (same request, same bytes back), so runs can be compared byte for byte, and the
server keeps its own log of what it sent: which requests were answered completely, and how often.

Faults are scheduled per request (keyed like the pipeline's cache, by `request_key` of the body): the
n-th attempt at a request gets `faults(request)[n]`, later attempts are answered normally.
  "429"       429 with Retry-After (seconds, fractional)
  "500"       500 internal error
  "slow"      a valid answer, but only after `slow_s` (longer than the client's timeout)
  "truncated" 200 whose JSON body is cut in half (Content-Length matches: HTTP itself is fine)
  "cut"       200 that announces more bytes than it sends, then closes the connection
  "401" "403" "404"   what a wrong key, a key without access, a model the server lacks get (OpenAI's bodies)
  "nochoices" 200 with a valid JSON body that holds no choices

It also serves the Files and Batches endpoints the openai client's Batch API uses (upload, create,
retrieve, list, download): a batch stays in_progress for `batch_polls` retrieves (or while `hold` is
set), then ends, its answers those of the chat endpoint. Batch faults, per request like the above (the
n-th batch holding a request gets `batch_faults(request)[n]`): "500" (a line of the error file) and
"expired" (the batch ends expired before answering it; the others of that batch are answered).
"""
import email.parser
import email.policy
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from magicoder_repro.data.requests import request_key

FATAL = {
    "401": b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}',
    "403": b'{"error": {"message": "You are not allowed to sample from this model", "type": "invalid_request_error"}}',
    "404": b'{"error": {"message": "The model does not exist or you do not have access to it.", "type": "invalid_request_error", "code": "model_not_found"}}',
}
FAULT_CYCLE = [[], ["429"], ["500", "500"], ["slow"], ["truncated"], ["429", "truncated"], ["cut"], ["nochoices"]]


def answer_text(request: dict) -> str:
    """A well-formed OSS-Instruct answer derived from the request, so parsing has something to keep."""
    digest = hashlib.sha256(request["messages"][-1]["content"].encode()).hexdigest()[:12]
    return f"[Problem Description]\nProblem {digest} for seed {request.get('seed')}.\n\n[Solution]\nsolution_{digest}()\n"


def completion_for(request: dict) -> dict:
    """The chat.completion body for `request`; id and created derive from the request, not the clock."""
    key = request_key(request)
    text = answer_text(request)
    prompt_tokens = sum(len(m["content"].split()) for m in request["messages"])
    completion_tokens = len(text.split())
    return {
        "id": f"chatcmpl-{key[:24]}",
        "object": "chat.completion",
        "created": 1700000000 + int(key[:6], 16) % 100000,
        "model": request["model"],
        "system_fingerprint": "fp_fault_server",
        "choices": [
            {"index": 0, "finish_reason": "stop", "logprobs": None,
             "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


class FaultServer:
    """`with FaultServer(...) as server:` serves on 127.0.0.1:`server.port` from a background thread."""

    def __init__(self, faults=lambda request: [], latency_s=0.0, slow_s=3.0, retry_after_s=0.2,
                 batch_faults=lambda request: [], batch_polls=1):
        self.faults, self.latency_s, self.slow_s, self.retry_after_s = faults, latency_s, slow_s, retry_after_s
        self.batch_api = BatchAPI(batch_faults, batch_polls)
        self.attempts = Counter()    # request key -> attempts seen
        self.completed = Counter()   # request key -> valid 200 answers fully written to the socket
        self.outcomes = Counter()    # fault kind (or "ok") -> count
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None   # a client that hung up (stopped, timed out)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body are two writes: without it, 40 ms a reply

            def log_message(self, *args):
                pass

            def _send(self, status, body: bytes, headers=(), declared_length=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self):
                self._send(*server.batch_api.get(self.path))

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.rstrip("/") != "/v1/chat/completions":   # the Batch API's, or a 404
                    return self._send(*server.batch_api.post(self.path, self.headers["Content-Type"], body))
                request = json.loads(body)
                key = request_key(request)
                with server.lock:
                    attempt = server.attempts[key]
                    server.attempts[key] += 1
                plan = server.faults(request)
                fault = plan[attempt] if attempt < len(plan) else "ok"
                with server.lock:
                    server.outcomes[fault] += 1
                body = json.dumps(completion_for(request)).encode()
                if fault == "429":
                    return self._send(429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                                      [("Retry-After", str(server.retry_after_s))])
                if fault == "500":
                    return self._send(500, b'{"error": {"message": "boom", "type": "server_error"}}')
                if fault == "slow":
                    time.sleep(server.slow_s)
                    try:
                        return self._send(200, body)
                    except OSError:   # the client gave up long ago
                        return
                if fault in FATAL:
                    return self._send(int(fault), FATAL[fault])
                if fault == "nochoices":
                    return self._send(200, json.dumps({**completion_for(request), "choices": []}).encode())
                if fault == "truncated":
                    return self._send(200, body[: len(body) // 2])
                if fault == "cut":
                    self._send(200, body[: len(body) // 2], declared_length=len(body))
                    self.close_connection = True
                    return
                time.sleep(server.latency_s)
                self._send(200, body)
                with server.lock:
                    server.completed[key] += 1

        return Handler


class BatchAPI:
    """The Files and Batches endpoints: state in memory, answers from `completion_for`."""

    def __init__(self, faults, polls):
        self.faults, self.polls = faults, polls
        self.hold = threading.Event()     # set: every batch stays in_progress
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.calls = Counter()            # "upload", "create", "retrieve", "list", "content"
        self.attempts = Counter()         # request key -> batches that held it
        self.lock = threading.Lock()

    def post(self, path, content_type, body):
        with self.lock:
            if path.rstrip("/") == "/v1/files":
                self.calls["upload"] += 1
                form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {content_type}\r\n\r\n".encode() + body)
                parts = {part.get_param("name", header="content-disposition"): part for part in form.iter_parts()}
                data = parts["file"].get_payload(decode=True)
                file_id = f"file-{len(self.files)}"
                self.files[file_id] = data
                return 200, self.json({"id": file_id, "object": "file", "bytes": len(data), "created_at": 1700000000,
                                       "filename": parts["file"].get_filename(), "purpose": "batch", "status": "processed"})
            if path.rstrip("/") == "/v1/batches":
                self.calls["create"] += 1
                params = json.loads(body)
                if params["input_file_id"] not in self.files:
                    return 404, b'{"error": {"message": "no such file"}}'
                batch_id = f"batch_{len(self.batches)}"
                self.batches[batch_id] = {
                    "id": batch_id, "object": "batch", "endpoint": params["endpoint"], "input_file_id": params["input_file_id"],
                    "completion_window": params["completion_window"], "metadata": params.get("metadata"),
                    "created_at": 1700000000, "status": "validating", "polls": 0,
                    "request_counts": {"total": self.files[params["input_file_id"]].count(b"\n"), "completed": 0, "failed": 0}}
                return 200, self.json(self.public(self.batches[batch_id]))
        return 404, b'{"error": {"message": "not found"}}'

    def get(self, path):
        with self.lock:
            parts = path.split("?")[0].strip("/").split("/")
            if parts == ["v1", "batches"]:
                self.calls["list"] += 1
                data = [self.public(b) for b in reversed(self.batches.values())]
                return 200, self.json({"object": "list", "data": data, "has_more": False})
            if parts[:2] == ["v1", "batches"] and parts[2] in self.batches:
                self.calls["retrieve"] += 1
                return 200, self.json(self.public(self.advance(self.batches[parts[2]])))
            if parts[:2] == ["v1", "files"] and parts[-1] == "content" and parts[2] in self.files:
                self.calls["content"] += 1
                return 200, self.files[parts[2]]
        return 404, b'{"error": {"message": "not found"}}'

    @staticmethod
    def json(obj) -> bytes:
        return json.dumps(obj).encode()

    @staticmethod
    def public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if k != "polls"}

    def advance(self, batch: dict) -> dict:
        """One retrieve: in progress for the first `polls` (or while held), then the batch is run."""
        batch["polls"] += 1
        if batch["status"] in ("validating", "in_progress") and (self.hold.is_set() or batch["polls"] <= self.polls):
            batch["status"] = "in_progress"
        elif batch["status"] == "in_progress":
            self.run(batch)
        return batch

    def run(self, batch: dict) -> None:
        """Answer each line of the input file (or fail it, as scheduled); write the result files."""
        output, errors, expired = [], [], False
        for line in self.files[batch["input_file_id"]].splitlines():
            row = json.loads(line)
            key = request_key(row["body"])
            plan = self.faults(row["body"])
            fault = plan[self.attempts[key]] if self.attempts[key] < len(plan) else "ok"
            self.attempts[key] += 1
            result = {"id": f"batch_req_{key[:12]}", "custom_id": row["custom_id"], "error": None}
            if fault == "expired":
                expired = True
                errors.append({**result, "response": None, "error": {
                    "code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
            elif fault == "500":
                errors.append({**result, "response": {"status_code": 500, "request_id": key[:8],
                                                      "body": {"error": {"message": "boom", "type": "server_error"}}}})
            else:
                output.append({**result, "response": {"status_code": 200, "request_id": key[:8], "body": completion_for(row["body"])}})
        for name, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(self.files)}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[name] = file_id
        batch["status"] = "expired" if expired else "completed"
        batch["request_counts"].update(completed=len(output), failed=len(errors))


def cycling_faults(request: dict) -> list[str]:
    """Every fault kind, spread over requests by their seed."""
    return FAULT_CYCLE[(request.get("seed") or 0) % len(FAULT_CYCLE)]
