package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Field names of the decision log line. They are constant so that log
// queries keep working across versions.
const (
	LogRef      = "ref"
	LogKind     = "kind"
	LogClient   = "client"
	LogUser     = "user"
	LogHost     = "host"
	LogApp      = "app"
	LogCategory = "category"
	LogAction   = "action"
	LogRule     = "rule"
	LogReason   = "reason"
	LogStatus   = "status"
	LogBytes    = "bytes"
	LogDuration = "duration"
	LogError    = "error"
	// LogBytesUp and LogBytesDown are a tunnel's bytes to and from the
	// origin, on the "tunnel closed" line.
	LogBytesUp   = "bytes_up"
	LogBytesDown = "bytes_down"
)

// record logs the one line of a decision and counts it.
func (g *Gateway) record(v *verdict, status int) {
	app, category := "unknown", "unknown"
	if v.app != nil {
		app, category = v.app.ID, v.app.Category
	}
	action := v.decision.Action.String()
	if v.split && g.mitm != nil {
		action = "split"
	}
	g.metrics.decisions.WithLabelValues(v.kind.String(), app, category, action).Inc()
	elapsed := time.Since(v.start)
	if u := g.opts.Usage; u != nil && v.host != nil {
		if v.app != nil {
			u.Observe(v.app.ID, v.sub, v.start)
		} else if !v.host.IP {
			u.ObserveUnknown(v.host.Host, v.sub, v.start)
		}
	}
	if v.kind != KindIntercepted || v.decision.Action.Intercepts() {
		d := elapsed
		if v.decided > 0 {
			d = v.decided
		}
		g.metrics.decisionSeconds.Observe(d.Seconds())
	}
	if !g.logDecisions() {
		return
	}
	host := ""
	if v.host != nil {
		host = v.host.Host
	}
	rule := ""
	if v.decision.Rule != nil {
		rule = v.decision.Rule.Scope()
		if s := v.decision.Rule.Source; s.File != "" {
			rule += " at " + s.String()
		}
	}
	g.log.LogAttrs(context.Background(), slog.LevelInfo, "decision",
		slog.String(LogRef, v.ref),
		slog.String(LogKind, v.kind.String()),
		slog.String(LogClient, v.id.ClientIP.String()),
		slog.String(LogUser, v.id.User),
		slog.String(LogHost, host),
		slog.String(LogApp, app),
		slog.String(LogCategory, category),
		slog.String(LogAction, action),
		slog.String(LogRule, rule),
		slog.String(LogReason, string(v.decision.Reason)),
		slog.Int(LogStatus, status),
		slog.Int64(LogBytes, v.bytes),
		slog.Duration(LogDuration, elapsed),
	)
}

// refused logs and counts a request refused before a policy decision.
func (g *Gateway) refused(v *verdict, r *refusal) {
	g.metrics.refusals.WithLabelValues(r.reason).Inc()
	host := ""
	if v.host != nil {
		host = v.host.Host
	}
	g.log.LogAttrs(context.Background(), slog.LevelInfo, "refused",
		slog.String(LogRef, v.ref),
		slog.String(LogKind, v.kind.String()),
		slog.String(LogClient, v.id.ClientIP.String()),
		slog.String(LogUser, v.id.User),
		slog.String(LogHost, host),
		slog.String(LogReason, r.reason),
		slog.Int(LogStatus, r.status),
	)
}

// tunnelClosed counts a closed tunnel's bytes and logs its end: the
// decision line was written when it opened, before any byte moved.
func (g *Gateway) tunnelClosed(t tunnelInfo, up, down uint64, open time.Duration) {
	g.metrics.tunnelBytes.WithLabelValues("up").Add(float64(up))
	g.metrics.tunnelBytes.WithLabelValues("down").Add(float64(down))
	if !g.logDecisions() {
		return
	}
	g.log.LogAttrs(context.Background(), slog.LevelInfo, "tunnel closed",
		slog.String(LogRef, t.ref),
		slog.String(LogClient, t.id.ClientIP.String()),
		slog.String(LogUser, t.id.User),
		slog.String(LogHost, t.host),
		slog.String(LogApp, t.app),
		slog.Uint64(LogBytesUp, up),
		slog.Uint64(LogBytesDown, down),
		slog.Duration(LogDuration, open),
	)
}

// logDecisions reports whether per-decision lines are written.
func (g *Gateway) logDecisions() bool {
	return !g.rules.Load().cfg.Proxy.QuietDecisions && g.log.Enabled(context.Background(), slog.LevelInfo)
}

// goproxyLogger sends goproxy's own messages to slog at debug level;
// goproxy logs warnings for every client that hangs up, which are noise at
// info level.
type goproxyLogger struct{ log *slog.Logger }

func (l goproxyLogger) Printf(format string, args ...any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "goproxy")
}
