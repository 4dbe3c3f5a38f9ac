# agentapi-lifecycle for Coder templates: installs the binary (SHA-256 pinned in release.tf), starts
# AgentAPI with state persistence when given an agent command, exposes its chat UI for Tasks, and
# runs `shutdown` in a stop script. Scripts are ordered with `coder exp sync`, the registry's way.

terraform {
  required_version = ">= 1.5"
  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.13"
    }
  }
}

variable "agent_id" {
  type        = string
  description = "The ID of the coder_agent the scripts run on."
}

variable "name" {
  type        = string
  description = "This instance's name: its `coder exp sync` units, app slug and default PID and state files derive from it. Give a second instance in one workspace another name (and port)."
  default     = "agentapi"
  # It is also the app's default slug, which the coder provider takes only as a hostname label.
  validation {
    condition     = can(regex("^[a-z0-9](-?[a-z0-9])*$", var.name)) && length(var.name) <= 32
    error_message = "name must be 1 to 32 lowercase letters and digits, with single dashes between them (it is also the app's slug)."
  }
}

variable "release_sha256" {
  type        = map(string)
  description = "SHA-256 of each artifact (e.g. \"agentapi-lifecycle-linux-x64.gz\" = \"…\") of a release_version other than the one pinned in this module."
  default     = {}
  validation {
    condition     = alltrue([for name, hash in var.release_sha256 : can(regex("^agentapi-lifecycle-linux-(x64|arm64)(\\.gz|\\.xz)?$", name)) && can(regex("^[0-9a-f]{64}$", hash))])
    error_message = "release_sha256 maps artifact names (agentapi-lifecycle-linux-<x64|arm64>[.gz|.xz]) to 64 lowercase hex digits."
  }
}

variable "trust_release_server_checksums" {
  type        = bool
  description = "Without pinned hashes for release_version, trust the SHA256SUMS the release server publishes next to the artifacts. That catches corruption, not a compromised or spoofed server: prefer release_sha256."
  default     = false
}

variable "install_dir" {
  type        = string
  description = "Where verified binaries are kept, one folder per version. On persistent storage, a restart downloads nothing."
  default     = "$HOME/.cache/agentapi-lifecycle"
  validation {
    condition     = can(regex("^(/|\\$HOME/)[A-Za-z0-9._/+@=,:%~-]*$", var.install_dir))
    error_message = "install_dir must be an absolute path, or one under $HOME/, of letters, digits and . _ / + @ = , : % ~ - only (no shell expands anything in it but that leading $HOME)."
  }
}

variable "agentapi_port" {
  type        = number
  description = "The port AgentAPI listens on."
  default     = 3284
  validation {
    condition     = var.agentapi_port >= 1 && var.agentapi_port <= 65535 && floor(var.agentapi_port) == var.agentapi_port
    error_message = "agentapi_port must be a whole number from 1 to 65535."
  }
}

variable "enable_state_persistence" {
  type        = bool
  description = "Save AgentAPI's conversation on stop and load it on start (AgentAPI 0.12.0 or newer)."
  default     = true
}

variable "state_file_path" {
  type        = string
  description = "AgentAPI's state file, on persistent storage. Empty: $HOME/.agentapi/state.json (for another name: $HOME/.agentapi/<name>/state.json)."
  default     = ""
  validation {
    condition     = var.state_file_path == "" || can(regex("^(/|\\$HOME/)[A-Za-z0-9._/+@=,:%~-]*$", var.state_file_path))
    error_message = "state_file_path must be empty, or an absolute path, or one under $HOME/, of letters, digits and . _ / + @ = , : % ~ - only (no shell expands anything in it but that leading $HOME)."
  }
}

variable "pid_file_path" {
  type        = string
  description = "The PID file AgentAPI writes (the shutdown lock lies beside it). Empty: $HOME/.agentapi/agentapi.pid (for another name: $HOME/.agentapi/<name>/agentapi.pid), in a folder of the user's own that no one else can write: never /tmp, where another user could create it first."
  default     = ""
  validation {
    condition     = var.pid_file_path == "" || can(regex("^(/|\\$HOME/)[A-Za-z0-9._/+@=,:%~-]*$", var.pid_file_path))
    error_message = "pid_file_path must be empty, or an absolute path, or one under $HOME/, of letters, digits and . _ / + @ = , : % ~ - only (no shell expands anything in it but that leading $HOME)."
  }
}

variable "task_log_snapshot" {
  type        = bool
  description = "Post the last messages to coderd on stop, so the task's log can be read while it is paused."
  default     = true
}

variable "max_messages" {
  type        = number
  description = "How many of the latest messages the log snapshot keeps (fitted to coderd's 64 KiB by bytes)."
  default     = 10
  validation {
    condition     = var.max_messages >= 1 && var.max_messages <= 1000 && floor(var.max_messages) == var.max_messages
    error_message = "max_messages must be a whole number from 1 to 1000."
  }
}

variable "shutdown_timeout" {
  type        = number
  description = "Seconds the stop script may take in all. Keep it below the container runtime's grace period."
  default     = 30
  validation {
    condition     = var.shutdown_timeout >= 5 && var.shutdown_timeout <= 3600
    error_message = "shutdown_timeout must be from 5 to 3600 seconds."
  }
}

variable "stop_agentapi" {
  type        = bool
  description = "The stop script stops AgentAPI (SIGTERM, then SIGKILL). false: it only saves and posts the snapshot, leaving the stop to another module's stop script (companion mode)."
  default     = true
}

variable "checkpoint_cron" {
  type        = string
  description = "When the agent runs a checkpoint (AgentAPI saves, the log snapshot is posted, only if the conversation changed), as coder_script's cron: six fields, seconds first (\"0 */2 * * * *\"), or a descriptor (\"@every 5m\"). Null: every 2 minutes, at a second derived from the workspace's id, so a fleet does not post in step. \"\": no checkpoints."
  default     = null
  nullable    = true
  validation {
    condition     = var.checkpoint_cron == null ? true : (var.checkpoint_cron == "" || startswith(var.checkpoint_cron, "@") || length(split(" ", trimspace(var.checkpoint_cron))) == 6)
    error_message = "checkpoint_cron must be null (every 2 minutes), \"\" (off), a six-field cron with seconds first such as \"0 */2 * * * *\" (a five-field Unix line means something else here), or a descriptor such as \"@every 5m\"."
  }
}

variable "checkpoint_interval" {
  type        = number
  description = "Seconds between checkpoints run by a supervisor of ours that stays resident beside AgentAPI (37-39 MiB); 0 turns it off. Prefer checkpoint_cron, which keeps nothing resident. Needs agent_command (the module's own start)."
  default     = 0
  validation {
    condition     = var.checkpoint_interval == 0 || var.checkpoint_interval >= 10
    error_message = "checkpoint_interval must be 0 (off) or at least 10 seconds."
  }
}

variable "agent_command" {
  type        = string
  description = "The agent to run behind AgentAPI, as it starts fresh, as a shell would read it (e.g. \"claude --model opus\"): on a resume the module adds what continues its session (agent_resume_args, or a known agent_type's own way). Set: this module starts AgentAPI after the install. Empty: something else starts AgentAPI (use the start_command_prefix output, or another module)."
  default     = ""
}

variable "agent_resume_args" {
  type        = list(string)
  description = "Added to agent_command when the workspace resumes a task (AgentAPI's state file holds a conversation), never on a first start: what your agent needs to continue its own latest session (e.g. [\"--continue\"]). Empty: for a known agent_type (claude, codex, gemini, goose, opencode, copilot, aider) its documented way is used."
  default     = []
}

variable "resume_agent" {
  type        = bool
  description = "On a resume, add a known agent's own way to continue when agent_resume_args is empty: claude in a Task runs in the task's own session (--session-id <task id> on a first start, --resume <task id> after), else claude --continue, codex resume --last, … (the latest session). false: the agent command is always run as given."
  default     = true
}

variable "agent_type" {
  type        = string
  description = "AgentAPI's --type (claude, goose, aider, codex, gemini, amp, cursor, custom, …). Empty: AgentAPI's default."
  default     = ""
  validation {
    condition     = can(regex("^[a-z0-9-]*$", var.agent_type))
    error_message = "agent_type must be lowercase letters, digits or dashes."
  }
}

variable "workdir" {
  type        = string
  description = "The folder AgentAPI and the agent start in. Empty: the workspace user's home."
  default     = ""
  validation {
    condition     = var.workdir == "" || can(regex("^(/|\\$HOME(/|$))[A-Za-z0-9._/+@=,:%~-]*$", var.workdir))
    error_message = "workdir must be empty, $HOME, or an absolute path, or one under $HOME/, of letters, digits and . _ / + @ = , : % ~ - only (no shell expands anything in it but that leading $HOME)."
  }
}

variable "agentapi_args" {
  type        = list(string)
  description = "Extra arguments for `agentapi server`, each passed as one argument (e.g. [\"--term-width=120\"])."
  default     = []
}

variable "start_timeout" {
  type        = number
  description = "Seconds AgentAPI may take to answer /status after it is started."
  default     = 120
  validation {
    condition     = var.start_timeout >= 1 && var.start_timeout <= 3600
    error_message = "start_timeout must be from 1 to 3600 seconds."
  }
}

variable "install_agentapi" {
  type        = bool
  description = "Download AgentAPI itself (agentapi_version), also for a start script of your own (start_command_prefix then runs it). false: `agentapi` must be on PATH."
  default     = true
}

variable "agentapi_version" {
  type        = string
  description = "The AgentAPI release to download when install_agentapi is true (0.12.0 or newer keeps the conversation). The default is the release this module's tests run."
  default     = "v0.12.2"
  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$", var.agentapi_version))
    error_message = "agentapi_version must be a release tag such as v0.12.2."
  }
}

variable "agentapi_sha256" {
  type        = map(string)
  description = "SHA-256 of AgentAPI's release assets (\"agentapi-linux-amd64\", \"agentapi-linux-arm64\"). Given: a download with any other bytes is refused. Empty: the download is not verified (the install log says so)."
  default     = {}
  validation {
    condition     = alltrue([for name, hash in var.agentapi_sha256 : can(regex("^agentapi-linux-(amd64|arm64)$", name)) && can(regex("^[0-9a-f]{64}$", hash))])
    error_message = "agentapi_sha256 maps agentapi-linux-<amd64|arm64> to 64 lowercase hex digits."
  }
}

variable "agentapi_release_base_url" {
  type        = string
  description = "Where AgentAPI releases are published: <url>/<agentapi_version>/agentapi-linux-<amd64|arm64>."
  default     = "https://github.com/coder/agentapi/releases/download"
  validation {
    condition     = can(regex("^https?://[^[:space:]\"'$`]+$", var.agentapi_release_base_url))
    error_message = "agentapi_release_base_url must be an http(s) URL without spaces or quotes."
  }
}

variable "web_app" {
  type        = bool
  description = "A coder_app for AgentAPI's chat UI on agentapi_port, with a /status healthcheck. null: with agent_command (in a Task then whatever this says: coder_ai_task needs its id, give it app_id). true: also for a start script of your own (start_command_prefix). false: none outside a Task."
  default     = null
}

variable "web_app_slug" {
  type        = string
  description = "The app's slug. Empty: the instance name."
  default     = ""
  validation {
    condition     = var.web_app_slug == "" || can(regex("^[a-z0-9](-?[a-z0-9])*$", var.web_app_slug))
    error_message = "web_app_slug must be empty or lowercase letters and digits with single dashes between them (a hostname label, as coder_app requires)."
  }
}

variable "web_app_display_name" {
  type        = string
  description = "The app's name in the dashboard."
  default     = "AI Agent"
  validation {
    condition     = length(var.web_app_display_name) >= 1 && length(var.web_app_display_name) <= 64
    error_message = "web_app_display_name must be 1 to 64 characters (coder_app's limit)."
  }
}

variable "web_app_icon" {
  type        = string
  description = "The app's icon."
  default     = "/icon/terminal.svg"
}

variable "subdomain" {
  type        = bool
  description = "Serve the app on a subdomain (needs a wildcard access URL); false serves it under a path."
  default     = true
}

variable "wait_for_scripts" {
  type        = list(string)
  description = "`coder exp sync` names of other modules' scripts the start script waits for, besides this module's install, e.g. module.claude-code.scripts (a module that installs the agent). Without `coder exp sync` (Coder before v2.30, or its socket server off) they cannot be waited for: the start script then waits, within install_wait_timeout, for the agent command's executable to be installed, and says so."
  default     = []
  validation {
    condition     = alltrue([for name in var.wait_for_scripts : can(regex("^[A-Za-z0-9._-]+$", name))])
    error_message = "wait_for_scripts must be `coder exp sync` names: letters, digits, dots, dashes and underscores."
  }
}

variable "task_prompt" {
  type        = string
  description = "The prompt given to the agent on the task's first start, never on a resume nor twice. Null: the Task's own prompt (data.coder_task.me.prompt) in a Task, none outside one. \"\": none."
  default     = null
  nullable    = true
}

variable "report_tasks" {
  type        = bool
  description = "In a Task, have the agent report its status to the Task (claude: `coder exp mcp configure claude-code` with this module's app slug and AgentAPI's URL, before the agent starts). Agents without a documented Coder MCP set-up do not report."
  default     = true
}

variable "adopt_state_file" {
  type        = string
  description = "Without a state file of its own, start from a copy of this one (never moving or changing it): a task whose template moved here from the registry's module resumes with its conversation. Null: the state file the registry's module kept for agent_type (claude: $HOME/.claude-module/agentapi-state.json, codex: $HOME/.codex-module/agentapi-state.json). \"\": none."
  default     = null
  nullable    = true
  validation {
    condition     = var.adopt_state_file == null ? true : (var.adopt_state_file == "" || can(regex("^(/|\\$HOME/)[A-Za-z0-9._/+@=,:%~-]*$", var.adopt_state_file)))
    error_message = "adopt_state_file must be null, empty, or an absolute path, or one under $HOME/, of letters, digits and . _ / + @ = , : % ~ - only (no shell expands anything in it but that leading $HOME)."
  }
}

variable "install_wait_timeout" {
  type        = number
  description = "Without `coder exp sync` (Coder before v2.30, or its socket server off): seconds the start script waits for the install to finish."
  default     = 600
  validation {
    condition     = var.install_wait_timeout >= 10 && var.install_wait_timeout <= 3600
    error_message = "install_wait_timeout must be from 10 to 3600 seconds."
  }
}

data "coder_task" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

locals {
  # Outside a task the id is not empty but meaningless: an empty one makes shutdown skip the snapshot.
  task_id = data.coder_task.me.enabled ? data.coder_task.me.id : ""
  binary  = "${var.install_dir}/${var.release_version}/agentapi-lifecycle"
  # The pinned hashes belong to the pinned version; given ones may add to or replace them.
  sha256           = merge(var.release_version == local.pinned_release.version ? local.pinned_release.sha256 : {}, var.release_sha256)
  sha256sums       = join("\n", [for name, hash in local.sha256 : "${hash}  ${name}"])
  agentapi_sums    = join("\n", [for name, hash in var.agentapi_sha256 : "${hash}  ${name}"])
  default_instance = var.name == "agentapi"
  pid_file         = var.pid_file_path != "" ? var.pid_file_path : (local.default_instance ? "$HOME/.agentapi/agentapi.pid" : "$HOME/.agentapi/${var.name}/agentapi.pid")
  state_file       = var.state_file_path != "" ? var.state_file_path : (local.default_instance ? "$HOME/.agentapi/state.json" : "$HOME/.agentapi/${var.name}/state.json")
  # By default every 2 minutes, at one of 120 slots (second, and even or odd minute) picked by the
  # workspace's id: a fleet's checkpoints spread over two minutes instead of meeting coderd at once.
  checkpoint_slot = parseint(substr(sha256(data.coder_workspace.me.id), 0, 4), 16) % 120
  checkpoint_cron = var.checkpoint_cron != null ? var.checkpoint_cron : "${local.checkpoint_slot % 60} ${floor(local.checkpoint_slot / 60)}-59/2 * * * *"
  is_task         = data.coder_task.me.enabled
  # The Task's prompt unless the template gives its own ("" for none); outside a Task, none.
  prompt = var.task_prompt != null ? var.task_prompt : (local.is_task ? data.coder_task.me.prompt : "")
  # With agent_command the app exists unless web_app = false, and in a Task whatever it says:
  # coder_ai_task needs its id (the registry's agentapi module does the same). Without it (your own
  # start script, or a companion of the registry's module, which has its own app) only when asked.
  web_app      = local.starts_agent ? (var.web_app != false || local.is_task) : var.web_app == true
  install_unit = "agentapi-lifecycle-${var.name}-install_script"
  start_unit   = "agentapi-lifecycle-${var.name}-start_script"
  starts_agent = var.agent_command != ""
  app_slug     = var.web_app_slug != "" ? var.web_app_slug : var.name
  # Path-based apps are proxied under this path; AgentAPI must serve its chat UI there.
  chat_base_path = var.subdomain ? "" : "/@${data.coder_workspace_owner.me.name}/${data.coder_workspace.me.name}.${var.agent_id}/apps/${local.app_slug}/chat"
  agentapi_bin   = var.install_agentapi ? "${var.install_dir}/agentapi/${var.agentapi_version}/agentapi" : "agentapi"
  start_prefix = join(" ", compact([
    "\"${local.binary}\"", "start", "--detach",
    var.install_agentapi ? "--agentapi-bin \"${local.agentapi_bin}\"" : "",
    "--port", tostring(var.agentapi_port),
    "--pid-file", "\"${local.pid_file}\"",
    "--state-file", "\"${local.state_file}\"",
    var.enable_state_persistence ? "" : "--no-state-persistence",
    var.checkpoint_interval > 0 ? "--checkpoint-interval ${var.checkpoint_interval}s" : "",
    var.checkpoint_interval > 0 && local.task_id != "" ? "--task-id ${local.task_id}" : "",
    "--",
  ]))
  shutdown_flags = join(" ", compact([
    var.enable_state_persistence ? "" : "--no-state-persistence",
    var.task_log_snapshot ? "" : "--no-snapshot",
    var.stop_agentapi ? "" : "--no-stop",
  ]))
}

resource "coder_script" "install" {
  agent_id           = var.agent_id
  display_name       = "agentapi-lifecycle: install"
  icon               = "/icon/terminal.svg"
  run_on_start       = true
  start_blocks_login = false
  script = templatefile("${path.module}/install.sh.tftpl", {
    unit                      = local.install_unit
    release_base_url          = var.release_base_url
    release_version           = var.release_version
    install_dir               = var.install_dir
    sha256sums                = local.sha256sums
    trust_release_server      = var.trust_release_server_checksums
    install_agentapi          = var.install_agentapi
    agentapi_version          = var.agentapi_version
    agentapi_release_base_url = var.agentapi_release_base_url
    agentapi_sums             = local.agentapi_sums
  })
  lifecycle {
    precondition {
      condition     = length(local.sha256) > 0 || var.trust_release_server_checksums
      error_message = "No SHA-256 is pinned for agentapi-lifecycle ${var.release_version}: give release_sha256 (preferred), or set trust_release_server_checksums = true."
    }
  }
}

resource "coder_script" "start" {
  count              = local.starts_agent ? 1 : 0
  agent_id           = var.agent_id
  display_name       = "agentapi-lifecycle: start AgentAPI"
  icon               = var.web_app_icon
  run_on_start       = true
  start_blocks_login = false
  script = templatefile("${path.module}/start.sh.tftpl", {
    unit                 = local.start_unit
    install_unit         = local.install_unit
    install_wait_timeout = var.install_wait_timeout
    wait_for_b64         = base64encode(join("\n", var.wait_for_scripts))
    prompt_b64           = base64encode(local.prompt)
    report_slug          = var.report_tasks && local.task_id != "" ? local.app_slug : ""
    adopt_flag           = var.adopt_state_file == null ? "" : "--adopt-state=\"${var.adopt_state_file}\""
    binary               = local.binary
    agentapi_bin         = local.agentapi_bin
    port                 = var.agentapi_port
    pid_file             = local.pid_file
    state_file           = local.state_file
    agent_type           = var.agent_type
    workdir              = var.workdir
    start_timeout        = var.start_timeout
    start_flags          = join(" ", compact([var.enable_state_persistence ? "" : "--no-state-persistence", var.checkpoint_interval > 0 ? "--checkpoint-interval ${var.checkpoint_interval}s" : "", var.resume_agent ? "" : "--no-resume-agent"]))
    task_id              = local.task_id
    chat_base_path       = local.chat_base_path
    agentapi_args_b64    = base64encode(join("\n", var.agentapi_args))
    resume_args_b64      = base64encode(join("\n", var.agent_resume_args))
    agent_command_b64    = base64encode(var.agent_command)
  })
}

resource "coder_script" "shutdown" {
  agent_id     = var.agent_id
  display_name = "agentapi-lifecycle: shutdown"
  icon         = "/icon/terminal.svg"
  run_on_stop  = true
  timeout      = var.shutdown_timeout + 10
  script = templatefile("${path.module}/shutdown.sh.tftpl", {
    binary       = local.binary
    task_id      = local.task_id
    port         = var.agentapi_port
    pid_file     = local.pid_file
    state_file   = local.state_file
    max_messages = var.max_messages
    timeout      = var.shutdown_timeout
    extra_flags  = local.shutdown_flags
  })
}

resource "coder_script" "checkpoint" {
  count        = local.checkpoint_cron != "" ? 1 : 0
  agent_id     = var.agent_id
  display_name = "agentapi-lifecycle: checkpoint"
  icon         = "/icon/terminal.svg"
  cron         = local.checkpoint_cron
  # checkpoint's own --timeout is 20 s; this only bounds a script that hangs anyway.
  timeout = 60
  script = templatefile("${path.module}/checkpoint.sh.tftpl", {
    binary       = local.binary
    task_id      = var.task_log_snapshot ? local.task_id : ""
    port         = var.agentapi_port
    pid_file     = local.pid_file
    state_file   = local.state_file
    max_messages = var.max_messages
    extra_flags  = var.enable_state_persistence ? "" : "--no-state-persistence"
  })
}

resource "coder_app" "agentapi" {
  count        = local.web_app ? 1 : 0
  agent_id     = var.agent_id
  slug         = local.app_slug
  display_name = var.web_app_display_name
  icon         = var.web_app_icon
  url          = "http://localhost:${var.agentapi_port}/"
  subdomain    = var.subdomain
  healthcheck {
    url       = "http://localhost:${var.agentapi_port}/status"
    interval  = 3
    threshold = 20
  }
}

output "binary_path" {
  description = "Where the binary is installed ($HOME is expanded by the shell that runs it)."
  value       = local.binary
}

output "start_command_prefix" {
  description = "For a start script of your own (without agent_command): put it in front of the agent command, after waiting for this module's `scripts` with `coder exp sync want`. It returns once AgentAPI answers."
  value       = local.start_prefix
}

output "scripts" {
  description = "The `coder exp sync` unit names of this module's start-up scripts, in the order they run: install, then start (when agent_command is set). `coder exp sync want <your unit> <these>` runs yours after them."
  value       = concat([local.install_unit], local.starts_agent ? [local.start_unit] : [])
}

output "app_id" {
  description = "The id of the AgentAPI chat app, for coder_ai_task's app_id (null without it: no agent_command and web_app not true, or web_app = false outside a Task)."
  value       = try(coder_app.agentapi[0].id, null)
}

output "task_id" {
  description = "The task id the stop script posts the snapshot for (empty outside a task)."
  value       = local.task_id
}

output "pid_file" {
  description = "The PID file AgentAPI writes (for another stop or status script)."
  value       = local.pid_file
}

output "state_file" {
  description = "AgentAPI's state file ($HOME is expanded by the shell that reads it)."
  value       = local.state_file
}
