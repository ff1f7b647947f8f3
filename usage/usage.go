// Package usage counts who uses which tool, in bounded memory, for licence
// right-sizing and shadow-IT discovery.
//
// For every catalog app the proxy reports (Observe), a Tracker keeps one
// HyperLogLog sketch (github.com/axiomhq/hyperloglog, precision 14, about
// 0.8% standard error) of distinct users per UTC day, in a ring of 31 days.
// The distinct active users of the last 1, 7 or 30 days are the estimate of
// the union of that many day sketches (Window, Report). Because sketches
// merge without loss, the figures of several nodes can be combined (Merge),
// and the state survives restarts (Snapshot and Restore, SaveFile and
// LoadFile). Apps may carry the number of seats the company pays for
// (SetApps), so that Report can say "Zoom: 212 active of 500 seats in 30
// days"; the Prometheus collector (Collector) exports the same figures with
// app and window labels only.
//
// Users are never stored. A subject (a user name or "ip:…") is hashed once
// with a fixed 64-bit hash (FNV-1a and the MurmurHash3 finaliser), and a
// sketch keeps only register positions and leading-zero counts derived from
// that hash. A sketch cannot be listed or turned back into names; like any
// unkeyed hash it can confirm a guessed name with some probability while a
// day has few users, which is why SaveFile writes snapshots with mode 0600.
//
// For hosts outside the catalog (ObserveUnknown), a Space-Saving
// heavy-hitters table of k counters keyed by registrable domain
// (golang.org/x/net/publicsuffix) keeps the most requested domains with an
// upper bound of their requests, their distinct users (a small sketch per
// counter, reset when the counter is taken over by another domain), when
// they were first and last seen, and a ready-to-paste catalog entry (Top).
// It has no decay or window: it counts from its first use or from the last
// ResetDiscovery, snapshots keep it across restarts like the app counts,
// and LastSeen tells a domain nobody visits any more.
//
// The package owns counting, its own persistence format and the
// signpost_usage_* metrics. It does not decide which app a request belongs
// to (classify), where seats come from (the configuration), when to save
// (the service), or how the figures are shown (admin).
package usage

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axiomhq/hyperloglog"
)

const (
	// ringDays is how many UTC days each app keeps: the 30 of the longest
	// window and one more, so that a request stamped just after midnight
	// UTC, which starts a new day's slot, overwrites the day 31 days back
	// rather than one a Report still on the previous day reads.
	ringDays = 31

	// MaxWindow is the longest window, in days, Window can answer.
	MaxWindow = ringDays

	// denseAfter is how many users a day takes before its sketch switches
	// from the sparse representation (a few bytes per user, nearly exact)
	// to the dense one (16 KiB, one register update per insert). The
	// library would switch only at 16,384, but a sparse sketch is slow to
	// feed (inserting a key it already holds costs a rebuild of its sorted
	// list every 163 inserts) and to merge (its list is decoded each time),
	// so below the switch a per-app set of today's user hashes keeps repeat
	// users away from it. See appState.observe.
	denseAfter = 1024

	// maxAppID bounds an app id's length; catalog ids have at most 64 bytes.
	maxAppID = 64

	// DefaultMaxApps is Options.MaxApps when it is zero.
	DefaultMaxApps = 1024

	// UnknownApp is the app id the proxy uses in metrics for traffic outside
	// the catalog; Observe ignores it, as it ignores "" (see ObserveUnknown).
	UnknownApp = "unknown"

	secondsPerDay = 24 * 60 * 60
)

// Options configures a Tracker. The zero value is ready to use.
type Options struct {
	// MaxApps bounds how many distinct app ids the tracker counts; once
	// reached, Observe ignores new ids. Zero means DefaultMaxApps. The
	// proxy only reports catalog ids, so the limit guards against misuse.
	MaxApps int

	// DiscoveryCounters is k, the number of domains the shadow-IT table
	// tracks at once. Zero means DefaultDiscoveryCounters.
	DiscoveryCounters int
}

// App is what a Tracker knows of a catalog app besides its counts.
type App struct {
	// ID is the catalog id, as the proxy passes it to Observe.
	ID string
	// Name is the label used in sentences; "" means the id.
	Name string
	// Seats is how many licences the company pays for; 0 means none are
	// recorded.
	Seats int
}

// Tracker counts distinct users per app and per day, and the most visited
// hosts outside the catalog. It is safe for concurrent use; Observe and
// ObserveUnknown are meant for the proxy's hot path.
type Tracker struct {
	maxApps int

	// apps maps app id to its counts. It is copied on write (under mu) and
	// read without a lock, because new app ids are rare and lookups are on
	// every request.
	apps atomic.Pointer[map[string]*appState]
	mu   sync.Mutex

	// catalog holds names and seats by app id (SetApps).
	catalog atomic.Pointer[map[string]App]

	disc *discovery
}

// appState is one app's ring of day counts.
type appState struct {
	mu   sync.Mutex
	days [ringDays]daySlot

	// seen holds the user hashes already inserted into the sketch of day
	// seenDay while that sketch is sparse. Invariant: every hash in seen is
	// in days[slotOf(seenDay)].users.
	seenDay int64
	seen    map[uint64]struct{}

	// past is Report's union of the days before its today; nil when a
	// change to one of those days invalidated it.
	past *past
}

// daySlot is one UTC day's count for one app.
type daySlot struct {
	day      int64 // days since 1970-01-01 UTC; meaningful when used
	used     bool
	requests uint64
	users    *hyperloglog.Sketch // nil until the day's first user
	// dense records that users is in the dense representation, where
	// inserting again is as cheap as checking seen.
	dense bool
	// inserts counts insertions into a sparse users: at least its distinct
	// users, exactly them for a day fed through seen.
	inserts int
}

// New returns an empty Tracker.
func New(opts Options) *Tracker {
	t := &Tracker{maxApps: opts.MaxApps, disc: newDiscovery(opts.DiscoveryCounters)}
	if t.maxApps <= 0 {
		t.maxApps = DefaultMaxApps
	}
	empty := map[string]*appState{}
	t.apps.Store(&empty)
	cat := map[string]App{}
	t.catalog.Store(&cat)
	return t
}

func newAppState() *appState {
	return &appState{seenDay: math.MinInt64, seen: make(map[uint64]struct{})}
}

// Observe counts one request by user to app at the given time. It is
// cheap enough for every request: one hash of user, one map lookup without
// a lock, and a short critical section per app. An empty or UnknownApp app
// is ignored (unknown hosts go to ObserveUnknown); an empty user counts the
// request but no user. An id that is not spelled like a catalog id is
// ignored too. Observations older than the 31 days the tracker
// keeps are ignored.
func (t *Tracker) Observe(app, user string, at time.Time) {
	if app == "" || app == UnknownApp {
		return
	}
	a := (*t.apps.Load())[app]
	if a == nil {
		if a = t.addApp(app); a == nil {
			return
		}
	}
	var h uint64
	if user != "" {
		h = hashUser(user)
	}
	a.observe(dayOf(at), user != "", h)
}

// addApp returns the state of app id, creating it unless the tracker is at
// MaxApps or id is not a catalog id.
func (t *Tracker) addApp(id string) *appState {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.apps.Load()
	if a := old[id]; a != nil {
		return a
	}
	if len(old) >= t.maxApps || !validAppID(id) {
		return nil
	}
	next := make(map[string]*appState, len(old)+1)
	maps.Copy(next, old)
	a := newAppState()
	// The id may be a substring of a larger request string; keep only it.
	next[strings.Clone(id)] = a
	t.apps.Store(&next)
	return a
}

func (a *appState) observe(day int64, hasUser bool, h uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.past != nil && day < a.past.today {
		a.past = nil // a late observation for a day Report has merged
	}
	s := &a.days[slotOf(day)]
	switch {
	case !s.used || s.day < day:
		// The slot may have held a day Report has merged.
		a.past = nil
		*s = daySlot{day: day, used: true}
	case s.day > day:
		return // older than the ring
	}
	s.requests++
	if !hasUser {
		return
	}
	if s.dense {
		s.users.InsertHash(h)
		return
	}
	if day > a.seenDay {
		clear(a.seen)
		a.seenDay = day
	}
	// Only the newest day's sketch is deduplicated; a late observation for
	// an earlier day goes straight to its sketch.
	dedup := day == a.seenDay
	if dedup {
		if _, ok := a.seen[h]; ok {
			return
		}
		a.seen[h] = struct{}{}
	}
	if s.users == nil {
		s.users = hyperloglog.New14()
	}
	s.users.InsertHash(h)
	s.inserts++
	if s.inserts > denseAfter {
		s.makeDense()
		if dedup {
			// A new map rather than clear, which would keep the grown
			// one's memory for the rest of the tracker's life.
			a.seen = make(map[uint64]struct{})
		}
	}
}

func (s *daySlot) makeDense() {
	s.users = toDense(s.users)
	s.dense = true
	s.inserts = 0
}

// settle brings a slot whose sketch came from a snapshot or another
// tracker to the shape observe keeps: dense beyond denseAfter users.
func (s *daySlot) settle() {
	if s.users == nil || s.dense {
		return
	}
	n := s.users.Estimate()
	if n > denseAfter {
		s.makeDense()
		return
	}
	s.inserts = int(n)
}

// toDense returns sk in the dense representation.
func toDense(sk *hyperloglog.Sketch) *hyperloglog.Sketch {
	d := hyperloglog.NewNoSparse()
	// Both sketches have precision 14, the only case in which Merge fails.
	_ = d.Merge(sk)
	return d
}

// past is the union of an app's days before today for 7- and 30-day
// windows. Those days change only when a late observation, a Merge or a
// Restore reaches them, so Report keeps their union rather than merge up to
// 29 dense sketches (16 KiB each) on every scrape while Observe waits.
type past struct {
	today   int64
	w7, w30 *union // days today-1 back to today-6, and back to today-29
	r7, r30 uint64 // their requests
}

// pastFor returns the union of the days before today, building it if the
// one kept is for another day or was invalidated. a.mu is held.
func (a *appState) pastFor(today int64) *past {
	if a.past != nil && a.past.today == today {
		return a.past
	}
	p := &past{today: today, w7: newUnion()}
	p.r7 = a.mergeDays(p.w7, today, 1, 7)
	p.w30 = p.w7.clone()
	p.r30 = p.r7 + a.mergeDays(p.w30, today, 7, 30)
	a.past = p
	return p
}

// union is the union of day sketches being built for a window. It starts
// sparse, which is nearly exact for a few users, and turns dense once the
// days merged hold more than denseAfter users, because merging many sparse
// sketches into a sparse one rebuilds its list over and over.
type union struct {
	sk    *hyperloglog.Sketch
	users int // upper bound of the users merged so far, while sparse
	dense bool
}

func newUnion() *union { return &union{sk: hyperloglog.New14()} }

func (u *union) clone() *union { return &union{sk: u.sk.Clone(), users: u.users, dense: u.dense} }

func (u *union) add(s *daySlot) {
	if s.users == nil {
		return
	}
	if !u.dense {
		if s.dense {
			u.users += denseAfter + 1
		} else {
			u.users += s.inserts
		}
		if u.users > denseAfter {
			u.sk = toDense(u.sk)
			u.dense = true
		}
	}
	// Both sketches have precision 14, the only case in which Merge fails.
	_ = u.sk.Merge(s.users)
}

// SetApps records the catalog's apps with their names and seats, replacing
// what an earlier call recorded; call it at start-up and on every reload.
// Counts are kept whatever the catalog says: an app that leaves the catalog
// keeps its figures until they are 30 days old. Listing every catalog app,
// not only those with seats, lets Top derive catalog ids that do not clash
// with existing ones.
func (t *Tracker) SetApps(apps []App) {
	m := make(map[string]App, len(apps))
	for _, a := range apps {
		if validAppID(a.ID) && a.ID != UnknownApp {
			m[a.ID] = a
		}
	}
	t.catalog.Store(&m)
}

// Window returns the estimated number of distinct users of app over the
// days UTC days ending with the one that holds now ("1" is today since
// 00:00 UTC). days is clamped to 1..MaxWindow. An app never observed has 0.
func (t *Tracker) Window(app string, days int, now time.Time) uint64 {
	a := (*t.apps.Load())[app]
	if a == nil {
		return 0
	}
	days = min(max(days, 1), MaxWindow)
	u := newUnion()
	a.mu.Lock()
	a.mergeDays(u, dayOf(now), 0, days)
	a.mu.Unlock()
	return u.sk.Estimate()
}

// mergeDays merges into u the sketches of the days today-from (inclusive)
// back to today-to (exclusive), and returns their requests. a.mu is held.
func (a *appState) mergeDays(u *union, today int64, from, to int) uint64 {
	var requests uint64
	for back := from; back < to; back++ {
		day := today - int64(back)
		s := &a.days[slotOf(day)]
		if !s.used || s.day != day {
			continue
		}
		requests += s.requests
		u.add(s)
	}
	return requests
}

// AppUsage is one app's activity: estimated distinct users and requests
// over the last 1, 7 and 30 UTC days, and its seats.
type AppUsage struct {
	App         string `json:"app"`
	Name        string `json:"name"`
	Active1d    uint64 `json:"active_1d"`
	Active7d    uint64 `json:"active_7d"`
	Active30d   uint64 `json:"active_30d"`
	Requests1d  uint64 `json:"requests_1d"`
	Requests7d  uint64 `json:"requests_7d"`
	Requests30d uint64 `json:"requests_30d"`
	// Seats is how many licences the company pays for; 0 when none are
	// recorded.
	Seats int `json:"seats"`
}

// Sentence says the 30-day figure in words: "Zoom: 212 active of 500 seats
// in 30 days", or "Zoom: 212 active in 30 days" without seats.
func (u AppUsage) Sentence() string {
	name := cmp.Or(u.Name, u.App)
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(strconv.FormatUint(u.Active30d, 10))
	b.WriteString(" active")
	if u.Seats > 0 {
		b.WriteString(" of ")
		b.WriteString(strconv.Itoa(u.Seats))
		if u.Seats == 1 {
			b.WriteString(" seat")
		} else {
			b.WriteString(" seats")
		}
	}
	b.WriteString(" in 30 days")
	return b.String()
}

// Report returns every app with requests in the last 30 days or with seats,
// the most used first (by Active30d, then by id). The windows end with the
// UTC day that holds now.
func (t *Tracker) Report(now time.Time) []AppUsage {
	apps := *t.apps.Load()
	catalog := *t.catalog.Load()
	today := dayOf(now)
	out := make([]AppUsage, 0, len(apps))
	for id, a := range apps {
		u := AppUsage{App: id, Name: id}
		if c, ok := catalog[id]; ok {
			u.Name = cmp.Or(c.Name, id)
			u.Seats = max(c.Seats, 0)
		}
		// The unions are built under the lock and estimated outside it: an
		// estimate of a dense sketch takes tens of microseconds, which the
		// app's Observe calls need not wait for.
		a.mu.Lock()
		p := a.pastFor(today)
		w1, w7, w30 := newUnion(), p.w7.clone(), p.w30.clone()
		if s := &a.days[slotOf(today)]; s.used && s.day == today {
			u.Requests1d = s.requests
			w1.add(s)
			w7.add(s)
			w30.add(s)
		}
		a.mu.Unlock()
		u.Requests7d = u.Requests1d + p.r7
		u.Requests30d = u.Requests1d + p.r30
		u.Active1d, u.Active7d, u.Active30d = w1.sk.Estimate(), w7.sk.Estimate(), w30.sk.Estimate()
		if u.Requests30d > 0 || u.Seats > 0 {
			out = append(out, u)
		}
	}
	for id, c := range catalog {
		if _, tracked := apps[id]; !tracked && c.Seats > 0 {
			out = append(out, AppUsage{App: id, Name: cmp.Or(c.Name, id), Seats: c.Seats})
		}
	}
	slices.SortFunc(out, func(x, y AppUsage) int {
		if c := cmp.Compare(y.Active30d, x.Active30d); c != 0 {
			return c
		}
		return strings.Compare(x.App, y.App)
	})
	return out
}

// validAppID reports whether id is spelled as the configuration requires
// of a catalog id: lower-case letters, digits and inner hyphens, at most 64
// bytes. Checking it keeps metric labels and snapshots to such ids.
func validAppID(id string) bool {
	if id == "" || len(id) > maxAppID || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dayOf returns the number of UTC days from 1970-01-01 to t.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d--
	}
	return d
}

// slotOf returns day's index in the ring.
func slotOf(day int64) int {
	i := day % ringDays
	if i < 0 {
		i += ringDays
	}
	return int(i)
}

// userHashName names hashUser in snapshots, so that a snapshot made with
// another hash is refused rather than merged into nonsense.
const userHashName = "fnv1a64-fmix64"

// hashUser returns the 64-bit hash of a subject that sketches keep: FNV-1a
// over its bytes, then the MurmurHash3 64-bit finaliser, because
// HyperLogLog takes the register index from the top bits and FNV-1a alone
// leaves the last bytes of short, similar names poorly mixed into them. It
// must never change without changing userHashName: snapshots and other
// nodes' sketches hold its output.
func hashUser(s string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
