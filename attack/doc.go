// Package attack holds Signpost's attack suite: tests that try each attack
// named in SECURITY.md against the real proxy (goproxy with Signpost
// attached, a real SQLite store, a real node and, for crash safety, the
// real binary) and assert the outcome Signpost must have.
//
// Every test runs on loopback only: origins are testkit servers, and names
// resolve through a test resolver, never DNS. The package owns no product
// code; it does not fix what it finds. A test that finds a product bug is
// kept, skipped with "finding: …", and listed in SECURITY.md.
package attack
