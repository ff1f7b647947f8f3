// Package logbuf batches log output: one decision line per request is a
// write(2) each when unbuffered, a seventh of the proxy's CPU under load
// (bench/). The signpost binary and the bench's in-process node log
// through it, so that profiles show what the binary does.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer batches writes to an io.Writer and flushes them every interval
// and on Close. It is safe for concurrent use; each Write lands whole.
type Writer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// New returns a Writer over w that flushes every interval.
func New(w io.Writer, every time.Duration) *Writer {
	b := &Writer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.mu.Lock()
				_ = b.w.Flush()
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Close stops the flusher and writes what is buffered.
func (b *Writer) Close() error {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}
