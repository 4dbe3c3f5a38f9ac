# The module's own tests, run by the engine (`tofu test`, as the registry's modules are tested):
# plan-time assertions on the rendered scripts and outputs. The data sources Coder fills in at
# build time are overridden here, so each run says exactly which workspace it plans for.

variables {
  agent_id = "7ce3f6b4-1f0e-4c47-9e1d-2a0b8f0c9d11"
}

override_data {
  target = data.coder_workspace.me
  values = {
    id          = "5b5c7f59-0ad9-4c4e-9a36-6b0e7cbd0f01"
    name        = "task-ws"
    start_count = 1
  }
}

override_data {
  target = data.coder_workspace_owner.me
  values = {
    name = "alice"
  }
}

run "outside_a_task" {
  command = plan

  override_data {
    target = data.coder_task.me
    values = {
      enabled = false
      id      = "0b6b9f3e-6c2f-4a8e-9d57-3f1c2e4a5b6c"
    }
  }

  assert {
    condition     = output.task_id == ""
    error_message = "Outside a task the id must be empty, whatever data.coder_task.me.id says."
  }
  assert {
    condition     = strcontains(coder_script.shutdown.script, "--task-id \"\"")
    error_message = "The stop script must embed the empty task id, which skips the snapshot."
  }
  assert {
    condition     = length(coder_script.start) == 0 && length(coder_app.agentapi) == 0
    error_message = "Without agent_command nothing starts AgentAPI and there is no app."
  }
  assert {
    condition     = output.scripts == ["agentapi-lifecycle-agentapi-install_script"]
    error_message = "The scripts output lists the install unit alone."
  }
}

run "a_task_with_an_agent" {
  command = plan

  variables {
    agent_command = "claude --continue"
    agent_type    = "claude"
  }

  override_data {
    target = data.coder_task.me
    values = {
      enabled = true
      id      = "3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b"
    }
  }

  assert {
    condition     = output.task_id == "3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b"
    error_message = "In a task the stop script posts for its id."
  }
  assert {
    condition     = strcontains(coder_script.shutdown.script, "--task-id \"3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b\"")
    error_message = "The stop script embeds the task id."
  }
  assert {
    condition     = coder_script.shutdown.run_on_stop && !coder_script.shutdown.run_on_start && coder_script.shutdown.timeout == 40
    error_message = "shutdown runs on stop, with shutdown_timeout + 10 s."
  }
  assert {
    condition     = strcontains(coder_script.start[0].script, base64encode("claude --continue")) && strcontains(coder_script.start[0].script, "AGENT_TYPE='claude'")
    error_message = "The start script carries the agent command and type."
  }
  assert {
    condition     = coder_app.agentapi[0].url == "http://localhost:3284/" && one(coder_app.agentapi[0].healthcheck).url == "http://localhost:3284/status"
    error_message = "The app is AgentAPI on localhost, checked by /status."
  }
  assert {
    condition     = output.scripts == ["agentapi-lifecycle-agentapi-install_script", "agentapi-lifecycle-agentapi-start_script"]
    error_message = "The scripts output lists install, then start."
  }
  assert {
    condition     = output.pid_file == "$HOME/.agentapi/agentapi.pid" && output.state_file == "$HOME/.agentapi/state.json"
    error_message = "The default PID and state files."
  }
}

run "a_second_instance_shares_nothing_but_the_binary" {
  command = plan

  variables {
    name          = "review"
    agentapi_port = 3300
    agent_command = "reviewer"
  }

  assert {
    condition     = output.pid_file == "$HOME/.agentapi/review/agentapi.pid" && output.state_file == "$HOME/.agentapi/review/state.json"
    error_message = "Another name gets its own PID and state files."
  }
  assert {
    condition     = coder_app.agentapi[0].slug == "review" && coder_app.agentapi[0].url == "http://localhost:3300/"
    error_message = "Another name gets its own app slug; another port its own URL."
  }
  assert {
    condition     = output.scripts[0] == "agentapi-lifecycle-review-install_script"
    error_message = "Another name gets its own sync units."
  }
}

run "a_path_based_app_serves_the_chat_under_its_path" {
  command = plan

  variables {
    agent_command = "my-agent"
    subdomain     = false
  }

  assert {
    condition     = strcontains(coder_script.start[0].script, "CHAT_BASE_PATH='/@alice/task-ws.${var.agent_id}/apps/agentapi/chat'")
    error_message = "A path-based app needs AgentAPI's chat under Coder's app path."
  }
}

run "companion_mode" {
  command = plan

  variables {
    stop_agentapi     = false
    task_log_snapshot = false
    pid_file_path     = "/home/coder/.claude-module/agentapi.pid"
    state_file_path   = "$HOME/.claude-module/agentapi-state.json"
  }

  assert {
    condition     = strcontains(coder_script.shutdown.script, "--no-snapshot --no-stop")
    error_message = "Companion mode neither stops AgentAPI nor (with task_log_snapshot = false) posts."
  }
  assert {
    condition     = strcontains(coder_script.shutdown.script, "--pid-file \"/home/coder/.claude-module/agentapi.pid\"")
    error_message = "Companion mode takes the other module's PID file as given."
  }
}

run "checkpoints_every_two_minutes_at_a_slot_of_the_workspace_s_own" {
  command = plan

  assert {
    condition     = length(coder_script.checkpoint) == 1 && can(regex("^([0-9]|[1-5][0-9]) [01]-59/2 \\* \\* \\* \\*$", coder_script.checkpoint[0].cron))
    error_message = "By default a checkpoint runs every 2 minutes, at a second and minute parity picked by the workspace id."
  }
  assert {
    condition     = !coder_script.checkpoint[0].run_on_start && !coder_script.checkpoint[0].run_on_stop && strcontains(coder_script.checkpoint[0].script, "checkpoint \\\n  --task-id")
    error_message = "The checkpoint script runs on its schedule only, and runs `checkpoint`."
  }
}

run "checkpoints_on_a_schedule_of_the_template_s_or_off" {
  command = plan

  variables {
    checkpoint_cron = "@every 5m"
  }

  assert {
    condition     = coder_script.checkpoint[0].cron == "@every 5m"
    error_message = "A given schedule is used as it is."
  }
}

run "checkpoints_off" {
  command = plan

  variables {
    checkpoint_cron = ""
  }

  assert {
    condition     = length(coder_script.checkpoint) == 0
    error_message = "\"\" turns checkpoints off."
  }
}

run "a_unix_cron_line_is_refused" {
  command = plan

  variables {
    checkpoint_cron = "*/2 * * * *"
  }

  expect_failures = [var.checkpoint_cron]
}

run "the_agent_s_own_resume_arguments_reach_start" {
  command = plan

  variables {
    agent_command     = "my-agent"
    agent_resume_args = ["--resume", "last"]
    resume_agent      = false
  }

  assert {
    condition     = strcontains(coder_script.start[0].script, "RESUME_ARGS_B64='${base64encode("--resume\nlast")}'") && strcontains(coder_script.start[0].script, "--no-resume-agent")
    error_message = "agent_resume_args reach start as --resume-args, one each; resume_agent = false as --no-resume-agent."
  }
}

run "a_name_that_is_no_app_slug_is_refused" {
  command = plan

  variables {
    name = "agent-"
  }

  expect_failures = [var.name]
}

run "another_release_without_hashes_is_refused" {
  command = plan

  variables {
    release_version = "9.9.9"
  }

  expect_failures = [coder_script.install]
}

# Paths reach the scripts inside double quotes: nothing in them may be something a shell expands
# but a leading $HOME (issue #37: `$(...)` in adopt_state_file ran when the start script did).
run "a_path_a_shell_would_expand_is_refused" {
  command = plan

  variables {
    adopt_state_file = "$HOME/x$(touch$${IFS}/tmp/pwned)"
    pid_file_path    = "/tmp/a`id`"
    state_file_path  = "$HOME/state;rm -rf ~"
    install_dir      = "$HOME/$${HOME}/bin"
    workdir          = "/srv/project|tee"
  }

  expect_failures = [var.adopt_state_file, var.pid_file_path, var.state_file_path, var.install_dir, var.workdir]
}

run "a_path_under_home_or_absolute_is_taken" {
  command = plan

  variables {
    adopt_state_file = "$HOME/.claude-module/agentapi-state.json"
    pid_file_path    = "/run/user/1000/agentapi.pid"
    state_file_path  = "$HOME/persist/agent-api_1.2/state.json"
    install_dir      = "/opt/agentapi-lifecycle"
    workdir          = "$HOME"
  }
}
