"""Feeds: subscriptions, the poller's records, and the papers feeds list."""
