// Package generator is the run engine: it claims slots of a run, asks a backend (an LLM, or the offline
// rule-based error injector) for each slot's fields, checks them with the schema's validators and the
// corpus-wide dedup, and writes each outcome once. It is crash-safe and multi-worker by construction:
// everything on the hot path is an insert guarded by a unique index.
package generator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/prompts"
)

// Slot is one unit of work: slot Index of a run, with dimensions sampled from (seed, Index).
type Slot struct {
	Run   *corpus.Run
	Index int
	// Attempt counts the claims of the slot before this one (takeovers and retries).
	Attempt int
	Dims    map[string]string
	// Negative marks a slot of the schema's negatives share: it asks for a text that needs no
	// correction.
	Negative bool
	// Done holds the step answers stored for this slot by an earlier attempt; a backend reuses them
	// instead of asking (and paying) again.
	Done []corpus.Step
	// Screen, when set, tells after each step but the last whether the fields made so far already
	// duplicate an earlier record; the backend then stops and reports the match (Product.Duplicate)
	// instead of paying for the other steps.
	Screen func(ctx context.Context, fields map[string]any) (*Match, error)
}

// Product is what a backend made of a slot.
type Product struct {
	Fields   map[string]any
	Dims     map[string]string // extra dimensions the backend learnt (the rules backend's error types)
	Steps    []corpus.Step
	Reasons  []corpus.Reason // set when the answer could not be used (malformed)
	Edits    []corpus.Edit   // exact edits, when the backend knows them; computed otherwise
	Requests int
	// Duplicate is the earlier record the first steps already duplicate (Slot.Screen); the later
	// steps were not asked.
	Duplicate *Match
}

// Backend makes the fields of one slot. save stores each paid answer the moment it arrives.
type Backend interface {
	Produce(ctx context.Context, s *Slot, save func(*corpus.Step) error) (*Product, error)
	// Produces lists the fields the backend fills; validators reading other fields are skipped.
	Produces() []string
}

// Stats are a run's counters, kept in memory and derived from the records on (re)start.
type Stats struct {
	RunID     string         `json:"run_id"`
	Target    int            `json:"target"`
	Accepted  int            `json:"accepted"`
	Rejected  int            `json:"rejected"`
	Failed    int            `json:"failed"`
	Duplicate int            `json:"duplicate"`
	InFlight  int            `json:"in_flight"`
	Requests  int            `json:"requests"`
	Usage     corpus.Usage   `json:"usage"`
	Cost      float64        `json:"cost_usd"`
	Reasons   map[string]int `json:"reasons"`
	Elapsed   time.Duration  `json:"-"`
	WallS     float64        `json:"wall_s"`
	// RequestsPerS is the HTTP requests answered per second of this process's work.
	RequestsPerS float64 `json:"requests_per_s"`
	Status       string  `json:"status"`
	Message      string  `json:"message,omitempty"`
	Pace         Pace    `json:"pace"`
}

// Attempts returns how many slots have an outcome.
func (s Stats) Attempts() int { return s.Accepted + s.Rejected + s.Failed + s.Duplicate }

// Add counts one record's outcome.
func (s *Stats) Add(rec *corpus.Record) {
	switch rec.Status {
	case corpus.StatusAccepted:
		s.Accepted++
	case corpus.StatusRejected:
		s.Rejected++
	case corpus.StatusFailed:
		s.Failed++
	case corpus.StatusDuplicate:
		s.Duplicate++
	}
	for _, r := range rec.Reasons {
		s.Reasons[r.Code]++
	}
	s.Usage = s.Usage.Add(rec.Usage)
	s.Cost += rec.Cost
}

// Runner executes runs. Exported fields are its dependencies and knobs.
type Runner struct {
	Store   *corpus.Store
	Schema  *prompts.Schema
	Backend Backend
	Control *Control
	Price   Price
	Dedup   *Dedup // nil: no dedup
	Log     zerolog.Logger
	Now     func() time.Time
	// Host names the process space claims are judged in (host name and PID namespace, so that two
	// containers sharing a host name are told apart); PID is this process in it; Owner is a token
	// unique to this Runner, which renewals and releases match on.
	Host  string
	PID   int
	Owner string
	// LeaseTTL is how long a claim holds a slot without renewal; renewals happen every LeaseTTL/3.
	LeaseTTL time.Duration
	// Poll is how often a worker with nothing to do looks at what other workers did.
	Poll time.Duration
	// SlotRetries is how many times a slot is retried after its requests kept failing before it is
	// recorded as failed.
	SlotRetries int
	// Endpoint fingerprints the API (URL and key) the backend calls; workers sharing it divide the
	// limits the server advertises. Empty for offline backends.
	Endpoint string
	// Heartbeat is how often a worker renews its registration and learns how many share its limits.
	Heartbeat time.Duration
	// OnProgress, when set, is called after every finished slot.
	OnProgress func(Stats)
}

// NewRunner returns a Runner with defaults for host, pid, clock and timings.
func NewRunner(store *corpus.Store, schema *prompts.Schema, backend Backend, control *Control) *Runner {
	host, _ := os.Hostname()
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		host += "/" + ns
	}
	return &Runner{
		Store: store, Schema: schema, Backend: backend, Control: control,
		Log: zerolog.Nop(), Now: time.Now, Host: host, PID: os.Getpid(), Owner: fmt.Sprintf("%s/%d/%x", host, os.Getpid(), rand.Uint64()),
		LeaseTTL: 10 * time.Minute, Poll: time.Second, SlotRetries: 3, Heartbeat: time.Second,
	}
}

// ErrBudget is returned (wrapped) when a request would take the run over its --max-cost.
var ErrBudget = errors.New("over the cost cap")

// ErrInterrupted is returned (wrapped) when the run stopped because its context ended.
var ErrInterrupted = errors.New("interrupted")

type pending struct{ slot, attempt int }

// state is the run's shared, mutex-guarded bookkeeping.
type state struct {
	mu       sync.Mutex
	stats    Stats
	next     int       // next fresh slot to try
	queue    []pending // slots to take over or retry
	inflight map[int]int
	held     map[int]bool // slots whose claim this worker holds and has not written an outcome for
	failures map[int]int  // transient failures per slot
	stop     string       // run status to end with, once set no new slot is claimed
	message  string
	wake     chan struct{}

	refreshMu   sync.Mutex // one refresh of the run's state at a time
	refreshed   time.Time  // when the last refresh ended
	refreshMore bool       // and what it said
}

func (st *state) notify() {
	close(st.wake)
	st.wake = make(chan struct{})
}

// Run works on run until it has Target accepted records, runs out of attempts or budget, or ctx ends.
// It returns the final counters; the run document's status is updated to match.
func (r *Runner) Run(ctx context.Context, run *corpus.Run) (Stats, error) {
	start := time.Now()
	st, err := r.load(ctx, run)
	if err != nil {
		return Stats{}, err
	}
	r.setRunStatus(ctx, run, corpus.RunRunning, "")

	work, cancel := context.WithCancel(ctx)
	defer cancel()
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); r.renewLeases(work, run, st) }()

	if err := r.register(ctx, run); err != nil {
		return Stats{}, err
	}
	heartbeatDone := make(chan struct{})
	go func() { defer close(heartbeatDone); r.heartbeat(work, run) }()

	var fatal error
	var fatalOnce sync.Once
	stopWith := func(status, msg string) {
		st.mu.Lock()
		if st.stop == "" {
			st.stop, st.message = status, msg
		}
		st.mu.Unlock()
		cancel()
	}
	// the pool: as many workers as the Control's concurrency target, each claiming its own slots (so
	// that concurrent claims fold into one insert); a worker above the target leaves after its slot
	var wg sync.WaitGroup
	var poolMu sync.Mutex
	workers := 0
	over := make(chan struct{})
	var overOnce sync.Once
	leave := func() bool {
		poolMu.Lock()
		defer poolMu.Unlock()
		if workers > r.Control.Limit() {
			workers--
			return true
		}
		return false
	}
	worker := func() {
		defer wg.Done()
		for !leave() {
			p, ok, waitCh := r.nextSlot(work, run, st)
			if !ok {
				if waitCh == nil {
					poolMu.Lock()
					workers--
					poolMu.Unlock()
					overOnce.Do(func() { close(over) })
					return
				}
				select {
				case <-waitCh:
				case <-work.Done():
				case <-time.After(r.Poll):
				}
				continue
			}
			if err := r.doSlot(work, run, st, p); err != nil {
				var fe *FatalError
				switch {
				case errors.As(err, &fe):
					fatalOnce.Do(func() { fatal = err; stopWith(corpus.RunFailed, err.Error()) })
				case errors.Is(err, ErrBudget):
					stopWith(corpus.RunBudgetExhausted, fmt.Sprintf("%s; resume with a higher --max-cost", err))
				case errors.Is(err, ErrOutage):
					stopWith(corpus.RunPaused, fmt.Sprintf("paused: %s; check the API (status page, base URL, server logs), then `correctly generate --resume %s`", r.Control.GaveUp(), run.ID))
				case work.Err() == nil:
					r.Log.Error().Err(err).Int("slot", p.slot).Msg("slot failed")
				}
			}
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
spawn:
	for {
		poolMu.Lock()
		for workers < r.Control.Limit() {
			workers++
			wg.Add(1)
			go worker()
		}
		poolMu.Unlock()
		select {
		case <-over:
			break spawn
		case <-work.Done():
			break spawn
		case <-r.Control.Changed():
		case <-tick.C:
			r.Control.Tick()
			if msg := r.Control.GaveUp(); msg != "" {
				stopWith(corpus.RunPaused, fmt.Sprintf("paused: %s; check the API (status page, base URL, server logs), then `correctly generate --resume %s`", msg, run.ID))
			}
		}
	}
	tick.Stop()
	wg.Wait()
	cancel()
	<-renewDone
	<-heartbeatDone
	r.unregister(run)

	st.mu.Lock()
	stats := st.stats
	stats.InFlight = 0
	status, msg := st.stop, st.message
	leftover := make([]int, 0, len(st.held))
	for s := range st.held {
		leftover = append(leftover, s)
	}
	st.mu.Unlock()
	if len(leftover) > 0 {
		r.releaseClaims(run, leftover)
	}
	interrupted := ctx.Err() != nil && status == ""
	switch {
	case interrupted:
		status, msg = corpus.RunStopped, fmt.Sprintf("interrupted; resume with `correctly generate --resume %s`", run.ID)
	case status == "" && stats.Accepted >= run.Target:
		status = corpus.RunDone
	case status == "":
		status = corpus.RunExhausted
		msg = fmt.Sprintf("stopped after %d attempts with %d of %d accepted; raise --max-attempts and resume", stats.Attempts(), stats.Accepted, run.Target)
	}
	stats.Status, stats.Message = status, msg
	stats.Elapsed = time.Since(start)
	stats.WallS = stats.Elapsed.Seconds()
	stats.Pace = r.Control.Snapshot()
	stats.RequestsPerS = float64(stats.Pace.Answers) / max(stats.WallS, 1e-3)
	r.setRunStatus(context.WithoutCancel(ctx), run, status, msg)
	if fatal != nil {
		return stats, fatal
	}
	if interrupted {
		return stats, fmt.Errorf("run %s: %w", run.ID, ErrInterrupted)
	}
	return stats, nil
}

// load derives the run's state from the store: its counts from the run's summary, its open slots
// from the claims left (a claim is removed once its slot's outcome is written, so these are the
// slots in flight or abandoned), and the next fresh slot from the highest slot seen. Its cost does
// not grow with the run.
func (r *Runner) load(ctx context.Context, run *corpus.Run) (*state, error) {
	st := &state{
		stats:    Stats{RunID: run.ID, Target: run.Target, Reasons: map[string]int{}},
		inflight: map[int]int{},
		held:     map[int]bool{},
		failures: map[int]int{},
		wake:     make(chan struct{}),
	}
	sum, err := r.Store.RunCounts(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	st.stats.Accepted, st.stats.Rejected = sum.Status[corpus.StatusAccepted], sum.Status[corpus.StatusRejected]
	st.stats.Failed, st.stats.Duplicate = sum.Status[corpus.StatusFailed], sum.Status[corpus.StatusDuplicate]
	for _, byCode := range sum.Reasons {
		for code, n := range byCode {
			st.stats.Reasons[code] += n
		}
	}
	st.stats.Usage, st.stats.Cost = sum.Usage, sum.Cost
	claims, err := r.Store.RunClaims(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	top := map[int]corpus.Claim{}
	slots := make([]int, 0, len(claims))
	for _, c := range claims {
		if cur, ok := top[c.Slot]; !ok || c.Attempt > cur.Attempt {
			if !ok {
				slots = append(slots, c.Slot)
			}
			top[c.Slot] = c
		}
	}
	sort.Ints(slots)
	done, err := r.Store.RecordSlots(ctx, run.ID, slots)
	if err != nil {
		return nil, err
	}
	// claims of finished slots are left by an earlier version or a crash between the outcome and
	// the claim's removal: remove them, so that the next read is cheap
	var finished []string
	for _, c := range claims {
		if done[c.Slot] {
			finished = append(finished, c.ID)
		}
	}
	if err := r.Store.FinishClaims(ctx, finished); err != nil {
		r.Log.Warn().Err(err).Msg("remove claims of finished slots")
	}
	last, err := r.Store.MaxSlot(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	st.next = last + 1
	now := r.Now()
	open := 0
	for _, s := range slots {
		if done[s] {
			continue
		}
		open++
		if c := top[s]; r.claimIsStale(c, now) {
			st.queue = append(st.queue, pending{s, c.Attempt + 1})
		}
	}
	// a slot below the highest that has neither claim nor outcome was numbered but never claimed
	// (its claim was in flight when the process died): it is open. Outcomes and open claims
	// account for every slot when there is none, and only then is no slot read.
	if int64(sum.Records)+int64(open) < int64(st.next) {
		all, err := r.Store.AllRecordSlots(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		for s := 0; s < st.next; s++ {
			if _, claimed := top[s]; !claimed && !all[s] {
				st.queue = append(st.queue, pending{s, 0})
			}
		}
	}
	sort.Slice(st.queue, func(i, j int) bool { return st.queue[i].slot < st.queue[j].slot })
	return st, nil
}

// claimIsStale reports whether a claim can be taken over: its lease ran out, or its process on this
// host is gone.
func (r *Runner) claimIsStale(c corpus.Claim, now time.Time) bool {
	if now.After(c.ExpiresAt) {
		return true
	}
	if c.Host == r.Host {
		if c.PID == r.PID || c.Owner == r.Owner {
			return false
		}
		return !processAlive(c.PID)
	}
	return false
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// nextSlot claims the next slot to work on. When there is none right now it returns ok=false and a
// channel that fires when local work finishes (nil when the run is over).
func (r *Runner) nextSlot(ctx context.Context, run *corpus.Run, st *state) (pending, bool, <-chan struct{}) {
	for {
		st.mu.Lock()
		if st.stop != "" || ctx.Err() != nil {
			st.mu.Unlock()
			return pending{}, false, nil
		}
		if st.stats.Accepted >= run.Target {
			st.mu.Unlock()
			return pending{}, false, nil
		}
		var p pending
		switch {
		case len(st.queue) > 0:
			p = st.queue[0]
			st.queue = st.queue[1:]
			if _, busy := st.inflight[p.slot]; busy {
				st.mu.Unlock()
				continue // this worker already works on it
			}
		case st.next < r.slotCap(run, st):
			if r.overBudget(run, st) {
				st.stop = corpus.RunBudgetExhausted
				st.message = fmt.Sprintf("spent $%.4f of the $%.2f cap; resume with a higher --max-cost", st.stats.Cost, run.Settings.MaxCost)
				st.mu.Unlock()
				return pending{}, false, nil
			}
			p = pending{st.next, 0}
			st.next++
		default:
			inflight := len(st.inflight)
			wake := st.wake
			st.mu.Unlock()
			if inflight > 0 {
				return pending{}, false, wake
			}
			// nothing local left: see what other workers did
			more, err := r.refresh(ctx, run, st)
			if err != nil {
				r.Log.Warn().Err(err).Msg("refresh run state")
			}
			if !more {
				return pending{}, false, nil
			}
			return pending{}, false, wake
		}
		st.inflight[p.slot] = p.attempt
		st.stats.InFlight = len(st.inflight)
		st.mu.Unlock()

		won, err := r.claim(ctx, run, p)
		if err == nil && won && r.finishedElsewhere(ctx, run, p) {
			won = false
		}
		if err == nil && won {
			st.mu.Lock()
			st.held[p.slot] = true
			st.mu.Unlock()
			return p, true, nil
		}
		st.mu.Lock()
		delete(st.inflight, p.slot)
		st.stats.InFlight = len(st.inflight)
		st.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return pending{}, false, nil
			}
			r.Log.Warn().Err(err).Int("slot", p.slot).Msg("claim slot; will try again")
			st.mu.Lock()
			st.queue = append(st.queue, p)
			wake := st.wake
			st.mu.Unlock()
			return pending{}, false, wake
		}
		// another worker holds it: try the next
	}
}

// finishedElsewhere reports whether another worker already wrote the outcome of a slot this worker
// just claimed, and then gives the claim back. A claim is removed once its slot's outcome is written,
// so a worker whose count of slots lags behind the others' can win the claim of a finished slot;
// working it again would pay twice and overwrite the winner's vectors in the index.
func (r *Runner) finishedElsewhere(ctx context.Context, run *corpus.Run, p pending) bool {
	done, err := r.Store.RecordSlots(ctx, run.ID, []int{p.slot})
	if err != nil {
		r.Log.Warn().Err(err).Int("slot", p.slot).Msg("look whether another worker finished the slot; working it")
		return false
	}
	if done[p.slot] {
		r.finishClaim(ctx, run, p)
	}
	return done[p.slot]
}

// slotCap is how many slots the run may open: one per accepted record still wanted plus one for
// every slot that ended without acceptance, within max attempts. Every opened slot ends accepted or
// opens another, so a run never accepts more than its target.
func (r *Runner) slotCap(run *corpus.Run, st *state) int {
	c := run.Target + st.stats.Rejected + st.stats.Failed + st.stats.Duplicate
	if run.MaxAttempts > 0 {
		c = min(c, run.MaxAttempts)
	}
	return c
}

func (r *Runner) overBudget(run *corpus.Run, st *state) bool {
	if run.Settings.MaxCost <= 0 {
		return false
	}
	n := st.stats.Attempts()
	avg := 0.0
	if n > 0 {
		avg = st.stats.Cost / float64(n)
	}
	return st.stats.Cost+avg*float64(len(st.inflight)+1) > run.Settings.MaxCost
}

// refresh re-reads outcomes written by other workers and stale claims; it reports whether the run may
// still have work for this worker.
func (r *Runner) refresh(ctx context.Context, run *corpus.Run, st *state) (bool, error) {
	// one refresh at a time: the workers that wait for it take its answer instead of asking again
	asked := time.Now()
	st.refreshMu.Lock()
	defer st.refreshMu.Unlock()
	if st.refreshed.After(asked) {
		return st.refreshMore, nil
	}
	more, err := r.refreshOnce(ctx, run, st)
	if err == nil {
		st.refreshed, st.refreshMore = time.Now(), more
	}
	return more, err
}

func (r *Runner) refreshOnce(ctx context.Context, run *corpus.Run, st *state) (bool, error) {
	fresh, err := r.load(ctx, run)
	if err != nil {
		return true, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	// the database read may be older than outcomes this worker counted meanwhile: keep the larger
	if fresh.stats.Attempts() >= st.stats.Attempts() {
		st.stats.Accepted, st.stats.Rejected = fresh.stats.Accepted, fresh.stats.Rejected
		st.stats.Failed, st.stats.Duplicate = fresh.stats.Failed, fresh.stats.Duplicate
		st.stats.Reasons = fresh.stats.Reasons
		st.stats.Usage, st.stats.Cost = fresh.stats.Usage, fresh.stats.Cost
	}
	st.next = max(st.next, fresh.next)
	queued := map[int]bool{}
	for _, q := range st.queue {
		queued[q.slot] = true
	}
	for _, q := range fresh.queue {
		if _, busy := st.inflight[q.slot]; !busy && !queued[q.slot] {
			st.queue = append(st.queue, q)
			queued[q.slot] = true
		}
	}
	if st.stats.Accepted >= run.Target {
		return false, nil
	}
	if len(st.queue) > 0 || st.next < r.slotCap(run, st) {
		return true, nil
	}
	// slots held by live workers elsewhere may still finish or go stale
	claimed := fresh.next
	finished := fresh.stats.Attempts()
	return finished < claimed, nil
}

func (r *Runner) claim(ctx context.Context, run *corpus.Run, p pending) (bool, error) {
	now := r.Now()
	c := corpus.Claim{
		ID: claimID(run, p), RunID: run.ID, Slot: p.slot, Attempt: p.attempt,
		Host: r.Host, PID: r.PID, Owner: r.Owner, ExpiresAt: now.Add(r.LeaseTTL), CreatedAt: now,
	}
	err := r.Store.Inserter(corpus.Claims).Insert(ctx, c)
	if corpus.IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim slot %d: %w", p.slot, err)
	}
	return true, nil
}

// renewLeases extends the claims this worker holds, every LeaseTTL/3, with one update.
func (r *Runner) renewLeases(ctx context.Context, run *corpus.Run, st *state) {
	t := time.NewTicker(r.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st.mu.Lock()
		slots := make([]int, 0, len(st.inflight))
		for s := range st.inflight {
			slots = append(slots, s)
		}
		st.mu.Unlock()
		if len(slots) == 0 {
			continue
		}
		err := r.Store.RenewClaims(ctx, run.ID, r.Owner, slots, r.Now().Add(r.LeaseTTL))
		if err != nil && ctx.Err() == nil {
			r.Log.Warn().Err(err).Msg("renew leases")
		}
	}
}

// register enters this worker in the registry of workers and takes its share of the limits.
func (r *Runner) register(ctx context.Context, run *corpus.Run) error {
	if err := r.putWorker(ctx, run); err != nil {
		return err
	}
	onRun, onKey, err := r.shares(ctx, run)
	if err != nil {
		return err
	}
	if onRun > 1 || onKey > 1 {
		// the limit is in use already: a worker joining it must not spend a burst the others
		// have spent
		r.Control.Drain()
	}
	return nil
}

func (r *Runner) putWorker(ctx context.Context, run *corpus.Run) error {
	now := r.Now()
	p := r.Control.Snapshot()
	return r.Store.PutWorker(ctx, &corpus.Worker{
		ID: r.Owner, RunID: run.ID, Endpoint: r.Endpoint, Host: r.Host, PID: r.PID,
		RunShare: r.Control.shares().run, KeyShare: r.Control.shares().server, RPM: p.RPM, TPM: p.TPM,
		ExpiresAt: now.Add(3 * r.Heartbeat), UpdatedAt: now.UTC(),
	})
}

// shares divides the limits among the live workers: the run's given limits among the run's
// workers, the server's advertised ones among the workers using the same key.
func (r *Runner) shares(ctx context.Context, run *corpus.Run) (onRun, onKey int, err error) {
	onRun, onKey, err = r.Store.LiveWorkers(ctx, run.ID, r.Endpoint, r.Now())
	if err != nil {
		return 0, 0, err
	}
	r.Control.SetShares(1/float64(max(onRun, 1)), 1/float64(max(onKey, 1)))
	return onRun, onKey, nil
}

// heartbeat renews this worker's registration and follows how many workers share its limits.
func (r *Runner) heartbeat(ctx context.Context, run *corpus.Run) {
	t := time.NewTicker(r.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.putWorker(ctx, run)
		if err == nil {
			_, _, err = r.shares(ctx, run)
		}
		if err != nil && ctx.Err() == nil {
			r.Log.Warn().Err(err).Msg("renew worker registration")
		}
	}
}

func (r *Runner) unregister(run *corpus.Run) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Store.RemoveWorker(ctx, r.Owner); err != nil {
		r.Log.Warn().Err(err).Str("run", run.ID).Msg("unregister worker")
	}
}

// releaseClaims lets other workers (or a resume) take over the slots this worker leaves unfinished.
func (r *Runner) releaseClaims(run *corpus.Run, slots []int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Store.ReleaseClaims(ctx, run.ID, r.Owner, slots); err != nil {
		r.Log.Warn().Err(err).Msg("release claims")
	}
}

func (r *Runner) setRunStatus(ctx context.Context, run *corpus.Run, status, msg string) {
	run.Status, run.Message, run.UpdatedAt = status, msg, r.Now().UTC()
	if err := r.Store.SetRunStatus(ctx, run.ID, status, msg, run.UpdatedAt); err != nil {
		r.Log.Warn().Err(err).Msg("update run status")
	}
}

// doSlot produces, checks and records one claimed slot. A slot that fails for any reason other than
// the run stopping is retried (at its next attempt, reusing stored answers) up to SlotRetries times,
// then recorded as failed: no slot is left claimed and forgotten.
func (r *Runner) doSlot(ctx context.Context, run *corpus.Run, st *state, p pending) error {
	requests := 0
	// finish accounts for the slot's end; with retry set (and no record) the slot is queued again in
	// the same critical section, after its in-flight entry is gone
	finish := func(rec *corpus.Record, retry bool) {
		st.mu.Lock()
		delete(st.inflight, p.slot)
		if rec != nil {
			delete(st.held, p.slot)
			st.stats.Add(rec)
		}
		if retry {
			st.queue = append(st.queue, pending{p.slot, p.attempt + 1})
		}
		st.stats.InFlight = len(st.inflight)
		st.stats.Requests += requests
		snap := st.stats
		snap.Reasons = copyCounts(st.stats.Reasons)
		st.notify()
		st.mu.Unlock()
		if r.OnProgress != nil {
			r.OnProgress(snap)
		}
	}
	slot := &Slot{Run: run, Index: p.slot, Attempt: p.attempt, Dims: r.Schema.Sample(run.Seed, p.slot), Negative: r.Schema.Negative(run.Seed, p.slot)}
	if r.Dedup != nil {
		id := RecordID(run.ID, p.slot)
		slot.Screen = func(ctx context.Context, fields map[string]any) (*Match, error) {
			return r.Dedup.Screen(ctx, id, fields)
		}
	}
	var prod *Product
	// fail decides what a slot error comes to: nothing while stopping (the claim is released), the
	// error itself when it is fatal, a retry, or after SlotRetries a failed record
	fail := func(err error) error {
		var fe *FatalError
		if ctx.Err() != nil || errors.As(err, &fe) || errors.Is(err, ErrOutage) || errors.Is(err, ErrBudget) {
			finish(nil, false)
			return err
		}
		st.mu.Lock()
		st.failures[p.slot]++
		n := st.failures[p.slot]
		st.mu.Unlock()
		if n <= r.SlotRetries {
			r.Log.Warn().Err(err).Int("slot", p.slot).Int("try", n).Msg("slot will be retried")
			finish(nil, true)
			return nil
		}
		rec := r.newRecord(run, slot, prod)
		rec.Status = corpus.StatusFailed
		code := "error"
		var te *TransientError
		if errors.As(err, &te) {
			code = "api_error"
		}
		rec.Reasons = []corpus.Reason{{Code: code, Message: err.Error()}}
		if werr := r.write(ctx, rec); werr != nil {
			finish(nil, false)
			return werr
		}
		r.finishClaim(ctx, run, p)
		finish(rec, false)
		return nil
	}
	if p.attempt > 0 {
		done, err := r.Store.SlotSteps(ctx, run.ID, p.slot)
		if err != nil {
			return fail(err)
		}
		slot.Done = done
	}
	save := func(s *corpus.Step) error {
		s.ID = StepID(run.ID, p.slot, s.Step, s.Try)
		s.RunID, s.Slot = run.ID, p.slot
		if s.CreatedAt.IsZero() {
			s.CreatedAt = r.Now().UTC()
		}
		err := r.Store.Inserter(corpus.Steps).Insert(ctx, s)
		if corpus.IsDuplicate(err) {
			return nil
		}
		return err
	}
	var err error
	prod, err = r.Backend.Produce(ctx, slot, save)
	if prod != nil {
		requests = prod.Requests
	}
	if err != nil {
		return fail(err)
	}
	rec := r.newRecord(run, slot, prod)
	if prod.Duplicate != nil {
		markDuplicate(rec, prod.Duplicate)
	} else {
		r.check(rec, prod)
	}
	if rec.Status == corpus.StatusAccepted && r.Dedup != nil {
		if err := r.Dedup.Admit(ctx, rec); err != nil {
			return fail(err)
		}
	}
	if err := r.write(ctx, rec); err != nil {
		if corpus.IsDuplicate(err) {
			r.finishClaim(ctx, run, p)
			finish(nil, false) // another worker finished this slot first
			return nil
		}
		return fail(err)
	}
	r.finishClaim(ctx, run, p)
	finish(rec, false)
	return nil
}

// finishClaim removes the claims of a slot whose outcome is written: its own and those of the
// attempts before it (a dead worker's, taken over).
func (r *Runner) finishClaim(ctx context.Context, run *corpus.Run, p pending) {
	for a := 0; a <= p.attempt; a++ {
		if err := r.Store.FinishClaim(context.WithoutCancel(ctx), claimID(run, pending{p.slot, a})); err != nil {
			r.Log.Warn().Err(err).Int("slot", p.slot).Msg("remove the claim of a finished slot")
		}
	}
}

// StepID names the stored answer of one try of one step of a slot; it is also the custom_id of the
// Batch API line that asks for it.
func StepID(runID string, slot int, step string, try int) string {
	return fmt.Sprintf("%s/%d/%s/%d", runID, slot, step, try)
}

func claimID(run *corpus.Run, p pending) string {
	return fmt.Sprintf("%s/%d/%d", run.ID, p.slot, p.attempt)
}

// write inserts the slot's outcome; the unique (run_id, slot) index makes the first finisher win.
func (r *Runner) write(ctx context.Context, rec *corpus.Record) error {
	if err := r.Store.InsertRecord(ctx, rec); err != nil {
		if corpus.IsDuplicate(err) {
			return err
		}
		return fmt.Errorf("write record %s: %w", rec.ID, err)
	}
	return nil
}

func (r *Runner) newRecord(run *corpus.Run, slot *Slot, prod *Product) *corpus.Record {
	rec := &corpus.Record{
		ID: RecordID(run.ID, slot.Index), RunID: run.ID, Slot: slot.Index,
		Prompt: run.Prompt, PromptVersion: run.PromptVersion, Backend: run.Backend,
		Dims: slot.Dims, Status: corpus.StatusAccepted, Fields: map[string]any{}, Worker: r.Owner, CreatedAt: r.Now().UTC(),
		Negative: slot.Negative,
	}
	if prod == nil {
		return rec
	}
	if prod.Fields != nil {
		rec.Fields = prod.Fields
	}
	if len(prod.Dims) > 0 {
		dims := make(map[string]string, len(slot.Dims)+len(prod.Dims))
		for k, v := range slot.Dims {
			dims[k] = v
		}
		for k, v := range prod.Dims {
			dims[k] = v
		}
		rec.Dims = dims
	}
	// the record keeps each answer's accounting; the raw answers stay in the steps collection, where
	// they were stored the moment they arrived (corpus show joins them)
	rec.Steps = make([]corpus.Step, len(prod.Steps))
	for i, s := range prod.Steps {
		rec.Usage = rec.Usage.Add(s.Usage)
		rec.LatencyMS += s.LatencyMS
		rec.Steps[i] = corpus.Step{ID: s.ID, Step: s.Step, Try: s.Try, Model: s.Model, ParseError: s.ParseError,
			Usage: s.Usage, LatencyMS: s.LatencyMS, CreatedAt: s.CreatedAt}
	}
	rec.Cost = r.Price.Cost(rec.Usage.PromptTokens, rec.Usage.CompletionTokens)
	rec.Edits = prod.Edits
	return rec
}

// check computes edits and runs the validators; a record with reasons is rejected.
func (r *Runner) check(rec *corpus.Record, prod *Product) {
	if len(prod.Reasons) > 0 {
		rec.Status, rec.Reasons = corpus.StatusRejected, prod.Reasons
		return
	}
	before, _ := rec.Fields["before"].(string)
	after, _ := rec.Fields["after"].(string)
	if rec.Edits == nil && before != "" && after != "" {
		rec.Edits = ToCorpusEdits(edits.Extract(before, after))
	}
	reasons, flags := Validate(r.Schema, rec, r.Backend.Produces())
	rec.Flags = flags
	if len(reasons) > 0 {
		rec.Status, rec.Reasons = corpus.StatusRejected, reasons
	}
}

// RecordID names the record of one slot.
func RecordID(runID string, slot int) string { return fmt.Sprintf("%s-%05d", runID, slot) }

// ToCorpusEdits converts extracted edits to their stored form.
func ToCorpusEdits(es []edits.Edit) []corpus.Edit {
	out := make([]corpus.Edit, len(es))
	for i, e := range es {
		out[i] = corpus.Edit{OStart: e.OStart, OEnd: e.OEnd, CStart: e.CStart, CEnd: e.CEnd, O: e.O, C: e.C, Type: e.Type}
	}
	return out
}

// FromCorpusEdits converts stored edits back.
func FromCorpusEdits(es []corpus.Edit) []edits.Edit {
	out := make([]edits.Edit, len(es))
	for i, e := range es {
		out[i] = edits.Edit{OStart: e.OStart, OEnd: e.OEnd, CStart: e.CStart, CEnd: e.CEnd, O: e.O, C: e.C, Type: e.Type}
	}
	return out
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
