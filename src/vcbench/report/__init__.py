"""Reports people read: BD tables, RD and per-frame plots, visual crops, index.html and report.md."""
