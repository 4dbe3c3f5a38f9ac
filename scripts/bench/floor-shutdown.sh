#!/bin/sh
# FLOOR, for `npm run bench` only: the four steps of a shutdown and nothing else, as fast as a
# shell can do them: SIGUSR1, one GET of /messages, one POST of it, SIGTERM, then wait for the exit
# in 2 ms steps. No checks, no limits, no retries: what agentapi-lifecycle's time is measured against.
# Usage: floor-shutdown.sh PID_FILE PORT TASK_ID   (CODER_AGENT_URL, CODER_AGENT_TOKEN set)
pid=$(cat "$1")
port=$2
task=$3
body=$(mktemp)
kill -USR1 "$pid"
curl -s -o "$body" "http://127.0.0.1:$port/messages"
curl -s -o /dev/null -X POST -H "Coder-Session-Token: $CODER_AGENT_TOKEN" -H 'Content-Type: application/json' \
  --data-binary "@$body" "${CODER_AGENT_URL%/}/api/v2/workspaceagents/me/tasks/$task/log-snapshot?format=agentapi"
rm -f "$body"
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.002; done
