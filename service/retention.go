package service

import (
	"context"
	"time"
)

const (
	// pruneEvery is how often a node deletes the access records its
	// retention no longer keeps. Every node of a fleet prunes: the
	// deletions are idempotent, so nodes pruning at once delete each row
	// once between them.
	pruneEvery = time.Hour
	// pruneTimeout bounds one pruning; what it had deleted stays deleted,
	// and the next pruning goes on from there.
	pruneTimeout = 10 * time.Minute
)

// startPruning prunes the access store in the background now, then every
// pruneEvery, with the retention of the configuration in force then (a
// reload changes it).
func (n *Node) startPruning() {
	n.stopPrune = n.every(pruneEvery, true, n.prune)
}

// prune deletes what has been over for longer than the retention, counts
// it in the metrics and logs it.
func (n *Node) prune(loop context.Context) {
	keep := n.gw.Config().Store.Retention
	if keep == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(loop, pruneTimeout)
	defer cancel()
	p, err := n.store.Prune(ctx, time.Now().Add(-keep))
	n.metrics.pruned.WithLabelValues("requests").Add(float64(p.Requests))
	n.metrics.pruned.WithLabelValues("grants").Add(float64(p.Grants))
	n.metrics.pruned.WithLabelValues("audit").Add(float64(p.Audit))
	attrs := []any{"retention", keep.String(), "requests", p.Requests, "grants", p.Grants, "audit_entries", p.Audit}
	switch {
	case err != nil && loop.Err() != nil:
		// The node is stopping.
	case err != nil:
		n.metrics.pruneFailures.Inc()
		n.log.Warn("pruning the access store failed; the next pruning goes on from what was deleted",
			append(attrs, "error", err.Error())...)
	case p.Total() > 0:
		n.log.Info("pruned the access store of what is past its retention", attrs...)
	}
}
