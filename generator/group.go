package generator

import (
	"context"
	"sync"
)

// group folds calls made at the same moment into batches (group commit): the first caller runs
// batches of whatever has queued, at most max at a time, until none is left; the others wait for
// their result. Nothing waits for a batch to fill: a call alone is a batch of one.
type group[In, Out any] struct {
	max int
	run func(ctx context.Context, ins []In) ([]Out, error) // nil outs: each call gets Out's zero

	mu      sync.Mutex
	pending []*groupCall[In, Out]
	leading bool // a caller is running batches
}

type groupCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

// do runs in with whatever else is queued and returns its result. A batch runs to its end even
// when the caller that runs it is cancelled: the others wait on it.
func (g *group[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &groupCall[In, Out]{in: in, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	for lead {
		g.mu.Lock()
		batch := g.pending[:min(len(g.pending), g.max)]
		g.pending = g.pending[len(batch):]
		if len(batch) == 0 {
			g.leading = false
			g.mu.Unlock()
			break
		}
		g.mu.Unlock()
		ins := make([]In, len(batch))
		for i, b := range batch {
			ins[i] = b.in
		}
		outs, err := g.run(context.WithoutCancel(ctx), ins)
		for i, b := range batch {
			if err == nil && outs != nil {
				b.out = outs[i]
			}
			b.err = err
			close(b.done)
		}
	}
	<-c.done
	return c.out, c.err
}
