package trainer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPullReadsNoMoreThanTheBoxListed(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c := dialBox(t, b.dialOptions(0))
	local := filepath.Join(t.TempDir(), "model.bin")
	var fetched int64
	done := make(chan error, 1)
	go func() {
		// a hostile box lists 1 MiB and serves a file without end
		n, err := pullFile(context.Background(), c, "/dev/zero", local, PulledFile{Path: "model.bin", Size: 1 << 20, SHA256: "00"}, func(int64) {})
		fetched = n
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errPullOverrun) {
			t.Fatalf("pull of an endless file listed as 1 MiB = %v, want errPullOverrun", err)
		}
		if fetched > 1<<20+1 {
			t.Errorf("pull read %d bytes of a file listed as %d, want at most one byte more", fetched, 1<<20)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("pull of an endless file still reads after 60s")
	}
	for _, p := range []string{local, local + ".part"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind after a refused pull", p)
		}
	}
}
