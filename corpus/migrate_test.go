package corpus

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// writeFerretDBDataDir writes what earlier versions left in a data directory: FerretDB's SQLite
// files in DataDir/db, holding a prompt, a run and its records.
func writeFerretDBDataDir(t *testing.T, dataDir string, records int) {
	t.Helper()
	dir := filepath.Join(dataDir, "db")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := ferretdb.New(&ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"}, Handler: "sqlite",
		SQLiteURL: "file:" + dir + "/", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	client, err := mongo.Connect(options.Client().ApplyURI(f.MongoDBURI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	db := client.Database("correctly")
	bg := context.Background()
	if _, err := db.Collection(Prompts).InsertOne(bg, Prompt{ID: "abcdef0123456789", Name: "correction_script", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(Runs).InsertOne(bg, Run{ID: "old-run", Prompt: "correction_script", PromptVersion: "abcdef0123456789", Status: RunDone, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	var docs []any
	for i := 0; i < records; i++ {
		docs = append(docs, record("old-run", i, StatusAccepted, map[string]string{"style": "casual"}))
	}
	if _, err := db.Collection(Records).InsertMany(bg, docs); err != nil {
		t.Fatal(err)
	}
}

func TestADataDirectoryOfFerretDBIsMigratedOnce(t *testing.T) {
	data := t.TempDir()
	writeFerretDBDataDir(t, data, 25)
	ctx := context.Background()
	st, err := Open(ctx, Options{DataDir: data, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	m := st.Migrated
	if m == nil || m.Documents[Records] != 25 || m.Documents[Runs] != 1 || m.Documents[Prompts] != 1 {
		t.Fatalf("Migrated = %+v, want 25 records, 1 run and 1 prompt moved", m)
	}
	if _, err := os.Stat(filepath.Join(data, "db")); !os.IsNotExist(err) {
		t.Errorf("the old directory is still in place (%v), want it set aside", err)
	}
	if fi, err := os.Stat(m.KeptAs); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the old directory kept as %s: %v, %v; want it there, private", m.KeptAs, fi, err)
	}
	c, err := st.CountRecordsBy(ctx, RecordQuery{Prompt: "correction_script"}, []string{"style"})
	if err != nil || c.Total != 25 || c.ByDim["style"]["casual"] != 25 {
		t.Errorf("counts of the migrated records = %+v, %v; want 25, all casual", c, err)
	}
	if r, err := st.GetRecord(ctx, "old-run-00007"); err != nil || r.Fields["before"] != "text old-run 7" {
		t.Errorf("a migrated record = %v, %v", r, err)
	}
	st.Close()
	again, err := Open(ctx, Options{DataDir: data, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Migrated != nil {
		t.Errorf("a second Open migrated again: %+v", again.Migrated)
	}
	if n, err := again.CountRecords(ctx, RecordQuery{}); err != nil || n != 25 {
		t.Errorf("records after reopening = %d, %v; want 25", n, err)
	}
}
