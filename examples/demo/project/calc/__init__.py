"""calc: a tiny arithmetic library, the project the Orchestra demo works on."""
