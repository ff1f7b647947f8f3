package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signpost-gateway/signpost/config"
	"github.com/signpost-gateway/signpost/usage"
)

// usageEvery is how often a node saves its usage sketches to the store and
// merges the fleet's.
const usageEvery = time.Minute

// fleetUsage keeps this node's usage tracker (fed by the proxy) and a
// merged view of every node's, refreshed from the shared store: distinct
// users are counted once across the fleet, because sketches merge.
type fleetUsage struct {
	local *usage.Tracker
	// others is every other node's latest snapshot, merged; refreshed
	// from the store every usageEvery.
	others atomic.Pointer[usage.Tracker]
	// view is others plus this node's live figures, rebuilt at most every
	// viewEvery (a merge costs milliseconds; scrapes and pages read it).
	mu     sync.Mutex
	view   *usage.Tracker
	viewAt time.Time
	apps   []usage.App
}

// viewEvery bounds how stale the fleet view may be.
const viewEvery = 5 * time.Second

// Collector exports the fleet's figures: every node reports the same
// fleet-wide numbers (dashboards take max() over instances).
func (f *fleetUsage) Describe(ch chan<- *prometheus.Desc) { f.local.Collector().Describe(ch) }

// Collect sends the merged figures.
func (f *fleetUsage) Collect(ch chan<- prometheus.Metric) { f.Tracker().Collector().Collect(ch) }

// Tracker returns the fleet's figures: the other nodes' snapshots merged
// with this node's live ones.
func (f *fleetUsage) Tracker() *usage.Tracker {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.view != nil && time.Since(f.viewAt) < viewEvery {
		return f.view
	}
	others := f.others.Load()
	if others == nil {
		return f.local
	}
	v := usage.New(usage.Options{})
	_ = v.Merge(others)
	_ = v.Merge(f.local)
	v.SetApps(f.apps)
	f.view, f.viewAt = v, time.Now()
	return v
}

// setApps records the apps for views built later and tells the local
// tracker.
func (f *fleetUsage) setApps(apps []usage.App, classified func(string) bool) {
	f.mu.Lock()
	f.apps, f.view = apps, nil
	f.mu.Unlock()
	f.local.SetApps(apps)
	f.local.ForgetDiscovered(classified)
}

// nodeName names this node's usage snapshot in the shared store: the host
// name (a pod's name in Kubernetes) and a digest of the data directory, so
// that two nodes on one host differ.
func nodeName(dataDir string) string {
	h, err := os.Hostname()
	if err != nil {
		h = "signpost"
	}
	sum := sha256.Sum256([]byte(dataDir))
	return h + "/" + hex.EncodeToString(sum[:4])
}

// startUsage restores this node's usage figures from the store and keeps
// saving and merging them.
func (n *Node) startUsage() error {
	n.usage = &fleetUsage{local: usage.New(usage.Options{})}
	n.node = nodeName(n.dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if snaps, err := n.store.UsageSnapshots(ctx, time.Now().AddDate(0, 0, -usage.MaxWindow)); err != nil {
		n.log.Warn("usage figures could not be read from the store; counting afresh", "error", err.Error())
	} else {
		for _, s := range snaps {
			if s.Node != n.node {
				continue
			}
			if err := n.usage.local.Restore(s.Data); err != nil {
				n.log.Warn("this node's usage figures in the store are unreadable; counting afresh", "error", err.Error())
			}
		}
	}
	n.configureUsage(n.cfg)
	n.mergeUsage()
	if err := n.reg.Register(n.usage); err != nil {
		return err
	}
	n.stopUsage = n.every(usageEvery, false, func(context.Context) {
		n.saveUsage()
		n.mergeUsage()
	})
	return nil
}

// every runs fn in the background every period (and once at once when
// now is set) until the returned function is called; Shutdown waits for
// it through n.wg. fn's context ends when the loop is stopped.
func (n *Node) every(period time.Duration, now bool, fn func(context.Context)) context.CancelFunc {
	loop, stop := context.WithCancel(context.Background())
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		if now {
			fn(loop)
		}
		for {
			select {
			case <-loop.Done():
				return
			case <-t.C:
				fn(loop)
			}
		}
	}()
	return stop
}

// configureUsage tells the trackers the apps and seats of cfg, and forgets
// discovered domains the configuration now classifies.
func (n *Node) configureUsage(cfg *config.Config) {
	apps := make([]usage.App, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		apps = append(apps, usage.App{ID: a.ID, Name: a.Name, Seats: cfg.Seats[a.ID]})
	}
	classified := func(domain string) bool {
		hm, err := cfg.Matcher.Lookup(domain)
		return err == nil && hm.App != nil
	}
	n.usage.setApps(apps, classified)
}

// saveUsage stores this node's snapshot in the shared store.
func (n *Node) saveUsage() {
	data, err := n.usage.local.Snapshot()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = n.store.SaveUsage(ctx, n.node, data, time.Now())
	}
	if err != nil {
		n.log.Warn("saving usage figures to the store failed; they are kept in memory and saved next time", "error", err.Error())
	}
}

// mergeUsage rebuilds the fleet view: this node's live figures plus every
// other node's latest snapshot.
func (n *Node) mergeUsage() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snaps, err := n.store.UsageSnapshots(ctx, time.Now().AddDate(0, 0, -usage.MaxWindow))
	if err != nil {
		return // keep the last merged view
	}
	merged := usage.New(usage.Options{})
	for _, s := range snaps {
		if s.Node == n.node {
			continue
		}
		other := usage.New(usage.Options{})
		if err := other.Restore(s.Data); err != nil {
			n.log.Warn("a node's usage figures in the store are unreadable", "node", s.Node, "error", err.Error())
			continue
		}
		_ = merged.Merge(other)
	}
	n.usage.others.Store(merged)
	n.usage.mu.Lock()
	n.usage.view = nil
	n.usage.mu.Unlock()
}

// SyncUsage saves this node's usage figures to the store and merges the
// fleet's now, instead of at the next tick.
func (n *Node) SyncUsage() {
	n.saveUsage()
	n.mergeUsage()
}
