package vectors

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/philippgille/chromem-go"
)

// migrate converts dir/index.gob, the whole-index file of earlier versions (a chromem-go export),
// into collections of this format, then renames it to index.gob.migrated. Adds are upserts, so a
// conversion interrupted half-way is done again whole by the next open.
func (e *Embedded) migrate() error {
	snap := filepath.Join(e.dir, snapshotFile)
	if _, err := os.Stat(snap); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db := chromem.NewDB()
	if err := db.ImportFromFile(snap, ""); err != nil {
		return fmt.Errorf("convert embedded vector index %s: %w (remove it; it is rebuilt from the records with `correctly vectors reindex`)", snap, err)
	}
	type exportCollection struct {
		Name      string
		Metadata  map[string]string
		Documents map[string]*chromem.Document
	}
	var export struct {
		Collections map[string]*exportCollection
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(db.ExportToWriter(pw, false, "")) }()
	err := gob.NewDecoder(pr).Decode(&export)
	_, _ = io.Copy(io.Discard, pr) // so that the exporting goroutine always finishes
	if err != nil {
		return fmt.Errorf("convert embedded vector index %s: decode collections: %w", snap, err)
	}
	ctx := context.Background()
	for name, ec := range export.Collections {
		ids := make([]string, 0, len(ec.Documents))
		for id := range ec.Documents {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		const batch = 4096
		for lo := 0; lo < len(ids); lo += batch {
			items := make([]Item, 0, batch)
			for _, id := range ids[lo:min(lo+batch, len(ids))] {
				d := ec.Documents[id]
				items = append(items, Item{ID: id, Vector: d.Embedding, Meta: d.Metadata})
			}
			if err := e.Add(ctx, name, items); err != nil {
				return fmt.Errorf("convert embedded vector index %s: %w", snap, err)
			}
		}
		e.Migrated += len(ids)
	}
	if err := os.Rename(snap, snap+".migrated"); err != nil {
		return fmt.Errorf("convert embedded vector index %s: %w", snap, err)
	}
	return nil
}
