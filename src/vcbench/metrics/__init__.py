"""Quality metrics: per-frame metrics behind one interface, VMAF through libvmaf."""
