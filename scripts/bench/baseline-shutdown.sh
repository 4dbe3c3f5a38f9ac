#!/usr/bin/env bash
# BASELINE, for `npm run bench` only: not part of the product. It follows the steps of today's
# Coder registry shutdown script as ../shared/SPEC.md §3 and §5 describe them (bash + curl + jq):
# SIGUSR1, sleep 1, fetch /messages, keep the last 10, drop the oldest while the body is over
# 64 KiB (counted in characters, as the original does), POST, SIGTERM, poll once a second.
# Usage: baseline-shutdown.sh PID_FILE PORT TASK_ID   (CODER_AGENT_URL, CODER_AGENT_TOKEN set)
set -u
pid_file=$1 port=$2 task_id=$3
max_bytes=65536

pid=$(cat "$pid_file" 2>/dev/null) || { echo "no PID file"; exit 0; }
kill -USR1 "$pid" 2>/dev/null && sleep 1

body=$(curl -s "http://localhost:$port/messages" | jq -c '{messages: .messages[-10:]}')
while [ "$(printf '%s' "$body" | jq -r 'tostring | length')" -gt "$max_bytes" ] &&
  [ "$(printf '%s' "$body" | jq '.messages | length')" -gt 1 ]; do
  body=$(printf '%s' "$body" | jq -c '{messages: .messages[1:]}')
done
if [ "$(printf '%s' "$body" | jq -r 'tostring | length')" -gt "$max_bytes" ]; then
  body=$(printf '%s' "$body" | jq -c --argjson n "$((max_bytes - 200))" \
    '.messages[0].content |= "[...content truncated...]\n" + .[-$n:]')
fi
printf '%s' "$body" | curl -s -o /dev/null -X POST \
  -H "Coder-Session-Token: $CODER_AGENT_TOKEN" -H "Content-Type: application/json" \
  --data-binary @- "${CODER_AGENT_URL%/}/api/v2/workspaceagents/me/tasks/$task_id/log-snapshot?format=agentapi"

kill -TERM "$pid" 2>/dev/null
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
