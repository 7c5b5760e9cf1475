package corpus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TrainRun is one training launch on a remote GPU box: what was pushed where, the host key pinned at
// push, and what the client last learnt of the remote job. It is saved before each remote step, so a
// killed client can always ask for status.
type TrainRun struct {
	ID                 string         `bson:"_id" json:"id"`
	Host               string         `bson:"host" json:"host"`
	Port               int            `bson:"port" json:"port"`
	User               string         `bson:"user" json:"user"`
	Jump               string         `bson:"jump,omitempty" json:"jump,omitempty"`
	RemoteDir          string         `bson:"remote_dir" json:"remote_dir"`
	Bundle             string         `bson:"bundle" json:"bundle"`
	BundleHash         string         `bson:"bundle_hash" json:"bundle_hash"`
	HostKey            string         `bson:"host_key,omitempty" json:"host_key,omitempty"` // authorized_keys line pinned at push
	HostKeyFingerprint string         `bson:"host_key_fingerprint,omitempty" json:"host_key_fingerprint,omitempty"`
	Phase              string         `bson:"phase" json:"phase"`
	PID                int            `bson:"pid,omitempty" json:"pid,omitempty"`
	StartTime          string         `bson:"start_time,omitempty" json:"start_time,omitempty"`
	BootID             string         `bson:"boot_id,omitempty" json:"boot_id,omitempty"`
	Status             string         `bson:"status,omitempty" json:"status,omitempty"`
	ExitCode           *int           `bson:"exit_code,omitempty" json:"exit_code,omitempty"`
	Report             map[string]any `bson:"report,omitempty" json:"report,omitempty"`
	IdentityFiles      []string       `bson:"identity_files,omitempty" json:"identity_files,omitempty"` // key paths used at push, never keys
	PulledTo           string         `bson:"pulled_to,omitempty" json:"pulled_to,omitempty"`
	CheckedAt          time.Time      `bson:"checked_at,omitempty" json:"checked_at,omitempty"` // when Status was last read from the box
	Box                *TrainBox      `bson:"box,omitempty" json:"box,omitempty"`
	CreatedAt          time.Time      `bson:"created_at" json:"created_at"`
	UpdatedAt          time.Time      `bson:"updated_at" json:"updated_at"`

	// What the bundle's manifest says trained the model: its split, the prompt versions of its
	// records, the base model, and the records of its test part in the order of data/test.jsonl.
	SplitID        string   `bson:"split_id,omitempty" json:"split_id,omitempty"`
	PromptVersions []string `bson:"prompt_versions,omitempty" json:"prompt_versions,omitempty"`
	BaseModel      string   `bson:"base_model,omitempty" json:"base_model,omitempty"`
	TestRecords    []string `bson:"test_records,omitempty" json:"test_records,omitempty"`

	Extra map[string]any `bson:",inline" json:"extra,omitempty"`
}

// TrainBox is what the GPU box does on its own, without the client, as `train push` set it up (max
// duration, stall watchdog, stopping itself), and what its watchdog reported when last asked.
type TrainBox struct {
	MaxDuration  time.Duration `bson:"max_duration,omitempty" json:"max_duration_ns,omitempty"` // 0: no limit
	StallTimeout time.Duration `bson:"stall_timeout,omitempty" json:"stall_timeout_ns,omitempty"`
	// Stop is how the box stops itself once the job ended: runpod, vast or command (the user's
	// --stop-command, never stored); empty: it keeps running.
	Stop        string        `bson:"stop,omitempty" json:"stop,omitempty"`
	StopCommand string        `bson:"stop_command,omitempty" json:"stop_command,omitempty"` // as shown, e.g. runpodctl stop pod ID
	StopGrace   time.Duration `bson:"stop_grace,omitempty" json:"stop_grace_ns,omitempty"`
	GPU         string        `bson:"gpu,omitempty" json:"gpu,omitempty"` // what nvidia-smi reported at push

	State           string    `bson:"state,omitempty" json:"state,omitempty"`       // the watchdog's: running, waiting_for_pull, stopping, stop_requested, stop_failed, left_running
	Deadline        time.Time `bson:"deadline,omitempty" json:"deadline,omitempty"` // when --max-duration stops training
	EndedBy         string    `bson:"ended_by,omitempty" json:"ended_by,omitempty"` // max_duration or stalled, when the watchdog ended the job
	EndedAt         time.Time `bson:"ended_at,omitempty" json:"ended_at,omitempty"`
	StopAt          time.Time `bson:"stop_at,omitempty" json:"stop_at,omitempty"`         // the box stops then unless the outputs are pulled first
	StopReason      string    `bson:"stop_reason,omitempty" json:"stop_reason,omitempty"` // pulled or grace
	PulledAt        time.Time `bson:"pulled_at,omitempty" json:"pulled_at,omitempty"`     // when train pull told the box its outputs were fetched
	StopRequestedAt time.Time `bson:"stop_requested_at,omitempty" json:"stop_requested_at,omitempty"`
	StopAttempt     int       `bson:"stop_attempt,omitempty" json:"stop_attempt,omitempty"`
	StopExit        *int      `bson:"stop_exit,omitempty" json:"stop_exit,omitempty"`
	StopOutput      string    `bson:"stop_output,omitempty" json:"stop_output,omitempty"`
}

// SaveTrainRun writes r whole (insert or replace by ID).
func (s *Store) SaveTrainRun(ctx context.Context, r *TrainRun) error {
	if err := s.docs.replace(ctx, TrainRuns, r.ID, r); err != nil {
		return fmt.Errorf("save train run %s: %w", r.ID, err)
	}
	return nil
}

// TrainRun loads one train run; ErrNotFound when there is none with that ID.
func (s *Store) TrainRun(ctx context.Context, id string) (*TrainRun, error) {
	var r TrainRun
	err := decodeOne(ctx, s.docs, TrainRuns, byID(id), &r)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("train run %s: %w (see `correctly train list`)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load train run %s: %w", id, err)
	}
	return &r, nil
}

// TrainRunList returns all train runs, newest first.
func (s *Store) TrainRunList(ctx context.Context) ([]TrainRun, error) {
	var out []TrainRun
	if err := decodeAll(ctx, s.docs, TrainRuns, query{sort: []order{{"created_at", true}}}, &out); err != nil {
		return nil, fmt.Errorf("list train runs: %w", err)
	}
	return out, nil
}
