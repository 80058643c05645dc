"""Actions: the action types, the planning every kind shares, one module per kind (kinds/), the roles that
may act, and the runner's queue, deadlines and audit writes."""
