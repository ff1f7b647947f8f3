package usage

import (
	"cmp"
	"encoding/json"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/axiomhq/hyperloglog"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/signpost-gateway/signpost/classify"
)

const (
	// DefaultDiscoveryCounters is Options.DiscoveryCounters when it is zero.
	DefaultDiscoveryCounters = 1000

	// domainPrecision is the precision of each tracked domain's user
	// sketch: 2^10 one-byte registers (1 KiB, dense from the start so that
	// inserting never allocates), about 3% standard error.
	domainPrecision = 10

	// DiscoveredCategory is the category of the catalog entries Top
	// suggests; the admin replaces it with a real one, or keeps it (the
	// configuration accepts any category).
	DiscoveredCategory = "uncategorized"
)

// discovery is a Space-Saving table (Metwally, Agrawal and El Abbadi,
// "Efficient Computation of Frequent and Top-k Elements in Data Streams",
// 2005) of k counters keyed by registrable domain. A domain not in a full
// table takes over the counter with the smallest count and inherits it as
// its possible overcount, so every count is an upper bound and any domain
// with more than N/k requests is in the table.
type discovery struct {
	mu       sync.Mutex
	k        int
	byDomain map[string]*hitter
	heap     []*hitter // min-heap on count
	spare    []*hitter // counters freed by Forget or Reset, reused before allocating

	hosts [hostCacheSize]atomic.Pointer[hostEntry]
	seed  maphash.Seed // for the host cache's index only: it never leaves the process
}

// hitter is one counter of the table.
type hitter struct {
	domain string
	count  uint64 // requests counted, including over
	over   uint64 // count inherited from the evicted domain: at most this much of count is not domain's
	users  *hyperloglog.Sketch
	first  int64 // Unix nanoseconds
	last   int64
	pos    int // index in heap
}

func newDiscovery(k int) *discovery {
	if k <= 0 {
		k = DefaultDiscoveryCounters
	}
	return &discovery{k: k, byDomain: make(map[string]*hitter, k), seed: maphash.MakeSeed()}
}

func newDomainSketch() *hyperloglog.Sketch {
	// NewSketch fails only for a precision outside 4..18.
	sk, _ := hyperloglog.NewSketch(domainPrecision, false)
	return sk
}

// ObserveUnknown counts one request by user to a host outside the catalog,
// under its registrable domain ("eu.files.example.co.uk" counts as
// "example.co.uk"). host may carry a port and need not be normalised. IP
// addresses, names without a public suffix (intranet names such as "wiki"
// or "jira.corp") and hosts that are not valid names are ignored. Like
// Observe it is meant for every request: it does not allocate unless the
// domain is new to the table.
func (t *Tracker) ObserveUnknown(host, user string, at time.Time) {
	domain, ok := t.disc.domainOf(host)
	if !ok {
		return
	}
	var h uint64
	if user != "" {
		h = hashUser(user)
	}
	t.disc.observe(domain, user != "", h, at.UnixNano())
}

// registrableDomain returns host's registrable domain (eTLD+1) in the
// normal form classify.Normalize gives, or false when host has none.
func registrableDomain(host string) (string, bool) {
	n, err := classify.Normalize(host)
	if err != nil || classify.IsIP(n) || strings.IndexByte(n, '.') < 0 {
		// A single label is an intranet name.
		return "", false
	}
	// The same steps as publicsuffix.EffectiveTLDPlusOne, which would look
	// the suffix up a second time to tell an intranet name apart.
	suffix, icann := publicsuffix.PublicSuffix(n)
	if !icann && strings.IndexByte(suffix, '.') < 0 {
		// No rule matched, so the suffix is the last label of a top-level
		// domain the list does not know (.corp, .lan, .internal, .local):
		// an intranet name, not a tool. Private suffixes such as github.io
		// always have two labels or more.
		return "", false
	}
	if len(n) <= len(suffix) {
		return "", false // n is itself a public suffix, such as co.uk
	}
	i := len(n) - len(suffix) - 1
	if n[i] != '.' {
		return "", false
	}
	return n[strings.LastIndexByte(n[:i], '.')+1:], true
}

const (
	// hostCacheSize is the number of entries of the host → domain cache, a
	// power of two.
	hostCacheSize = 1024
	// maxCachedHost bounds the hosts the cache keeps: a name with a port
	// and brackets is far shorter, and classify.Normalize refuses longer.
	maxCachedHost = 1024
)

// hostEntry is one answer of registrableDomain.
type hostEntry struct {
	host, domain string
	ok           bool
}

// domainOf is registrableDomain through a direct-mapped cache of recent
// hosts, because the public suffix lookup allocates (it first tries the
// name as an IP address) and popular unknown hosts repeat. Entries are
// replaced whole through atomic pointers, so lookups take no lock.
func (d *discovery) domainOf(host string) (string, bool) {
	if len(host) > maxCachedHost {
		return registrableDomain(host) // which refuses it: no name is this long
	}
	slot := &d.hosts[maphash.String(d.seed, host)&(hostCacheSize-1)]
	if e := slot.Load(); e != nil && e.host == host {
		return e.domain, e.ok
	}
	domain, ok := registrableDomain(host)
	// Clones, so that the cache never keeps a caller's buffer alive.
	e := &hostEntry{host: strings.Clone(host), domain: strings.Clone(domain), ok: ok}
	slot.Store(e)
	return e.domain, ok
}

func (d *discovery) observe(domain string, hasUser bool, h uint64, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.byDomain[domain]
	if e == nil {
		e = d.admit(domain, now)
	}
	e.count++
	e.first = min(e.first, now)
	e.last = max(e.last, now)
	if hasUser {
		e.users.InsertHash(h)
	}
	d.fix(e.pos)
}

// admit gives domain a counter: a new one while the table has room,
// otherwise the one with the smallest count, whose count the newcomer
// inherits as overcount. d.mu is held.
func (d *discovery) admit(domain string, now int64) *hitter {
	var e *hitter
	switch {
	case len(d.heap) < d.k && len(d.spare) > 0:
		e = d.spare[len(d.spare)-1]
		d.spare = d.spare[:len(d.spare)-1]
		e.count, e.over = 0, 0
		e.users.Reset()
		d.push(e)
	case len(d.heap) < d.k:
		e = &hitter{users: newDomainSketch()}
		d.push(e)
	default:
		e = d.heap[0]
		delete(d.byDomain, e.domain)
		e.over = e.count
		e.users.Reset()
	}
	e.domain = strings.Clone(domain)
	e.first, e.last = now, now
	d.byDomain[e.domain] = e
	return e
}

// The heap is written out rather than built on container/heap so that the
// hot path makes no interface calls.

func (d *discovery) push(e *hitter) {
	e.pos = len(d.heap)
	d.heap = append(d.heap, e)
}

// fix restores the heap order after the count at i changed.
func (d *discovery) fix(i int) {
	if !d.up(i) {
		d.down(i)
	}
}

func (d *discovery) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if d.heap[p].count <= d.heap[i].count {
			break
		}
		d.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (d *discovery) down(i int) {
	n := len(d.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && d.heap[r].count < d.heap[l].count {
			c = r
		}
		if d.heap[i].count <= d.heap[c].count {
			return
		}
		d.swap(i, c)
		i = c
	}
}

func (d *discovery) swap(i, j int) {
	d.heap[i], d.heap[j] = d.heap[j], d.heap[i]
	d.heap[i].pos = i
	d.heap[j].pos = j
}

// remove takes e out of the table and keeps its counter for reuse. d.mu is
// held.
func (d *discovery) remove(e *hitter) {
	delete(d.byDomain, e.domain)
	last := len(d.heap) - 1
	i := e.pos
	if i != last {
		d.swap(i, last)
	}
	d.heap[last] = nil
	d.heap = d.heap[:last]
	if i < last {
		d.fix(i)
	}
	e.domain = ""
	d.spare = append(d.spare, e)
}

// Discovered is a domain outside the catalog that people visit.
type Discovered struct {
	// Domain is the registrable domain, in ASCII (punycode) form.
	Domain string `json:"domain"`
	// Requests counted for the domain: an upper bound, at most
	// RequestsOvercount more than the true count since the domain entered
	// the table.
	Requests          uint64 `json:"requests"`
	RequestsOvercount uint64 `json:"requests_overcount"`
	// Users is the estimated number of distinct users since the domain
	// entered the table.
	Users uint64 `json:"users"`
	// FirstSeen is when the domain entered the table (its first request
	// since start-up or ResetDiscovery, unless it was evicted and came
	// back); LastSeen is its latest request.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// CatalogEntry is a YAML list item to paste under an apps: list to add
	// the domain to the catalog as a new app.
	CatalogEntry string `json:"catalog_entry"`
}

// Top returns up to n of the tracked domains with the most requests, the
// most requested first (then by name). n <= 0 returns none. Each carries a
// catalog entry whose id does not clash with the apps given to SetApps or
// with another entry of the same answer.
func (t *Tracker) Top(n int) []Discovered {
	if n <= 0 {
		return nil
	}
	d := t.disc
	d.mu.Lock()
	sel := slices.Clone(d.heap)
	slices.SortFunc(sel, func(x, y *hitter) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		return strings.Compare(x.domain, y.domain)
	})
	sel = sel[:min(n, len(sel))]
	out := make([]Discovered, len(sel))
	users := make([]*hyperloglog.Sketch, len(sel))
	for i, e := range sel {
		out[i] = Discovered{
			Domain:            e.domain,
			Requests:          e.count,
			RequestsOvercount: e.over,
			FirstSeen:         time.Unix(0, e.first).UTC(),
			LastSeen:          time.Unix(0, e.last).UTC(),
		}
		// Estimated outside the lock: a thousand estimates take
		// milliseconds that ObserveUnknown need not wait for.
		users[i] = e.users.Clone()
	}
	d.mu.Unlock()
	taken := make(map[string]bool)
	for id := range *t.catalog.Load() {
		taken[id] = true
	}
	for i := range out {
		out[i].Users = users[i].Estimate()
		out[i].CatalogEntry = catalogEntry(out[i].Domain, taken)
	}
	return out
}

// ForgetDiscovered drops the tracked domains for which classified returns
// true, and returns how many it dropped. Call it after a reload with a
// function that asks the new catalog, so that domains an admin has just
// classified stop being suggested.
func (t *Tracker) ForgetDiscovered(classified func(domain string) bool) int {
	d := t.disc
	d.mu.Lock()
	defer d.mu.Unlock()
	var drop []*hitter
	for _, e := range d.heap {
		if classified(e.domain) {
			drop = append(drop, e)
		}
	}
	for _, e := range drop {
		d.remove(e)
	}
	return len(drop)
}

// ResetDiscovery empties the table of discovered domains; counting starts
// again from zero.
func (t *Tracker) ResetDiscovery() {
	d := t.disc
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.heap) > 0 {
		d.remove(d.heap[len(d.heap)-1])
	}
}

// catalogEntry returns a YAML list item that adds domain to the catalog as
// a new app, with an id not in taken (which it then adds to taken):
//
//   - id: example
//     name: "Example"
//     category: uncategorized
//     domains: [example.com]
func catalogEntry(domain string, taken map[string]bool) string {
	label, _, _ := strings.Cut(domain, ".")
	id := appID(label)
	if id == "" || taken[id] {
		id = appID(strings.ReplaceAll(domain, ".", "-"))
	}
	if id == "" {
		id = "app"
	}
	base := id
	for i := 2; taken[id]; i++ {
		suffix := "-" + strconv.Itoa(i)
		id = strings.TrimRight(base[:min(len(base), maxAppID-len(suffix))], "-") + suffix
	}
	taken[id] = true

	var b strings.Builder
	b.WriteString("- id: ")
	b.WriteString(yamlScalar(id))
	b.WriteString("\n  name: ")
	b.WriteString(quote(appName(label)))
	b.WriteString("\n  category: ")
	b.WriteString(DiscoveredCategory)
	b.WriteString("\n  domains: [")
	b.WriteString(yamlScalar(domain))
	b.WriteString("]\n")
	return b.String()
}

// appID turns s into a catalog id: lower-case letters, digits and inner
// hyphens, at most maxAppID bytes; "" when nothing is left.
func appID(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte('-')
		}
	}
	id := b.String()
	if len(id) > maxAppID {
		id = id[:maxAppID]
	}
	return strings.Trim(id, "-")
}

// appName turns a domain label into a title-cased name: "my-tool" becomes
// "My Tool", and a punycode label its Unicode spelling ("xn--mnchen-3ya"
// becomes "München").
func appName(label string) string {
	if u, err := idna.Display.ToUnicode(label); err == nil {
		label = u
	}
	words := strings.FieldsFunc(label, func(r rune) bool { return r == '-' || r == '_' })
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToTitle(r)) + w[size:]
	}
	if len(words) == 0 {
		return label
	}
	return strings.Join(words, " ")
}

// yamlScalar returns s as a plain YAML scalar when it reads back as the
// same string, and double-quoted otherwise. s is an id or a normalised
// domain, so only a few spellings need quotes.
func yamlScalar(s string) string {
	switch s {
	case "", "null", "Null", "NULL", "~":
		return quote(s)
	}
	if c := s[0]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
		return quote(s)
	}
	return s
}

// quote returns s as a double-quoted YAML scalar: a JSON string is one.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		// json.Marshal cannot fail on a string; keep the output valid YAML
		// all the same.
		return `""`
	}
	return string(b)
}
