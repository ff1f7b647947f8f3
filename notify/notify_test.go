package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/signpost-gateway/signpost/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testSecret = "0123456789abcdef-test-secret"

// waitLimit bounds how long a test waits for something that should happen at once; reaching
// it is a failure, never a way to synchronise.
const waitLimit = 10 * time.Second

// received is one request a receiver saw.
type received struct {
	header http.Header
	body   []byte
	path   string
}

// receiver is a loopback webhook endpoint. Every request is recorded on got; answer decides
// the response to the nth request (1-based) and defaults to 204.
type receiver struct {
	srv    *httptest.Server
	got    chan received
	mu     sync.Mutex
	n      int
	answer func(w http.ResponseWriter, r *http.Request, n int)
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan received, 100), answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.n++
		n := rc.n
		rc.mu.Unlock()
		rc.got <- received{header: r.Header.Clone(), body: body, path: r.URL.RequestURI()}
		if rc.answer != nil {
			rc.answer(w, r, n)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// requests returns what the receiver has seen so far, without waiting.
func (rc *receiver) requests() []received {
	var out []received
	for {
		select {
		case r := <-rc.got:
			out = append(out, r)
		default:
			return out
		}
	}
}

// next waits for the receiver's next request.
func (rc *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(waitLimit):
		t.Fatalf("receiver got no request within %v", waitLimit)
		return received{}
	}
}

// sleeps records the backoff waits a Notifier asked for, and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newTestNotifier returns a Notifier with its own registry whose backoff waits are recorded
// instead of slept. It is closed at cleanup if the test has not closed it.
func newTestNotifier(t *testing.T, targets []Target, o Options) (*Notifier, *prometheus.Registry, *sleeps) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	n, err := New(targets, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &sleeps{}
	n.sleep = s.sleep
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = n.Close(ctx)
	})
	return n, reg, s
}

func closeNotifier(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func deliveries(n *Notifier, target, result string) int {
	return int(testutil.ToFloat64(n.m.deliveries.WithLabelValues(target, result)))
}

func checkDeliveries(t *testing.T, n *Notifier, target string, want map[string]int) {
	t.Helper()
	for _, r := range results {
		if got := deliveries(n, target, r); got != want[r] {
			t.Errorf("deliveries_total{target=%q,result=%q} = %d; want %d", target, r, got, want[r])
		}
	}
}

func jsonTarget(name, url string) Target {
	return Target{Name: name, URL: url, Format: FormatJSON, Secret: testSecret}
}

var testEvent = Event{
	Kind:          KindRequestCreated,
	At:            time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC),
	RequestID:     42,
	User:          "alice",
	App:           "dropbox",
	AppName:       "Dropbox",
	Justification: "Our customer Acme only shares files by Dropbox links.",
	Status:        "pending",
	AdminURL:      "https://signpost-admin.example.com/requests/42",
}

// eventWithID is testEvent about another request.
func eventWithID(id int64) Event {
	e := testEvent
	e.RequestID = id
	return e
}

func TestDeliverSignedJSON(t *testing.T) {
	rc := newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{jsonTarget("audit", rc.srv.URL+"/hook")}, Options{})
	n.Start()
	n.Notify(testEvent)
	r := rc.next(t)
	closeNotifier(t, n)

	checks := []struct{ header, want string }{
		{"Content-Type", "application/json"},
		{HeaderEvent, "request.created"},
		{HeaderAttempt, "1"},
		{"User-Agent", userAgent},
	}
	for _, c := range checks {
		if got := r.header.Get(c.header); got != c.want {
			t.Errorf("header %s = %q; want %q", c.header, got, c.want)
		}
	}
	if id := r.header.Get(HeaderDelivery); len(id) != 32 {
		t.Errorf("header %s = %q; want 32 hex digits", HeaderDelivery, id)
	}
	if r.path != "/hook" {
		t.Errorf("path = %q; want /hook", r.path)
	}
	ts, sig := r.header.Get(HeaderTimestamp), r.header.Get(HeaderSignature)
	if err := Verify(testSecret, ts, string(r.body), sig, 5*time.Minute); err != nil {
		t.Errorf("Verify(received delivery) = %v; want nil", err)
	}
	tampered := bytes.Replace(r.body, []byte("alice"), []byte("mallory"), 1)
	if err := Verify(testSecret, ts, string(tampered), sig, 5*time.Minute); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("Verify(tampered body) = %v; want ErrSignatureMismatch", err)
	}
	if err := Verify("another-secret-entirely", ts, string(r.body), sig, 5*time.Minute); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("Verify(wrong secret) = %v; want ErrSignatureMismatch", err)
	}
	checkDeliveries(t, n, "audit", map[string]int{resultOK: 1})
}

func TestChatTargetsAreNotSigned(t *testing.T) {
	for _, f := range []Format{FormatSlack, FormatTeams} {
		t.Run(string(f), func(t *testing.T) {
			rc := newReceiver(t, nil)
			n, _, _ := newTestNotifier(t, []Target{{Name: "chat", URL: rc.srv.URL, Format: f}}, Options{})
			n.Start()
			n.Notify(testEvent)
			r := rc.next(t)
			closeNotifier(t, n)
			if got := r.header.Get(HeaderSignature); got != "" {
				t.Errorf("%s header = %q; want none", HeaderSignature, got)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", got)
			}
		})
	}
}

func TestRetryThenSuccessKeepsDeliveryID(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 3 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	n, _, s := newTestNotifier(t, []Target{jsonTarget("audit", rc.srv.URL)},
		Options{BaseBackoff: time.Second, MaxBackoff: time.Minute})
	n.Start()
	n.Notify(testEvent)
	closeNotifier(t, n)

	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("receiver saw %d requests; want 3", len(got))
	}
	id := got[0].header.Get(HeaderDelivery)
	for i, r := range got {
		if d := r.header.Get(HeaderDelivery); d != id {
			t.Errorf("attempt %d: delivery id %q; want %q (the first attempt's)", i+1, d, id)
		}
		if a := r.header.Get(HeaderAttempt); a != strconv.Itoa(i+1) {
			t.Errorf("attempt %d: %s = %q; want %d", i+1, HeaderAttempt, a, i+1)
		}
		if err := Verify(testSecret, r.header.Get(HeaderTimestamp), string(r.body), r.header.Get(HeaderSignature), time.Minute); err != nil {
			t.Errorf("attempt %d: Verify = %v; want nil", i+1, err)
		}
		if !bytes.Equal(r.body, got[0].body) {
			t.Errorf("attempt %d: body differs from the first attempt's", i+1)
		}
	}
	waits := s.waits()
	if len(waits) != 2 {
		t.Fatalf("backoff waits = %v; want 2", waits)
	}
	for i, w := range waits {
		full := time.Second << i
		if w < full/2 || w > full {
			t.Errorf("wait %d = %v; want between %v and %v", i+1, w, full/2, full)
		}
	}
	checkDeliveries(t, n, "audit", map[string]int{resultOK: 1, resultRetry: 2})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		// want is the exact wait; 0 means "the jittered backoff", between 0.5 and 1 ms.
		want time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, "7", 7 * time.Second},
		{"503 http-date", http.StatusServiceUnavailable, now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{"429 beyond max backoff is cut to it", http.StatusTooManyRequests, "3600", time.Minute},
		{"429 date in the past", http.StatusTooManyRequests, now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"429 unparsable", http.StatusTooManyRequests, "soon", 0},
		{"500 ignores Retry-After", http.StatusInternalServerError, "7", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", tt.retryAfter)
					w.WriteHeader(tt.status)
				}
			})
			n, _, s := newTestNotifier(t, []Target{{Name: "slack", URL: rc.srv.URL, Format: FormatSlack}},
				Options{BaseBackoff: time.Millisecond, MaxBackoff: time.Minute})
			n.now = func() time.Time { return now }
			n.Start()
			n.Notify(testEvent)
			closeNotifier(t, n)

			waits := s.waits()
			if len(waits) != 1 {
				t.Fatalf("waits = %v; want one", waits)
			}
			switch w := waits[0]; {
			case tt.want != 0 && w != tt.want:
				t.Errorf("wait = %v; want %v", w, tt.want)
			case tt.want == 0 && (w < time.Millisecond/2 || w > time.Millisecond):
				t.Errorf("wait = %v; want the backoff, 0.5ms to 1ms", w)
			}
			checkDeliveries(t, n, "slack", map[string]int{resultOK: 1, resultRetry: 1})
		})
	}
}

func TestGiveUp(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		attempts int
		waits    int
	}{
		{"500 until MaxAttempts", http.StatusInternalServerError, 4, 3},
		{"502 until MaxAttempts", http.StatusBadGateway, 4, 3},
		{"429 until MaxAttempts", http.StatusTooManyRequests, 4, 3},
		{"400 is not retried", http.StatusBadRequest, 1, 0},
		{"404 (a revoked Slack webhook) is not retried", http.StatusNotFound, 1, 0},
		{"410 is not retried", http.StatusGone, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
				http.Error(w, "no_service", tt.status)
			})
			n, reg, s := newTestNotifier(t, []Target{{Name: "teams", URL: rc.srv.URL, Format: FormatTeams}},
				Options{MaxAttempts: 4})
			n.Start()
			n.Notify(testEvent)
			closeNotifier(t, n)

			if got := len(rc.requests()); got != tt.attempts {
				t.Errorf("receiver saw %d requests; want %d", got, tt.attempts)
			}
			if got := len(s.waits()); got != tt.waits {
				t.Errorf("backoff waits = %d; want %d", got, tt.waits)
			}
			checkDeliveries(t, n, "teams", map[string]int{resultFailed: 1, resultRetry: tt.waits})
			if got := testutil.CollectAndCount(reg, "signpost_notify_delivery_duration_seconds"); got != 1 {
				t.Errorf("duration series = %d; want 1", got)
			}
			if got := histogramCount(t, reg, "teams"); got != uint64(tt.attempts) {
				t.Errorf("duration observations = %d; want %d (one per attempt)", got, tt.attempts)
			}
		})
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, target string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "signpost_notify_delivery_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == target {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	t.Fatalf("no duration histogram for target %q", target)
	return 0
}

func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	n, _, s := newTestNotifier(t, []Target{jsonTarget("slow", rc.srv.URL)},
		Options{MaxAttempts: 2, Timeout: 50 * time.Millisecond})
	n.Start()
	n.Notify(testEvent)
	closeNotifier(t, n)
	if got := len(rc.requests()); got != 2 {
		t.Errorf("receiver saw %d requests; want 2", got)
	}
	if got := len(s.waits()); got != 1 {
		t.Errorf("backoff waits = %d; want 1", got)
	}
	checkDeliveries(t, n, "slow", map[string]int{resultRetry: 1, resultFailed: 1})
}

func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := newReceiver(t, nil)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, elsewhere.srv.URL, http.StatusTemporaryRedirect)
	})
	n, _, _ := newTestNotifier(t, []Target{jsonTarget("moved", rc.srv.URL)}, Options{})
	n.Start()
	n.Notify(testEvent)
	closeNotifier(t, n)
	if got := len(elsewhere.requests()); got != 0 {
		t.Errorf("redirect target saw %d requests; want 0", got)
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("receiver saw %d requests; want 1", got)
	}
	checkDeliveries(t, n, "moved", map[string]int{resultFailed: 1})
}

func TestKindsFilter(t *testing.T) {
	created := newReceiver(t, nil)
	all := newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{
		{Name: "created-only", URL: created.srv.URL, Format: FormatSlack, Kinds: []Kind{KindRequestCreated}},
		{Name: "all", URL: all.srv.URL, Format: FormatSlack},
	}, Options{})
	n.Start()
	decided := testEvent
	decided.Kind, decided.Status, decided.DecidedBy = KindRequestDecided, "approved", "bob"
	n.Notify(decided)
	n.Notify(testEvent)
	closeNotifier(t, n)

	if got := kindsOf(created.requests()); got != "request.created" {
		t.Errorf("created-only target got %q; want request.created", got)
	}
	if got := kindsOf(all.requests()); got != "request.decided,request.created" {
		t.Errorf("all target got %q; want request.decided,request.created", got)
	}
}

func kindsOf(rs []received) string {
	var ks []string
	for _, r := range rs {
		ks = append(ks, r.header.Get(HeaderEvent))
	}
	return strings.Join(ks, ",")
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	rc := newReceiver(t, nil)
	n, reg, _ := newTestNotifier(t, []Target{jsonTarget("audit", rc.srv.URL)}, Options{QueueSize: 2})
	// Not started: nothing empties the queue.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			e := testEvent
			e.RequestID = int64(i)
			n.Notify(e)
		}
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Notify blocked on a full queue")
	}
	checkDeliveries(t, n, "audit", map[string]int{resultDropped: 3})
	want := `
# HELP signpost_notify_queue_length Events waiting in a target's queue, not counting the one being delivered.
# TYPE signpost_notify_queue_length gauge
signpost_notify_queue_length{target="audit"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "signpost_notify_queue_length"); err != nil {
		t.Error(err)
	}

	// Closed before Start: what was queued is dropped, and later events too.
	closeNotifier(t, n)
	n.Notify(testEvent)
	n.Start()
	checkDeliveries(t, n, "audit", map[string]int{resultDropped: 6})
	if got := len(rc.requests()); got != 0 {
		t.Errorf("receiver saw %d requests; want 0", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "} 2", "} 0", 1)), "signpost_notify_queue_length"); err != nil {
		t.Error(err)
	}
}

func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			close(entered)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{
		jsonTarget("slow", slow.srv.URL),
		{Name: "fast", URL: fast.srv.URL, Format: FormatSlack},
	}, Options{})
	n.Start()
	n.Notify(testEvent)
	n.Notify(eventWithID(43))

	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("slow target got no request")
	}
	// The slow receiver holds its first request until release; the fast one must get both
	// events meanwhile.
	for range 2 {
		fast.next(t)
	}
	close(release)
	closeNotifier(t, n)
	checkDeliveries(t, n, "fast", map[string]int{resultOK: 2})
	checkDeliveries(t, n, "slow", map[string]int{resultOK: 2})
}

func TestCloseDrains(t *testing.T) {
	rc := newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{jsonTarget("audit", rc.srv.URL)}, Options{})
	for i := range 5 {
		e := testEvent
		e.RequestID = int64(i + 1)
		n.Notify(e)
	}
	n.Start()
	closeNotifier(t, n)
	got := rc.requests()
	if len(got) != 5 {
		t.Fatalf("receiver saw %d requests; want 5", len(got))
	}
	for i, r := range got {
		want := fmt.Sprintf(`"id":%d,`, i+1)
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("request %d: body %s; want it to contain %s (queue order)", i+1, r.body, want)
		}
	}
	checkDeliveries(t, n, "audit", map[string]int{resultOK: 5})
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	n, _, _ := newTestNotifier(t, []Target{jsonTarget("stuck", rc.srv.URL)}, Options{})
	n.Notify(testEvent)
	n.Notify(testEvent)
	n.Start()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("receiver got no request")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v; want context.Canceled", err)
	}
	checkDeliveries(t, n, "stuck", map[string]int{resultDropped: 2})
}

func TestCloseDuringBackoff(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	n, err := New([]Target{jsonTarget("down", rc.srv.URL)}, Options{BaseBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sleeping := make(chan time.Duration, 1)
	n.sleep = func(ctx context.Context, d time.Duration) error {
		sleeping <- d
		return sleepCtx(ctx, d)
	}
	n.Start()
	n.Notify(testEvent)
	select {
	case d := <-sleeping:
		if d < 30*time.Minute {
			t.Errorf("backoff = %v; want at least 30m", d)
		}
	case <-time.After(waitLimit):
		t.Fatal("worker did not back off")
	}
	// The worker is now waiting half an hour or more; Close must cut that short.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v; want context.Canceled", err)
	}
	checkDeliveries(t, n, "down", map[string]int{resultRetry: 1, resultDropped: 1})
}

func TestNotifyConcurrentWithClose(t *testing.T) {
	rc := newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{jsonTarget("audit", rc.srv.URL)}, Options{QueueSize: 10})
	n.Start()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				n.Notify(testEvent)
			}
		})
	}
	closeNotifier(t, n)
	wg.Wait()
	total := 0
	for _, r := range results {
		total += deliveries(n, "audit", r)
	}
	if total != 200 {
		t.Errorf("ok+retry+failed+dropped = %d; want 200 (every event accounted for)", total)
	}
	if got := len(rc.requests()); got != deliveries(n, "audit", resultOK) {
		t.Errorf("receiver saw %d requests; want %d (the ok count)", got, deliveries(n, "audit", resultOK))
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	var logs testkit.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// A Slack receiver that fails and echoes the secret path in its answer.
	slack := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Error(w, "unknown hook "+r.URL.Path, http.StatusInternalServerError)
	})
	// A JSON target on a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()

	targets := []Target{
		{Name: "it-slack", URL: slack.srv.URL + "/services/T0001/B0001/SLACKTOKENXYZ", Format: FormatSlack},
		{Name: "teams", URL: slack.srv.URL + "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=TEAMSSIGXYZ", Format: FormatTeams},
		{Name: "audit", URL: "http://" + deadAddr + "/hook/PATHSECRETXYZ?token=QUERYSECRETXYZ", Secret: "HMACSECRETXYZ-0123456789"},
	}
	n, _, _ := newTestNotifier(t, targets, Options{MaxAttempts: 2, Logger: logger})
	n.Start()
	n.Notify(testEvent)
	closeNotifier(t, n)

	out := logs.String()
	for _, secret := range []string{"SLACKTOKENXYZ", "TEAMSSIGXYZ", "PATHSECRETXYZ", "QUERYSECRETXYZ", "HMACSECRETXYZ", "/services/"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, name := range []string{"target=it-slack", "target=teams", "target=audit", "status=500", "connection refused"} {
		if !strings.Contains(out, name) {
			t.Errorf("log lacks %q:\n%s", name, out)
		}
	}
	for _, tg := range targets {
		for _, s := range []string{fmt.Sprint(tg), fmt.Sprintf("%+v", tg), fmt.Sprintf("%#v", tg), slogText(tg)} {
			if strings.Contains(s, "XYZ") || strings.Contains(s, "127.0.0.1") {
				t.Errorf("formatted target %q shows its URL or secret", s)
			}
		}
	}
}

func slogText(v any) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "target", v)
	return b.String()
}

func TestNewValidation(t *testing.T) {
	ok := jsonTarget("ok", "https://hooks.example.com/x")
	tests := []struct {
		name    string
		targets []Target
		opts    Options
		wantErr string // "" means success
	}{
		{"no targets", nil, Options{}, ""},
		{"https json", []Target{ok}, Options{}, ""},
		{"format defaults to json", []Target{{Name: "a", URL: "https://h.example/x", Secret: testSecret}}, Options{}, ""},
		{"http to localhost", []Target{jsonTarget("a", "http://localhost:9000/x")}, Options{}, ""},
		{"http to 127.0.0.1", []Target{jsonTarget("a", "http://127.0.0.1:9000/x")}, Options{}, ""},
		{"http to ::1", []Target{jsonTarget("a", "http://[::1]:9000/x")}, Options{}, ""},
		{"slack", []Target{{Name: "s", URL: "https://hooks.slack.com/services/T/B/X", Format: FormatSlack}}, Options{}, ""},
		{"kinds", []Target{{Name: "s", URL: "https://h.example", Format: FormatTeams, Kinds: []Kind{KindRequestDecided}}}, Options{}, ""},
		{"http elsewhere", []Target{jsonTarget("a", "http://hooks.example.com/SECRETPATH")}, Options{}, "must use https"},
		{"ftp", []Target{jsonTarget("a", "ftp://hooks.example.com/x")}, Options{}, `scheme "ftp"`},
		{"no host", []Target{jsonTarget("a", "https:///SECRETPATH")}, Options{}, "no host"},
		{"relative", []Target{jsonTarget("a", "/SECRETPATH")}, Options{}, "no host"},
		{"does not parse", []Target{jsonTarget("a", "https://h.example/%zzSECRETPATH")}, Options{}, "does not parse"},
		{"unknown format", []Target{{Name: "a", URL: "https://h.example", Format: "discord"}}, Options{}, `format "discord"`},
		{"json without secret", []Target{{Name: "a", URL: "https://h.example", Format: FormatJSON}}, Options{}, "needs a secret"},
		{"short secret", []Target{{Name: "a", URL: "https://h.example", Secret: "short"}}, Options{}, "needs a secret"},
		{"slack with secret", []Target{{Name: "a", URL: "https://h.example", Format: FormatSlack, Secret: testSecret}}, Options{}, "only used by json"},
		{"unknown kind", []Target{{Name: "a", URL: "https://h.example", Format: FormatSlack, Kinds: []Kind{"request.deleted"}}}, Options{}, `kind "request.deleted"`},
		{"empty name", []Target{jsonTarget("", "https://h.example")}, Options{}, "target name"},
		{"odd name", []Target{jsonTarget("it slack", "https://h.example")}, Options{}, "target name"},
		{"duplicate name", []Target{ok, ok}, Options{}, "used twice"},
		{"negative queue", []Target{ok}, Options{QueueSize: -1}, "queue size"},
		{"huge queue", []Target{ok}, Options{QueueSize: 1 << 30}, "queue size"},
		{"negative attempts", []Target{ok}, Options{MaxAttempts: -1}, "max attempts"},
		{"negative timeout", []Target{ok}, Options{Timeout: -time.Second}, "negative"},
		{"base beyond max", []Target{ok}, Options{BaseBackoff: time.Hour, MaxBackoff: time.Minute}, "longer than max backoff"},
		{"max backoff beyond a day", []Target{ok}, Options{MaxBackoff: 48 * time.Hour}, "max backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.targets, tt.opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New = %v; want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("New = nil; want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("New = %q; want it to contain %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "SECRETPATH"):
				t.Fatalf("New = %q; the error quotes the URL", err)
			}
			if n != nil {
				if err := n.Close(context.Background()); err != nil {
					t.Errorf("Close = %v", err)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	n, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	want := Options{QueueSize: 1000, MaxAttempts: 8, BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute, Timeout: 10 * time.Second}
	got := n.opts
	got.Client, got.Logger, got.Registerer = nil, nil, nil
	if got != want {
		t.Errorf("defaults = %+v; want %+v", got, want)
	}
	if n.client.Timeout != 10*time.Second || n.client.CheckRedirect == nil {
		t.Errorf("default client: timeout %v, redirect policy set %v; want 10s, true", n.client.Timeout, n.client.CheckRedirect != nil)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	targets := []Target{jsonTarget("a", "https://h.example")}
	n, err := New(targets, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	if _, err := New(targets, Options{Registerer: reg}); err == nil {
		t.Error("second New on the same registry = nil; want a registration error")
	}
	// Every series exists from the start: 4 results, 1 queue gauge, 1 histogram.
	if got := testutil.CollectAndCount(reg); got != 6 {
		t.Errorf("series after New = %d; want 6", got)
	}
}

func TestBackoff(t *testing.T) {
	n, err := New(nil, Options{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		jitter     string // "low" or "high": the ends of the jitter range
		want       time.Duration
	}{
		{1, 0, "low", 500 * time.Millisecond},
		{1, 0, "high", time.Second},
		{2, 0, "high", 2 * time.Second},
		{3, 0, "low", 2 * time.Second},
		{4, 0, "high", 8 * time.Second},
		{5, 0, "high", 10 * time.Second},
		{5, 0, "low", 5 * time.Second},
		{60, 0, "high", 10 * time.Second},
		{1, 3 * time.Second, "high", 3 * time.Second},
		{1, time.Hour, "low", 10 * time.Second},
		{4, time.Second, "high", 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("attempt %d retry-after %v %s", tt.attempt, tt.retryAfter, tt.jitter), func(t *testing.T) {
			n.jitter = func(k int64) int64 {
				if tt.jitter == "high" {
					return k - 1
				}
				return 0
			}
			if got := n.backoff(tt.attempt, tt.retryAfter); got != tt.want {
				t.Errorf("backoff = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"99999999999999999999999", maxRetryAfter, true},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"Mon, 02 Jan 3006 15:04:05 GMT", maxRetryAfter, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDeliveryIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newDeliveryID()
		if seen[id] {
			t.Fatalf("delivery id %s repeated", id)
		}
		seen[id] = true
	}
}

// TestSetTargetsWhileRunning holds one event in flight at each of three
// targets, with a second queued behind it, then replaces the targets: the
// unchanged one keeps its queue and delivers both, the removed one and the
// one whose URL changed drop what they held (the new URL never sees the
// old events), and a new target gets the events that follow.
func TestSetTargetsWhileRunning(t *testing.T) {
	release := make(chan struct{})
	// hold keeps the first request until release, or until the sender
	// gives it up, which it reports on gaveUp.
	hold := func(gaveUp chan struct{}) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				select {
				case <-release:
				case <-r.Context().Done():
					close(gaveUp)
					return
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	removedGaveUp, changedGaveUp := make(chan struct{}), make(chan struct{})
	kept, removed, changedOld := newReceiver(t, hold(make(chan struct{}))), newReceiver(t, hold(removedGaveUp)), newReceiver(t, hold(changedGaveUp))
	changedNew, added := newReceiver(t, nil), newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{
		jsonTarget("kept", kept.srv.URL),
		jsonTarget("removed", removed.srv.URL),
		jsonTarget("changed", changedOld.srv.URL),
	}, Options{})
	n.Start()
	n.Notify(testEvent)
	n.Notify(eventWithID(43))
	for _, rc := range []*receiver{kept, removed, changedOld} {
		rc.next(t) // the first event is in flight at each
	}

	if err := n.SetTargets([]Target{
		jsonTarget("kept", kept.srv.URL),
		jsonTarget("changed", changedNew.srv.URL),
		{Name: "added", URL: added.srv.URL, Format: FormatSlack},
	}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	n.Notify(eventWithID(44))
	// The targets taken out give up what they have in flight at once.
	for _, gaveUp := range []chan struct{}{removedGaveUp, changedGaveUp} {
		select {
		case <-gaveUp:
		case <-time.After(waitLimit):
			t.Fatal("a removed target's delivery in flight was not given up")
		}
	}
	close(release)
	if got := kept.next(t); !strings.Contains(string(got.body), `"id":43,`) {
		t.Errorf("the unchanged target's second delivery: %s; want the event queued before the change", got.body)
	}
	if got := kept.next(t); !strings.Contains(string(got.body), `"id":44,`) {
		t.Errorf("the unchanged target's third delivery: %s; want the event after the change", got.body)
	}
	if got := changedNew.next(t); !strings.Contains(string(got.body), `"id":44,`) {
		t.Errorf("the changed target's new URL got %s first; want only the event after the change", got.body)
	}
	added.next(t)
	closeNotifier(t, n)
	for _, rc := range []*receiver{removed, changedOld, changedNew, added} {
		if extra := rc.requests(); len(extra) > 0 {
			t.Errorf("a receiver got %d more requests than it should", len(extra))
		}
	}
	checkDeliveries(t, n, "kept", map[string]int{resultOK: 3})
	checkDeliveries(t, n, "removed", map[string]int{resultDropped: 2})
	checkDeliveries(t, n, "changed", map[string]int{resultDropped: 2, resultOK: 1})
	checkDeliveries(t, n, "added", map[string]int{resultOK: 1})

	if err := n.SetTargets(nil); err == nil {
		t.Error("SetTargets after Close: got nil; want an error")
	}
}

// TestSetTargetsRefusesBadTargets leaves the targets as they were when
// one of the new ones is invalid.
func TestSetTargetsRefusesBadTargets(t *testing.T) {
	rc := newReceiver(t, nil)
	n, _, _ := newTestNotifier(t, []Target{jsonTarget("a", rc.srv.URL)}, Options{})
	n.Start()
	for _, bad := range [][]Target{
		{jsonTarget("a", rc.srv.URL), jsonTarget("a", rc.srv.URL)},
		{{Name: "b", URL: "http://hooks.example.com/x", Format: FormatSlack}},
		{{Name: "c", URL: rc.srv.URL, Format: FormatJSON}},
	} {
		if err := n.SetTargets(bad); err == nil {
			t.Errorf("SetTargets(%v): got nil; want an error", bad)
		}
	}
	n.Notify(testEvent)
	rc.next(t)
	closeNotifier(t, n)
	checkDeliveries(t, n, "a", map[string]int{resultOK: 1})
}
