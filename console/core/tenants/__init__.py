"""Tenants: who holds which accelerators (Slurm's allocations, the inventory's tenants, idle streaks), moving
nodes between tenants, and Slurm's accounting beside the console's own figures."""
