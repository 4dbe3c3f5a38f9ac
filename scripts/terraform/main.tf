# agentapi-lifecycle for Coder templates: downloads and verifies the binary, runs `shutdown` in a
# stop script, and hands an agent module the `start` command prefix.

terraform {
  required_version = ">= 1.0"
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

variable "release_base_url" {
  type        = string
  description = "Where releases are published: <release_base_url>/<version>/SHA256SUMS and agentapi-lifecycle-linux-<x64|arm64>[.gz]."
  validation {
    condition     = can(regex("^https?://[^[:space:]\"'$`]+$", var.release_base_url))
    error_message = "release_base_url must be an http(s) URL without spaces or quotes."
  }
}

variable "release_version" {
  type        = string
  description = "The agentapi-lifecycle version to install."
  default     = "0.1.0"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$", var.release_version))
    error_message = "release_version must be a semantic version such as 0.1.0."
  }
}

variable "install_dir" {
  type        = string
  description = "Where binaries are kept, one folder per version. On persistent storage, a restart downloads nothing."
  default     = "$HOME/.cache/agentapi-lifecycle"
  validation {
    condition     = !can(regex("[\"'`[:space:]]", var.install_dir))
    error_message = "install_dir must not contain spaces or quotes."
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
  description = "AgentAPI's state file, on persistent storage. Empty: $HOME/.agentapi/state.json of the workspace user."
  default     = ""
  validation {
    condition     = !can(regex("[\"'`[:space:]]", var.state_file_path))
    error_message = "state_file_path must not contain spaces or quotes."
  }
}

variable "pid_file_path" {
  type        = string
  description = "The PID file AgentAPI writes. Give each module instance in a workspace its own."
  default     = "/tmp/agentapi.pid"
  validation {
    condition     = can(regex("^/[^\"'`[:space:]]*$", var.pid_file_path))
    error_message = "pid_file_path must be an absolute path without spaces or quotes."
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

variable "checkpoint_interval" {
  type        = number
  description = "Seconds between checkpoints (state saved, snapshot posted) while the agent runs; 0 turns them off."
  default     = 0
  validation {
    condition     = var.checkpoint_interval == 0 || var.checkpoint_interval >= 10
    error_message = "checkpoint_interval must be 0 (off) or at least 10 seconds."
  }
}

data "coder_task" "me" {}

locals {
  # Outside a task the id is not empty but meaningless: an empty one makes shutdown skip the snapshot.
  task_id    = data.coder_task.me.enabled ? data.coder_task.me.id : ""
  binary     = "${var.install_dir}/${var.release_version}/agentapi-lifecycle"
  state_file = var.state_file_path != "" ? var.state_file_path : "$HOME/.agentapi/state.json"
  start_prefix = join(" ", compact([
    "\"${local.binary}\"", "start",
    "--port", tostring(var.agentapi_port),
    "--pid-file", "\"${var.pid_file_path}\"",
    "--state-file", "\"${local.state_file}\"",
    var.enable_state_persistence ? "" : "--no-state-persistence",
    var.checkpoint_interval > 0 ? "--checkpoint-interval ${var.checkpoint_interval}s" : "",
    var.checkpoint_interval > 0 && local.task_id != "" ? "--task-id ${local.task_id}" : "",
    "--",
  ]))
  shutdown_flags = join(" ", compact([
    var.enable_state_persistence ? "" : "--no-state-persistence",
    var.task_log_snapshot ? "" : "--no-snapshot",
  ]))
}

resource "coder_script" "install" {
  agent_id           = var.agent_id
  display_name       = "agentapi-lifecycle: install"
  icon               = "/icon/terminal.svg"
  run_on_start       = true
  start_blocks_login = false
  script = templatefile("${path.module}/install.sh.tftpl", {
    release_base_url = var.release_base_url
    release_version  = var.release_version
    install_dir      = var.install_dir
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
    pid_file     = var.pid_file_path
    max_messages = var.max_messages
    timeout      = var.shutdown_timeout
    extra_flags  = local.shutdown_flags
  })
}

output "binary_path" {
  description = "Where the binary is installed ($HOME is expanded by the shell that runs it)."
  value       = local.binary
}

output "start_command_prefix" {
  description = "Put this in front of the agent command to run AgentAPI with state persistence, e.g. \"$${prefix} claude --continue\"."
  value       = local.start_prefix
}

output "task_id" {
  description = "The task id the stop script posts the snapshot for (empty outside a task)."
  value       = local.task_id
}
