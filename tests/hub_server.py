"""A local stand-in for the Hugging Face Hub: the part of its HTTP API that `snapshot_download` uses.

Serves the files under ROOT/{models,datasets}/<org>/<name>/ as repositories <org>/<name> at one commit
(the sha1 of their contents): repository info (/api/<type>s/<repo>/revision/<rev>), the file tree
(/api/<type>s/<repo>/tree/<rev>) and files (HEAD and GET /[datasets/]<repo>/resolve/<rev>/<path>, with
the commit and ETag headers the client checks). Every request is logged, so a test can show who asked.
"""
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API = re.compile(r"/api/(models|datasets)/([^/]+/[^/]+)/(revision|tree)/([^/?]+)(/[^?]*)?")
RESOLVE = re.compile(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/([^?]+)")


class Hub:
    def __init__(self, root: Path):
        self.root, self.requests = Path(root), []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                self.answer(body=False)

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                self.answer(body=True)

            def answer(self, body):
                if m := API.fullmatch(self.path.split("?")[0]):
                    kind, repo, what, _, _ = m.groups()
                    files = hub.files(kind, repo)
                    if files is None:
                        return self.send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
                    if what == "revision":
                        info = {"id": repo, "sha": hub.commit(kind, repo), "siblings": [{"rfilename": f} for f in files]}
                    else:
                        info = [{"type": "file", "path": f, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                                for f, data in files.items()]
                    return self.send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
                if m := RESOLVE.fullmatch(self.path):
                    kind, repo, _, name = "datasets" if m[1] else "models", m[2], m[3], m[4]
                    data = (hub.files(kind, repo) or {}).get(name)
                    if data is None:
                        return self.send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"}, body)
                    return self.send(200, data, {"X-Repo-Commit": hub.commit(kind, repo),
                                                 "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}, body)
                self.send(404, b"no such endpoint", {}, body)

            def send(self, status, data, headers, body=True):
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def files(self, kind, repo):
        base = self.root / kind / repo
        if not base.is_dir():
            return None
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}

    def commit(self, kind, repo):
        digest = hashlib.sha1()
        for name, data in self.files(kind, repo).items():
            digest.update(name.encode() + b"\0" + data)
        return digest.hexdigest()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
