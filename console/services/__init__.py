"""Long-running work, each piece a service with a start and a stop: the live telemetry (one SSH stream per
node), the slow path (health details every 30 s), the scheduler watch (Slurm's node states), the actions
(the runner and its audit store) and a one-shot reading for ``poll --once``.

Qt-free: the window and the headless commands use the same services; ``console.app`` wires them.
"""
