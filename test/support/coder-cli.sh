#!/bin/sh
# A stand-in for the `coder` CLI inside a workspace, for tests: `coder exp mcp configure` (records
# what it was given: its arguments, the slug and AgentAPI URL, and whether it had the agent token,
# never the token) and `coder exp sync`, with the agent's semantics (Coder's startup-coordination
# docs):
#   ping                      is coordination available?
#   want <unit> <dep>...      <unit> depends on each <dep> (a dep may be registered later)
#   start <unit>              registers <unit>, blocks until every dep of it has completed
#   complete <unit>           marks <unit> complete (it must be registered)
# State is one folder per workspace, $CODER_SYNC_DIR; every call is logged to its `events` file.
# CODER_SYNC_UNSUPPORTED=1 answers like an agent older than v2.30, which has no `exp sync`.
set -eu

if [ "${1:-} ${2:-} ${3:-}" = "exp mcp configure" ]; then
  shift 3
  {
    printf 'configure'
    for arg in "$@"; do printf '\t%s' "$arg"; done
    printf '\tslug=%s\turl=%s\ttoken=%s\n' "${CODER_MCP_APP_STATUS_SLUG:-}" "${CODER_MCP_AI_AGENTAPI_URL:-}" \
      "$([ -n "${CODER_AGENT_TOKEN:-}" ] && echo set || echo unset)"
  } >>"${CODER_MCP_RECORD:?CODER_MCP_RECORD is not set}"
  [ "${CODER_MCP_FAIL:-}" != 1 ] || {
    echo "error: failed to modify claude.json: permission denied" >&2
    exit 1
  }
  exit 0
fi
if [ "${CODER_SYNC_UNSUPPORTED:-}" = 1 ] || [ "${1:-} ${2:-}" != "exp sync" ]; then
  echo "error: unknown command \"$*\" for \"coder\"" >&2
  exit 1
fi
dir=${CODER_SYNC_DIR:?CODER_SYNC_DIR is not set}
mkdir -p "$dir"
command=${3:-}
shift 3
log() { printf '%s %s\n' "$(date +%s%N)" "$*" >>"$dir/events"; }

case $command in
  ping)
    echo Success
    ;;
  want)
    unit=$1
    shift
    touch "$dir/$unit.registered"
    for dep in "$@"; do printf '%s\n' "$dep" >>"$dir/$unit.wants"; done
    log "want $unit $*"
    ;;
  start)
    unit=$1
    touch "$dir/$unit.registered"
    log "waiting $unit"
    # Bounded, as a test must end: 120 s.
    tries=0
    while [ -f "$dir/$unit.wants" ]; do
      pending=""
      while read -r dep; do
        [ -f "$dir/$dep.completed" ] || pending="$pending $dep"
      done <"$dir/$unit.wants"
      [ -z "$pending" ] && break
      tries=$((tries + 1))
      if [ "$tries" -gt 2400 ]; then
        echo "unit $unit still waits for:$pending" >&2
        exit 1
      fi
      sleep 0.05
    done
    log "started $unit"
    ;;
  complete)
    unit=$1
    if [ ! -f "$dir/$unit.registered" ]; then
      echo "unit \"$unit\" is not registered" >&2
      exit 1
    fi
    touch "$dir/$unit.completed"
    log "completed $unit"
    ;;
  *)
    echo "error: unknown command \"exp sync $command\"" >&2
    exit 1
    ;;
esac
