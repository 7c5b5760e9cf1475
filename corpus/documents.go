package corpus

import "time"

// Record statuses.
const (
	StatusAccepted  = "accepted"
	StatusRejected  = "rejected"
	StatusFailed    = "failed"
	StatusDuplicate = "duplicate"
)

// Prompt is one immutable version of a prompt schema. Its ID is the version: the hex SHA-256 of the
// schema's canonical form. Doc is the whole schema document, unknown keys included.
type Prompt struct {
	ID        string         `bson:"_id" json:"version"`
	Name      string         `bson:"name" json:"name"`
	Doc       map[string]any `bson:"doc" json:"doc"`
	Canonical string         `bson:"canonical" json:"canonical"` // canonical YAML, what the version hashes
	File      string         `bson:"file,omitempty" json:"file,omitempty"`
	CreatedAt time.Time      `bson:"created_at" json:"created_at"`
}

// Run is one generation run: a prompt version aiming at Target accepted records.
type Run struct {
	ID            string    `bson:"_id" json:"id"`
	Prompt        string    `bson:"prompt" json:"prompt"`
	PromptVersion string    `bson:"prompt_version" json:"prompt_version"`
	Backend       string    `bson:"backend" json:"backend"`
	Target        int       `bson:"target" json:"target"`
	Seed          int64     `bson:"seed" json:"seed"`
	MaxAttempts   int       `bson:"max_attempts" json:"max_attempts"`
	Model         string    `bson:"model,omitempty" json:"model,omitempty"`
	Settings      Settings  `bson:"settings" json:"settings"`
	Status        string    `bson:"status" json:"status"`
	Message       string    `bson:"message,omitempty" json:"message,omitempty"`
	CreatedAt     time.Time `bson:"created_at" json:"created_at"`
	UpdatedAt     time.Time `bson:"updated_at" json:"updated_at"`

	Extra map[string]any `bson:",inline" json:"extra,omitempty"`
}

// Settings are the knobs a run was started with; a resume reuses them unless overridden.
type Settings struct {
	// Concurrency, when > 0, fixes how many slots are worked on at once; 0 adapts it to the limits
	// and latency. MaxConcurrency bounds the adaptation (0: generator.SafetyConcurrency). Runs made
	// before adaptive concurrency stored a starting value under other names, which are ignored.
	Concurrency    int     `bson:"fixed_concurrency,omitempty" json:"concurrency,omitempty"`
	MaxConcurrency int     `bson:"concurrency_bound,omitempty" json:"max_concurrency,omitempty"`
	RPM            float64 `bson:"rpm,omitempty" json:"rpm,omitempty"`
	TPM            float64 `bson:"tpm,omitempty" json:"tpm,omitempty"`
	MaxCost        float64 `bson:"max_cost,omitempty" json:"max_cost,omitempty"`
	PriceIn        float64 `bson:"price_in" json:"price_in"`   // USD per 1M prompt tokens
	PriceOut       float64 `bson:"price_out" json:"price_out"` // USD per 1M completion tokens
	ParseRetries   int     `bson:"parse_retries" json:"parse_retries"`
	Source         string  `bson:"source,omitempty" json:"source,omitempty"` // rules backend input
	DedupThreshold float64 `bson:"dedup_threshold,omitempty" json:"dedup_threshold,omitempty"`
	Embedder       string  `bson:"embedder,omitempty" json:"embedder,omitempty"`
	// Batch sends the run's requests through the provider's Batch API (prices above are the batch
	// rate then); BatchLines bounds the lines of one batch.
	Batch      bool `bson:"batch,omitempty" json:"batch,omitempty"`
	BatchLines int  `bson:"batch_lines,omitempty" json:"batch_lines,omitempty"`
}

// Run statuses.
const (
	RunRunning         = "running"
	RunDone            = "done"
	RunStopped         = "stopped"          // interrupted; resumable
	RunPaused          = "paused"           // too many failures; resumable
	RunBudgetExhausted = "budget_exhausted" // --max-cost reached; resumable with a higher cap
	RunExhausted       = "attempts_exhausted"
	RunFailed          = "failed" // a fatal API error (bad key, unknown model); resumable once fixed
)

// Claim is a worker's lease on one slot of a run. Claims are only ever inserted: the unique index on
// (run_id, slot, attempt) decides who owns a slot; a stale claim is taken over by inserting attempt+1.
type Claim struct {
	ID        string    `bson:"_id" json:"id"`
	RunID     string    `bson:"run_id" json:"run_id"`
	Slot      int       `bson:"slot" json:"slot"`
	Attempt   int       `bson:"attempt" json:"attempt"`
	Host      string    `bson:"host" json:"host"`
	PID       int       `bson:"pid" json:"pid"`
	Owner     string    `bson:"owner" json:"owner"` // the claiming worker's own token
	ExpiresAt time.Time `bson:"expires_at" json:"expires_at"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `bson:"prompt_tokens" json:"prompt_tokens"`
	CompletionTokens int `bson:"completion_tokens" json:"completion_tokens"`
}

// Add returns the sum of two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{u.PromptTokens + v.PromptTokens, u.CompletionTokens + v.CompletionTokens}
}

// Step is one paid answer to one step of one slot, stored the moment it arrives so that a resumed slot
// never asks for it again. A malformed answer is stored too, with ParseError set.
type Step struct {
	ID         string         `bson:"_id" json:"id"`
	RunID      string         `bson:"run_id,omitempty" json:"run_id,omitempty"`
	Slot       int            `bson:"slot" json:"slot"`
	Step       string         `bson:"step" json:"step"`
	Try        int            `bson:"try" json:"try"`
	Model      string         `bson:"model,omitempty" json:"model,omitempty"`
	Raw        string         `bson:"raw,omitempty" json:"raw,omitempty"`
	Fields     map[string]any `bson:"fields,omitempty" json:"fields,omitempty"`
	ParseError string         `bson:"parse_error,omitempty" json:"parse_error,omitempty"`
	Usage      Usage          `bson:"usage" json:"usage"`
	LatencyMS  int64          `bson:"latency_ms" json:"latency_ms"`
	CreatedAt  time.Time      `bson:"created_at" json:"created_at"`
}

// Reason says why a record was rejected or flagged.
type Reason struct {
	Code    string `bson:"code" json:"code"`
	Message string `bson:"message" json:"message"`
}

// Edit is one computed change between a record's awkward text and its correction (token spans, M2 style).
type Edit struct {
	OStart int    `bson:"o_start" json:"o_start"`
	OEnd   int    `bson:"o_end" json:"o_end"`
	CStart int    `bson:"c_start" json:"c_start"`
	CEnd   int    `bson:"c_end" json:"c_end"`
	O      string `bson:"o" json:"o"`
	C      string `bson:"c" json:"c"`
	Type   string `bson:"type" json:"type"`
}

// Record is the outcome of one slot, written once under the unique (run_id, slot) key.
type Record struct {
	ID            string            `bson:"_id" json:"id"`
	RunID         string            `bson:"run_id" json:"run_id"`
	Slot          int               `bson:"slot" json:"slot"`
	Prompt        string            `bson:"prompt" json:"prompt"`
	PromptVersion string            `bson:"prompt_version" json:"prompt_version"`
	Backend       string            `bson:"backend" json:"backend"`
	Dims          map[string]string `bson:"dims" json:"dims"`
	Status        string            `bson:"status" json:"status"`
	Reasons       []Reason          `bson:"reasons,omitempty" json:"reasons"`
	Flags         []Reason          `bson:"flags,omitempty" json:"flags,omitempty"`
	Fields        map[string]any    `bson:"fields" json:"fields"`
	Edits         []Edit            `bson:"edits,omitempty" json:"edits,omitempty"`
	DupOf         string            `bson:"dup_of,omitempty" json:"dup_of,omitempty"`
	Distance      *float64          `bson:"distance,omitempty" json:"distance,omitempty"`
	Steps         []Step            `bson:"steps,omitempty" json:"steps,omitempty"`
	Usage         Usage             `bson:"usage" json:"usage"`
	Cost          float64           `bson:"cost" json:"cost"`
	LatencyMS     int64             `bson:"latency_ms" json:"latency_ms"`
	Worker        string            `bson:"worker,omitempty" json:"worker,omitempty"` // the worker that wrote it (host/pid/token)
	CreatedAt     time.Time         `bson:"created_at" json:"created_at"`

	// Negative marks a slot that the schema's negatives share asked for a text needing no
	// correction: its correction is the text itself, and its points say so.
	Negative bool `bson:"negative,omitempty" json:"negative,omitempty"`

	Extra map[string]any `bson:",inline" json:"extra,omitempty"`
}
