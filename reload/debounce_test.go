package reload

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

const ms = time.Millisecond

// every returns the offsets from 0 to last, step apart.
func every(step, last time.Duration) []time.Duration {
	var at []time.Duration
	for d := time.Duration(0); d <= last; d += step {
		at = append(at, d)
	}
	return at
}

func TestDebouncerTiming(t *testing.T) {
	tests := []struct {
		name     string
		quiet    time.Duration
		maxDelay time.Duration
		triggers []time.Duration // when trigger is called, from the start
		want     []time.Duration // when fire is called, from the start
	}{
		{
			name:  "one trigger fires after the quiet time",
			quiet: 200 * ms, maxDelay: time.Second,
			triggers: []time.Duration{0},
			want:     []time.Duration{200 * ms},
		},
		{
			name:  "a burst fires once, the quiet time after its last trigger",
			quiet: 200 * ms, maxDelay: time.Second,
			triggers: []time.Duration{0, 10 * ms, 50 * ms, 120 * ms, 300 * ms},
			want:     []time.Duration{500 * ms},
		},
		{
			name:  "triggers further apart than the quiet time fire each",
			quiet: 200 * ms, maxDelay: time.Second,
			triggers: []time.Duration{0, 250 * ms, 700 * ms},
			want:     []time.Duration{200 * ms, 450 * ms, 900 * ms},
		},
		{
			name:  "a burst that never goes quiet fires at the maximum delay, then goes on",
			quiet: 200 * ms, maxDelay: time.Second,
			// Triggers at 0, 150, …, 2400: the first burst is cut at 1000;
			// the second starts at 1050 and is cut at 2050; the third
			// starts at 2100 and goes quiet after 2400.
			triggers: every(150*ms, 2400*ms),
			want:     []time.Duration{1000 * ms, 2050 * ms, 2600 * ms},
		},
		{
			name:  "a maximum delay equal to the quiet time fires every quiet time",
			quiet: 100 * ms, maxDelay: 100 * ms,
			// Bursts start at 0, 120 and 240 and are each cut 100 later;
			// the trigger at 330 is covered by the call at 340.
			triggers: every(30*ms, 330*ms),
			want:     []time.Duration{100 * ms, 220 * ms, 340 * ms},
		},
		{
			name:  "no trigger, no call",
			quiet: 200 * ms, maxDelay: time.Second,
			triggers: nil,
			want:     nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var fired []time.Duration // written by run's goroutine, read after it ends
				d := newDebouncer(tc.quiet, tc.maxDelay, func() { fired = append(fired, time.Since(start)) })
				done, ended := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(ended)
					d.run(done)
				}()
				for _, at := range tc.triggers {
					time.Sleep(at - time.Since(start))
					d.trigger()
				}
				// Let fake time run past anything that could still fire.
				time.Sleep(tc.maxDelay + tc.quiet)
				synctest.Wait()
				if d.busy() {
					t.Errorf("busy() = true after everything fired; want false")
				}
				close(done)
				<-ended
				if !slices.Equal(fired, tc.want) {
					t.Errorf("fired at %v; want %v", fired, tc.want)
				}
			})
		})
	}
}

func TestDebouncerTriggerDuringCallStartsNewBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		release := make(chan struct{})
		var fired []time.Duration
		d := newDebouncer(200*ms, time.Second, func() {
			fired = append(fired, time.Since(start))
			if len(fired) == 1 {
				<-release // a slow reload
			}
		})
		done, ended := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(ended)
			d.run(done)
		}()
		d.trigger()
		time.Sleep(300 * ms) // the call started at 200 and is blocked
		synctest.Wait()
		if !d.busy() {
			t.Errorf("busy() = false during a call; want true")
		}
		d.trigger() // a change while the callback runs
		time.Sleep(200 * ms)
		close(release) // the first call returns at 500
		time.Sleep(time.Second)
		synctest.Wait()
		close(done)
		<-ended
		want := []time.Duration{200 * ms, 700 * ms}
		if !slices.Equal(fired, want) {
			t.Errorf("fired at %v; want %v (a trigger during a call is not lost, and waits for the call)", fired, want)
		}
	})
}

func TestDebouncerStop(t *testing.T) {
	t.Run("stopping drops a pending burst", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			d := newDebouncer(200*ms, time.Second, func() { calls++ })
			done, ended := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(ended)
				d.run(done)
			}()
			d.trigger()
			time.Sleep(100 * ms)
			close(done)
			<-ended
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if calls != 0 {
				t.Errorf("got %d calls after stopping mid-burst; want 0", calls)
			}
		})
	})
	t.Run("stopping waits for a call in progress and starts no other", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			calls := 0
			d := newDebouncer(200*ms, time.Second, func() {
				calls++
				<-release
			})
			done, ended := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(ended)
				d.run(done)
			}()
			d.trigger()
			time.Sleep(250 * ms) // the call is in progress
			d.trigger()          // owed a call, which must not start
			close(done)
			synctest.Wait()
			select {
			case <-ended:
				t.Fatalf("run returned while a call was in progress; want it to wait")
			default:
			}
			close(release)
			<-ended
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if calls != 1 {
				t.Errorf("got %d calls; want 1", calls)
			}
		})
	})
	t.Run("triggers before run starts are kept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			d := newDebouncer(200*ms, time.Second, func() { calls++ })
			d.trigger()
			d.trigger()
			if !d.busy() {
				t.Errorf("busy() = false after trigger; want true")
			}
			done, ended := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(ended)
				d.run(done)
			}()
			time.Sleep(time.Second)
			synctest.Wait()
			close(done)
			<-ended
			if calls != 1 {
				t.Errorf("got %d calls; want 1", calls)
			}
		})
	})
}
