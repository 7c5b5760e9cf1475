package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func openSplitTestStore(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(context.Background(), Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func fixtureMembers(split string, n int) []SplitMember {
	out := make([]SplitMember, n)
	for i := range out {
		part := "train"
		if i%4 == 0 {
			part = "test"
		}
		out[i] = SplitMember{Split: split, RecordID: fmt.Sprintf("run-%05d", i), Part: part}
	}
	return out
}

func TestCreateSplitIsImmutableAndComplete(t *testing.T) {
	ctx := context.Background()
	st := openSplitTestStore(t)
	sp := &Split{ID: "s1", Ratios: []PartRatio{{"train", 0.75}, {"test", 0.25}}, Records: 2500}
	if err := st.CreateSplit(ctx, sp, fixtureMembers("s1", 2500)); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetSplit(ctx, "s1")
	if err != nil || got.Status != SplitReady || got.Records != 2500 {
		t.Fatalf("GetSplit(s1) = %+v, %v; want a ready split of 2500 records", got, err)
	}
	test, err := st.SplitMembers(ctx, "s1", "test")
	if err != nil || len(test) != 625 || !slices.IsSorted(test) {
		t.Errorf("SplitMembers(s1, test) = %d ids (sorted %v), %v; want 625 sorted", len(test), slices.IsSorted(test), err)
	}
	all, err := st.SplitMembers(ctx, "s1", "")
	if err != nil || len(all) != 2500 {
		t.Errorf("SplitMembers(s1, all parts) = %d ids, %v; want 2500", len(all), err)
	}
	err = st.CreateSplit(ctx, &Split{ID: "s1"}, fixtureMembers("s1", 3))
	if !errors.Is(err, ErrSplitExists) {
		t.Errorf("CreateSplit(taken name) = %v, want ErrSplitExists", err)
	}
	if all, _ := st.SplitMembers(ctx, "s1", ""); len(all) != 2500 {
		t.Errorf("a refused CreateSplit changed the members of s1: %d, want 2500", len(all))
	}
}

func TestCreateSplitTakesOverAnInterruptedAttempt(t *testing.T) {
	ctx := context.Background()
	st := openSplitTestStore(t)
	host, _ := os.Hostname()
	// what a process killed half-way leaves: the claim and some members
	dead := &Split{ID: "s2", Status: SplitCreating, Host: host, PID: 2147483000, CreatedAt: time.Now().UTC()}
	if err := st.docs.insert(ctx, Splits, []any{dead})[0]; err != nil {
		t.Fatal(err)
	}
	docs := []any{}
	for _, m := range fixtureMembers("s2", 10) {
		docs = append(docs, m)
	}
	if err := firstErr(st.docs.insert(ctx, SplitMembers, docs)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetSplit(ctx, "s2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSplit(unfinished) = %v, want ErrNotFound", err)
	}
	if l, _ := st.SplitList(ctx); len(l) != 0 {
		t.Errorf("SplitList shows %d splits, want none while the only one is unfinished", len(l))
	}
	if err := st.CreateSplit(ctx, &Split{ID: "s2", Records: 4}, fixtureMembers("s2", 4)); err != nil {
		t.Fatalf("CreateSplit over a dead process's attempt: %v", err)
	}
	if all, err := st.SplitMembers(ctx, "s2", ""); err != nil || len(all) != 4 {
		t.Errorf("SplitMembers(s2) = %d, %v; want the 4 new members only", len(all), err)
	}

	// a live process's claim is respected
	live := &Split{ID: "s3", Status: SplitCreating, Host: host, PID: os.Getpid(), CreatedAt: time.Now().UTC()}
	if err := st.docs.insert(ctx, Splits, []any{live})[0]; err != nil {
		t.Fatal(err)
	}
	err := st.CreateSplit(ctx, &Split{ID: "s3"}, fixtureMembers("s3", 2))
	if !errors.Is(err, ErrSplitExists) || !strings.Contains(err.Error(), "has been creating it") {
		t.Errorf("CreateSplit(name claimed by a live process) = %v, want ErrSplitExists naming the process", err)
	}
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
