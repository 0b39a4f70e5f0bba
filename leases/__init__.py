"""VM leases: renewing a VM group's `expires` as a reviewed change to the stack file."""
