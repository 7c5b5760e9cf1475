// Package corpus is correctly's system of record: prompt versions, runs, claims, step answers, records,
// splits and training runs, kept as schema-flexible documents in MongoDB, or in an embedded
// MongoDB-compatible store (FerretDB on SQLite) started in-process when no server URI is given.
package corpus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ErrNotFound is returned when a looked-up document does not exist.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned by Open when another process owns the embedded store.
var ErrLocked = errors.New("embedded store is in use")

// Options says which store to open.
type Options struct {
	URI     string // MongoDB URI; empty starts the embedded store in DataDir
	DB      string // database name
	DataDir string // directory of the embedded store (its files live in DataDir/db)
	Log     zerolog.Logger
}

// Store is an open connection to the corpus database. It is safe for concurrent use.
type Store struct {
	Client *mongo.Client
	DB     *mongo.Database
	// URI is the address clients connect to (the embedded store's loopback address when embedded).
	URI      string
	Embedded bool

	stop      func()
	insMu     sync.Mutex
	inserters map[string]*Inserter
	writeMu   sync.Mutex // serialises the embedded store's batched writes
}

// Open connects to the MongoDB server at o.URI, or starts the embedded store in o.DataDir when o.URI is
// empty. Only one process may own an embedded store at a time; a second gets ErrLocked with the owner's pid.
// Indexes are created on open, idempotently.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.DB == "" {
		o.DB = "correctly"
	}
	s := &Store{URI: o.URI, stop: func() {}}
	if o.URI == "" {
		if o.DataDir == "" {
			return nil, errors.New("open embedded store: no data directory: set CORRECTLY_DATA_DIR or MONGODB_URI")
		}
		uri, stop, err := startEmbedded(o.DataDir, o.Log)
		if err != nil {
			return nil, err
		}
		s.URI, s.stop, s.Embedded = uri, stop, true
	}
	// our timeouts first, so that the URI's own options (serverSelectionTimeoutMS...) win
	client, err := mongo.Connect(options.Client().SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(2 * time.Minute).ApplyURI(s.URI))
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("connect to MongoDB: %w", err)
	}
	s.Client, s.DB = client, client.Database(o.DB)
	if err := client.Ping(ctx, nil); err != nil {
		s.Close()
		if o.URI != "" {
			return nil, fmt.Errorf("reach MongoDB at %s: %w (is the server up? `docker compose up -d` starts one; unset MONGODB_URI for the embedded store)", RedactURI(o.URI), err)
		}
		return nil, fmt.Errorf("reach embedded store: %w", err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close disconnects and, for the embedded store, stops it and releases its lock.
func (s *Store) Close() error {
	var err error
	if s.Client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.Client.Disconnect(ctx)
		cancel()
	}
	s.stop()
	return err
}

// C returns a collection of the corpus database.
func (s *Store) C(name string) *mongo.Collection { return s.DB.Collection(name) }

// Collection names.
const (
	Prompts      = "prompts"
	Runs         = "runs"
	Claims       = "claims"
	Steps        = "steps"
	Records      = "records"
	Fingerprints = "fingerprints"
	Splits       = "splits"
	SplitMembers = "split_members"
	TrainRuns    = "train_runs"
)

// EnsureIndexes creates every index the corpus relies on; it is idempotent.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	idx := map[string][]mongo.IndexModel{
		Prompts: {{Keys: bson.D{{Key: "name", Value: 1}, {Key: "created_at", Value: -1}}}},
		Runs:    {{Keys: bson.D{{Key: "created_at", Value: -1}}}},
		// a claim is unique per (run, slot, attempt): the insert that wins owns the slot
		Claims: {{Keys: bson.D{{Key: "run_id", Value: 1}, {Key: "slot", Value: 1}, {Key: "attempt", Value: 1}},
			Options: options.Index().SetUnique(true)}},
		Steps: {{Keys: bson.D{{Key: "run_id", Value: 1}, {Key: "slot", Value: 1}}}},
		// one outcome per (run, slot): the first finisher wins
		Records: {
			{Keys: bson.D{{Key: "run_id", Value: 1}, {Key: "slot", Value: 1}}, Options: options.Index().SetUnique(true)},
			{Keys: bson.D{{Key: "status", Value: 1}, {Key: "prompt", Value: 1}}},
		},
		Workers: {{Keys: bson.D{{Key: "run_id", Value: 1}}}, {Keys: bson.D{{Key: "endpoint", Value: 1}}}},
		SplitMembers: {
			{Keys: bson.D{{Key: "split", Value: 1}, {Key: "record_id", Value: 1}}, Options: options.Index().SetUnique(true)},
			{Keys: bson.D{{Key: "split", Value: 1}, {Key: "part", Value: 1}}},
		},
	}
	for coll, models := range idx {
		// create only the missing ones, one at a time: FerretDB v1.24 panics when createIndexes
		// names an existing index next to a new one
		specs, err := s.C(coll).Indexes().ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("list indexes of %s: %w", coll, err)
		}
		have := map[string]bool{}
		for _, sp := range specs {
			have[sp.Name] = true
		}
		for _, m := range models {
			name := indexName(m.Keys.(bson.D))
			if have[name] {
				continue
			}
			if m.Options == nil {
				m.Options = options.Index()
			}
			m.Options.SetName(name)
			if _, err := s.C(coll).Indexes().CreateOne(ctx, m); err != nil {
				return fmt.Errorf("create index %s on %s: %w", name, coll, err)
			}
		}
	}
	return nil
}

func indexName(keys bson.D) string {
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s_%v", k.Key, k.Value))
	}
	return strings.Join(parts, "_")
}

// IsDuplicate reports whether err is a unique-index violation.
func IsDuplicate(err error) bool { return mongo.IsDuplicateKeyError(err) }

// RedactURI masks the secrets of a URI for display: the password of its user info (user:****@) and
// the values of query parameters that carry credentials (password, key, token, secret, signature).
// It works on strings net/url cannot parse, such as MongoDB's multi-host URIs.
func RedactURI(uri string) string {
	scheme := strings.Index(uri, "://")
	if scheme < 0 {
		return uri
	}
	rest := uri[scheme+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(authority[:at], ":")
		if hasPass {
			authority = user + ":****" + authority[at:]
		}
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if hasQuery {
		frag := ""
		if i := strings.Index(query, "#"); i >= 0 {
			query, frag = query[:i], query[i:]
		}
		params := strings.Split(query, "&")
		for i, p := range params {
			k, _, ok := strings.Cut(p, "=")
			if ok && secretParam(k) {
				params[i] = k + "=****"
			}
		}
		tail = path + "?" + strings.Join(params, "&") + frag
	}
	return uri[:scheme+3] + authority + tail
}

func secretParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "passwd", "pwd", "key", "token", "secret", "sig", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// startEmbedded runs FerretDB (SQLite backend) in-process on a loopback port, guarded by a lock file.
func startEmbedded(dataDir string, log zerolog.Logger) (string, func(), error) {
	dir := filepath.Join(dataDir, "db")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create embedded store directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return "", nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:  "sqlite",
		// WAL with synchronous=normal: a commit survives the process being killed (it is in the WAL
		// in the OS's cache) without an fsync per commit; only a power loss can take the last ones
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(normal)",
		Logger:    slog.New(debugHandler{zerolog.NewSlogHandler(log.With().Str("component", "ferretdb").Logger())}),
	})
	if err != nil {
		unlock()
		return "", nil, fmt.Errorf("start embedded store in %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	uri := f.MongoDBURI()
	stop := func() {
		cancel()
		<-done
		unlock()
	}
	return uri, stop, nil
}

// lockDir takes an exclusive, non-blocking flock on dir/LOCK and writes our pid into it.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open store lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		owner := strings.TrimSpace(string(b))
		f.Close()
		if owner == "" {
			owner = "unknown"
		}
		return nil, fmt.Errorf("%w: process %s owns %s; wait for it to finish, or run several workers against a MongoDB server (set MONGODB_URI, e.g. after `docker compose up -d`)", ErrLocked, owner, dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

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
