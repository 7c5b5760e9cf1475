package generator

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/llmtest"
)

func newTestBatcher(tb testing.TB, srv *llmtest.Server, st *corpus.Store) *Batcher {
	tb.Helper()
	run := &corpus.Run{ID: "r1", Target: 2, CreatedAt: time.Now().UTC()}
	if err := st.CreateRun(context.Background(), run); err != nil {
		tb.Fatal(err)
	}
	b := NewBatcher(LLMConfig{BaseURL: srv.BaseURL(), APIKey: "sk-a"}, st, run, defaultSchema(tb), Price{}, zerolog.Nop())
	b.Linger, b.Poll, b.Dir = 50*time.Millisecond, 50*time.Millisecond, tb.TempDir()
	return b
}

// crashAfter leaves what a process killed in the middle of sending a batch leaves: its lines and
// batch recorded in state, with the file uploaded and, when made, the provider batch of it.
func crashAfter(tb testing.TB, b *Batcher, state string, made bool) *corpus.Batch {
	tb.Helper()
	ctx := context.Background()
	items := []*batchItem{
		{line: corpus.BatchLine{ID: StepID("r1", 0, "plain", 0), RunID: "r1", Slot: 0, Step: "plain", Sends: 1}, req: ChatRequest{Model: "m", User: "I am agree."}},
		{line: corpus.BatchLine{ID: StepID("r1", 1, "plain", 0), RunID: "r1", Slot: 1, Step: "plain", Sends: 1}, req: ChatRequest{Model: "m", User: "He go home."}},
	}
	bt := &corpus.Batch{ID: "r1-b1", RunID: "r1", State: state, FileName: "correctly-r1-b1.jsonl", Lines: 2, CreatedAt: time.Now().UTC()}
	lines := []corpus.BatchLine{items[0].line, items[1].line}
	for i := range lines {
		lines[i].Batch = bt.ID
	}
	if err := b.Store.PutBatchLines(ctx, lines); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), bt.FileName)
	if err := writeBatchFile(path, items); err != nil {
		tb.Fatal(err)
	}
	id, err := b.upload(ctx, path, bt.FileName)
	if err != nil {
		tb.Fatal(err)
	}
	if state == corpus.BatchUploaded {
		bt.InputFileID = id
	}
	if made {
		bt2 := *bt
		bt2.InputFileID = id
		if err := b.submit(ctx, &bt2); err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.Store.PutBatch(ctx, bt); err != nil {
		tb.Fatal(err)
	}
	_ = os.Remove(path)
	return bt
}

func askBoth(tb testing.TB, b *Batcher) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	errs := make(chan error, 2)
	for slot, text := range []string{"I am agree.", "He go home."} {
		go func() {
			line := corpus.BatchLine{ID: StepID("r1", slot, "plain", 0), RunID: "r1", Slot: slot, Step: "plain"}
			res, err := b.Chat(ctx, line, ChatRequest{Model: "m", User: text})
			if err == nil && res.Content == "" {
				err = context.DeadlineExceeded
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			tb.Fatalf("Chat after the crash: %v", err)
		}
	}
}

func TestBatcherTakesUpWhatAKilledProcessLeft(t *testing.T) {
	t.Run("a file uploaded without its batch is deleted and its lines sent in a new one", func(t *testing.T) {
		srv := llmtest.New()
		defer srv.Close()
		b := newTestBatcher(t, srv, openStore(t))
		crashAfter(t, b, corpus.BatchCreated, false)
		askBoth(t, b)
		c := srv.BatchCounts()
		if c.Deleted != 1 || c.Batches != 1 || c.Lines != 2 {
			t.Errorf("deleted %d files, made %d batches of %d lines; want the orphan file deleted and one batch of the 2 lines", c.Deleted, c.Batches, c.Lines)
		}
	})
	t.Run("an uploaded file whose batch was never made is submitted", func(t *testing.T) {
		srv := llmtest.New()
		defer srv.Close()
		b := newTestBatcher(t, srv, openStore(t))
		crashAfter(t, b, corpus.BatchUploaded, false)
		askBoth(t, b)
		if c := srv.BatchCounts(); c.Uploads != 1 || c.Batches != 1 || c.Lines != 2 {
			t.Errorf("%d uploads, %d batches, %d lines; want the uploaded file reused for one batch", c.Uploads, c.Batches, c.Lines)
		}
	})
	t.Run("a batch made but not recorded is found, not made again", func(t *testing.T) {
		srv := llmtest.New()
		defer srv.Close()
		b := newTestBatcher(t, srv, openStore(t))
		crashAfter(t, b, corpus.BatchUploaded, true)
		askBoth(t, b)
		if c := srv.BatchCounts(); c.Batches != 1 || c.Lines != 2 {
			t.Errorf("%d batches, %d lines; want the batch the provider has, polled", c.Batches, c.Lines)
		}
	})
	t.Run("an answer stored before the crash is not asked again", func(t *testing.T) {
		srv := llmtest.New()
		defer srv.Close()
		st := openStore(t)
		b := newTestBatcher(t, srv, st)
		crashAfter(t, b, corpus.BatchUploaded, true)
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := b.Chat(ctx, corpus.BatchLine{ID: StepID("r1", 0, "plain", 0), RunID: "r1", Slot: 0, Step: "plain"}, ChatRequest{Model: "m", User: "I am agree."})
		if err != nil {
			t.Fatal(err)
		}
		// a second process (a resume) asks again for both: slot 0 comes from the store, slot 1's line
		// (answered in the same batch, stored as it was read) too
		b2 := NewBatcher(LLMConfig{BaseURL: srv.BaseURL(), APIKey: "sk-a"}, st, b.Run, b.Schema, Price{}, zerolog.Nop())
		b2.Linger, b2.Poll = 50*time.Millisecond, 50*time.Millisecond
		if err := b2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		again, err := b2.Chat(ctx, corpus.BatchLine{ID: StepID("r1", 0, "plain", 0), RunID: "r1", Slot: 0, Step: "plain"}, ChatRequest{Model: "m", User: "I am agree."})
		if err != nil || again.Content != res.Content {
			t.Errorf("Chat of a stored answer = %q, %v; want %q from the store", again.Content, err, res.Content)
		}
		if _, err := b2.Chat(ctx, corpus.BatchLine{ID: StepID("r1", 1, "plain", 0), RunID: "r1", Slot: 1, Step: "plain"}, ChatRequest{Model: "m", User: "He go home."}); err != nil {
			t.Fatal(err)
		}
		if c := srv.BatchCounts(); c.Batches != 1 || c.Lines != 2 {
			t.Errorf("%d batches, %d lines; want nothing sent again", c.Batches, c.Lines)
		}
	})
}
