"""Alert rules evaluated on a schedule, with root-cause grouping and Slack notifications."""
