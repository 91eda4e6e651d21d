"""Export-end notifications: webhooks signed with HMAC-SHA256, retried with backoff,
every attempt recorded in the job store (server/notifications/notifier.py)."""
