"""Notification pipeline: plan (group by root edge, dedup against the log, silences) ->
render (Block Kit) -> queue (persisted, retried) -> sender (Slack webhook, bot, or console)."""
