// Package corpustest starts a MongoDB wire-protocol server for tests: FerretDB, in-process, on a
// temporary directory and a loopback port, so that the corpus's MongoDB implementation is tested
// against a real server without Docker.
package corpustest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// MongoURI starts a server for the test and returns its URI; it stops when the test ends.
func MongoURI(tb testing.TB) string {
	tb.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + tb.TempDir() + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("start FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return f.MongoDBURI()
}
