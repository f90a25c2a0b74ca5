"""Every stop rule and gate in one place: the kill switch, the cycle lock, the daily budget, the
idle gate, the failure breaker and cost budget, loop detection, and stopping a running step."""
