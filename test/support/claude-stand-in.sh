#!/bin/sh
# A stand-in for the `claude` CLI behind the real AgentAPI, for the Task-layer tests that need an
# interactive, logged-in Claude (the real one, test/peers/claude-code, answers only "Not logged in"
# here). It keeps sessions as Claude does where it matters to us, and test/integration/
# claude-code.test.ts checks these rules against the real CLI's answers:
#   a session is <config>/projects/<project>/<id>.jsonl, <config> being $CLAUDE_CONFIG_DIR or
#   ~/.claude, <project> the working folder with every character but letters and digits as `-`
#   (over 200 characters: its first 200, `-` and a hash of the path);
#   `--session-id X` refuses an id in use in this working folder's project;
#   `--resume X` refuses an id no project holds (it finds one in any);
# and it records what it got:
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
name=$(pwd | sed 's/[^a-zA-Z0-9]/-/g')
if [ "${#name}" -gt 200 ]; then
  name="$(printf '%s' "$name" | cut -c1-200)-$(pwd | cksum | cut -d' ' -f1)"
fi
project="$config/projects/$name"
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
    found=""
    for kept in "$config"/projects/*/"$session.jsonl"; do
      if [ -s "$kept" ]; then found=$kept; fi
    done
    if [ -z "$found" ]; then
      echo "No conversation found with session ID: $session" >&2
      exit 1
    fi
    project=$(dirname "$found")
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
