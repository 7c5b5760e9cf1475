package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestSecondOwnerOfEmbeddedStoreGetsAClearError(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(context.Background(), Options{DataDir: dir, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Options{DataDir: dir, Log: zerolog.Nop()})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) || !strings.Contains(err.Error(), "MONGODB_URI") {
		t.Fatalf("second Open = %v, want ErrLocked naming the owner pid and MONGODB_URI", err)
	}
	first.Close()
	again, err := Open(context.Background(), Options{DataDir: dir, Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("Open after the owner closed = %v", err)
	}
	again.Close()
}

func TestUnreachableServerSaysWhatToDo(t *testing.T) {
	_, err := Open(context.Background(), Options{URI: "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=300", Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "docker compose up -d") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open(unreachable) = %v, want a hint to start the server and no password", err)
	}
}
