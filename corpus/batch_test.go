package corpus

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

func TestInserterReportsEachCallersOwnClash(t *testing.T) {
	st, err := Open(context.Background(), Options{DataDir: t.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	in := st.Inserter(Claims)
	// 8 workers race to claim the same 50 slots: every slot is won exactly once
	var mu sync.Mutex
	won := map[int]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for slot := 0; slot < 50; slot++ {
				err := in.Insert(ctx, Claim{ID: fmt.Sprintf("w%d/%d", w, slot), RunID: "r", Slot: slot, Attempt: 0})
				switch {
				case err == nil:
					mu.Lock()
					won[slot]++
					mu.Unlock()
				case !IsDuplicate(err):
					t.Errorf("Insert slot %d: %v, want nil or a duplicate-key error", slot, err)
				}
			}
		}(w)
	}
	wg.Wait()
	for slot := 0; slot < 50; slot++ {
		if won[slot] != 1 {
			t.Errorf("slot %d was claimed %d times, want exactly once", slot, won[slot])
		}
	}
	claims, err := st.RunClaims(ctx, "r")
	if n := len(claims); err != nil || n != 50 {
		t.Errorf("stored claims = %d, %v; want 50", n, err)
	}
}
