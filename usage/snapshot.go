package usage

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/axiomhq/hyperloglog"
)

const (
	// snapshotVersion is the version of the snapshot format below.
	snapshotVersion = 1

	// maxSnapshotBytes bounds what LoadFile reads and what a compressed
	// snapshot may expand to. A full tracker (1024 apps of 31 dense days,
	// 1000 domains) is about 700 MB of JSON in theory; real ones are a few
	// megabytes, and anything beyond this is not one of ours.
	maxSnapshotBytes = 256 << 20
)

// gzipMagic starts every gzip stream (RFC 1952 section 2.3.1).
var gzipMagic = []byte{0x1f, 0x8b}

// isEOF reports whether r, a bytes.Reader, has nothing left.
func isEOF(r io.Reader) bool {
	br, ok := r.(*bytes.Reader)
	return ok && br.Len() == 0
}

// snapshot is the persisted form of a Tracker, version 1: gzip-compressed
// JSON (Restore also reads it uncompressed), with each sketch in the
// hyperloglog package's binary encoding (base64 in JSON).
//
//	{"version":1,"user_hash":"fnv1a64-fmix64",
//	 "apps":[{"app":"zoom","days":[{"day":20480,"requests":12,"users":"…"}]}],
//	 "domains":[{"domain":"example.com","requests":9,"requests_overcount":0,
//	             "users":"…","first_seen":"…","last_seen":"…"}]}
type snapshot struct {
	Version  int          `json:"version"`
	UserHash string       `json:"user_hash"`
	Apps     []snapApp    `json:"apps"`
	Domains  []snapDomain `json:"domains"`
}

type snapApp struct {
	App  string    `json:"app"`
	Days []snapDay `json:"days"`
}

type snapDay struct {
	Day      int64  `json:"day"` // UTC days since 1970-01-01
	Requests uint64 `json:"requests"`
	Users    []byte `json:"users,omitempty"`
}

type snapDomain struct {
	Domain            string    `json:"domain"`
	Requests          uint64    `json:"requests"`
	RequestsOvercount uint64    `json:"requests_overcount"`
	Users             []byte    `json:"users"`
	FirstSeen         time.Time `json:"first_seen"`
	LastSeen          time.Time `json:"last_seen"`
}

// dump is a Tracker's state with its own copies of every sketch: what
// Snapshot encodes, Restore installs and Merge adds.
type dump struct {
	apps    []appDump
	domains []domainDump
}

type appDump struct {
	id   string
	days []dayDump
}

type dayDump struct {
	day      int64
	requests uint64
	users    *hyperloglog.Sketch // nil when the day had no user
	dense    bool
}

type domainDump struct {
	domain         string
	requests, over uint64
	users          *hyperloglog.Sketch
	first, last    int64
}

// export copies t's state, locking one app (and then the discovery table)
// at a time.
func (t *Tracker) export() dump {
	var out dump
	for id, a := range *t.apps.Load() {
		ad := appDump{id: id}
		a.mu.Lock()
		for i := range a.days {
			s := &a.days[i]
			if !s.used {
				continue
			}
			dd := dayDump{day: s.day, requests: s.requests, dense: s.dense}
			if s.users != nil {
				dd.users = s.users.Clone()
			}
			ad.days = append(ad.days, dd)
		}
		a.mu.Unlock()
		slices.SortFunc(ad.days, func(x, y dayDump) int { return cmp.Compare(x.day, y.day) })
		out.apps = append(out.apps, ad)
	}
	slices.SortFunc(out.apps, func(x, y appDump) int { return strings.Compare(x.id, y.id) })
	d := t.disc
	d.mu.Lock()
	for _, e := range d.heap {
		out.domains = append(out.domains, domainDump{domain: e.domain, requests: e.count, over: e.over,
			users: e.users.Clone(), first: e.first, last: e.last})
	}
	d.mu.Unlock()
	slices.SortFunc(out.domains, func(x, y domainDump) int { return strings.Compare(x.domain, y.domain) })
	return out
}

// Snapshot returns t's counts in a versioned format that Restore reads
// back, on this node or another running the same version. It holds user
// hashes' sketches, never user names.
func (t *Tracker) Snapshot() ([]byte, error) {
	d := t.export()
	s := snapshot{Version: snapshotVersion, UserHash: userHashName,
		Apps: make([]snapApp, 0, len(d.apps)), Domains: make([]snapDomain, 0, len(d.domains))}
	for _, a := range d.apps {
		sa := snapApp{App: a.id, Days: make([]snapDay, 0, len(a.days))}
		for _, day := range a.days {
			sd := snapDay{Day: day.day, Requests: day.requests}
			if day.users != nil {
				b, err := day.users.MarshalBinary()
				if err != nil {
					return nil, fmt.Errorf("usage snapshot: app %s day %d: %w", a.id, day.day, err)
				}
				sd.Users = b
			}
			sa.Days = append(sa.Days, sd)
		}
		s.Apps = append(s.Apps, sa)
	}
	for _, e := range d.domains {
		b, err := e.users.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("usage snapshot: domain %s: %w", e.domain, err)
		}
		s.Domains = append(s.Domains, snapDomain{Domain: e.domain, Requests: e.requests, RequestsOvercount: e.over,
			Users: b, FirstSeen: time.Unix(0, e.first).UTC(), LastSeen: time.Unix(0, e.last).UTC()})
	}
	var buf bytes.Buffer
	// BestSpeed: dense sketches' registers are small numbers, which even
	// the fastest level shrinks about six times through base64.
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("usage snapshot: %w", err)
	}
	if err := json.NewEncoder(zw).Encode(s); err != nil {
		return nil, fmt.Errorf("usage snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("usage snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore replaces t's counts with those of a Snapshot. On error t is left
// unchanged. It is meant for start-up: an Observe that runs at the same
// time may be lost. Domains beyond t's DiscoveryCounters keep only the most
// requested ones.
func (t *Tracker) Restore(data []byte) error {
	d, err := t.decode(data)
	if err != nil {
		return err
	}
	apps := make(map[string]*appState, len(d.apps))
	for _, ad := range d.apps {
		a := newAppState()
		for _, dd := range ad.days {
			s := &a.days[slotOf(dd.day)]
			*s = daySlot{day: dd.day, used: true, requests: dd.requests, users: dd.users, dense: dd.dense}
			s.settle()
		}
		apps[ad.id] = a
	}
	t.mu.Lock()
	t.apps.Store(&apps)
	t.mu.Unlock()

	disc := t.disc
	disc.mu.Lock()
	defer disc.mu.Unlock()
	for len(disc.heap) > 0 {
		disc.remove(disc.heap[len(disc.heap)-1])
	}
	disc.load(d.domains)
	return nil
}

// load puts domains into the empty table, keeping the k with the most
// requests. d.mu is held.
func (d *discovery) load(domains []domainDump) {
	slices.SortFunc(domains, func(x, y domainDump) int {
		if c := cmp.Compare(y.requests, x.requests); c != 0 {
			return c
		}
		return strings.Compare(x.domain, y.domain)
	})
	for _, dd := range domains[:min(len(domains), d.k)] {
		e := d.admit(dd.domain, dd.first)
		e.count, e.over, e.last = dd.requests, dd.over, dd.last
		e.users.Reset()
		// Both sketches have precision domainPrecision (decode checks),
		// the only case in which Merge fails.
		_ = e.users.Merge(dd.users)
		d.fix(e.pos)
	}
}

// decode parses and checks a snapshot without touching t.
func (t *Tracker) decode(data []byte) (dump, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(data, gzipMagic) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return dump{}, fmt.Errorf("usage snapshot: %w", err)
		}
		// Only the first gzip member: a snapshot is one.
		zr.Multistream(false)
		plain, err := io.ReadAll(io.LimitReader(zr, maxSnapshotBytes+1))
		if err != nil {
			return dump{}, fmt.Errorf("usage snapshot: %w", err)
		}
		if len(plain) > maxSnapshotBytes {
			return dump{}, fmt.Errorf("usage snapshot: larger than %d bytes once decompressed; expected a usage snapshot", maxSnapshotBytes)
		}
		if n, _ := zr.Read(make([]byte, 1)); n > 0 || !isEOF(r) {
			return dump{}, errors.New("usage snapshot: found data after the compressed snapshot; expected its end")
		}
		r = bytes.NewReader(plain)
	}
	var s snapshot
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return dump{}, fmt.Errorf("usage snapshot: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return dump{}, errors.New("usage snapshot: found data after the snapshot; expected its end")
	}
	if s.Version != snapshotVersion {
		return dump{}, fmt.Errorf("usage snapshot: found version %d; expected %d", s.Version, snapshotVersion)
	}
	if s.UserHash != userHashName {
		return dump{}, fmt.Errorf("usage snapshot: found user hash %q; expected %q", s.UserHash, userHashName)
	}
	if len(s.Apps) > t.maxApps {
		return dump{}, fmt.Errorf("usage snapshot: found %d apps; expected at most %d", len(s.Apps), t.maxApps)
	}
	var out dump
	seenApp := make(map[string]bool, len(s.Apps))
	for _, sa := range s.Apps {
		if !validAppID(sa.App) || sa.App == UnknownApp {
			return dump{}, fmt.Errorf("usage snapshot: found app id %q; expected a catalog id", truncate(sa.App))
		}
		if seenApp[sa.App] {
			return dump{}, fmt.Errorf("usage snapshot: app %s repeated", sa.App)
		}
		seenApp[sa.App] = true
		if len(sa.Days) > ringDays {
			return dump{}, fmt.Errorf("usage snapshot: app %s has %d days; expected at most %d", sa.App, len(sa.Days), ringDays)
		}
		ad := appDump{id: sa.App}
		var slots [ringDays]bool
		for _, sd := range sa.Days {
			if slots[slotOf(sd.Day)] {
				return dump{}, fmt.Errorf("usage snapshot: app %s has two days more than %d days apart or repeated (day %d)", sa.App, ringDays-1, sd.Day)
			}
			slots[slotOf(sd.Day)] = true
			dd := dayDump{day: sd.Day, requests: sd.Requests}
			if sd.Users != nil {
				sk, dense, err := decodeSketch(sd.Users, 14)
				if err != nil {
					return dump{}, fmt.Errorf("usage snapshot: app %s day %d: %w", sa.App, sd.Day, err)
				}
				dd.users, dd.dense = sk, dense
			}
			ad.days = append(ad.days, dd)
		}
		out.apps = append(out.apps, ad)
	}
	seenDomain := make(map[string]bool, len(s.Domains))
	for _, sd := range s.Domains {
		if rd, ok := registrableDomain(sd.Domain); !ok || rd != sd.Domain {
			return dump{}, fmt.Errorf("usage snapshot: found domain %q; expected a registrable domain in normal form", truncate(sd.Domain))
		}
		if seenDomain[sd.Domain] {
			return dump{}, fmt.Errorf("usage snapshot: domain %s repeated", sd.Domain)
		}
		seenDomain[sd.Domain] = true
		if sd.Requests == 0 || sd.RequestsOvercount >= sd.Requests {
			return dump{}, fmt.Errorf("usage snapshot: domain %s has %d requests with an overcount of %d; expected more requests than overcount",
				sd.Domain, sd.Requests, sd.RequestsOvercount)
		}
		sk, _, err := decodeSketch(sd.Users, domainPrecision)
		if err != nil {
			return dump{}, fmt.Errorf("usage snapshot: domain %s: %w", sd.Domain, err)
		}
		out.domains = append(out.domains, domainDump{domain: sd.Domain, requests: sd.Requests, over: sd.RequestsOvercount,
			users: sk, first: sd.FirstSeen.UnixNano(), last: sd.LastSeen.UnixNano()})
	}
	return out, nil
}

// decodeSketch reads a sketch in the hyperloglog package's binary encoding
// and checks its precision, which Merge would otherwise refuse later. It
// reports whether the sketch is dense.
func decodeSketch(b []byte, precision uint8) (*hyperloglog.Sketch, bool, error) {
	// Bytes 1 and 3 of the encoding are the precision and the sparse flag
	// (see hyperloglog.Sketch.UnmarshalBinary).
	if len(b) >= 4 && b[1] != precision {
		return nil, false, fmt.Errorf("found a sketch of precision %d; expected %d", b[1], precision)
	}
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(b); err != nil {
		return nil, false, fmt.Errorf("bad sketch: %w", err)
	}
	return sk, b[3] == 0, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Merge adds other's counts to t, as if t had seen other's requests too:
// for each app and day, the user sketches are merged and the requests
// added; days older than t's ring for that day's slot are skipped. The
// discovery tables are merged as Space-Saving summaries (a domain missing
// from a full table gets that table's smallest count as possible
// overcount) and cut back to t's k counters. It is for combining the
// figures of several nodes; merging t into itself does nothing. It returns
// an error when apps were left out because t reached MaxApps.
func (t *Tracker) Merge(other *Tracker) error {
	if other == nil || other == t {
		return nil
	}
	d := other.export()
	skipped := 0
	for _, ad := range d.apps {
		a := (*t.apps.Load())[ad.id]
		if a == nil {
			if a = t.addApp(ad.id); a == nil {
				skipped++
				continue
			}
		}
		a.mu.Lock()
		for _, dd := range ad.days {
			a.merge(dd)
		}
		a.mu.Unlock()
	}
	other.disc.mu.Lock()
	otherFloor := other.disc.floor()
	other.disc.mu.Unlock()
	t.disc.merge(d.domains, otherFloor)
	if skipped > 0 {
		return fmt.Errorf("usage merge: %d apps left out: the tracker counts at most %d", skipped, t.maxApps)
	}
	return nil
}

// merge adds one day of another tracker to a. a.mu is held.
func (a *appState) merge(dd dayDump) {
	a.past = nil
	s := &a.days[slotOf(dd.day)]
	switch {
	case !s.used || s.day < dd.day:
		*s = daySlot{day: dd.day, used: true, requests: dd.requests, users: dd.users, dense: dd.dense}
		if dd.day == a.seenDay {
			// seen described a sketch this one replaced.
			clear(a.seen)
		}
		s.settle()
	case s.day == dd.day:
		s.requests += dd.requests
		switch {
		case dd.users == nil:
		case s.users == nil:
			s.users, s.dense = dd.users, dd.dense
		default:
			// Both sketches have precision 14, the only case in which Merge fails.
			_ = s.users.Merge(dd.users)
			s.dense = s.dense || dd.dense
		}
		s.settle()
	}
}

// floor is the count a domain missing from a full table may have had: the
// table's smallest count, or 0 while it has room. d.mu is held.
func (d *discovery) floor() uint64 {
	if len(d.heap) < d.k || len(d.heap) == 0 {
		return 0
	}
	return d.heap[0].count
}

// merge combines d with another table's domains, whose smallest count was
// otherFloor, and keeps the d.k domains with the most requests.
func (d *discovery) merge(other []domainDump, otherFloor uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ownFloor := d.floor()
	own := make(map[string]domainDump, len(d.heap))
	for _, e := range d.heap {
		own[e.domain] = domainDump{domain: e.domain, requests: e.count, over: e.over,
			users: e.users.Clone(), first: e.first, last: e.last}
	}
	all := make([]domainDump, 0, len(own)+len(other))
	for _, o := range other {
		c, ok := own[o.domain]
		if !ok {
			// Absent from d: it may have had up to ownFloor requests there.
			o.requests += ownFloor
			o.over += ownFloor
			all = append(all, o)
			continue
		}
		delete(own, o.domain)
		c.requests += o.requests
		c.over += o.over
		// Both sketches have precision domainPrecision, the only case in
		// which Merge fails.
		_ = c.users.Merge(o.users)
		c.first = min(c.first, o.first)
		c.last = max(c.last, o.last)
		all = append(all, c)
	}
	for _, c := range own {
		// Absent from the other table: it may have had up to otherFloor there.
		c.requests += otherFloor
		c.over += otherFloor
		all = append(all, c)
	}
	for len(d.heap) > 0 {
		d.remove(d.heap[len(d.heap)-1])
	}
	d.load(all)
}

// SaveFile writes a Snapshot to path atomically: to a temporary file in
// the same directory, synced, made mode 0600 and renamed over path, so that
// a crash leaves either the old snapshot or the new one.
func (t *Tracker) SaveFile(path string) (err error) {
	data, err := t.Snapshot()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save usage: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmpName)
		}
	}()
	// CreateTemp makes the file 0600 before any byte is written; Chmod
	// makes sure of it whatever the platform did.
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save usage: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save usage: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save usage: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save usage: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("save usage: %w", err)
	}
	// Make the rename durable where the platform can sync a directory; the
	// file's contents are already synced, so a failure here is not one.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadFile restores t from a file SaveFile wrote. A missing file returns an
// error for which errors.Is(err, fs.ErrNotExist) holds, which a caller
// starting for the first time can ignore.
func (t *Tracker) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load usage: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("load usage: %w", err)
	}
	if len(data) > maxSnapshotBytes {
		return fmt.Errorf("load usage: %s is larger than %d bytes; expected a usage snapshot", path, maxSnapshotBytes)
	}
	if err := t.Restore(data); err != nil {
		return fmt.Errorf("load usage from %s: %w", path, err)
	}
	return nil
}
