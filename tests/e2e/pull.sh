#!/usr/bin/env bash
# `fastvlm pull` and `--model ORG/NAME` against a local imitation of the Hugging Face Hub
# (tests/e2e/fake_hub.py on 127.0.0.1, no internet): the huggingface_hub cache layout, a 302
# redirect to a CDN, a connection dropped mid-file then resumed with a Range request, a partial
# file from an earlier run resumed, a corrupt file caught by sha256, 401 / 403 / 404 messages,
# no network, offline mode with and without a cache, an unwritable cache. With
# FASTVLM_TEST_PYTHON pointing at a Python that has huggingface_hub, also checks that each tool
# reuses the other's cache (skipped otherwise).
set -uo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures/fastvlm"
model="$fx/models/tiny-f32-hf"
repo=apple/FastVLM-tiny
tmp=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL $1"; [ -f "$tmp/err" ] && sed 's/^/    /' "$tmp/err"; fails=$((fails + 1)); }
ok() { echo "ok   $1"; }

echo '{}' > "$tmp/control"
python3 "$src/tests/e2e/fake_hub.py" "$model" "$tmp/port" "$tmp/log" "$tmp/control" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL: fake hub did not start"; exit 1; }
read -r hub_port cdn_port < "$tmp/port"
unset HF_TOKEN HF_HUB_OFFLINE TRANSFORMERS_OFFLINE HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_TOKEN_PATH
export HF_HOME="$tmp/hf-home" HF_ENDPOINT="http://127.0.0.1:$hub_port"
commit=$(python3 -c 'import json,sys,urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1]))["sha"])' "$HF_ENDPOINT/api/models/$repo/revision/main")
: > "$tmp/log"
mark() { wc -l < "$tmp/log"; }                       # log position
since() { tail -n +"$(( $1 + 1 ))" "$tmp/log"; }      # requests after a mark
ctl() { echo "$1" > "$tmp/control"; }
same_files() {  # same_files SNAPSHOT: the default files equal the originals; no extras
  local snap="$1" f
  for f in config.json model.safetensors preprocessor_config.json tokenizer.json tokenizer_config.json; do
    cmp -s "$snap/$f" "$model/$f" || { echo "    $f differs from the original"; return 1; }
  done
  [ ! -e "$snap/README.md" ] && [ ! -e "$snap/pytorch_model.bin" ] || { echo "    extra files"; return 1; }
}
blob_of() { readlink "$1"; }

# 1. Full download into an empty cache: layout as huggingface_hub writes it.
cache="$tmp/c1"
m=$(mark)
if HF_HUB_CACHE="$cache" "$bin" pull "$repo" > "$tmp/out" 2> "$tmp/err"; then
  snap=$(cat "$tmp/out")
  store="$cache/models--apple--FastVLM-tiny"
  [ -n "$commit" ] || commit=$(basename "$snap")
  st_sha=$(sha256sum "$model/model.safetensors" | cut -d' ' -f1)
  cfg_sha1=$(python3 -c 'import hashlib,sys; d=open(sys.argv[1],"rb").read(); print(hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest())' "$model/config.json")
  if [ "$snap" != "$store/snapshots/$commit" ]; then fail "full download: printed '$snap'"
  elif ! same_files "$snap"; then fail "full download: files"
  elif [ "$(cat "$store/refs/main")" != "$commit" ]; then fail "full download: refs/main"
  elif [ "$(blob_of "$snap/model.safetensors")" != "../../blobs/$st_sha" ]; then fail "full download: LFS blob is not ../../blobs/<sha256>: $(blob_of "$snap/model.safetensors")"
  elif [ "$(blob_of "$snap/config.json")" != "../../blobs/$cfg_sha1" ]; then fail "full download: git blob is not ../../blobs/<git sha1>"
  elif ls "$store/blobs" | grep -q incomplete; then fail "full download: .incomplete left"
  else ok "full download: $(ls "$snap" | tr '\n' ' ')-> ../../blobs/<etag>, refs/main = ${commit:0:12}..."; fi
else fail "full download: exit status"; fi

# 2. The LFS file came through a 302 to the CDN, without the token leaving the Hub.
if since "$m" | grep -q "\"path\": \"/cdn/$st_sha?filename=model.safetensors\".*\"port\": $cdn_port" &&
   since "$m" | grep -q '"method": "HEAD", "path": "/apple/FastVLM-tiny/resolve/[0-9a-f]*/model.safetensors"'; then
  ok "redirect: HEAD resolve/model.safetensors -> 302 -> GET /cdn/<sha256> on the CDN port"
else fail "redirect: no CDN request in the log"; fi

# 3. --model ORG/NAME on another command: loads from the cache, same text as transformers.
golden="$fx/golden/tiny-f32.json"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$1" "$2"; }
img="$fx/$(field "$golden" image)"; prompt=$(field "$golden" user_text)
same_text() {  # stdout file $1 == golden $2's greedy_text + newline, byte for byte
  python3 -c 'import json,sys
got = open(sys.argv[1], encoding="utf-8", newline="").read()
sys.exit(got != json.load(open(sys.argv[2]))["greedy_text"] + "\n")' "$1" "$2"
}
m=$(mark)
HF_HUB_CACHE="$cache" "$bin" run --model "$repo" --image "$img" --prompt "$prompt" -n 32 \
  --ignore-eos --threads 2 > "$tmp/got" 2> "$tmp/err"
if same_text "$tmp/got" "$golden" && ! since "$m" | grep -Eq '"GET", "path": "/(apple|cdn)/'; then
  ok "run --model $repo: transformers' greedy text, nothing downloaded again"
else fail "run --model $repo: got '$(head -c 80 "$tmp/got")'"; fi

# 4. Offline with the cache: no request at all; `run` works too.
m=$(mark)
if out=$(HF_HUB_OFFLINE=1 HF_HUB_CACHE="$cache" "$bin" pull "$repo" 2> "$tmp/err") &&
   [ "$out" = "$snap" ] && [ "$(mark)" = "$m" ] &&
   got=$(HF_HUB_OFFLINE=1 HF_HUB_CACHE="$cache" "$bin" generate --model "$repo" --prompt hi -n 4 2> "$tmp/err"); then
  ok "offline with cache: HF_HUB_OFFLINE=1 pull prints the snapshot, generate runs, 0 requests"
else fail "offline with cache"; fi

# 5. Offline with an empty cache: says what is missing.
if HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/empty" "$bin" pull "$repo" > /dev/null 2> "$tmp/err"; then
  fail "offline, empty cache: succeeded"
elif grep -q "not in the cache" "$tmp/err" && grep -q HF_HUB_OFFLINE "$tmp/err"; then
  ok "offline, empty cache: $(head -c 160 "$tmp/err")"
else fail "offline, empty cache: message"; fi

# 6. A connection dropped mid-file: resumed at once with a Range request, result verified.
cache="$tmp/c2"; ctl '{"drop_once": "model.safetensors"}'; m=$(mark)
if snap=$(HF_HUB_CACHE="$cache" "$bin" pull "$repo" 2> "$tmp/err") && same_files "$snap"; then
  rng=$(since "$m" | grep '/cdn/' | grep -o '"range": "bytes=[0-9]*-"' | head -n 1)
  if [ -n "$rng" ] && [ "$rng" != '"range": "bytes=0-"' ] && grep -q "interrupted" "$tmp/err"; then
    ok "dropped connection: resumed with $rng; $(grep interrupted "$tmp/err" | head -c 120)"
  else fail "dropped connection: no Range request ($rng)"; fi
else fail "dropped connection: download failed"; fi

# 7. A partial file left by an earlier run (blobs/<sha256>.incomplete): continued, not restarted.
cache="$tmp/c3"; ctl '{}'
mkdir -p "$cache/models--apple--FastVLM-tiny/blobs"
head -c 300000 "$model/model.safetensors" > "$cache/models--apple--FastVLM-tiny/blobs/$st_sha.incomplete"
m=$(mark)
if snap=$(HF_HUB_CACHE="$cache" "$bin" pull "$repo" 2> "$tmp/err") && same_files "$snap" &&
   since "$m" | grep '/cdn/' | grep -q '"range": "bytes=300000-"'; then
  ok "partial file from an earlier run: GET /cdn/... Range: bytes=300000-, sha256 verified"
else fail "partial file resume"; fi

# 8. Corrupted bytes: caught by the sha256, the bad download deleted, the file named.
cache="$tmp/c4"; ctl '{"corrupt": "model.safetensors"}'
if HF_HUB_CACHE="$cache" "$bin" pull "$repo" > /dev/null 2> "$tmp/err"; then fail "corrupt file: succeeded"
elif grep -q "checksum mismatch for 'model.safetensors'" "$tmp/err" &&
     [ -z "$(ls "$cache/models--apple--FastVLM-tiny/blobs" | grep "^$st_sha")" ]; then
  ok "corrupt file: $(head -c 150 "$tmp/err")..."
else fail "corrupt file: message or leftover blob"; fi
ctl '{}'

# 9. Gated repository: 401 without a token, 403 with a wrong one, success with the right one.
cache="$tmp/c5"
if HF_HUB_CACHE="$cache" "$bin" pull apple/FastVLM-gated > /dev/null 2> "$tmp/err"; then fail "401: succeeded"
elif grep -q "401" "$tmp/err" && grep -q "gated" "$tmp/err" && grep -q "HF_TOKEN" "$tmp/err" &&
     grep -q "accept its license" "$tmp/err"; then ok "401: $(head -c 200 "$tmp/err")..."
else fail "401: message"; fi
if HF_TOKEN=wrong HF_HUB_CACHE="$cache" "$bin" pull apple/FastVLM-gated > /dev/null 2> "$tmp/err"; then
  fail "403: succeeded"
elif grep -q "403" "$tmp/err" && grep -q "gated" "$tmp/err"; then ok "403: $(head -c 120 "$tmp/err")..."
else fail "403: message"; fi
m=$(mark)
if snap=$(HF_TOKEN=secret-token HF_HUB_CACHE="$cache" "$bin" pull apple/FastVLM-gated 2> "$tmp/err") &&
   same_files "$snap" && ! since "$m" | grep '/cdn/' | grep -q '"auth": "Bearer' &&
   since "$m" | grep 'resolve' | grep -q '"auth": "Bearer secret-token"'; then
  ok "HF_TOKEN: gated repo downloaded; Authorization sent to the Hub, not to the CDN"
else fail "HF_TOKEN download"; fi

# 10. 404: repository, revision, file.
if "$bin" pull nobody/no-such-model > /dev/null 2> "$tmp/err"; then fail "404 repo: succeeded"
elif grep -q "repository nobody/no-such-model not found" "$tmp/err"; then ok "404 repo: $(head -c 140 "$tmp/err")"
else fail "404 repo: message"; fi
if HF_HUB_CACHE="$tmp/c6" "$bin" pull "$repo" --revision no-such-branch > /dev/null 2> "$tmp/err"; then
  fail "404 revision: succeeded"
elif grep -q "revision 'no-such-branch' not found in $repo" "$tmp/err"; then ok "404 revision: $(head -c 140 "$tmp/err")"
else fail "404 revision: message"; fi
if HF_HUB_CACHE="$tmp/c6" "$bin" pull "$repo" --include 'nothing-*.txt' > /dev/null 2> "$tmp/err"; then
  fail "--include matching nothing: succeeded"
else ok "--include matching nothing: $(head -c 120 "$tmp/err")..."; fi
if snap=$(HF_HUB_CACHE="$tmp/c6" "$bin" pull "$repo" --revision v1.0 --include '*.md' 2> "$tmp/err") &&
   [ -L "$snap/README.md" ] && [ ! -e "$snap/config.json" ] &&
   [ "$(cat "$tmp/c6/models--apple--FastVLM-tiny/refs/v1.0")" = "$commit" ]; then
  ok "--revision v1.0 --include '*.md': README.md only, refs/v1.0 written"
else fail "--include / --revision"; fi

# 11. No network: a clear message; with a cached snapshot, a warning and the cache.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if HF_ENDPOINT="http://127.0.0.1:$dead" HF_HUB_CACHE="$tmp/c7" "$bin" pull "$repo" > /dev/null 2> "$tmp/err"; then
  fail "no network: succeeded"
elif grep -q "cannot reach the Hugging Face Hub" "$tmp/err" && grep -q "HF_HUB_OFFLINE=1" "$tmp/err"; then
  ok "no network: $(head -c 160 "$tmp/err")..."
else fail "no network: message"; fi
if out=$(HF_ENDPOINT="http://127.0.0.1:$dead" HF_HUB_CACHE="$tmp/c1" "$bin" pull "$repo" 2> "$tmp/err") &&
   [ "$out" = "$tmp/c1/models--apple--FastVLM-tiny/snapshots/$commit" ] && grep -q "using the cached snapshot" "$tmp/err"; then
  ok "no network, cached: falls back to the cache with a warning"
else fail "no network, cached"; fi

# 12. An unwritable cache: the path is named.
if HF_HUB_CACHE=/dev/null/cache "$bin" pull "$repo" > /dev/null 2> "$tmp/err"; then fail "unwritable cache: succeeded"
elif grep -q "/dev/null/cache" "$tmp/err"; then ok "unwritable cache: $(head -c 140 "$tmp/err")"
else fail "unwritable cache: message"; fi

# 13. Interop with huggingface_hub (when available): each tool reuses the other's cache.
py="${FASTVLM_TEST_PYTHON:-python3}"
if "$py" -c 'import huggingface_hub' 2> /dev/null; then
  # Python downloads, fastvlm reads offline.
  pysnap=$(HF_HUB_CACHE="$tmp/c8" "$py" -c 'import sys
from huggingface_hub import snapshot_download
print(snapshot_download(sys.argv[1], allow_patterns=["*.json", "*.safetensors"]))' "$repo" 2> "$tmp/err")
  if out=$(HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/c8" "$bin" pull "$repo" 2> "$tmp/err") && [ "$out" = "$pysnap" ] &&
     HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/c8" "$bin" generate --model "$repo" --prompt hi -n 4 > /dev/null 2> "$tmp/err"; then
    ok "interop: huggingface_hub $("$py" -c 'import huggingface_hub as h; print(h.__version__)') snapshot_download -> fastvlm offline uses it"
  else fail "interop: fastvlm offline on huggingface_hub's cache"; fi
  # fastvlm downloads, Python reads offline.
  if out=$(HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/c1" "$py" -c 'import sys
from huggingface_hub import snapshot_download, hf_hub_download
print(snapshot_download(sys.argv[1])); print(hf_hub_download(sys.argv[1], "model.safetensors"))' "$repo" 2> "$tmp/err") &&
     [ "$(echo "$out" | head -n 1)" = "$tmp/c1/models--apple--FastVLM-tiny/snapshots/$commit" ] &&
     cmp -s "$(echo "$out" | tail -n 1)" "$model/model.safetensors"; then
    ok "interop: fastvlm pull -> huggingface_hub offline snapshot_download / hf_hub_download find it"
  else fail "interop: huggingface_hub offline on fastvlm's cache"; fi
  # Same blobs in both caches.
  if [ "$(ls "$tmp/c8/models--apple--FastVLM-tiny/blobs" | sort)" = "$(ls "$tmp/c1/models--apple--FastVLM-tiny/blobs" | sort)" ]; then
    ok "interop: identical blob names (etags) in both caches"
  else fail "interop: blob names differ"; fi
else
  echo "skip interop: no huggingface_hub in $py (set FASTVLM_TEST_PYTHON)"
fi

[ "$fails" = 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS"
