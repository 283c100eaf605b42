"""Phase 2: score a potential against a reference oracle (EOS, elastic constants, phonons,
an MD stress test) and gate it with a typed pass/fail report."""
