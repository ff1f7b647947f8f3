package store_test

import (
	"testing"

	"github.com/signpost-gateway/signpost/store"
	"github.com/signpost-gateway/signpost/store/storetest"
)

// TestPostgresConformance runs the suite every backend passes, through
// store.Open with a "postgres://" DSN, in a new schema per subtest.
func TestPostgresConformance(t *testing.T) {
	store.RequirePostgres(t)
	storetest.Run(t, store.NewPostgresTestDSN)
}
