#!/usr/bin/env python3
"""A local imitation of the Hugging Face Hub for tests/e2e/pull.sh (standard library only).

Serves one model folder as repositories on 127.0.0.1 the way huggingface.co does
(huggingface_hub file_download.py / hf_api.py):
  GET  /api/models/ORG/NAME/revision/REV[?blobs=true]  {"sha", "siblings": [...]}
  GET  /api/models/ORG/NAME/tree/REV?recursive=...       file list (huggingface_hub >= 1.x)
  HEAD|GET /ORG/NAME/resolve/REV/PATH
       git files: 200, ETag = git blob sha1, X-Repo-Commit, Content-Length
       LFS files (*.safetensors, *.bin): 302 to a "CDN" on a second port, X-Linked-Etag = sha256,
       X-Linked-Size, X-Repo-Commit
  GET  (CDN port) /cdn/SHA256  the bytes, with Range support (206 + Content-Range)

Repositories: apple/FastVLM-tiny (public); apple/FastVLM-gated (needs "Authorization: Bearer
secret-token": none -> 401 GatedRepo, another token -> 403 GatedRepo). Revisions: main, v1.0 and
the commit hash. Anything else: 404 with X-Error-Code RepoNotFound / RevisionNotFound /
EntryNotFound.

Failure modes, read from the JSON control file at each request:
  {"drop_once": "model.safetensors"}  the next full GET of that file stops after half its bytes
                                       and closes the connection (then the flag is cleared)
  {"corrupt": "model.safetensors"}    serve that file with one byte flipped
Every request is appended to the log file as one JSON line: method, path, range, auth, port.

Usage: fake_hub.py MODEL_DIR PORT_FILE LOG_FILE CONTROL_FILE
PORT_FILE receives "HUB_PORT CDN_PORT" once both sockets listen.
"""
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import urllib.parse

MODEL_DIR, PORT_FILE, LOG_FILE, CONTROL_FILE = sys.argv[1:5]
PUBLIC, GATED, TOKEN = "apple/FastVLM-tiny", "apple/FastVLM-gated", "secret-token"
LFS_SUFFIXES = (".safetensors", ".bin")
lock = threading.Lock()


def load_files():
    files = {}
    for name in sorted(os.listdir(MODEL_DIR)):
        path = os.path.join(MODEL_DIR, name)
        if os.path.isfile(path):
            files[name] = open(path, "rb").read()
    # Files a real repo has but fastvlm does not fetch by default.
    files["README.md"] = b"---\nlicense: apple-amlr\n---\n# FastVLM tiny (test fixture)\n"
    files[".gitattributes"] = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    files["pytorch_model.bin"] = bytes(range(256)) * 64
    return files


FILES = load_files()


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


META = {}
for name, data in FILES.items():
    lfs = name.endswith(LFS_SUFFIXES)
    sha256 = hashlib.sha256(data).hexdigest()
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
        sha256.encode(), len(data))
    META[name] = {"lfs": lfs, "sha256": sha256, "size": len(data),
                  "oid": git_sha1(pointer if lfs else data), "pointer_size": len(pointer)}
COMMIT = hashlib.sha1("".join(m["oid"] for m in META.values()).encode()).hexdigest()
BY_SHA256 = {m["sha256"]: n for n, m in META.items() if m["lfs"]}


def control():
    try:
        with open(CONTROL_FILE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def clear_control(key):
    with lock:
        c = control()
        c.pop(key, None)
        with open(CONTROL_FILE, "w") as f:
            json.dump(c, f)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    cdn_port = 0

    def log_message(self, fmt, *args):
        pass

    def log(self):
        entry = {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                 "auth": self.headers.get("Authorization"), "port": self.server.server_address[1]}
        with lock, open(LOG_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def send(self, status, body=b"", headers=None, error_code=None, message=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        if message:
            self.send_header("X-Error-Message", message)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json(self, status, obj, **kw):
        self.send(status, json.dumps(obj).encode(), {"Content-Type": "application/json"}, **kw)

    # Access control and revision lookup shared by the API and resolve routes; None = answered.
    def repo_commit(self, repo, revision):
        if repo not in (PUBLIC, GATED):
            self.json(404, {"error": "Repository not found"}, error_code="RepoNotFound",
                      message="Repository not found")
            return None
        if repo == GATED:
            auth = self.headers.get("Authorization")
            if auth is None:
                self.json(401, {"error": "Access to model %s is restricted." % repo},
                          error_code="GatedRepo",
                          message="Access to model %s is restricted." % repo)
                return None
            if auth != "Bearer " + TOKEN:
                self.json(403, {"error": "Access to model %s is restricted." % repo},
                          error_code="GatedRepo",
                          message="Access to model %s is restricted." % repo)
                return None
        if revision not in ("main", "v1.0", COMMIT):
            self.json(404, {"error": "Invalid rev id: " + revision}, error_code="RevisionNotFound",
                      message="Invalid rev id: " + revision)
            return None
        return COMMIT

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        self.log()
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if self.server.server_address[1] == Handler.cdn_port:
            return self.cdn(path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo = parts[2] + "/" + parts[3]
            commit = self.repo_commit(repo, parts[5])
            if commit is None:
                return
            if parts[4] == "tree":
                return self.json(200, [
                    {"type": "file", "oid": m["oid"], "size": m["size"], "path": n,
                     **({"lfs": {"oid": m["sha256"], "size": m["size"],
                                 "pointerSize": m["pointer_size"]}} if m["lfs"] else {})}
                    for n, m in META.items()])
            blobs = "blobs=true" in url.query
            siblings = []
            for n, m in META.items():
                s = {"rfilename": n}
                if blobs:
                    s.update({"size": m["size"], "blobId": m["oid"]})
                    if m["lfs"]:
                        s["lfs"] = {"sha256": m["sha256"], "size": m["size"],
                                    "pointerSize": m["pointer_size"]}
                siblings.append(s)
            return self.json(200, {"id": repo, "modelId": repo, "sha": commit, "private": False,
                                   "siblings": siblings})
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, revision, name = parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:])
            commit = self.repo_commit(repo, revision)
            if commit is None:
                return
            if name not in META:
                return self.json(404, {"error": "Entry not found"}, error_code="EntryNotFound",
                                 message="Entry not found", )
            m = META[name]
            common = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
            if m["lfs"]:
                loc = "http://127.0.0.1:%d/cdn/%s?filename=%s" % (
                    Handler.cdn_port, m["sha256"], urllib.parse.quote(name))
                return self.send(302, b"", {**common, "Location": loc,
                                            "ETag": '"%s"' % m["oid"],
                                            "X-Linked-Etag": '"%s"' % m["sha256"],
                                            "X-Linked-Size": str(m["size"])})
            return self.serve_bytes(name, FILES[name], {**common, "ETag": '"%s"' % m["oid"]})
        self.json(404, {"error": "not found"})

    def cdn(self, path):
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "cdn" or parts[1] not in BY_SHA256:
            return self.send(404, b"NoSuchKey")
        name = BY_SHA256[parts[1]]
        self.serve_bytes(name, FILES[name], {"ETag": '"%s"' % META[name]["sha256"]})

    def serve_bytes(self, name, data, headers):
        ctl = control()
        if ctl.get("corrupt") == name:
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
        start, status, total = 0, 200, len(data)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            if start >= total:
                return self.send(416, b"", {"Content-Range": "bytes */%d" % total})
            status = 206
            headers = {**headers, "Content-Range": "bytes %d-%d/%d" % (start, total - 1, total)}
        body = data[start:]
        headers = {**headers, "Content-Length": str(len(body)),
                   "Content-Type": "application/octet-stream"}
        if self.command == "GET" and ctl.get("drop_once") == name and start == 0:
            clear_control("drop_once")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.send(status, body, headers)


def main():
    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.cdn_port = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    tmp = PORT_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (hub.server_address[1], cdn.server_address[1]))
    os.replace(tmp, PORT_FILE)
    hub.serve_forever()


if __name__ == "__main__":
    main()
