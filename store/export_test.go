package store

import "testing"

// NewPostgresTestDSN returns the DSN of a new, empty schema on the test
// server, dropped when the test ends, for the conformance suite in package
// store_test.
func NewPostgresTestDSN(t *testing.T) string {
	t.Helper()
	return newPostgresTestDSN(t)
}

// RequirePostgres fails the test if the test server does not answer, or
// skips it if SIGNPOST_TEST_POSTGRES=skip.
func RequirePostgres(t *testing.T) {
	t.Helper()
	pgTestBaseDSN(t)
}
