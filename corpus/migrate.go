package corpus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Migration is what Open moved from a data directory of an earlier version into the embedded store.
type Migration struct {
	From      string         `bson:"from" json:"from"`           // FerretDB's directory, as it was
	KeptAs    string         `bson:"kept_as" json:"kept_as"`     // where it is now, untouched, should anything be missing
	Documents map[string]int `bson:"documents" json:"documents"` // per collection
	At        time.Time      `bson:"at" json:"at"`
	Took      time.Duration  `bson:"-" json:"took_ns,omitempty"`
}

// migrateFerretDB copies every document of database db in FerretDB's SQLite directory dir (the
// embedded store of earlier versions) into s, then renames dir to dir.migrated, private. FerretDB
// itself reads the old files, on a Unix socket in a private directory that no one else can reach.
// A migration that fails leaves dir as it was.
func migrateFerretDB(ctx context.Context, dir, db string, s *Store, log zerolog.Logger) (*Migration, error) {
	start := time.Now()
	log.Info().Str("from", dir).Msg("migrating the embedded store of an earlier version")
	sock, err := os.MkdirTemp("", "correctly-migrate-")
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", dir, err)
	}
	defer os.RemoveAll(sock)
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: filepath.Join(sock, "ferretdb.sock")},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(debugHandler{zerolog.NewSlogHandler(log.With().Str("component", "ferretdb").Logger())}),
	})
	if err != nil {
		return nil, fmt.Errorf("migrate %s: start FerretDB on it: %w", dir, err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(fctx) }()
	defer func() { cancel(); <-done }()

	client, err := mongo.Connect(options.Client().ApplyURI(f.MongoDBURI()).SetTimeout(10 * time.Minute))
	if err != nil {
		return nil, fmt.Errorf("migrate %s: connect to FerretDB: %w", dir, err)
	}
	defer client.Disconnect(context.Background())
	old := client.Database(db)
	names, err := old.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("migrate %s: list collections: %w", dir, err)
	}
	sort.Strings(names)
	m := &Migration{From: dir, KeptAs: dir + ".migrated", Documents: map[string]int{}}
	for _, name := range names {
		cur, err := old.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("migrate %s: read %s: %w", dir, name, err)
		}
		batch := make([]any, 0, 1000)
		flush := func() error {
			for i, err := range s.docs.insert(ctx, name, batch) {
				if err != nil && !IsDuplicate(err) {
					return fmt.Errorf("migrate %s: document %d of %s: %w", dir, m.Documents[name]+i, name, err)
				}
			}
			m.Documents[name] += len(batch)
			batch = batch[:0]
			return nil
		}
		for cur.Next(ctx) {
			batch = append(batch, append(bson.Raw(nil), cur.Current...))
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					cur.Close(ctx)
					return nil, err
				}
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate %s: read %s: %w", dir, name, err)
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	cancel()
	<-done
	if err := os.Rename(dir, m.KeptAs); err != nil {
		return nil, fmt.Errorf("migrate %s: set the old directory aside: %w", dir, err)
	}
	_ = filepath.Walk(m.KeptAs, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			if fi.IsDir() {
				_ = os.Chmod(p, 0o700)
			} else {
				_ = os.Chmod(p, 0o600)
			}
		}
		return nil
	})
	m.Took, m.At = time.Since(start), time.Now().UTC()
	if _, err := s.docs.update(ctx, metaColl, filter{eq("_id", "migration")}, bson.D{
		{Key: "from", Value: m.From}, {Key: "kept_as", Value: m.KeptAs}, {Key: "documents", Value: m.Documents},
		{Key: "at", Value: m.At},
	}, nil, true); err != nil {
		return nil, err
	}
	log.Info().Str("from", dir).Interface("documents", m.Documents).Dur("took", m.Took).Msg("migrated the embedded store")
	return m, nil
}

// PastMigration returns the migration an earlier Open of this store made, or nil.
func (s *Store) PastMigration(ctx context.Context) (*Migration, error) {
	var m Migration
	err := decodeOne(ctx, s.docs, metaColl, byID("migration"), &m)
	if err == ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the migration note: %w", err)
	}
	return &m, nil
}

// metaColl holds the store's own notes (its migration).
const metaColl = "meta"

// debugHandler lowers every FerretDB log record to debug level: its own logs are our diagnostics, not news.
type debugHandler struct{ h slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(a []slog.Attr) slog.Handler { return debugHandler{d.h.WithAttrs(a)} }
func (d debugHandler) WithGroup(n string) slog.Handler      { return debugHandler{d.h.WithGroup(n)} }
