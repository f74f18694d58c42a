"""``evsectl bench``'s WebAPI figures (issue 19): the web server under load
at the budget heap, and what an answer costs against the bare framework.
"""

# The heap the firmware is held to, the app in ROM (tests/test_heap_budget.py),
# for the 64-bit unix port.
BUDGET_HEAP = "98k"
