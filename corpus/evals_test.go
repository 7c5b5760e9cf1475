package corpus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func openTestStore(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(context.Background(), Options{DataDir: tb.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func TestEvalIsStoredWithItsScoresAndListedNewestFirst(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	old := &Eval{ID: "ev-old", Model: "m", Source: "endpoint", Status: EvalDone, CreatedAt: t0, UpdatedAt: t0,
		TestSet: EvalTestSet{Kind: "m2", Name: "bea-dev.m2", Hash: "abc", Items: 2}}
	neu := &Eval{ID: "ev-new", Model: "m2", Source: "train_run", TrainRun: "run-1", PromptVersions: []string{"v1", "v2"},
		Status: EvalRunning, CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour)}
	for _, e := range []*Eval{old, neu} {
		if err := st.CreateEval(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateEval(ctx, old); err == nil {
		t.Error("CreateEval of an existing ID succeeded, want an error")
	}
	neu.Status = EvalDone
	neu.EvalScores = EvalScores{Items: 2, Answered: 2, TP: 3, FP: 1, FN: 2, Precision: 0.75, Recall: 0.6, F05: 0.714,
		Types: []EvalTypeScore{{Type: "R:VERB:TENSE", TP: 1, FN: 1, Precision: 1, Recall: 0.5, F05: 0.833}}}
	neu.Unreadable = []EvalItem{{Index: 1, Source: "I go.", Answer: "??"}}
	if err := st.SaveEval(ctx, neu); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetEval(ctx, "ev-new")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != EvalDone || got.F05 != 0.714 || got.TP != 3 || len(got.Types) != 1 || got.Types[0].Type != "R:VERB:TENSE" ||
		len(got.Unreadable) != 1 || len(got.PromptVersions) != 2 || got.TrainRun != "run-1" {
		t.Errorf("GetEval after SaveEval = %+v", got)
	}
	list, err := st.EvalList(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "ev-new" || list[1].ID != "ev-old" {
		t.Errorf("EvalList = %d evals, want ev-new then ev-old", len(list))
	}
	if _, err := st.GetEval(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetEval(missing) = %v, want ErrNotFound", err)
	}
	if err := st.SaveEval(ctx, &Eval{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SaveEval(missing) = %v, want ErrNotFound", err)
	}
}

func TestFirstStoredAnswerOfAnItemWins(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	var wg sync.WaitGroup
	won := make([]bool, 40)
	for i := range won {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// two answers for each of 20 items, concurrently: one per item is kept
			ok, err := st.AddPrediction(ctx, &Prediction{EvalID: "ev", Index: i / 2, Raw: "answer"})
			if err != nil {
				t.Error(err)
			}
			won[i] = ok
		}()
	}
	wg.Wait()
	kept := 0
	for _, w := range won {
		if w {
			kept++
		}
	}
	if kept != 20 {
		t.Errorf("%d answers kept of 40 for 20 items, want 20", kept)
	}
	if _, err := st.AddPrediction(ctx, &Prediction{EvalID: "other", Index: 3, Raw: "x"}); err != nil {
		t.Fatal(err)
	}
	ps, err := st.EvalPredictions(ctx, "ev")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 20 {
		t.Fatalf("EvalPredictions = %d answers, want 20", len(ps))
	}
	for i, p := range ps {
		if p.Index != i || p.EvalID != "ev" || p.ID != PredictionID("ev", i) {
			t.Errorf("answer %d = %+v, want index %d of ev in order", i, p, i)
		}
	}
}

func TestAddPredictionsKeepsAnswersStoredBefore(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	if _, err := st.AddPrediction(ctx, &Prediction{EvalID: "ev", Index: 1, Raw: "first"}); err != nil {
		t.Fatal(err)
	}
	ps := make([]Prediction, 2500)
	for i := range ps {
		ps[i] = Prediction{EvalID: "ev", Index: i, Raw: "bulk"}
	}
	n, err := st.AddPredictions(ctx, ps)
	if err != nil || n != 2499 {
		t.Fatalf("AddPredictions = %d, %v; want 2499 stored (item 1 had an answer)", n, err)
	}
	got, err := st.EvalPredictions(ctx, "ev")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2500 || got[1].Raw != "first" || got[2].Raw != "bulk" {
		t.Errorf("EvalPredictions = %d answers, item 1 %q; want 2500 with item 1 kept as first", len(got), got[1].Raw)
	}
}
