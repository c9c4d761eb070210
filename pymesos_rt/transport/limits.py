"""Frame-size limits of the channels (kept apart so that executors need not import tornado)."""

DATA_PLANE_MAX = 2**31  # driver <-> executor: large objects travel here
CONTROL_PLANE_MAX = 16 * 2**20
