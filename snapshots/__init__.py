"""`make snapshots` and `make rollback`: the snapshots of a stack's VMs on their hosts, and reverting one."""
