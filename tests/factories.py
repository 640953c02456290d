"""Test data that tests of several packages share (the API's, the gateway's, and the benchmarks)."""

from galvani.demo import NO_CONTRAINDICATION

# Screening answers with no reason not to treat: a test changes only the answers it is about.
NOTHING = NO_CONTRAINDICATION  # the demo's client is screened with these too
