"""How an action reaches the real system that owns it: Slurm (its commands over SSH on the scheduler host),
the node's BMC (Redfish), or the node itself (plain SSH)."""
