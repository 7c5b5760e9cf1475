package vectors

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Chroma server for tests: CHROMA_URL when set, otherwise one started on
// first use through ../scripts/chroma.sh on a free port with a temporary data
// directory, and stopped when the tests end.
var chromaServer struct {
	once    sync.Once
	url     string
	err     error
	dir     string
	started bool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chromaServer.started {
		out, err := exec.Command("../scripts/chroma.sh", "stop", chromaServer.dir).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "stop Chroma: %v\n%s", err, out)
		}
		os.RemoveAll(chromaServer.dir)
	}
	os.Exit(code)
}

// chromaURL returns the test Chroma server's URL, starting it if needed. It
// fails the test (never skips) when the server cannot be started.
func chromaURL(tb testing.TB) string {
	tb.Helper()
	chromaServer.once.Do(func() {
		if u := os.Getenv("CHROMA_URL"); u != "" {
			chromaServer.url = u
			return
		}
		dir, err := os.MkdirTemp("", "correctly-chroma-test-")
		if err != nil {
			chromaServer.err = err
			return
		}
		chromaServer.dir = dir
		port, err := freePort()
		if err != nil {
			chromaServer.err = err
			return
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("../scripts/chroma.sh", "start", dir, fmt.Sprint(port))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		chromaServer.started = true
		if err != nil {
			chromaServer.err = fmt.Errorf("scripts/chroma.sh start %s %d: %v\nstdout:\n%s\nstderr:\n%s", dir, port, err, stdout.String(), stderr.String())
			return
		}
		for _, line := range strings.Split(stdout.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "CHROMA_URL="); ok {
				chromaServer.url = strings.TrimSpace(u)
			}
		}
		if chromaServer.url == "" {
			chromaServer.err = fmt.Errorf("scripts/chroma.sh start printed no CHROMA_URL:\n%s\n%s", stdout.String(), stderr.String())
		}
	})
	if chromaServer.err != nil {
		tb.Fatalf("no Chroma server for the tests: %v", chromaServer.err)
	}
	return chromaServer.url
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func openTestChroma(tb testing.TB) *Chroma {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := OpenChroma(ctx, chromaURL(tb))
	if err != nil {
		tb.Fatalf("OpenChroma: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func openTestEmbedded(tb testing.TB) *Embedded {
	tb.Helper()
	e, err := OpenEmbedded(tb.TempDir())
	if err != nil {
		tb.Fatalf("OpenEmbedded: %v", err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

var collectionSeq atomic.Int64

// testCollection returns a collection name unique to this test process and
// drops the collection when the test ends.
func testCollection(tb testing.TB, idx Index) string {
	tb.Helper()
	name := CollectionName(fmt.Sprintf("t%d-%d", os.Getpid(), collectionSeq.Add(1)), "test")
	tb.Cleanup(func() { idx.Drop(context.Background(), name) })
	return name
}
