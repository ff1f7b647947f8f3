package store_test

import (
	"path/filepath"
	"testing"

	"github.com/signpost-gateway/signpost/store/storetest"
)

// TestSQLiteConformance runs the suite every backend passes, through
// store.Open with a "sqlite:" DSN, on a new file per subtest.
func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "signpost.db")
	})
}
