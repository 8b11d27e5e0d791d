"""External tools vcbench runs, behind small neutral wrappers (no codec or metric logic here)."""
