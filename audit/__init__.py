"""The fleet audit: what really runs on a stack's hosts, judged against its declaration and state."""
