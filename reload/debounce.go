package reload

import (
	"sync"
	"time"
)

// debouncer turns a burst of triggers into one call of fire. It calls fire
// once the triggers have been quiet for quiet, or maxDelay after the first
// trigger of the burst if they never go quiet, whichever comes first.
//
// fire runs on run's goroutine, one call at a time. A trigger that arrives
// while fire is running starts a new burst, so a change made during a
// callback is never lost; a trigger that arrived before fire started is
// covered by that call and starts nothing.
type debouncer struct {
	quiet, maxDelay time.Duration
	fire            func()

	// kick wakes run; it holds at most one wake-up, and dirty says whether
	// one is still owed.
	kick chan struct{}

	mu sync.Mutex
	// dirty is set by trigger and cleared just before fire is called: it
	// is true while some trigger is not yet covered by a call of fire.
	dirty bool
	// firing is true while fire runs.
	firing bool
}

func newDebouncer(quiet, maxDelay time.Duration, fire func()) *debouncer {
	return &debouncer{
		quiet:    quiet,
		maxDelay: maxDelay,
		fire:     fire,
		kick:     make(chan struct{}, 1),
	}
}

// trigger records that something changed. It never blocks and may be called
// from any goroutine, before or after run starts.
func (d *debouncer) trigger() {
	d.mu.Lock()
	d.dirty = true
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default: // a wake-up is already queued; it covers this trigger.
	}
}

// busy reports whether a call of fire is owed or running. Tests use it to
// know that the debouncer has settled.
func (d *debouncer) busy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dirty || d.firing
}

// run calls fire for each burst of triggers until done is closed. Once done
// is closed it starts no further call, and it returns as soon as a call in
// progress returns.
func (d *debouncer) run(done <-chan struct{}) {
	quiet := time.NewTimer(d.quiet)
	quiet.Stop()
	latest := time.NewTimer(d.maxDelay)
	latest.Stop()
	defer quiet.Stop()
	defer latest.Stop()

	armed := false
	for {
		select {
		case <-done:
			return
		case <-d.kick:
			d.mu.Lock()
			owed := d.dirty
			d.mu.Unlock()
			if !owed {
				// The call that cleared dirty started after this trigger,
				// so it already saw the change.
				continue
			}
			quiet.Reset(d.quiet)
			if !armed {
				latest.Reset(d.maxDelay)
				armed = true
			}
		case <-quiet.C:
			armed = false
			latest.Stop()
			if !d.call(done) {
				return
			}
		case <-latest.C:
			armed = false
			quiet.Stop()
			if !d.call(done) {
				return
			}
		}
	}
}

// call runs fire unless done is closed, and reports whether run should go on.
func (d *debouncer) call(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
	}
	d.mu.Lock()
	d.dirty = false
	d.firing = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.firing = false
		d.mu.Unlock()
	}()
	d.fire()
	return true
}
