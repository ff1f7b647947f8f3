// Package notify tells IT's tools about access requests: when a person asks for access to an
// app (KindRequestCreated) and when an admin decides a request (KindRequestDecided), it posts
// to each configured webhook target, in one of three shapes: a generic JSON document signed
// with HMAC-SHA256 (see Verify for the receiver's side), a Slack incoming-webhook message, or a
// Microsoft Teams Workflows / incoming-webhook message carrying an Adaptive Card.
//
// It owns the delivery: a bounded queue and one worker per target (so a slow receiver holds
// up only its own queue), retries with exponential backoff and jitter that honour Retry-After,
// and the metrics and log lines about all of that. It does not store requests and does not
// decide them: its caller stores the request (or the decision) in the access store first and
// only then calls Notify, and Notify never blocks — when a target's queue is full the event is dropped for that target and
// counted. A webhook is a courtesy to the admins; the stored request is the record.
//
// What it defends against:
//   - Slack and Teams webhook URLs are bearer secrets, and so is a JSON target's HMAC key.
//     Neither is logged, put in an error or shown by Target's String and LogValue; logs name
//     the target only. Errors from the HTTP client, which quote the URL, are stripped of it.
//   - Justifications, user names and admins' messages are written by people. In Slack mrkdwn
//     &, < and > are escaped (Slack's rule), so a justification cannot ping @channel or
//     inject a link; in Teams cards they go into RichTextBlock text runs, which Teams never
//     reads as Markdown. Control and bidirectional-override characters are removed and
//     lengths are bounded to what Slack and Teams accept.
//   - The default client follows no redirects (a webhook that moves is a configuration error, and
//     following would send the body somewhere the admin did not name), http:// is refused
//     except to loopback, and every attempt has a timeout.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is what happened to an access request.
type Kind string

const (
	// KindRequestCreated is sent when a person has asked for access to an app.
	KindRequestCreated Kind = "request.created"
	// KindRequestDecided is sent when an admin has approved or denied a request.
	KindRequestDecided Kind = "request.decided"
)

// known reports whether k is one of the kinds this package sends.
func (k Kind) known() bool {
	return k == KindRequestCreated || k == KindRequestDecided
}

// Event is one thing to tell the targets about. All strings are shown as text, never as
// markup; User, Justification, DecidedBy and Message may hold anything a person typed.
type Event struct {
	// Kind is what happened.
	Kind Kind
	// At is when it happened; Notify fills in the current time when it is zero.
	At time.Time
	// RequestID is the access store's id of the request.
	RequestID int64
	// User is who asked, as displayed to admins; "" means an anonymous user.
	User string
	// App is the catalog id of the app asked for; AppName is its display name.
	App, AppName string
	// Justification is what the person said they need the app for.
	Justification string
	// Status is the request's state after the event: "pending", "approved", "denied"...
	Status string
	// DecidedBy is the admin who decided (KindRequestDecided only).
	DecidedBy string
	// Message is the admin's note to the person, such as a denial's reason.
	Message string
	// AdminURL links to the admin view of this request; "" if unknown. Only absolute http
	// and https URLs are linked.
	AdminURL string
}

// Format is the shape of the body posted to a target.
type Format string

const (
	// FormatJSON is the generic JSON document (see Payload), signed with the target's Secret.
	FormatJSON Format = "json"
	// FormatSlack is a Slack incoming-webhook message: text plus blocks.
	FormatSlack Format = "slack"
	// FormatTeams is a Microsoft Teams message with one Adaptive Card attachment, the shape
	// Teams Workflows ("when a Teams webhook request is received") and the older incoming
	// webhooks accept.
	FormatTeams Format = "teams"
)

// Target is one webhook receiver.
type Target struct {
	// Name identifies the target in logs and metric labels. It must be 1-64 characters of
	// letters, digits, '.', '_' and '-', unique among the targets.
	Name string
	// URL is where events are posted. It must use https, except to a loopback host. Slack
	// and Teams URLs are secrets: the package never logs them.
	URL string
	// Format is the body's shape; "" means FormatJSON.
	Format Format
	// Secret is the HMAC-SHA256 key for FormatJSON (required there, at least 16 characters)
	// and must be empty for the other formats, whose URL is the secret.
	Secret string
	// Kinds are the kinds of event this target wants; empty means all.
	Kinds []Kind
}

// String returns the target's name and format, never its URL or secret.
func (t Target) String() string {
	return fmt.Sprintf("%s (%s)", t.Name, t.format())
}

// GoString is String, so that %#v cannot print the URL or secret either.
func (t Target) GoString() string { return t.String() }

// LogValue makes slog print the target's name and format, never its URL or secret.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", t.Name), slog.String("format", string(t.format())))
}

func (t Target) format() Format {
	if t.Format == "" {
		return FormatJSON
	}
	return t.Format
}

// Options tunes delivery. The zero value gives the documented defaults.
type Options struct {
	// QueueSize is how many events each target's queue holds (default 1000, at most 100000).
	// When it is full, Notify drops the event for that target and counts it.
	QueueSize int
	// MaxAttempts is how many times one event is tried at one target (default 8, at most 100).
	MaxAttempts int
	// BaseBackoff is the wait after the first failed attempt (default 1s); each further
	// failure doubles it, up to MaxBackoff (default 5m, at most 24h). The wait is jittered
	// to between half and all of that. A Retry-After on a 429 or 503 answer lengthens the
	// wait to what it asks, but never beyond MaxBackoff, so that one receiver cannot stall
	// its queue for longer than the admin allowed.
	BaseBackoff, MaxBackoff time.Duration
	// Timeout bounds each attempt, from sending the request to reading the answer
	// (default 10s).
	Timeout time.Duration
	// Client sends the requests. nil means a client of Signpost's own that follows no
	// redirects and is closed by Close. A caller's client is used as given: its redirect
	// policy applies, and Timeout still bounds each attempt.
	Client *http.Client
	// Logger receives one line per retry, failure and drop (and, at debug level, per
	// delivery). nil discards.
	Logger *slog.Logger
	// Registerer is where the metrics are registered; nil registers them nowhere.
	Registerer prometheus.Registerer
}

const (
	defaultQueueSize   = 1000
	defaultMaxAttempts = 8
	defaultBaseBackoff = time.Second
	defaultMaxBackoff  = 5 * time.Minute
	defaultTimeout     = 10 * time.Second

	maxQueueSize   = 100000
	maxMaxAttempts = 100
	maxMaxBackoff  = 24 * time.Hour

	// responseLimit is how much of a receiver's answer is read (to reuse the connection);
	// the rest is left unread and the connection closed.
	responseLimit = 64 << 10
	// excerptLimit is how much of a failed answer is quoted in the log.
	excerptLimit = 200
	// dropLogEvery limits how often a full queue is logged; every drop is counted.
	dropLogEvery = 10 * time.Second
)

// userAgent names Signpost to receivers.
const userAgent = "Signpost-Webhook/1"

// Notifier delivers events to webhook targets. Create it with New, start its workers with
// Start and stop it with Close. Notify is safe for concurrent use.
type Notifier struct {
	opts      Options
	client    *http.Client
	ownClient bool
	log       *slog.Logger
	m         *metrics
	workers   []*worker

	// ctx ends deliveries in flight and backoff waits when Close gives up on draining.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards closed and started; Notify holds it for reading so that Close never closes
	// a queue under a sender.
	mu      sync.RWMutex
	closed  bool
	started bool

	// Hooks for tests; New sets them to the real thing.
	sleep  func(ctx context.Context, d time.Duration) error
	now    func() time.Time
	jitter func(n int64) int64 // a random value in [0, n)
}

// worker is one target's queue and the goroutine that empties it.
type worker struct {
	t      Target
	queue  chan Event
	redact *strings.Replacer
	// ctx ends with the notifier's, or when SetTargets takes the target
	// out: its deliveries in flight and its backoff waits end, and what
	// is left in its queue is dropped.
	ctx    context.Context
	cancel context.CancelFunc
	// lastDropLog is when a drop was last logged, in Unix nanoseconds.
	lastDropLog atomic.Int64
}

// wants reports whether the target wants events of kind k.
func (w *worker) wants(k Kind) bool {
	if len(w.t.Kinds) == 0 {
		return true
	}
	for _, want := range w.t.Kinds {
		if want == k {
			return true
		}
	}
	return false
}

// New checks the targets and options and returns a Notifier with an empty queue per target.
// It starts no goroutines; its only side effect is registering the metrics on
// o.Registerer. An error names the offending target but never quotes its URL or secret.
func New(targets []Target, o Options) (*Notifier, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	n := &Notifier{
		opts:   o,
		client: o.Client,
		log:    o.Logger,
		sleep:  sleepCtx,
		now:    time.Now,
		jitter: randv2.Int64N,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.client == nil {
		n.client = newClient(o.Timeout)
		n.ownClient = true
	}
	checked, err := checkTargets(targets)
	if err != nil {
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, t := range checked {
		n.workers = append(n.workers, n.newWorker(t))
	}
	n.m = newMetrics(n.workers)
	if o.Registerer != nil {
		if err := n.m.register(o.Registerer); err != nil {
			n.cancel()
			return nil, fmt.Errorf("notify: registering metrics: %w", err)
		}
	}
	return n, nil
}

// checkTargets checks every target and that no name is used twice, and
// returns them with their format filled in and their kinds copied.
func checkTargets(targets []Target) ([]Target, error) {
	names := make(map[string]bool, len(targets))
	out := make([]Target, 0, len(targets))
	for _, t := range targets {
		if err := checkTarget(t); err != nil {
			return nil, err
		}
		if names[t.Name] {
			return nil, fmt.Errorf("notify: target %q: name used twice", t.Name)
		}
		names[t.Name] = true
		t.Format = t.format()
		t.Kinds = slices.Clone(t.Kinds)
		out = append(out, t)
	}
	return out, nil
}

// newWorker makes t's queue and context; it starts nothing.
func (n *Notifier) newWorker(t Target) *worker {
	w := &worker{t: t, queue: make(chan Event, n.opts.QueueSize), redact: redactor(t)}
	w.ctx, w.cancel = context.WithCancel(n.ctx)
	return w
}

// SetTargets replaces the targets while the notifier runs, as a reload of
// the configuration does. A target whose name, URL, format, secret and
// kinds are unchanged keeps its queue and its worker; a target taken out
// or changed stops at once, and what was queued for it is dropped and
// counted (a changed URL or secret must not receive events meant for the
// old one, nor the old one those for the new); a new target starts with an
// empty queue. The targets are checked as New checks them: on an error
// nothing changes. After Close it returns an error.
func (n *Notifier) SetTargets(targets []Target) error {
	checked, err := checkTargets(targets)
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errors.New("notify: set targets: the notifier is closed")
	}
	old := make(map[string]*worker, len(n.workers))
	for _, w := range n.workers {
		old[w.t.Name] = w
	}
	next := make([]*worker, 0, len(checked))
	for _, t := range checked {
		if w, ok := old[t.Name]; ok && sameTarget(w.t, t) {
			next = append(next, w)
			delete(old, t.Name)
			continue
		}
		w := n.newWorker(t)
		n.m.add(t.Name)
		next = append(next, w)
		if n.started {
			n.wg.Go(func() { n.run(w) })
		}
	}
	n.workers = next
	started := n.started
	var gone []string
	for name, w := range old {
		gone = append(gone, name)
		w.cancel()
		close(w.queue)
		if !started {
			for e := range w.queue {
				n.m.dequeued(w.t.Name)
				n.drop(w, e, "target removed or changed")
			}
		}
	}
	n.mu.Unlock()
	if len(gone) > 0 {
		slices.Sort(gone)
		n.log.Info("webhook targets removed or changed; events still queued for them are dropped", "targets", gone)
	}
	return nil
}

// sameTarget reports whether a and b deliver alike.
func sameTarget(a, b Target) bool {
	return a.Name == b.Name && a.URL == b.URL && a.Format == b.Format && a.Secret == b.Secret && slices.Equal(a.Kinds, b.Kinds)
}

// defaults fills in zero options and refuses impossible ones.
func (o *Options) defaults() error {
	switch {
	case o.QueueSize < 0 || o.QueueSize > maxQueueSize:
		return fmt.Errorf("notify: queue size %d: want 0 (default %d) to %d", o.QueueSize, defaultQueueSize, maxQueueSize)
	case o.MaxAttempts < 0 || o.MaxAttempts > maxMaxAttempts:
		return fmt.Errorf("notify: max attempts %d: want 0 (default %d) to %d", o.MaxAttempts, defaultMaxAttempts, maxMaxAttempts)
	case o.BaseBackoff < 0, o.MaxBackoff < 0, o.Timeout < 0:
		return errors.New("notify: backoff and timeout must not be negative")
	case o.MaxBackoff > maxMaxBackoff:
		return fmt.Errorf("notify: max backoff %v: want at most %v", o.MaxBackoff, maxMaxBackoff)
	}
	if o.QueueSize == 0 {
		o.QueueSize = defaultQueueSize
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.BaseBackoff == 0 {
		o.BaseBackoff = defaultBaseBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = defaultMaxBackoff
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.BaseBackoff > o.MaxBackoff {
		return fmt.Errorf("notify: base backoff %v is longer than max backoff %v", o.BaseBackoff, o.MaxBackoff)
	}
	return nil
}

// checkTarget validates one target. Its errors never quote the URL or the secret.
func checkTarget(t Target) error {
	if !validName(t.Name) {
		return fmt.Errorf("notify: target name %q: want 1-64 letters, digits, '.', '_' or '-'", t.Name)
	}
	switch t.format() {
	case FormatJSON:
		if len(t.Secret) < 16 {
			return fmt.Errorf("notify: target %q: a json target needs a secret of at least 16 characters (for example the output of `openssl rand -hex 32`)", t.Name)
		}
	case FormatSlack, FormatTeams:
		if t.Secret != "" {
			return fmt.Errorf("notify: target %q: secret is only used by json targets; a %s webhook's URL is its secret", t.Name, t.Format)
		}
	default:
		return fmt.Errorf("notify: target %q: format %q: want json, slack or teams", t.Name, t.Format)
	}
	for _, k := range t.Kinds {
		if !k.known() {
			return fmt.Errorf("notify: target %q: kind %q: want %s or %s", t.Name, k, KindRequestCreated, KindRequestDecided)
		}
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		// url.Error quotes the whole URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify: target %q: url does not parse: %w", t.Name, err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("notify: target %q: url has no host", t.Name)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("notify: target %q: url must use https (http is allowed only to a loopback host)", t.Name)
		}
	default:
		return fmt.Errorf("notify: target %q: url scheme %q: want https", t.Name, u.Scheme)
	}
	return nil
}

// validName reports whether s is usable as a target name: it shows up in metric labels and
// log lines, so it is kept short and plain.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// isLoopback reports whether host names this machine: "localhost" or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newClient returns the default client: a clone of the default transport (so proxy
// environment variables apply), the per-attempt timeout, and no redirects followed.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// redactor replaces a target's URL, and its path and query on their own, with "[redacted]"
// in text that is about to be logged.
func redactor(t Target) *strings.Replacer {
	pairs := []string{t.URL, "[redacted]"}
	if u, err := url.Parse(t.URL); err == nil {
		if len(u.EscapedPath()) > 1 {
			pairs = append(pairs, u.EscapedPath(), "[redacted]")
			if u.Path != u.EscapedPath() && len(u.Path) > 1 {
				pairs = append(pairs, u.Path, "[redacted]")
			}
		}
		if u.RawQuery != "" {
			pairs = append(pairs, u.RawQuery, "[redacted]")
		}
	}
	if t.Secret != "" {
		pairs = append(pairs, t.Secret, "[redacted]")
	}
	return strings.NewReplacer(pairs...)
}

// Start starts one worker per target. Events queued before Start are delivered then. Start
// after Close, or a second time, does nothing.
func (n *Notifier) Start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return
	}
	n.started = true
	for _, w := range n.workers {
		n.wg.Go(func() { n.run(w) })
	}
}

// Notify queues e for every target that wants its kind and returns at once: it never waits
// for a receiver or for room in a queue. A target whose queue is full, and every target after
// Close, drops the event and counts it in deliveries_total{result="dropped"}.
func (n *Notifier) Notify(e Event) {
	if e.At.IsZero() {
		e.At = n.now()
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, w := range n.workers {
		if !w.wants(e.Kind) {
			continue
		}
		if n.closed {
			n.drop(w, e, "notifier closed")
			continue
		}
		// Counted before the send, so that the worker's decrement can never come first and
		// the gauge never reads below zero.
		n.m.queued(w.t.Name)
		select {
		case w.queue <- e:
		default:
			n.m.dequeued(w.t.Name)
			n.drop(w, e, "queue full")
		}
	}
}

// drop counts an event that will not be sent to w and logs it, at most once per
// dropLogEvery per target so that a flood cannot turn into a flood of log lines.
func (n *Notifier) drop(w *worker, e Event, why string) {
	n.m.result(w.t.Name, resultDropped)
	now := n.now().UnixNano()
	last := w.lastDropLog.Load()
	if now-last < int64(dropLogEvery) || !w.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	n.log.LogAttrs(context.Background(), slog.LevelWarn, "webhook event dropped",
		slog.String(logTarget, w.t.Name),
		slog.String(logKind, string(e.Kind)),
		slog.Int64(logRequestID, e.RequestID),
		slog.String(logReason, why),
	)
}

// Close stops accepting events and lets the workers deliver what is queued, retries
// included, until ctx ends. Then it abandons what is left (counted as dropped) and returns
// ctx's error. A Notifier that was never started drops its queue at once. Close returns
// after every worker has stopped; calling it again returns nil.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, w := range n.workers {
		close(w.queue)
	}
	started := n.started
	n.mu.Unlock()

	var err error
	if started {
		done := make(chan struct{})
		go func() { n.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			n.cancel()
			<-done
			err = fmt.Errorf("notify: close: %w", ctx.Err())
		}
	} else {
		for _, w := range n.workers {
			for e := range w.queue {
				n.m.dequeued(w.t.Name)
				n.drop(w, e, "notifier closed before start")
			}
		}
	}
	n.cancel()
	if n.ownClient {
		n.client.CloseIdleConnections()
	}
	return err
}

// run is one target's worker: it delivers events in order until the queue is closed and
// empty. After Close has given up, deliver returns at once, so the rest is counted as
// dropped quickly.
func (n *Notifier) run(w *worker) {
	for e := range w.queue {
		n.m.dequeued(w.t.Name)
		n.deliver(w, e)
	}
}

// Log field names, constant so that log queries can rely on them.
const (
	logTarget    = "target"
	logKind      = "kind"
	logRequestID = "request_id"
	logDelivery  = "delivery"
	logAttempt   = "attempt"
	logStatus    = "status"
	logError     = "error"
	logWait      = "wait"
	logReason    = "reason"
	logResponse  = "response"
)

// deliver sends e to w's target, retrying as the answers allow, and records the result.
func (n *Notifier) deliver(w *worker, e Event) {
	if w.ctx.Err() != nil {
		n.drop(w, e, "notifier closed or target removed")
		return
	}
	body, err := render(w.t.Format, e)
	if err != nil {
		n.m.result(w.t.Name, resultFailed)
		n.log.LogAttrs(context.Background(), slog.LevelError, "webhook body could not be built",
			slog.String(logTarget, w.t.Name), slog.String(logKind, string(e.Kind)),
			slog.Int64(logRequestID, e.RequestID), slog.String(logError, err.Error()))
		return
	}
	id := newDeliveryID()
	attrs := func(attempt int, out outcome, extra ...slog.Attr) []slog.Attr {
		a := []slog.Attr{
			slog.String(logTarget, w.t.Name),
			slog.String(logKind, string(e.Kind)),
			slog.Int64(logRequestID, e.RequestID),
			slog.String(logDelivery, id),
			slog.Int(logAttempt, attempt),
		}
		if out.status != 0 {
			a = append(a, slog.Int(logStatus, out.status))
		}
		if out.err != "" {
			a = append(a, slog.String(logError, out.err))
		}
		if out.excerpt != "" {
			a = append(a, slog.String(logResponse, out.excerpt))
		}
		return append(a, extra...)
	}
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		out := n.attempt(w, e, body, id, attempt)
		switch {
		case out.ok:
			n.m.result(w.t.Name, resultOK)
			n.log.LogAttrs(ctx, slog.LevelDebug, "webhook delivered", attrs(attempt, out)...)
			return
		case w.ctx.Err() != nil:
			n.m.result(w.t.Name, resultDropped)
			n.log.LogAttrs(ctx, slog.LevelWarn, "webhook abandoned: shutting down, or the target was removed", attrs(attempt, out)...)
			return
		case !out.retry:
			n.m.result(w.t.Name, resultFailed)
			n.log.LogAttrs(ctx, slog.LevelError, "webhook failed; not retrying this answer", attrs(attempt, out)...)
			return
		case attempt >= n.opts.MaxAttempts:
			n.m.result(w.t.Name, resultFailed)
			n.log.LogAttrs(ctx, slog.LevelError, "webhook failed; giving up after the last attempt", attrs(attempt, out)...)
			return
		}
		wait := n.backoff(attempt, out.retryAfter)
		n.m.result(w.t.Name, resultRetry)
		n.log.LogAttrs(ctx, slog.LevelWarn, "webhook attempt failed; will retry", attrs(attempt, out, slog.Duration(logWait, wait))...)
		if err := n.sleep(w.ctx, wait); err != nil {
			n.m.result(w.t.Name, resultDropped)
			n.log.LogAttrs(ctx, slog.LevelWarn, "webhook abandoned: shutting down, or the target was removed", attrs(attempt, outcome{})...)
			return
		}
	}
}

// outcome is what one attempt came to.
type outcome struct {
	ok         bool
	retry      bool
	status     int
	retryAfter time.Duration
	err        string // already redacted
	excerpt    string // start of a failed answer's body, redacted
}

// attempt posts body once and classifies the answer: 2xx is delivered; 408, 425, 429 and 5xx
// and transport errors are worth retrying; anything else (a redirect, another 4xx) is not.
func (n *Notifier) attempt(w *worker, e Event, body []byte, id string, attempt int) outcome {
	ctx, cancel := context.WithTimeout(w.ctx, n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.t.URL, bytes.NewReader(body))
	if err != nil {
		return outcome{err: w.redact.Replace(stripURL(err).Error())}
	}
	ts := strconv.FormatInt(n.now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set(HeaderEvent, string(e.Kind))
	h.Set(HeaderDelivery, id)
	h.Set(HeaderAttempt, strconv.Itoa(attempt))
	h.Set(HeaderTimestamp, ts)
	if w.t.Format == FormatJSON {
		h.Set(HeaderSignature, sign(w.t.Secret, ts, body))
	}

	start := time.Now()
	resp, err := n.client.Do(req)
	if err != nil {
		n.m.observe(w.t.Name, time.Since(start))
		return outcome{retry: true, err: w.redact.Replace(stripURL(err).Error())}
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, excerptLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseLimit))
	_ = resp.Body.Close()
	n.m.observe(w.t.Name, time.Since(start))

	out := outcome{status: resp.StatusCode}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		out.ok = true
		return out
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		out.retry = true
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			out.retryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), n.now())
		}
	case code >= 300 && code < 400:
		out.err = "redirect not followed; point the target at the final URL"
	}
	out.excerpt = w.redact.Replace(excerpt(head))
	return out
}

// stripURL removes the *url.Error layer, whose message quotes the whole URL, from a client
// error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() && !errors.Is(ue.Err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: timeout: %w", strings.ToLower(ue.Op), ue.Err)
		}
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// excerpt turns the start of an answer into one printable line for the log.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// backoff is the wait after the given failed attempt (1-based): BaseBackoff doubled per
// earlier failure, capped at MaxBackoff, jittered to between half and all of it ("equal
// jitter", so that retries from many nodes spread out but never come back at once), then
// lengthened to retryAfter if that is longer, again capped at MaxBackoff.
func (n *Notifier) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := n.opts.BaseBackoff
	for i := 1; i < attempt && d < n.opts.MaxBackoff; i++ {
		d *= 2 // MaxBackoff ≤ 24h, so this cannot overflow
	}
	d = min(d, n.opts.MaxBackoff)
	half := d / 2
	d = half + time.Duration(n.jitter(int64(d-half)+1))
	if retryAfter > d {
		d = min(retryAfter, n.opts.MaxBackoff)
	}
	return d
}

// maxRetryAfter bounds what parseRetryAfter returns, so that the arithmetic on it cannot
// overflow.
const maxRetryAfter = 365 * 24 * time.Hour

// parseRetryAfter reads a Retry-After value (RFC 9110, section 10.2.3): a number of seconds
// or an HTTP date. It reports false for anything else. A date in the past means no wait;
// values beyond a year are cut to a year.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if allDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // only overflow fails on digits
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// sleepCtx waits for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newDeliveryID returns a random 128-bit id in hex: one per event and target, the same on
// every attempt, so that receivers can drop repeats.
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}
