// Command ferretdb-local runs FerretDB v1 (MongoDB wire protocol on SQLite) for local development and tests.
//
// It uses the embeddable package rather than `go install .../cmd/ferretdb`, because that binary
// panics at start when built outside FerretDB's repository (its build/version/version.txt is generated,
// not shipped in the module; upstream issue #2982). The embeddable package skips that check.
//
// Usage: ferretdb-local -listen 127.0.0.1:27117 -dir /abs/path/to/sqlite/dir
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // -pprof: Go's profiler, for finding where FerretDB's CPU goes (benchmarks/PROFILE.md)
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// main parses flags, starts FerretDB and runs it until SIGINT or SIGTERM.
func main() {
	listen := flag.String("listen", "127.0.0.1:27117", "TCP address to listen on")
	dir := flag.String("dir", "", "directory for the SQLite databases (created if missing)")
	pprof := flag.String("pprof", "", "address to serve /debug/pprof/ on (off when empty)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	if *dir == "" {
		logger.Error("-dir is required")
		os.Exit(2)
	}

	// FerretDB wants an existing directory and a "file:" URL ending with "/".
	abs, err := filepath.Abs(*dir)
	if err != nil {
		logger.Error("bad -dir", "error", err)
		os.Exit(2)
	}
	if err = os.MkdirAll(abs, 0o755); err != nil {
		logger.Error("cannot create -dir", "error", err)
		os.Exit(1)
	}

	// FerretDB v1.24 already defaults to busy_timeout(10000) and journal_mode(wal) (pool/uri.go); we add
	// synchronous(normal), which in WAL mode still survives a crash of any process (only a power cut can
	// lose the last commits) and saves an fsync per commit: about 3x the concurrent write rate here.
	// The busy handler must come before WAL, so all three are given in that order.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)" +
			"&_pragma=synchronous(normal)",
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		os.Exit(1)
	}

	if *pprof != "" {
		go func() { logger.Error("pprof stopped", "error", http.ListenAndServe(*pprof, nil)) }()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logger.Info("ferretdb-local listening", "addr", *listen, "dir", abs)

	// Run returns once ctx is cancelled and the listener, connections and SQLite pool are closed.
	if err = f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with error", "error", err)
		os.Exit(1)
	}

	logger.Info("ferretdb-local stopped")
}
