package corpus

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestContractBatchLinesSurviveAndAreSentAgainInPlace(t *testing.T) {
	eachStore(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		b1 := &Batch{ID: "r1-b1", RunID: "r1", State: BatchSubmitted, BatchID: "batch_1", KeyFingerprint: "abcd", Lines: 2, CreatedAt: now}
		b2 := &Batch{ID: "r1-b2", RunID: "r1", State: BatchCreated, Lines: 1, CreatedAt: now.Add(time.Second)}
		other := &Batch{ID: "r2-b1", RunID: "r2", State: BatchDone, CreatedAt: now}
		for _, b := range []*Batch{b2, b1, other} {
			if err := st.PutBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.RunBatches(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "r1-b1" || got[1].ID != "r1-b2" || got[0].KeyFingerprint != "abcd" {
			t.Fatalf("RunBatches(r1) = %+v, want r1-b1 then r1-b2", got)
		}
		lines := []BatchLine{
			{ID: "r1/0/draft/0", RunID: "r1", Batch: "r1-b1", Slot: 0, Step: "draft", Sends: 1, CreatedAt: now},
			{ID: "r1/1/draft/0", RunID: "r1", Batch: "r1-b1", Slot: 1, Step: "draft", Sends: 1, CreatedAt: now},
		}
		if err := st.PutBatchLines(ctx, lines); err != nil {
			t.Fatal(err)
		}
		if err := st.FailBatchLines(ctx, []string{"r1/1/draft/0"}); err != nil {
			t.Fatal(err)
		}
		l, err := st.GetBatchLine(ctx, "r1/1/draft/0")
		if err != nil || !l.Failed || l.Batch != "r1-b1" {
			t.Fatalf("GetBatchLine = %+v, %v; want a failed line of r1-b1", l, err)
		}
		// sent again: the same line, in its new batch
		again := *l
		again.Batch, again.Sends, again.Failed = "r1-b2", 2, false
		if err := st.PutBatchLines(ctx, []BatchLine{again}); err != nil {
			t.Fatal(err)
		}
		var inB1, inB2 []string
		_ = st.EachBatchLine(ctx, "r1", "r1-b1", func(l *BatchLine) error { inB1 = append(inB1, l.ID); return nil })
		_ = st.EachBatchLine(ctx, "r1", "r1-b2", func(l *BatchLine) error { inB2 = append(inB2, l.ID); return nil })
		if len(inB1) != 1 || len(inB2) != 1 || inB2[0] != "r1/1/draft/0" {
			t.Errorf("lines of r1-b1 = %v, of r1-b2 = %v; want the re-sent line in r1-b2 only", inB1, inB2)
		}
		sends, n, err := st.BatchLineSends(ctx, "r1")
		if err != nil || sends != 3 || n != 2 {
			t.Errorf("BatchLineSends = %d, %d, %v; want 3 sends of 2 lines", sends, n, err)
		}
		if _, err := st.GetBatchLine(ctx, "r1/9/draft/0"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetBatchLine(missing) = %v, want ErrNotFound", err)
		}
		if err := st.PutBatchLines(ctx, []BatchLine{lines[0]}); err == nil {
			t.Error("inserting a line a second time as new succeeded; want a duplicate error")
		}
	})
}
