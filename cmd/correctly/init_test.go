package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/philippgille/chromem-go"
)

// TestInitConvertsTheVectorIndexOfAnEarlierVersion: a data directory whose embedded index is one
// index.gob (chromem-go, as earlier versions wrote it) is converted by init, which says how many
// vectors it moved and where the old file is; the next init says it was converted before.
func TestInitConvertsTheVectorIndexOfAnEarlierVersion(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "vectors"), 0o700); err != nil {
		t.Fatal(err)
	}
	db := chromem.NewDB()
	noEmbed := func(context.Context, string) ([]float32, error) { return nil, errors.New("no") }
	c, err := db.CreateCollection("correctly_before_hash-512", nil, noEmbed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		v := make([]float32, 8)
		v[i%8], v[(i+1)%8] = 1, float32(i)/40
		if err := c.AddDocument(context.Background(), chromem.Document{ID: fmt.Sprint("r-", i), Embedding: v, Metadata: map[string]string{"prompt": "p", "run": "r"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ExportToFile(filepath.Join(data, "vectors", "index.gob"), false, ""); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORRECTLY_DATA_DIR", data)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("MONGODB_URI", "")
	t.Setenv("CHROMA_URL", "")
	initOnce := func() string {
		var out, errOut bytes.Buffer
		if code := run([]string{"init"}, &out, &errOut); code != 0 {
			t.Fatalf("init: exit %d\n%s", code, errOut.String())
		}
		return out.String()
	}
	kept := filepath.Join(data, "vectors", "index.gob.migrated")
	if out := initOnce(); !strings.Contains(out, "converted the embedded vector index of an earlier version: 40 vectors (the old file is kept as "+kept+")") {
		t.Errorf("first init printed:\n%s\nwant the 40 vectors converted and %s named", out, kept)
	}
	if out := initOnce(); !strings.Contains(out, "was converted from an earlier version") {
		t.Errorf("second init printed:\n%s\nwant a note that the index was converted before", out)
	}
}
