package usage

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkObserve measures the proxy's per-request call for catalog apps.
func BenchmarkObserve(b *testing.B) {
	for _, tc := range []struct {
		name  string
		users int // distinct users today, all already seen
	}{
		{"sparse-day-500-users", 500},
		{"dense-day-5000-users", 5000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr := New(Options{})
			us := users(rand.New(rand.NewPCG(1, 1)), "user@example.com-", tc.users)
			now := time.Now()
			for _, u := range us {
				tr.Observe("zoom", u, now)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tr.Observe("zoom", us[i%len(us)], now)
				i++
			}
		})
	}
	b.Run("new-users", func(b *testing.B) {
		tr := New(Options{})
		us := users(rand.New(rand.NewPCG(2, 2)), "user@example.com-", 1<<16)
		now := time.Now()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// A new tracker every 2^16 users keeps every call a first sight.
			if i%len(us) == 0 && i > 0 {
				tr = New(Options{})
			}
			tr.Observe("zoom", us[i%len(us)], now)
			i++
		}
	})
	b.Run("parallel-one-app", func(b *testing.B) {
		tr := New(Options{})
		us := users(rand.New(rand.NewPCG(3, 3)), "user@example.com-", 5000)
		now := time.Now()
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				tr.Observe("zoom", us[i%len(us)], now)
				i++
			}
		})
	})
	b.Run("parallel-many-apps", func(b *testing.B) {
		tr := New(Options{})
		apps := make([]string, 64)
		for i := range apps {
			apps[i] = fmt.Sprint("app-", i)
		}
		us := users(rand.New(rand.NewPCG(4, 4)), "user@example.com-", 5000)
		now := time.Now()
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				tr.Observe(apps[i%len(apps)], us[i%len(us)], now)
				i++
			}
		})
	})
}

// BenchmarkObserveUnknown measures the proxy's per-request call for hosts
// outside the catalog.
func BenchmarkObserveUnknown(b *testing.B) {
	now := time.Now()
	us := users(rand.New(rand.NewPCG(5, 5)), "user@example.com-", 5000)
	b.Run("tracked-domain", func(b *testing.B) {
		tr := New(Options{})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.ObserveUnknown("cdn.newtool.io:443", us[i%len(us)], now)
			i++
		}
	})
	b.Run("zipf-100k-domains", func(b *testing.B) {
		tr := New(Options{})
		rng := rand.New(rand.NewPCG(6, 6))
		hosts := make([]string, 1<<14)
		zipf := rand.NewZipf(rng, 1.1, 1, 100_000-1)
		for i := range hosts {
			hosts[i] = fmt.Sprintf("www.site%d.com:443", zipf.Uint64())
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.ObserveUnknown(hosts[i%len(hosts)], us[i%len(us)], now)
			i++
		}
	})
	b.Run("skipped-ip", func(b *testing.B) {
		tr := New(Options{})
		b.ReportAllocs()
		for b.Loop() {
			tr.ObserveUnknown("10.1.2.3:443", "alice", now)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		tr := New(Options{})
		hosts := make([]string, 256)
		for i := range hosts {
			hosts[i] = fmt.Sprintf("app.tool%d.io", i)
		}
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				tr.ObserveUnknown(hosts[i%len(hosts)], us[i%len(us)], now)
				i++
			}
		})
	})
}

// BenchmarkReport measures a scrape (or an admin page) over 100 apps whose
// 30 days all have more users than the sparse representation holds.
func BenchmarkReport(b *testing.B) {
	tr := New(Options{})
	us := users(rand.New(rand.NewPCG(7, 7)), "u", 2*denseAfter)
	now := time.Now()
	for app := range 100 {
		for day := range 30 {
			for _, u := range us {
				tr.Observe(fmt.Sprint("app-", app), u, now.AddDate(0, 0, -day))
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := tr.Report(now); len(r) != 100 {
			b.Fatalf("Report: got %d apps; want 100", len(r))
		}
	}
}
