# Sourced by the end-to-end tests (tests/e2e/*.sh): failure counting and the bad-input check.
# The sourcing script sets $tmp (a scratch directory) first and ends with its own summary on
# $fails.
fails=${fails:-0}
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }
# expect_error NAME TEXT -- command...: the command must fail cleanly (exit status 1..127, not a
# crash by signal) and its stderr must contain TEXT (a fixed string, not a pattern).
expect_error() {
  local name="$1" text="$2"; shift 3
  "$@" > "$tmp/expect.out" 2> "$tmp/expect.err"
  local rc=$?
  if [ "$rc" = 0 ] || [ "$rc" -ge 128 ]; then
    fail "$name: exit status $rc"; cat "$tmp/expect.err"; return
  fi
  if ! grep -qF -- "$text" "$tmp/expect.err"; then
    fail "$name: stderr lacks '$text':"; cat "$tmp/expect.err"; return
  fi
  ok "$name: $(head -c 200 "$tmp/expect.err" | head -n 1)"
}
