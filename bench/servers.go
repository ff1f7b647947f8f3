package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/signpost-gateway/signpost/internal/logbuf"
	"github.com/signpost-gateway/signpost/service"
)

// runGoproxy is the "goproxy" subcommand: github.com/elazarl/goproxy as
// shipped — goproxy.NewProxyHttpServer() with no handler and no setting
// changed, served by a plain http.Server — plus a side listener on -debug
// answering /runtime with its goroutines, heap and stacks in use (the
// figures Signpost's /metrics gives), so that they can be compared.
func runGoproxy(args []string) error {
	fs := flag.NewFlagSet("goproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "proxy listen address")
	debug := fs.String("debug", "", "side listener for /runtime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := goproxy.NewProxyHttpServer()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("goproxy: %w", err)
	}
	if *debug != "" {
		dln, err := net.Listen("tcp", *debug)
		if err != nil {
			return fmt.Errorf("goproxy debug listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/runtime", func(w http.ResponseWriter, _ *http.Request) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			_ = json.NewEncoder(w).Encode(goStats{Goroutines: runtime.NumGoroutine(),
				HeapInuse: int64(m.HeapInuse), StackInuse: int64(m.StackInuse)})
		})
		go func() { _ = http.Serve(dln, mux) }()
	}
	srv := &http.Server{Handler: p}
	return serveUntilSignal(srv, ln)
}

// serveUntilSignal serves srv on ln until SIGTERM or SIGINT.
func serveUntilSignal(srv *http.Server, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	}
}

// runSignpostInProcess is the "signpost-inproc" subcommand: a Signpost node
// built by the same service.New and Start that `signpost run` calls, on the
// same configuration directory and with the same JSON decision log, plus a
// side listener serving net/http/pprof. The binary exposes no pprof, so the
// harness profiles this process instead.
func runSignpostInProcess(args []string) error {
	fs := flag.NewFlagSet("signpost-inproc", flag.ContinueOnError)
	cfgDir := fs.String("config", "", "configuration directory")
	pprofAddr := fs.String("pprof", "", "side listener for /debug/pprof/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Sample the heap finely enough that a few thousand idle tunnels'
	// allocations show in the heap profile (the default is one sample per
	// 512 KiB).
	runtime.MemProfileRate = 16 << 10
	// Logged as the binary logs: buffered, flushed every 100 ms.
	logOut := logbuf.New(os.Stderr, 100*time.Millisecond)
	defer logOut.Close()
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := service.New(service.Options{ConfigDir: *cfgDir, Logger: logger, Version: "bench", DisableWatch: true})
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() { _ = http.Serve(ln, mux) }()
	}
	return n.Run(context.Background(), 5*time.Second)
}
