// Package reload watches Signpost's configuration directory and calls back,
// debounced, whenever what config.Load reads from it may have changed.
//
// It notices the ways configuration files really change: a write in place;
// an editor's save by rename (vim's backup and swap files, VS Code's
// temporary file); an atomic replace; Kubernetes' ConfigMap update, which
// swaps the ..data symlink; files added, removed, or deleted and recreated;
// a YAML file that is a symlink to a file elsewhere, edited there; and the
// directory itself being deleted, replaced by a rename, or swapped as a
// symlink, in which case the watch is re-established (polling with a bounded
// backoff while the directory is missing) and the callback runs once it is
// back. Any event in the directory counts, even on names config.Load skips,
// because a hidden temporary file is often the first sign of a rename that
// does matter; a burst of events becomes one callback.
//
// The package does not load, validate or swap configuration, and it does not
// decide whether a change is a no-op: the callback does that (the service
// loads the directory, compares its hash with the running one and keeps the
// running rules when the new ones fail).
package reload

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for the Options left zero.
const (
	DefaultDebounce = 200 * time.Millisecond
	DefaultMaxDelay = time.Second
)

// The bounds of the backoff with which a missing directory is polled for.
// The ceiling keeps the time to notice a returned directory near the one
// second a change is allowed to take.
const (
	pollMin = 50 * time.Millisecond
	pollMax = time.Second
)

// Options tune a Watcher. The zero value is ready to use.
type Options struct {
	// Debounce is the quiet time after the last event before onChange is
	// called; zero means DefaultDebounce.
	Debounce time.Duration
	// MaxDelay bounds how long a burst that never goes quiet holds the
	// callback back: onChange is called at the latest this long after the
	// first event of a burst. Zero means DefaultMaxDelay, or Debounce if
	// that is longer; a value shorter than Debounce is an error.
	MaxDelay time.Duration
	// Logger receives the watcher's log lines; nil means slog.Default().
	Logger *slog.Logger
}

// Watcher watches one configuration directory. Create it with New, then
// Start it; Close stops it.
type Watcher struct {
	dir      string // absolute and clean
	parent   string // filepath.Dir(dir); watched, best effort, to see dir replaced
	onChange func()
	log      *slog.Logger
	deb      *debouncer

	mu       sync.Mutex // guards state and fsw's creation
	state    int
	fsw      *fsnotify.Watcher
	done     chan struct{} // closed by Close to stop the goroutines
	finished chan struct{} // closed when Close has stopped everything
	wg       sync.WaitGroup

	// watching is true while dir is watched, false while it is missing.
	watching atomic.Bool

	// links maps each directory holding the target of a symlinked YAML file
	// (outside dir) to the target names in it that matter.
	linksMu sync.Mutex
	links   map[string]map[string]bool

	// eventHook, when set (by tests), sees each event after it is handled.
	eventHook func(fsnotify.Event)
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// New returns a Watcher that will call onChange when the files in dir change.
// It checks its arguments but touches no file and starts no goroutine.
//
// onChange runs on the watcher's own goroutine, one call at a time; changes
// made while it runs lead to another call after it returns. It must not call
// Close. While the directory is missing, calls are held back until it
// returns.
func New(dir string, onChange func(), o Options) (*Watcher, error) {
	if dir == "" {
		return nil, errors.New("no configuration directory to watch")
	}
	if onChange == nil {
		return nil, errors.New("no callback for configuration changes")
	}
	if o.Debounce < 0 || o.MaxDelay < 0 {
		return nil, fmt.Errorf("found a negative debounce (%v) or maximum delay (%v); expected zero for the defaults or a positive duration", o.Debounce, o.MaxDelay)
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = max(DefaultMaxDelay, o.Debounce)
	}
	if o.MaxDelay < o.Debounce {
		return nil, fmt.Errorf("found a maximum delay of %v shorter than the debounce of %v; expected at least the debounce", o.MaxDelay, o.Debounce)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving configuration directory %s: %w", dir, err)
	}
	w := &Watcher{
		dir:      abs,
		parent:   filepath.Dir(abs),
		onChange: onChange,
		log:      o.Logger,
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	w.deb = newDebouncer(o.Debounce, o.MaxDelay, w.fire)
	return w, nil
}

// Start begins watching. It fails if the directory cannot be watched (it is
// missing, not a directory, or unreadable), if the watcher was started
// before, or if it is closed.
func (w *Watcher) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case stateStarted:
		return errors.New("configuration watcher already started")
	case stateClosed:
		return errors.New("configuration watcher is closed")
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("starting the file watcher: %w", err)
	}
	if err := addDir(fsw, w.dir); err != nil {
		_ = fsw.Close()
		return fmt.Errorf("watching configuration directory: %w", err)
	}
	w.fsw = fsw
	w.watchParent()
	w.watching.Store(true)
	w.refreshLinks()
	w.state = stateStarted

	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		w.loop()
	}()
	go func() {
		defer w.wg.Done()
		w.deb.run(w.done)
	}()
	w.log.Info("watching the configuration directory for changes", "dir", w.dir)
	return nil
}

// Close stops watching. A callback in progress finishes first; none starts
// after Close returns, and no goroutine of the watcher is left. Close may be
// called more than once, and before Start, but not from onChange, which it
// would wait for.
func (w *Watcher) Close() error {
	w.mu.Lock()
	prev := w.state
	w.state = stateClosed
	w.mu.Unlock()
	switch prev {
	case stateClosed:
		<-w.finished
		return nil
	case stateNew:
		close(w.finished)
		return nil
	}
	close(w.done)
	w.wg.Wait()
	err := w.fsw.Close()
	close(w.finished)
	if err != nil {
		return fmt.Errorf("closing the file watcher: %w", err)
	}
	return nil
}

// Watching reports whether the directory is being watched: true from Start
// on, false while the directory is missing and polled for.
func (w *Watcher) Watching() bool { return w.watching.Load() }

// fire is the debouncer's call: it brings the symlink watches up to date,
// then calls back.
func (w *Watcher) fire() {
	if !w.watching.Load() {
		// Nothing to load; rewatch triggers again once the directory is back.
		w.log.Debug("configuration changed but its directory is missing; waiting for it", "dir", w.dir)
		return
	}
	// Before the callback, so that a linked file written from now on is
	// seen, and the callback reads it after any such write began.
	w.refreshLinks()
	w.onChange()
}

// loop handles the file watcher's events and errors, and polls for the
// directory while it is missing.
func (w *Watcher) loop() {
	poll := time.NewTimer(pollMin)
	poll.Stop()
	defer poll.Stop()
	backoff := time.Duration(0) // zero while not polling

	// reestablish watches dir anew and starts, continues or stops polling.
	reestablish := func() {
		was := w.watching.Load()
		if w.rewatch() {
			switch {
			case backoff != 0:
				w.log.Info("the configuration directory is back; watching it again", "dir", w.dir)
			case was:
				w.log.Info("the configuration directory was replaced; watching the new one", "dir", w.dir)
			}
			backoff = 0
			poll.Stop()
			return
		}
		switch {
		case backoff == 0:
			w.log.Warn("the configuration directory is gone; polling for it to return, the running configuration stays", "dir", w.dir)
			backoff = pollMin
		default:
			backoff = min(2*backoff, pollMax)
		}
		poll.Reset(backoff)
	}

	events, errs := w.fsw.Events, w.fsw.Errors
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if w.handle(ev) {
				reestablish()
			}
			if w.eventHook != nil {
				w.eventHook(ev)
			}
		case err, ok := <-errs:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were dropped, maybe the directory's own rename
				// among them: look at it afresh and call back.
				w.log.Warn("file events were lost (inotify queue overflow); reloading to be safe", "dir", w.dir)
				reestablish()
				continue
			}
			w.log.Error("watching the configuration directory", "dir", w.dir, "error", err.Error())
		case <-poll.C:
			if backoff != 0 {
				reestablish()
			}
		}
	}
}

// handle triggers the debouncer for an event that may change what
// config.Load reads. It reports whether the event moved, removed or created
// the directory or its parent, so that the watch must be established anew.
func (w *Watcher) handle(ev fsnotify.Event) (structural bool) {
	switch {
	case ev.Name == w.dir || ev.Name == w.parent:
		if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			return true
		}
		if ev.Name == w.dir {
			// Its mode changed: whether it can be read may have too.
			w.deb.trigger()
		}
	case filepath.Dir(ev.Name) == w.dir:
		w.deb.trigger()
	case w.linked(ev.Name):
		w.deb.trigger()
	}
	return false
}

// rewatch drops the watches on the directory and its parent and adds them
// again, so that they follow whatever the paths name now. On success it
// triggers a callback, since what the directory holds may be all new.
func (w *Watcher) rewatch() bool {
	// Errors are expected: the kernel drops the watch of a deleted or moved
	// directory by itself.
	_ = w.fsw.Remove(w.dir)
	if w.parent != w.dir {
		_ = w.fsw.Remove(w.parent)
	}
	// The parent after the directory: once the directory is there, so is
	// its parent. (The other order raced with a directory recreated with
	// its parent: the parent watch failed and was never retried.) Without
	// the directory, the parent is still watched, to see it come back.
	err := addDir(w.fsw, w.dir)
	w.watchParent()
	if err != nil {
		w.watching.Store(false)
		return false
	}
	w.watching.Store(true)
	w.deb.trigger()
	return true
}

// watchParent watches the directory's parent, so that the directory being
// replaced by a rename, or swapped as a symlink, is seen. It is best effort:
// without it a deletion or move is still seen on the directory itself, and
// polling finds the directory's return.
func (w *Watcher) watchParent() {
	if w.parent == w.dir {
		return
	}
	if err := w.fsw.Add(w.parent); err != nil {
		w.log.Debug("cannot watch the configuration directory's parent; a replaced directory is seen only when the old one goes", "dir", w.parent, "error", err.Error())
	}
}

// addDir watches dir if it is a directory.
func addDir(fsw *fsnotify.Watcher, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("found a file at %s; expected a directory", dir)
	}
	return fsw.Add(dir)
}

// linked reports whether name is, or is in the directory of, the target of
// a symlinked YAML file.
func (w *Watcher) linked(name string) bool {
	w.linksMu.Lock()
	defer w.linksMu.Unlock()
	if _, ok := w.links[name]; ok {
		return true
	}
	return w.links[filepath.Dir(name)][filepath.Base(name)]
}

// refreshLinks watches the directories that hold the targets of the YAML
// files that are symlinks, and stops watching those no longer linked to. A
// write in place to a file outside dir reached through a symlink is
// otherwise invisible: inotify reports events where the inode lives.
func (w *Watcher) refreshLinks() {
	want := w.linkTargets()
	w.linksMu.Lock()
	defer w.linksMu.Unlock()
	for d := range w.links {
		if _, ok := want[d]; !ok && d != w.parent {
			_ = w.fsw.Remove(d)
		}
	}
	for d := range want {
		if d == w.parent {
			continue // watched already, for the directory's sake
		}
		// Added every time: a directory replaced under the same path needs
		// a new watch, and adding an existing one changes nothing.
		if err := w.fsw.Add(d); err != nil {
			w.log.Debug("cannot watch the directory of a symlinked configuration file", "dir", d, "error", err.Error())
			delete(want, d)
		}
	}
	w.links = want
}

// linkTargets finds, for each YAML file config.Load would read that is a
// symlink, the directory and name its chain of links ends at. A dangling
// link counts too, by where it points, so that the file's arrival is seen.
func (w *Watcher) linkTargets() map[string]map[string]bool {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil
	}
	real, err := filepath.EvalSymlinks(w.dir)
	if err != nil {
		return nil
	}
	want := map[string]map[string]bool{}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 || !loaded(e.Name()) {
			continue
		}
		link := filepath.Join(real, e.Name())
		target, err := filepath.EvalSymlinks(link)
		if err != nil {
			t, err := os.Readlink(link)
			if err != nil {
				continue
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join(real, t)
			}
			d, err := filepath.EvalSymlinks(filepath.Dir(t))
			if err != nil {
				continue
			}
			target = filepath.Join(d, filepath.Base(t))
		}
		d := filepath.Dir(target)
		if d == real || d == w.dir {
			continue // events there are seen already
		}
		if want[d] == nil {
			want[d] = map[string]bool{}
		}
		want[d][filepath.Base(target)] = true
	}
	return want
}

// loaded reports whether config.Load reads a top-level file of this name.
func loaded(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}
