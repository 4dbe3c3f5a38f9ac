#!/bin/sh
# FLOOR, for `npm run bench` only: a checkpoint's steps and nothing else, as fast as a shell can do
# them. "posts": SIGUSR1, one GET of /messages, one POST of it. ("unchanged", one GET, is kept for a
# person to compare by hand; the bench times the idle tick against a bare curl with no shell.)
# No checks, no comparison, no limits: what agentapi-lifecycle checkpoint is measured against.
# Usage: floor-checkpoint.sh unchanged|posts PID_FILE PORT TASK_ID   (CODER_AGENT_URL, CODER_AGENT_TOKEN set)
body=$(mktemp)
[ "$1" = posts ] && kill -USR1 "$(cat "$2")"
curl -s -o "$body" "http://127.0.0.1:$3/messages"
[ "$1" = posts ] && curl -s -o /dev/null -X POST -H "Coder-Session-Token: $CODER_AGENT_TOKEN" \
  -H 'Content-Type: application/json' --data-binary "@$body" \
  "${CODER_AGENT_URL%/}/api/v2/workspaceagents/me/tasks/$4/log-snapshot?format=agentapi"
rm -f "$body"
