#!/bin/sh
# A stand-in for the `claude` CLI behind the real AgentAPI, for the Task-layer tests: it keeps
# sessions as Claude does where it matters to us (~/.claude/projects/<working folder with every
# other character than letters and digits as ->/<id>.jsonl, or $CLAUDE_CONFIG_DIR): `--session-id
# X` refuses an id in use, `--resume X` one it does not have; and it records what it got:
#   CLAUDE_RECORD=file   one line per start: "start" and its arguments, tab-separated; one line per
#                        message: "message" and the message as base64 (byte for byte, as AgentAPI
#                        typed it between the bracketed-paste marks)
# On a terminal like a real agent: a greeting, a prompt, a reply; it leaves at Ctrl-C.
trap 'echo; echo "Bye."; exit 0' INT TERM HUP
record() { [ -z "${CLAUDE_RECORD:-}" ] || printf '%s\n' "$1" >>"$CLAUDE_RECORD"; }
line="start"
for arg in "$@"; do line="$line	$arg"; done
record "$line"

config=${CLAUDE_CONFIG_DIR:-$HOME/.claude}
project="$config/projects/$(pwd | sed 's/[^a-zA-Z0-9]/-/g')"
session=""
while [ $# -gt 0 ]; do
  case $1 in
  --session-id)
    session=$2
    if [ -s "$project/$session.jsonl" ]; then
      echo "Error: Session ID $session is already in use." >&2
      exit 1
    fi
    ;;
  --resume | -r)
    session=$2
    if [ ! -s "$project/$session.jsonl" ]; then
      echo "No conversation found with session ID: $session" >&2
      exit 1
    fi
    ;;
  esac
  shift
done
if [ -n "$session" ]; then
  mkdir -p "$project"
  printf '{"sessionId":"%s","type":"start"}\n' "$session" >>"$project/$session.jsonl"
fi

esc=$(printf '\033')
echo "Claude stand-in. Type a message."
while :; do
  printf '> '
  IFS= read -r line || exit 0
  # AgentAPI types a message as a bracketed paste, ESC[200~ … ESC[201~, which may span lines.
  case $line in
  "${esc}[200~"*)
    message=${line#"${esc}[200~"}
    while :; do
      case $message in *"${esc}[201~") break ;; esac
      IFS= read -r more || break
      message="$message
$more"
    done
    message=${message%"${esc}[201~"}
    ;;
  *) message=$line ;;
  esac
  record "message	$(printf '%s' "$message" | base64 | tr -d '\n')"
  [ -z "$session" ] || printf '{"sessionId":"%s","type":"user"}\n' "$session" >>"$project/$session.jsonl"
  echo "You said: $(printf '%s' "$message" | head -n 1)"
done
