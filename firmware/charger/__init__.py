"""The one charger interface every protocol adapter uses (design.md, "One
charger interface"): ``manager`` (commands and state), ``events`` (the
session-event stream) and ``limits`` (the limit arbiter)."""
