package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/correctly/correctly/corpus"
)

// Run states, as `correctly train status` prints them. FAILED carries the exit code: FAILED(137).
const (
	StateStarting  = "STARTING"   // pushed or launching; run.sh has not reported a phase yet
	StateSettingUp = "SETTING_UP" // virtualenv and pip install
	StateRunning   = "RUNNING"
	// StateStalled is a job alive with no heartbeat for StallAfter, or one the box's watchdog found
	// making no progress for --stall-timeout (it then ends it: EndedBy says so).
	StateStalled   = "STALLED"
	StateTimedOut  = "TIMED_OUT" // stopped by the box's watchdog at --max-duration, checkpoint kept
	StateSucceeded = "SUCCEEDED"
	StateFailed    = "FAILED"
	StateCancelled = "CANCELLED"
	StateLost      = "LOST" // process gone or pid reused, or the box rebooted, with no exit code
)

// Status is what the box says about a run.
type Status struct {
	State        string        `json:"state"`
	ExitCode     *int          `json:"exit_code,omitempty"`
	Phase        string        `json:"phase,omitempty"` // run.sh's phase file
	PID          int           `json:"pid,omitempty"`
	HeartbeatAge time.Duration `json:"heartbeat_age_ns,omitempty"`
	Detail       string        `json:"detail,omitempty"`
	// EndedBy is set when the box's watchdog ended the job: max_duration or stalled.
	EndedBy string `json:"ended_by,omitempty"`
	// Box is what the box does on its own and what it did (the run's record, refreshed).
	Box *corpus.TrainBox `json:"box,omitempty"`
}

// String is the state as shown to people: FAILED(137) for a failure.
func (s Status) String() string {
	if s.State == StateFailed && s.ExitCode != nil {
		return fmt.Sprintf("FAILED(%d)", *s.ExitCode)
	}
	return s.State
}

// Terminal reports whether the run can change no more.
func (s Status) Terminal() bool {
	switch s.State {
	case StateSucceeded, StateFailed, StateCancelled, StateLost, StateTimedOut:
		return true
	case StateStalled:
		return s.EndedBy != ""
	}
	return false
}

// Status asks the box how the run is doing and saves what it learnt on the run.
func (c *Client) Status(ctx context.Context, run *corpus.TrainRun) (Status, error) {
	return c.withRetry(ctx, run, "status of", c.status)
}

// withRetry runs one remote step on a connection that is redialled while the link fails, then saves
// what the step learnt on the run.
func (c *Client) withRetry(ctx context.Context, run *corpus.TrainRun, what string, step func(context.Context, *Conn, *corpus.TrainRun) (Status, error)) (Status, error) {
	s := &session{c: c, run: run}
	defer s.close()
	for {
		conn, err := s.get(ctx)
		var st Status
		if err == nil {
			st, err = step(ctx, conn, run)
		}
		if err == nil {
			return st, c.save(ctx, run, "")
		}
		if !s.retry(ctx, err) {
			return Status{}, fmt.Errorf("%s %s: %w", what, run.ID, err)
		}
	}
}

func (c *Client) status(ctx context.Context, conn *Conn, run *corpus.TrainRun) (Status, error) {
	script := `cd -- ` + quote(remoteRunDir(run.RemoteDir, run.ID)) + ` 2>/dev/null || { echo nodir=1; exit 0; }
printf 'boot=%s\n' "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
printf 'now=%s\n' "$(date +%s)"
[ -d state/launch.lock ] && echo locked=1
pid=$(cat state/pid 2>/dev/null)
printf 'pid=%s\n' "$pid"
case $pid in ''|*[!0-9]*) ;; *) [ -r "/proc/$pid/stat" ] && printf 'stat=%s\n' "$(tr '\n' ' ' <"/proc/$pid/stat")";; esac
printf 'hb=%s\n' "$(stat -c %Y state/heartbeat 2>/dev/null)"
printf 'phase=%s\n' "$(cat state/phase 2>/dev/null)"
[ -e state/cancelled ] && echo cancelled=1
printf 'exit=%s\n' "$(cat state/exit_code 2>/dev/null)"
printf 'ended_by=%s\n' "$(cat state/ended_by 2>/dev/null)"
printf 'watchdog=%s\n' "$(tr -d '\n' <state/watchdog.json 2>/dev/null)"
exit 0`
	out, err := conn.Run(ctx, script, nil)
	if err != nil {
		return Status{}, err
	}
	kv := parseKV(out)
	applyWatchdog(run, kv["watchdog"])
	st := decideStatus(kv, run, c.stallAfter())
	if run.Box != nil {
		b := *run.Box
		st.Box = &b
	}
	run.Status, run.ExitCode, run.CheckedAt = st.String(), st.ExitCode, c.now().UTC()
	if st.PID != 0 && run.PID == 0 {
		run.PID = st.PID
	}
	return st, nil
}

// decideStatus turns the box's state files into a Status. The pid is checked before the exit code
// is read, so a job that ends in between is seen as ended, not lost.
func decideStatus(kv map[string]string, run *corpus.TrainRun, stallAfter time.Duration) Status {
	st := Status{Phase: Escape(kv["phase"])}
	st.PID, _ = strconv.Atoi(kv["pid"])
	if kv["nodir"] == "1" {
		if run.PID == 0 {
			return Status{State: StateStarting, Detail: "not pushed yet"}
		}
		return Status{State: StateLost, Detail: "the run directory is gone from the box"}
	}
	endedBy := strings.TrimSpace(kv["ended_by"])
	if code, err := strconv.Atoi(strings.TrimSpace(kv["exit"])); err == nil {
		st.ExitCode = &code
		switch {
		case kv["cancelled"] == "1":
			st.State = StateCancelled
		case endedBy == "max_duration" || endedBy == "stalled":
			endedByWatchdog(&st, endedBy, run)
		case code == 0:
			st.State = StateSucceeded
		default:
			st.State = StateFailed
			st.Detail = exitDetail(code)
		}
		return st
	}
	if kv["locked"] != "1" {
		st.State, st.Detail = StateStarting, "not launched yet"
		return st
	}
	pid := st.PID
	if pid == 0 {
		pid = run.PID
	}
	alive := kv["stat"] != "" && statField(kv["stat"], 3) != "Z"
	if alive && run.StartTime != "" && pid == run.PID && statField(kv["stat"], 22) != run.StartTime {
		alive = false
		st.Detail = "pid " + strconv.Itoa(pid) + " now belongs to another process"
	}
	if run.BootID != "" && kv["boot"] != "" && kv["boot"] != run.BootID {
		alive = false
		st.Detail = "the box rebooted"
	}
	if pid == 0 {
		st.State, st.Detail = StateStarting, "run.sh has not written its pid yet"
		return st
	}
	if !alive {
		if kv["cancelled"] == "1" {
			st.State = StateCancelled
			return st
		}
		if endedBy == "max_duration" || endedBy == "stalled" {
			endedByWatchdog(&st, endedBy, run)
			return st
		}
		st.State = StateLost
		if st.Detail == "" {
			st.Detail = "process " + strconv.Itoa(pid) + " is gone and left no exit code"
		}
		return st
	}
	if endedBy == "stalled" {
		st.State, st.Detail = StateStalled, "no progress for the --stall-timeout: the box's watchdog is ending the job"
		return st
	}
	if endedBy == "max_duration" {
		st.State, st.Detail = StateRunning, "--max-duration reached: training is stopping after saving a checkpoint"
		return st
	}
	if hb, err := strconv.ParseInt(kv["hb"], 10, 64); err == nil {
		if now, err := strconv.ParseInt(kv["now"], 10, 64); err == nil {
			st.HeartbeatAge = time.Duration(now-hb) * time.Second
			if st.HeartbeatAge > stallAfter {
				st.State = StateStalled
				st.Detail = fmt.Sprintf("no heartbeat for %s", st.HeartbeatAge)
				return st
			}
		}
	}
	switch st.Phase {
	case "setting_up":
		st.State = StateSettingUp
	case "running", "done":
		st.State = StateRunning
	default:
		st.State = StateStarting
	}
	return st
}

func endedByWatchdog(st *Status, endedBy string, run *corpus.TrainRun) {
	st.EndedBy = endedBy
	var limit time.Duration
	if run.Box != nil {
		limit = run.Box.MaxDuration
		if endedBy == "stalled" {
			limit = run.Box.StallTimeout
		}
	}
	if endedBy == "max_duration" {
		st.State = StateTimedOut
		st.Detail = "stopped at --max-duration"
		if limit > 0 {
			st.Detail += " " + shortDuration(limit)
		}
		st.Detail += "; the last checkpoint is kept in output/checkpoints (correctly train pull --checkpoints)"
		return
	}
	st.State = StateStalled
	st.Detail = "no log line and no progress"
	if limit > 0 {
		st.Detail += " for " + shortDuration(limit)
	}
	st.Detail += ": the box's watchdog ended the job (see correctly train logs)"
}

// exitDetail explains train.py's own exit codes.
func exitDetail(code int) string {
	switch code {
	case 1:
		return "training failed: see correctly train logs"
	case 2:
		return "the bundle's config or data is invalid: see correctly train logs, fix it, bundle again"
	case 3:
		return "out of GPU memory: lower batch_size or max_seq_len (see correctly train logs), bundle and push again"
	case 4:
		return "stopped by a TERM after saving a checkpoint"
	case 98:
		return "pip install -r requirements.txt failed on the box: see correctly train logs"
	case 137:
		return "killed (often the kernel's out-of-memory killer)"
	}
	return ""
}

// LogOptions says which part of the log to read.
type LogOptions struct {
	Offset int64 // start at this byte of logs/train.log
	Follow bool  // keep reading until the run ends, reconnecting after lost links
}

// Logs copies the run's logs/train.log, from o.Offset, to w byte for byte and returns the offset
// reached. With o.Follow it polls for new bytes until the run is over, reconnecting with backoff
// when the link drops, and resumes at the exact byte, so w receives the remote log unchanged.
func (c *Client) Logs(ctx context.Context, run *corpus.TrainRun, w io.Writer, o LogOptions) (int64, error) {
	s := &session{c: c, run: run}
	defer s.close()
	off := o.Offset
	logPath := path.Join(remoteRunDir(run.RemoteDir, run.ID), "logs", "train.log")
	for {
		conn, err := s.get(ctx)
		var n int64
		var over bool
		if err == nil {
			n, err = copyFrom(ctx, conn, logPath, off, w)
			off += n
			if n > 0 || err == nil {
				s.fail = 0 // the link works: back off only over failures in a row
			}
		}
		if err == nil && !o.Follow {
			return off, nil
		}
		if err == nil && n == 0 {
			var st Status
			st, err = c.status(ctx, conn, run)
			if err == nil && st.Terminal() {
				// one last read: the job may have written its final lines after our copy
				n, err = copyFrom(ctx, conn, logPath, off, w)
				off += n
				over = err == nil
			}
		}
		if over {
			return off, c.save(ctx, run, "")
		}
		if err != nil {
			if !s.retry(ctx, err) {
				return off, fmt.Errorf("logs of %s at byte %d: %w", run.ID, off, err)
			}
			continue
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return off, ctx.Err()
			case <-time.After(c.pollInterval()):
			}
		}
	}
}

// copyFrom copies the remote file from off to its current end; a missing file copies nothing.
func copyFrom(ctx context.Context, conn *Conn, p string, off int64, w io.Writer) (int64, error) {
	sc, err := conn.SFTP()
	if err != nil {
		return 0, err
	}
	f, err := sc.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, conn.wrap(err)
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, f)
	return n, conn.wrap(err)
}

// PullOptions says what Pull fetches.
type PullOptions struct {
	// Checkpoints also fetches output/checkpoints/ (train.py's) and output/checkpoint-*/ (the
	// trainer's resumable state, often larger
	// than the result).
	Checkpoints bool
	Progress    func(done, total int64)
}

// PulledFile is one file fetched by Pull.
type PulledFile struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Fetched int64  `json:"fetched"` // bytes transferred now; 0 when the local copy was already complete
}

// Pull fetches the run's output directory (report.json, predictions.jsonl and the adapter or model;
// checkpoints only when asked) into dir. Each file is read up to the size the box listed, goes to a
// .part file resumed from its local size and is renamed into place only once its SHA-256 matches
// the box's; complete files are skipped. report.json, when present, is saved on the run. Once
// every file is here, the box is told (state/pulled), so that a box set to stop itself stops.
func (c *Client) Pull(ctx context.Context, run *corpus.TrainRun, dir string, o PullOptions) ([]PulledFile, error) {
	progress := o.Progress
	s := &session{c: c, run: run}
	defer s.close()
	remoteOut := path.Join(remoteRunDir(run.RemoteDir, run.ID), "output")
	var files []PulledFile
	for {
		conn, err := s.get(ctx)
		if err == nil {
			mode := "tree"
			if o.Checkpoints {
				mode = "treeall"
			}
			err = remoteHashes(ctx, conn, remoteOut, mode, nil, &files)
		}
		if err == nil {
			break
		}
		if !s.retry(ctx, err) {
			return nil, fmt.Errorf("pull %s: list output on the box: %w", run.ID, err)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("pull %s: nothing in output/ on the box yet (see `correctly train status %s`)", run.ID, run.ID)
	}
	var total, done int64
	kept := files[:0]
	for _, f := range files {
		if !localName(filepath.ToSlash(f.Path)) {
			return nil, fmt.Errorf("pull %s: the box lists an output file outside output/: %s", run.ID, Escape(f.Path))
		}
		if Escape(f.Path) != f.Path {
			return nil, fmt.Errorf("pull %s: the box lists an output file whose name holds control characters: %s", run.ID, Escape(f.Path))
		}
		if f.Size < 0 {
			return nil, fmt.Errorf("pull %s: the box lists %s with a negative size", run.ID, f.Path)
		}
		if !o.Checkpoints && (strings.HasPrefix(f.Path, "checkpoint-") || strings.HasPrefix(f.Path, "checkpoints/")) {
			continue
		}
		total += f.Size
		kept = append(kept, f)
	}
	files = kept
	for i := range files {
		f := &files[i]
		local := filepath.Join(dir, filepath.FromSlash(f.Path))
		if sum, size, err := fileSHA256(local); err == nil && sum == f.SHA256 && size == f.Size {
			done += f.Size
			if progress != nil {
				progress(done, total)
			}
			continue
		}
		for attempt := 0; ; attempt++ {
			conn, err := s.get(ctx)
			var n int64
			if err == nil {
				n, err = pullFile(ctx, conn, path.Join(remoteOut, f.Path), local, *f, func(d int64) {
					if progress != nil {
						progress(done+d, total)
					}
				})
				f.Fetched += n
			}
			if err == nil {
				break
			}
			if errors.Is(err, errPullMismatch) && attempt == 0 {
				continue
			}
			if !s.retry(ctx, err) {
				return files, fmt.Errorf("pull %s: %s: %w (run pull again to resume)", run.ID, f.Path, err)
			}
		}
		done += f.Size
	}
	// Tell the box's watchdog the outputs are safe here: a box set to stop itself (--stop-box)
	// does so now, rather than after its grace, once the job has ended.
	marked := false
	for !marked {
		conn, err := s.get(ctx)
		if err == nil {
			_, err = conn.Run(ctx, "touch -- "+quote(path.Join(remoteRunDir(run.RemoteDir, run.ID), "state", "pulled")), nil)
		}
		if err == nil {
			marked = true
			if run.Box != nil {
				run.Box.PulledAt = c.now().UTC()
			}
		} else if !s.retry(ctx, err) {
			c.Log.Warn().Err(err).Str("run", run.ID).Msg("could not tell the box the outputs were pulled; a box set to stop itself waits out its grace")
			break
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "report.json")); err == nil {
		var rep map[string]any
		if json.Unmarshal(b, &rep) == nil {
			run.Report = rep
		}
	}
	abs, _ := filepath.Abs(dir)
	run.PulledTo = abs
	return files, c.save(ctx, run, "")
}

var (
	errPullMismatch = errors.New("pulled bytes differ from the box's")
	errPullOverrun  = errors.New("the box sent more than it listed")
)

func pullFile(ctx context.Context, conn *Conn, remote, local string, f PulledFile, progress func(int64)) (int64, error) {
	sc, err := conn.SFTP()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return 0, err
	}
	part := local + ".part"
	var off int64
	if st, err := os.Stat(part); err == nil && st.Size() <= f.Size {
		off = st.Size()
	}
	lf, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer lf.Close()
	if err := lf.Truncate(off); err != nil {
		return 0, err
	}
	if _, err := lf.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	rf, err := sc.Open(remote)
	if err != nil {
		return 0, conn.wrap(err)
	}
	defer rf.Close()
	stop := context.AfterFunc(ctx, func() { rf.Close() })
	defer stop()
	if _, err := rf.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	progress(off)
	// Read at most what the box listed, and one byte more to tell that it sends more: a hostile box
	// could otherwise stream without end.
	want := f.Size - off
	n, err := io.Copy(&countWriter{w: lf, done: off, progress: progress}, io.LimitReader(rf, want+1))
	if err != nil {
		return n, conn.wrap(err)
	}
	if n > want {
		lf.Close()
		os.Remove(part)
		return n, fmt.Errorf("%s: %w: it listed %d bytes and sent more", Escape(f.Path), errPullOverrun, f.Size)
	}
	if err := lf.Close(); err != nil {
		return n, err
	}
	sum, size, err := fileSHA256(part)
	if err != nil {
		return n, err
	}
	if sum != f.SHA256 || size != f.Size {
		os.Remove(part)
		return n, fmt.Errorf("%s: %w (sha256 %s, want %s)", Escape(f.Path), errPullMismatch, sum, f.SHA256)
	}
	return n, os.Rename(part, local)
}

type countWriter struct {
	w        io.Writer
	done     int64
	progress func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.done += int64(n)
	c.progress(c.done)
	return n, err
}

// Cancel stops the run: TERM to its process group, session and descendants, KILL to whatever is
// left after CancelGrace. Nothing of the job survives. Cancelling a finished run changes nothing.
func (c *Client) Cancel(ctx context.Context, run *corpus.TrainRun) (Status, error) {
	return c.withRetry(ctx, run, "cancel", c.cancel)
}

func (c *Client) cancel(ctx context.Context, conn *Conn, run *corpus.TrainRun) (Status, error) {
	st, err := c.status(ctx, conn, run)
	if err != nil || st.Terminal() && st.State != StateLost {
		return st, err
	}
	pid := st.PID
	if pid == 0 {
		pid = run.PID
	}
	if pid == 0 {
		return st, fmt.Errorf("run %s has no process on the box yet: wait for push to finish, then cancel", run.ID)
	}
	dir := remoteRunDir(run.RemoteDir, run.ID)
	grace := strconv.FormatFloat(c.cancelGrace().Seconds(), 'f', 3, 64)
	out, err := conn.Run(ctx, "python3 -c "+quote(cancelScript)+" "+quote(dir)+" "+quote(strconv.Itoa(pid))+" "+quote(run.StartTime)+" "+quote(grace), nil)
	if err != nil {
		return st, err
	}
	c.Log.Debug().Str("run", run.ID).Str("result", strings.TrimSpace(string(out))).Msg("cancelled")
	return c.status(ctx, conn, run)
}
