# One pytest process that outlives a device call: for a documented command that needs more than
# the 10 minutes one call allows (issue 23: `pytest bench -m "scale and gpu and not liger"`, ~25
# minutes on one H200). The process runs in its own session (setsid), which the machine keeps
# while it stays held, so back-to-back calls can each wait on it. /tmp survives between them.
#   call 1:  MODE=start bash results/h200-trust/detached.sh -m "scale and gpu and not liger"
#   call 2+: MODE=wait WAIT_S=560 bash results/h200-trust/detached.sh
# Each call copies the log's tail (and, once pytest has ended, its JSON) to $OUT; `wait` returns
# early when pytest ends. Source the environment the command needs first (e.g. results/h200-scale/env.sh).
DIR=/tmp/detached
OUT=${OUT:-/tmp/out}
mkdir -p "$DIR" "$OUT"
case "${MODE:-wait}" in
  start)
    [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null && { echo "already running: pid $(cat "$DIR/pid")"; exit 1; }
    rm -f "$DIR"/*
    date +%s > "$DIR/start"
    setsid nohup bash -c 'python -m pytest bench -p no:cacheprovider -v --benchmark-json="$0/run.json" "$@" > "$0/run.log" 2>&1; echo $? > "$0/rc"' \
      "$DIR" "$@" < /dev/null > /dev/null 2>&1 &
    echo $! > "$DIR/pid"
    echo "started pid $(cat "$DIR/pid"): pytest bench $*" ;;
  wait)
    end=$(( $(date +%s) + ${WAIT_S:-560} ))
    while [ ! -f "$DIR/rc" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 5; done ;;
esac
sleep 1
echo "elapsed $(( $(date +%s) - $(cat "$DIR/start") )) s; $(grep -cE " (PASSED|FAILED|ERROR|SKIPPED)" "$DIR/run.log" 2>/dev/null) cases reported"
tail -n 5 "$DIR/run.log" | cut -c1-300
cp "$DIR/run.log" "$OUT/detached.log" 2>/dev/null
if [ -f "$DIR/rc" ]; then echo "pytest ended: rc $(cat "$DIR/rc")"; cp "$DIR/run.json" "$OUT/detached.json"; fi
