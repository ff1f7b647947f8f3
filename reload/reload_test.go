package reload

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/goleak"
)

// testOptions keep the real-file tests fast (a burst is over after 100ms of
// quiet) and send the watcher's log lines to the test's output.
func testOptions(t *testing.T) Options {
	return Options{Debounce: 100 * ms, MaxDelay: time.Second, Logger: testLogger(t)}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLimit bounds every wait on the watcher; the race detector on a busy
// machine is slow, a broken watcher is slower.
const waitLimit = 10 * time.Second

// harness runs a Watcher over a configuration directory and records what
// each callback read, the way config.Load would read it.
type harness struct {
	t   *testing.T
	dir string
	w   *Watcher

	snapshots chan string // what each callback read, in order
	calls     atomic.Int32
	closed    atomic.Bool  // set once Close has returned
	late      atomic.Int32 // callbacks that started after Close returned

	mu   sync.Mutex
	last string          // what the latest callback read
	seen map[string]bool // settle markers the event loop has handled

	markers atomic.Int32
}

// start creates the configuration directory (parent/conf) with setup, then
// starts a watcher on it. It checks, at the end of the test, that the
// watcher's goroutines are gone after Close.
func start(t *testing.T, setup func(t *testing.T, dir string), o Options) *harness {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := &harness{
		t:         t,
		dir:       filepath.Join(t.TempDir(), "conf"),
		snapshots: make(chan string, 1000),
		seen:      map[string]bool{},
	}
	setup(t, h.dir)
	w, err := New(h.dir, h.onChange, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w.eventHook = func(ev fsnotify.Event) {
		if strings.HasPrefix(filepath.Base(ev.Name), ".settle-") {
			h.mu.Lock()
			h.seen[ev.Name] = true
			h.mu.Unlock()
		}
	}
	if err := w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.w = w
	t.Cleanup(h.close)
	return h
}

func (h *harness) onChange() {
	if h.closed.Load() {
		h.late.Add(1)
	}
	s := snapshot(h.dir)
	h.mu.Lock()
	h.last = s
	h.mu.Unlock()
	h.calls.Add(1)
	select {
	case h.snapshots <- s:
	default:
		h.t.Errorf("more than %d callbacks", cap(h.snapshots))
	}
}

// close closes the watcher and checks that no callback came after.
func (h *harness) close() {
	h.t.Helper()
	if err := h.w.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	h.closed.Store(true)
	if n := h.late.Load(); n != 0 {
		h.t.Errorf("got %d callbacks after Close returned; want 0", n)
	}
}

// waitFor waits until a callback reads want.
func (h *harness) waitFor(want string) {
	h.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	var got []string
	for {
		select {
		case s := <-h.snapshots:
			if s == want {
				return
			}
			got = append(got, s)
		case <-deadline.C:
			h.t.Fatalf("callbacks read %q; want one to read %q", got, want)
		}
	}
}

// settle waits until the watcher has handled every event caused so far and
// has made every callback those events are owed. It creates a marker next to
// the configuration directory and waits for the event loop to see it:
// inotify delivers one watcher's events in order, so every earlier event has
// been handled. Then it waits for the debouncer to have nothing pending.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		// A new marker each round: the parent's watch may be re-established
		// only after a marker was made.
		m := filepath.Join(filepath.Dir(h.dir), fmt.Sprintf(".settle-%d", h.markers.Add(1)))
		if err := os.Mkdir(m, 0o755); err != nil {
			h.t.Fatalf("making settle marker: %v", err)
		}
		if poll(250*ms, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.seen[m] }) {
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the watcher never saw the settle marker %s", m)
		}
		h.t.Logf("the watcher has not seen settle marker %s yet; making another", m)
	}
	if !poll(time.Until(deadline), func() bool { return !h.w.deb.busy() }) {
		h.t.Fatalf("the debouncer stayed busy")
	}
}

// checkBurst settles, then checks that the callbacks since the last check
// were one or two and that the latest read want.
func (h *harness) checkBurst(want string) {
	h.t.Helper()
	h.settle()
	if n := h.calls.Swap(0); n < 1 || n > 2 {
		h.t.Errorf("got %d callbacks for one change; want 1 or 2", n)
	}
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	if last != want {
		h.t.Errorf("the last callback read %q; want %q", last, want)
	}
	for len(h.snapshots) > 0 {
		<-h.snapshots
	}
}

// poll reports whether cond became true within d, checking every few
// milliseconds.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * ms)
	}
}

// snapshot reads dir as config.Load does: the top-level *.yaml and *.yml
// files, hidden names skipped, symlinks followed, in name order.
func snapshot(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	var parts []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || (!strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			parts = append(parts, n+"=!"+err.Error())
			continue
		}
		parts = append(parts, n+"="+string(b))
	}
	return strings.Join(parts, " ")
}

// File helpers; each fails the test on error.

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// conf returns a setup that makes the directory with the given files
// (name, content, name, content, …).
func conf(kv ...string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		mkdir(t, dir)
		for i := 0; i+1 < len(kv); i += 2 {
			write(t, filepath.Join(dir, kv[i]), kv[i+1])
		}
	}
}

// replaceByTemp writes data to a temporary file made from pattern in path's
// directory, then renames it over path: what an atomic writer and VS Code do.
func replaceByTemp(t *testing.T, path, pattern, data string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	rename(t, f.Name(), path)
}

// vimSave saves path the way vim does with its default 'backupcopy=auto' on a
// file with one link: the swap file exists while editing; vim probes the
// directory with a file named 4913, renames the original to the backup
// name~, writes the new file, then deletes the backup and, on quit, the swap.
func vimSave(t *testing.T, path, data string) {
	t.Helper()
	dir, name := filepath.Split(path)
	swp := filepath.Join(dir, "."+name+".swp")
	write(t, swp, "b0VIM 9.1")
	probe := filepath.Join(dir, "4913")
	write(t, probe, "")
	remove(t, probe)
	rename(t, path, path+"~")
	write(t, path, data)
	remove(t, path+"~")
	remove(t, swp)
}

// kubeletWrite projects payload into dir exactly as the kubelet's
// AtomicWriter.Write does for a ConfigMap volume (kubernetes
// pkg/volume/util/atomic_writer.go; step numbers are its own). The visible
// files are symlinks name -> ..data/name; ..data is a symlink to a
// timestamped directory holding the data.
func kubeletWrite(t *testing.T, dir string, payload map[string]string) {
	t.Helper()
	dataDirPath := filepath.Join(dir, "..data")
	// (2) The current timestamped directory, from the data directory link.
	oldTsDir, err := os.Readlink(dataDirPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	oldTsPath := filepath.Join(dir, oldTsDir)
	var pathsToRemove []string
	shouldWrite := true
	if oldTsDir != "" {
		// (3) Paths of the old version the payload no longer has.
		entries, err := os.ReadDir(oldTsPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := payload[e.Name()]; !ok {
				pathsToRemove = append(pathsToRemove, e.Name())
			}
		}
		// (4) Whether the data changed at all.
		shouldWrite = false
		for name, data := range payload {
			old, err := os.ReadFile(filepath.Join(oldTsPath, name))
			if err != nil || string(old) != data {
				shouldWrite = true
			}
		}
		if !shouldWrite && len(pathsToRemove) == 0 {
			oldTsDir = ""
		} else {
			shouldWrite = true
		}
	}
	if shouldWrite {
		// (5) A new timestamped directory.
		tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(tsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		tsDirName := filepath.Base(tsDir)
		// (6) The payload, into it.
		for name, data := range payload {
			p := filepath.Join(tsDir, name)
			write(t, p, data)
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// (8) ..data_tmp, a symlink to the new directory.
		newDataDirPath := filepath.Join(dir, "..data_tmp")
		symlink(t, tsDirName, newDataDirPath)
		// (9) Renamed over ..data: the atomic switch.
		rename(t, newDataDirPath, dataDirPath)
	}
	// (10) Visible symlinks for new names.
	for name := range payload {
		if _, err := os.Readlink(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			symlink(t, filepath.Join("..data", name), filepath.Join(dir, name))
		}
	}
	// (11) Visible symlinks for names gone.
	sort.Sort(sort.Reverse(sort.StringSlice(pathsToRemove)))
	for _, name := range pathsToRemove {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// (12) The previous timestamped directory.
	if oldTsDir != "" {
		remove(t, oldTsPath)
	}
}

func kubeletConf(payload map[string]string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		mkdir(t, dir)
		kubeletWrite(t, dir, payload)
	}
}

// TestWatcherSeesEveryWayFilesChange makes each kind of change to a real
// directory and checks that the callback ran, read the new content, and ran
// at most twice for the change; then, where the change could break the
// watch, that a further change is still seen.
func TestWatcherSeesEveryWayFilesChange(t *testing.T) {
	type step struct {
		change func(t *testing.T, dir string)
		want   string // what the callback must read after the change
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		steps []step
	}{
		{
			name:  "write in place",
			setup: conf("a.yaml", "v1"),
			steps: []step{{
				change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.yaml"), "v2") },
				want:   "a.yaml=v2",
			}},
		},
		{
			name:  "a burst of 50 writes in place",
			setup: conf("a.yaml", "v0", "b.yaml", "b"),
			steps: []step{{
				change: func(t *testing.T, dir string) {
					for i := 1; i <= 50; i++ {
						write(t, filepath.Join(dir, "a.yaml"), fmt.Sprintf("v%d", i))
					}
				},
				want: "a.yaml=v50 b.yaml=b",
			}},
		},
		{
			name:  "vim save by rename, with backup and swap files",
			setup: conf("a.yaml", "v1"),
			steps: []step{
				{change: func(t *testing.T, dir string) { vimSave(t, filepath.Join(dir, "a.yaml"), "v2") }, want: "a.yaml=v2"},
				{change: func(t *testing.T, dir string) { vimSave(t, filepath.Join(dir, "a.yaml"), "v3") }, want: "a.yaml=v3"},
			},
		},
		{
			name:  "VS Code save: temporary file renamed over",
			setup: conf("a.yaml", "v1"),
			steps: []step{{
				change: func(t *testing.T, dir string) {
					replaceByTemp(t, filepath.Join(dir, "a.yaml"), "a.yaml.*.vsctmp", "v2")
				},
				want: "a.yaml=v2",
			}},
		},
		{
			name:  "atomic replace from a hidden temporary file",
			setup: conf("a.yaml", "v1", "b.yml", "b1"),
			steps: []step{{
				change: func(t *testing.T, dir string) {
					replaceByTemp(t, filepath.Join(dir, "b.yml"), ".b.yml.tmp-*", "b2")
				},
				want: "a.yaml=v1 b.yml=b2",
			}},
		},
		{
			name:  "Kubernetes ConfigMap update: ..data symlink swap",
			setup: kubeletConf(map[string]string{"a.yaml": "v1", "b.yaml": "b1"}),
			steps: []step{
				{
					change: func(t *testing.T, dir string) {
						kubeletWrite(t, dir, map[string]string{"a.yaml": "v2", "b.yaml": "b1"})
					},
					want: "a.yaml=v2 b.yaml=b1",
				},
				{
					change: func(t *testing.T, dir string) {
						kubeletWrite(t, dir, map[string]string{"a.yaml": "v3", "b.yaml": "b3"})
					},
					want: "a.yaml=v3 b.yaml=b3",
				},
			},
		},
		{
			name:  "Kubernetes ConfigMap keys added and removed",
			setup: kubeletConf(map[string]string{"a.yaml": "v1", "b.yaml": "b1"}),
			steps: []step{{
				change: func(t *testing.T, dir string) {
					kubeletWrite(t, dir, map[string]string{"a.yaml": "v1", "c.yaml": "c1"})
				},
				want: "a.yaml=v1 c.yaml=c1",
			}},
		},
		{
			name:  "file deleted then recreated",
			setup: conf("a.yaml", "v1"),
			steps: []step{{
				change: func(t *testing.T, dir string) {
					remove(t, filepath.Join(dir, "a.yaml"))
					write(t, filepath.Join(dir, "a.yaml"), "v2")
				},
				want: "a.yaml=v2",
			}},
		},
		{
			name:  "files added and removed",
			setup: conf("a.yaml", "v1"),
			steps: []step{
				{change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "b.yaml"), "b1") }, want: "a.yaml=v1 b.yaml=b1"},
				{change: func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "a.yaml")) }, want: "b.yaml=b1"},
			},
		},
		{
			name:  "directory replaced by renaming a new one into place",
			setup: conf("a.yaml", "v1"),
			steps: []step{
				{
					change: func(t *testing.T, dir string) {
						conf("a.yaml", "v2", "b.yaml", "b2")(t, dir+".new")
						rename(t, dir, dir+".old")
						rename(t, dir+".new", dir)
						remove(t, dir+".old")
					},
					want: "a.yaml=v2 b.yaml=b2",
				},
				{change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.yaml"), "v3") }, want: "a.yaml=v3 b.yaml=b2"},
			},
		},
		{
			name:  "directory deleted and recreated",
			setup: conf("a.yaml", "v1"),
			steps: []step{
				{
					change: func(t *testing.T, dir string) {
						remove(t, dir)
						conf("a.yaml", "v2")(t, dir)
					},
					want: "a.yaml=v2",
				},
				{change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.yaml"), "v3") }, want: "a.yaml=v3"},
			},
		},
		{
			name: "directory is a symlink, swapped to a new release",
			setup: func(t *testing.T, dir string) {
				conf("a.yaml", "v1")(t, dir+"-r1")
				symlink(t, filepath.Base(dir)+"-r1", dir)
			},
			steps: []step{
				{
					change: func(t *testing.T, dir string) {
						conf("a.yaml", "v2")(t, dir+"-r2")
						symlink(t, filepath.Base(dir)+"-r2", dir+".tmp")
						rename(t, dir+".tmp", dir)
					},
					want: "a.yaml=v2",
				},
				{change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.yaml"), "v3") }, want: "a.yaml=v3"},
			},
		},
		{
			name: "symlinked file edited in place where it lives",
			setup: func(t *testing.T, dir string) {
				conf("policy.yaml", "p1")(t, filepath.Join(filepath.Dir(dir), "rules"))
				mkdir(t, dir)
				symlink(t, "../rules/policy.yaml", filepath.Join(dir, "policy.yaml"))
			},
			steps: []step{
				{
					change: func(t *testing.T, dir string) {
						write(t, filepath.Join(filepath.Dir(dir), "rules", "policy.yaml"), "p2")
					},
					want: "policy.yaml=p2",
				},
				{
					change: func(t *testing.T, dir string) {
						vimSave(t, filepath.Join(filepath.Dir(dir), "rules", "policy.yaml"), "p3")
					},
					want: "policy.yaml=p3",
				},
				{
					change: func(t *testing.T, dir string) {
						target := filepath.Join(filepath.Dir(dir), "rules", "policy.yaml")
						remove(t, target)
						write(t, target, "p4")
					},
					want: "policy.yaml=p4",
				},
			},
		},
		{
			name: "dangling symlinked file whose target appears",
			setup: func(t *testing.T, dir string) {
				mkdir(t, filepath.Join(filepath.Dir(dir), "rules"))
				conf("a.yaml", "v1")(t, dir)
				symlink(t, "../rules/policy.yaml", filepath.Join(dir, "policy.yaml"))
			},
			steps: []step{{
				change: func(t *testing.T, dir string) {
					write(t, filepath.Join(filepath.Dir(dir), "rules", "policy.yaml"), "p1")
				},
				want: "a.yaml=v1 policy.yaml=p1",
			}},
		},
		{
			name:  "directory mode changed",
			setup: conf("a.yaml", "v1"),
			steps: []step{{
				change: func(t *testing.T, dir string) {
					if err := os.Chmod(dir, 0o700); err != nil {
						t.Fatal(err)
					}
				},
				want: "a.yaml=v1",
			}},
		},
		{
			name: "symlinked file pointed elsewhere, then edited there",
			setup: func(t *testing.T, dir string) {
				conf("a.yaml", "A1", "b.yaml", "B1")(t, filepath.Join(filepath.Dir(dir), "rules"))
				mkdir(t, dir)
				symlink(t, "../rules/a.yaml", filepath.Join(dir, "policy.yaml"))
			},
			steps: []step{
				{
					change: func(t *testing.T, dir string) {
						symlink(t, "../rules/b.yaml", filepath.Join(dir, ".policy.yaml.tmp"))
						rename(t, filepath.Join(dir, ".policy.yaml.tmp"), filepath.Join(dir, "policy.yaml"))
					},
					want: "policy.yaml=B1",
				},
				{
					change: func(t *testing.T, dir string) {
						write(t, filepath.Join(filepath.Dir(dir), "rules", "b.yaml"), "B2")
					},
					want: "policy.yaml=B2",
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.setup, testOptions(t))
			for i, s := range tc.steps {
				s.change(t, h.dir)
				h.waitFor(s.want)
				h.checkBurst(s.want)
				if t.Failed() {
					t.Fatalf("step %d failed", i+1)
				}
			}
		})
	}
}

// TestCallbackSeesFinalContent does the kubelet's swap and reads the files
// through their name.yaml symlinks in the callback: with the default
// debounce, every callback reads the new content, none a mixture.
func TestCallbackSeesFinalContent(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := filepath.Join(t.TempDir(), "conf")
	kubeletConf(map[string]string{"listen.yaml": "old listen", "policy.yaml": "old policy"})(t, dir)

	type read struct{ listen, policy string }
	reads := make(chan read, 100)
	w, err := New(dir, func() {
		l, _ := os.ReadFile(filepath.Join(dir, "listen.yaml"))
		p, _ := os.ReadFile(filepath.Join(dir, "policy.yaml"))
		reads <- read{string(l), string(p)}
	}, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	kubeletWrite(t, dir, map[string]string{"listen.yaml": "new listen", "policy.yaml": "new policy"})

	select {
	case r := <-reads:
		if r.listen != "new listen" || r.policy != "new policy" {
			t.Errorf("the callback read %+v; want the new content of both files", r)
		}
	case <-time.After(waitLimit):
		t.Fatal("no callback after the kubelet's swap")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	close(reads)
	for r := range reads {
		if r.listen != "new listen" || r.policy != "new policy" {
			t.Errorf("a later callback read %+v; want the new content of both files", r)
		}
	}
}

// TestDirectoryReturnsAfterPolling removes the directory and its parent, so
// that no watch can see them come back: polling must find the directory,
// call back once it is there, and watch it again.
func TestDirectoryReturnsAfterPolling(t *testing.T) {
	h := start(t, conf("a.yaml", "v1"), testOptions(t))
	parent := filepath.Dir(h.dir)
	remove(t, parent)
	if !poll(waitLimit, func() bool { return !h.w.Watching() }) {
		t.Fatal("Watching() stayed true after the directory was deleted")
	}
	conf("a.yaml", "v2")(t, h.dir)
	h.waitFor("a.yaml=v2")
	if !h.w.Watching() {
		t.Errorf("Watching() = false after a callback for the returned directory; want true")
	}
	h.checkBurst("a.yaml=v2")

	write(t, filepath.Join(h.dir, "a.yaml"), "v3")
	h.waitFor("a.yaml=v3")
	h.checkBurst("a.yaml=v3")
}

// TestNoCallbackWhileDirectoryMissing deletes the directory for good: the
// events of the deletion lead to no callback, since there is nothing to load.
func TestNoCallbackWhileDirectoryMissing(t *testing.T) {
	h := start(t, conf("a.yaml", "v1", "b.yaml", "b1"), testOptions(t))
	remove(t, h.dir)
	h.settle()
	if h.w.Watching() {
		t.Errorf("Watching() = true with the directory deleted; want false")
	}
	if n := h.calls.Load(); n != 0 {
		t.Errorf("got %d callbacks with the directory deleted; want 0", n)
	}
}

// TestOverflowCallsBack blocks the event loop until the kernel's inotify
// queue overflows, and checks that the lost events lead to a warning and a
// callback. The flood is of events next to the directory, in its parent,
// which call nothing back themselves: only the overflow can.
func TestOverflowCallsBack(t *testing.T) {
	limit, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skipf("cannot read the inotify queue limit: %v", err)
	}
	var queue int
	if _, err := fmt.Sscan(string(limit), &queue); err != nil || queue > 100_000 {
		t.Skipf("inotify queue limit %q is too large to overflow quickly", limit)
	}
	defer goleak.VerifyNone(t)

	parent := t.TempDir()
	dir := filepath.Join(parent, "conf")
	conf("a.yaml", "a")(t, dir)
	var logs lockedBuffer
	calls := make(chan struct{}, 1000)
	w, err := New(dir, func() { calls <- struct{}{} }, Options{
		Debounce: 50 * ms,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w.eventHook = func(fsnotify.Event) {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	x, y := filepath.Join(parent, "x"), filepath.Join(parent, "y")
	write(t, x, "x")
	write(t, y, "y")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the event loop saw no event")
	}
	// Alternate two names: inotify merges an event identical to the one
	// before it.
	for i := 0; i < 2*queue+8192; i++ {
		p := x
		if i%2 == 1 {
			p = y
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	close(release)

	if !poll(waitLimit, func() bool { return strings.Contains(logs.String(), "overflow") }) {
		t.Fatalf("no overflow warning; logs:\n%s", logs.String())
	}
	select {
	case <-calls:
	case <-time.After(waitLimit):
		t.Fatal("no callback after the overflow")
	}
	if !w.Watching() {
		t.Error("Watching() = false after an overflow; want true")
	}
}

// TestCloseWaitsForCallback closes the watcher while a callback runs: Close
// returns only after the callback has, and nothing runs after it.
func TestCloseWaitsForCallback(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := filepath.Join(t.TempDir(), "conf")
	conf("a.yaml", "v1")(t, dir)
	entered, release := make(chan struct{}), make(chan struct{})
	var running, after atomic.Bool
	var closed atomic.Bool
	var once sync.Once
	w, err := New(dir, func() {
		if closed.Load() {
			after.Store(true)
		}
		running.Store(true)
		once.Do(func() {
			close(entered)
			<-release
		})
		running.Store(false)
	}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "a.yaml"), "v2")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("no callback")
	}
	write(t, filepath.Join(dir, "a.yaml"), "v3") // owed another callback, which must not come

	closeReturned := make(chan error, 1)
	go func() { closeReturned <- w.Close() }()
	if !poll(waitLimit, func() bool {
		select {
		case <-w.done:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("Close did not begin")
	}
	select {
	case <-closeReturned:
		t.Fatal("Close returned while the callback was still running")
	default:
	}
	close(release)
	if err := <-closeReturned; err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed.Store(true)
	if running.Load() {
		t.Error("the callback was still running when Close returned")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if after.Load() {
		t.Error("a callback started after Close returned")
	}
}

// TestCloseDuringBurst closes the watcher while a burst is pending: the
// callback it was owed never comes.
func TestCloseDuringBurst(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := filepath.Join(t.TempDir(), "conf")
	conf("a.yaml", "v1")(t, dir)
	var calls atomic.Int32
	w, err := New(dir, func() { calls.Add(1) }, Options{Debounce: time.Hour, MaxDelay: time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{}, 100)
	w.eventHook = func(fsnotify.Event) {
		select {
		case seen <- struct{}{}:
		default:
		}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "a.yaml"), "v2")
	select {
	case <-seen:
	case <-time.After(waitLimit):
		t.Fatal("the event loop saw no event")
	}
	if !w.deb.busy() {
		t.Error("busy() = false after an event; want a callback owed")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("got %d callbacks; want 0 (the burst was cut short by Close)", n)
	}
}

func TestNewRejects(t *testing.T) {
	noop := func() {}
	tests := []struct {
		name     string
		dir      string
		onChange func()
		o        Options
		want     string
	}{
		{"no directory", "", noop, Options{}, "no configuration directory"},
		{"no callback", "conf", nil, Options{}, "no callback"},
		{"negative debounce", "conf", noop, Options{Debounce: -ms}, "negative"},
		{"negative maximum delay", "conf", noop, Options{MaxDelay: -ms}, "negative"},
		{"maximum delay under the debounce", "conf", noop, Options{Debounce: time.Second, MaxDelay: ms}, "shorter than the debounce"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.dir, tc.onChange, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v; want one saying %q", err, tc.want)
			}
			if w != nil {
				t.Errorf("New returned a watcher with its error")
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name                  string
		o                     Options
		wantQuiet, wantLatest time.Duration
	}{
		{"zero options", Options{}, DefaultDebounce, DefaultMaxDelay},
		{"a long debounce lifts the default maximum delay", Options{Debounce: 3 * time.Second}, 3 * time.Second, 3 * time.Second},
		{"both set", Options{Debounce: 50 * ms, MaxDelay: 500 * ms}, 50 * ms, 500 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New("conf", func() {}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if w.deb.quiet != tc.wantQuiet || w.deb.maxDelay != tc.wantLatest {
				t.Errorf("got debounce %v, maximum delay %v; want %v, %v", w.deb.quiet, w.deb.maxDelay, tc.wantQuiet, tc.wantLatest)
			}
			if !filepath.IsAbs(w.dir) {
				t.Errorf("got directory %q; want it made absolute", w.dir)
			}
		})
	}
}

func TestStartFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file.yaml")
	write(t, file, "x")
	tests := []struct {
		name string
		dir  string
		want string
	}{
		{"missing directory", filepath.Join(tmp, "missing"), "no such file"},
		{"a file, not a directory", file, "expected a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.dir, func() {}, Options{Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Start()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start error = %v; want one saying %q", err, tc.want)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close after a failed Start: %v", err)
			}
		})
	}
}

func TestStartAndCloseOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	t.Run("Start twice", func(t *testing.T) {
		w, err := New(dir, func() {}, Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(); err == nil || !strings.Contains(err.Error(), "already started") {
			t.Errorf("second Start error = %v; want \"already started\"", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Close before Start, then Start", func(t *testing.T) {
		w, err := New(dir, func() {}, Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close before Start: %v", err)
		}
		if err := w.Start(); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Start after Close error = %v; want \"closed\"", err)
		}
		if w.Watching() {
			t.Errorf("Watching() = true for a watcher never started; want false")
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for the logger's goroutine and the
// test's.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
