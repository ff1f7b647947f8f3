package attack_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// built is the outcome of building the signpost binary.
type built struct {
	path string
	err  error
}

// binary holds the build's outcome once it is done; a reader puts it
// back for the next.
var binary = make(chan built, 1)

// TestMain builds the signpost binary in the background (the crash tests
// run it; building takes seconds the other tests need not wait for), and
// silences the standard logger: the test origins (httptest servers) log a
// line for every TLS handshake that the attacks abandon on purpose.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	dir, err := os.MkdirTemp("", "signpost-attack-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Start before any test runs, so that the goroutines os/exec starts
	// are there when the leak test takes its baseline.
	wait := build(dir)
	go func() { binary <- wait() }()
	code := m.Run()
	<-binary // let the build finish before its directory goes
	os.RemoveAll(dir)
	os.Exit(code)
}

// build starts go build ./cmd/signpost into dir and returns the wait
// for its outcome.
func build(dir string) func() built {
	// The go command that runs these tests is on PATH (go test puts its
	// GOROOT/bin there for the test binary).
	goTool, err := exec.LookPath("go")
	if err != nil {
		return func() built { return built{err: fmt.Errorf("finding the go command: %w", err)} }
	}
	path := filepath.Join(dir, "signpost")
	var out bytes.Buffer
	cmd := exec.Command(goTool, "build", "-o", path, "github.com/signpost-gateway/signpost/cmd/signpost")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return func() built { return built{err: fmt.Errorf("go build ./cmd/signpost: %w", err)} }
	}
	return func() built {
		if err := cmd.Wait(); err != nil {
			return built{err: fmt.Errorf("go build ./cmd/signpost: %w\n%s", err, out.Bytes())}
		}
		return built{path: path}
	}
}
