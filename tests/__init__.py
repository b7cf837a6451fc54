"""formsvc test suite."""
