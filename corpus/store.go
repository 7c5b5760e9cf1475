// Package corpus is correctly's system of record: prompt versions, runs, claims, step answers, records,
// splits and training runs, kept as schema-flexible documents in MongoDB, or in the embedded store, a
// SQLite file in the data directory, when no server URI is given. Both hold the same BSON documents
// and answer the same few kinds of query through the same declared indexes.
package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ErrNotFound is returned when a looked-up document does not exist.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned by Open when another process owns the embedded store.
var ErrLocked = errors.New("embedded store is in use")

// Options says which store to open.
type Options struct {
	URI     string // MongoDB URI; empty opens the embedded store in DataDir
	DB      string // database name
	DataDir string // directory of the embedded store (its file lives in DataDir/store)
	Log     zerolog.Logger
}

// Store is an open connection to the corpus database: a MongoDB server, or the embedded store, a
// SQLite file in the data directory that only this process opens. It is safe for concurrent use.
type Store struct {
	docs docs
	// Embedded says the store is the embedded one (one process at a time).
	Embedded bool
	// Where names the database for messages: the embedded file, or the server's URI without secrets.
	Where string
	// Migrated says what Open moved from an older data directory, when it did.
	Migrated *Migration

	unlock    func()
	insMu     sync.Mutex
	inserters map[string]*Inserter
	removers  map[string]*Remover
}

// Open connects to the MongoDB server at o.URI, or opens the embedded store in o.DataDir when o.URI
// is empty. Only one process may own an embedded store at a time; a second gets ErrLocked with the
// owner's pid. The data directory and the store are private to the user (0700, 0600). A data
// directory of an earlier version (FerretDB's) is migrated on first open, and s.Migrated says so.
// Indexes are created on open, idempotently.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.DB == "" {
		o.DB = "correctly"
	}
	if o.URI == "" {
		return openEmbedded(ctx, o)
	}
	// our timeouts first, so that the URI's own options (serverSelectionTimeoutMS...) win
	client, err := mongo.Connect(options.Client().SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(2 * time.Minute).ApplyURI(o.URI))
	if err != nil {
		return nil, fmt.Errorf("connect to MongoDB at %s: %w", RedactURI(o.URI), err)
	}
	m := &mongoDocs{client: client, db: client.Database(o.DB)}
	if err := client.Ping(ctx, nil); err != nil {
		m.close()
		return nil, fmt.Errorf("reach MongoDB at %s: %w (is the server up? `docker compose up -d` starts one; unset MONGODB_URI for the embedded store)", RedactURI(o.URI), err)
	}
	if err := m.ensureIndexes(ctx); err != nil {
		m.close()
		return nil, err
	}
	return &Store{docs: m, Where: RedactURI(o.URI) + " database " + o.DB, unlock: func() {}}, nil
}

// openEmbedded opens (creating) DataDir/store/DB.db, migrating DataDir/db/DB.sqlite, FerretDB's
// file of earlier versions, when it is there and the new store is not.
func openEmbedded(ctx context.Context, o Options) (*Store, error) {
	if o.DataDir == "" {
		return nil, errors.New("open embedded store: no data directory: set CORRECTLY_DATA_DIR or MONGODB_URI")
	}
	dir := filepath.Join(o.DataDir, "store")
	if err := privateDir(o.DataDir); err != nil {
		return nil, err
	}
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, o.DB+".db")
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	d, err := openSQLite(path)
	if err != nil {
		unlock()
		return nil, err
	}
	s := &Store{docs: d, Embedded: true, Where: path, unlock: unlock}
	old := filepath.Join(o.DataDir, "db", o.DB+".sqlite")
	if _, err := os.Stat(old); err == nil && fresh {
		m, err := migrateFerretDB(ctx, filepath.Join(o.DataDir, "db"), o.DB, s, o.Log)
		if err != nil {
			s.Close()
			_ = os.Remove(path)
			return nil, err
		}
		s.Migrated = m
	}
	return s, nil
}

// privateDir creates dir 0700, or makes an existing one 0700.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make data directory %s private: %w", dir, err)
	}
	return nil
}

// Close disconnects and, for the embedded store, closes its file and releases its lock.
func (s *Store) Close() error {
	err := s.docs.close()
	s.unlock()
	return err
}

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

// lockDir takes an exclusive, non-blocking flock on dir/LOCK and writes our pid into it.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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
