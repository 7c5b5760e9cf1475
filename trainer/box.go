package trainer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/correctly/correctly/corpus"
)

// WatchOptions is what the box does on its own, with no client connected: watchdog.py runs beside
// the job and enforces it even when SSH is gone.
type WatchOptions struct {
	// MaxDuration stops training that long after the launch (setup included): TERM, so train.py
	// saves a checkpoint at the end of the current step, then KILL after the cancel grace. 0: none.
	MaxDuration time.Duration
	// StallTimeout ends a job that prints no log line and beats no progress for that long in its
	// training phase: it is marked STALLED. 0: DefaultStallTimeout; negative: no stall watchdog.
	StallTimeout time.Duration
	// StopBox has the box stop itself once the job has ended and its outputs were pulled, or
	// StopGrace after the end if they were not: with the provider's tool where one is found
	// (runpodctl, vastai) or StopCommand. Never destroyed: a stopped box keeps its disk.
	StopBox     bool
	StopGrace   time.Duration // 0: DefaultStopGrace
	StopCommand string        // run on the box with bash instead of the provider's tool
}

// Defaults of WatchOptions.
const (
	DefaultStallTimeout = 30 * time.Minute
	DefaultStopGrace    = time.Hour
)

func (w WatchOptions) stallTimeout() time.Duration {
	switch {
	case w.StallTimeout < 0:
		return 0
	case w.StallTimeout == 0:
		return DefaultStallTimeout
	}
	return w.StallTimeout
}

func (w WatchOptions) stopGrace() time.Duration {
	if w.StopGrace > 0 {
		return w.StopGrace
	}
	return DefaultStopGrace
}

// destroyWords are what a stop command must not do: a stopped box keeps its disk, a destroyed one
// takes the outputs with it.
var destroyWords = regexp.MustCompile(`(?i)\b(destroy|terminate|delete|remove|rm)\b`)

// CheckStopCommand refuses a stop command that would destroy the box rather than stop it.
func CheckStopCommand(cmd string) error {
	if strings.TrimSpace(cmd) == "" {
		return fmt.Errorf("--stop-command is empty: give the command that stops this box, e.g. 'shutdown -h now'")
	}
	if w := destroyWords.FindString(cmd); w != "" {
		return fmt.Errorf("--stop-command %q would %s the box, and its disk with the outputs: give a command that stops it (a stopped box keeps its disk)", cmd, strings.ToLower(w))
	}
	return nil
}

// GPU is one GPU nvidia-smi reported on the box.
type GPU struct {
	Name   string `json:"name"`
	MemMiB int    `json:"memory_mib"`
	Driver string `json:"driver"`
}

func (g GPU) String() string {
	return fmt.Sprintf("%s (%d GiB, driver %s)", g.Name, (g.MemMiB+512)/1024, g.Driver)
}

// parseGPUs reads `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`
// lines, joined by ';'.
func parseGPUs(s string) []GPU {
	var out []GPU
	for _, line := range strings.Split(s, ";") {
		f := strings.Split(line, ",")
		if len(f) != 3 {
			continue
		}
		mem, err := strconv.Atoi(strings.TrimSpace(f[1]))
		if err != nil {
			continue
		}
		out = append(out, GPU{Name: Escape(strings.TrimSpace(f[0])), MemMiB: mem, Driver: Escape(strings.TrimSpace(f[2]))})
	}
	return out
}

// Requirements are what the pinned packages of a bundle's requirements.txt need of the box, from
// its machine-readable comments:
//
//	# python: >=3.9,<3.13
//	# nvidia-driver: >=525.60.13 (CUDA 12.4 in the torch 2.5.1 wheels)
type Requirements struct {
	PythonMin, PythonBelow string // "" when not stated
	DriverMin              string
	DriverWhy              string
}

var (
	reqPython = regexp.MustCompile(`^#\s*python:\s*>=\s*([0-9.]+)\s*,\s*<\s*([0-9.]+)`)
	reqDriver = regexp.MustCompile(`^#\s*nvidia-driver:\s*>=\s*([0-9.]+)\s*(?:\((.*)\))?`)
)

// ReadRequirements reads the requirements comments of requirements.txt in the bundle dir.
func ReadRequirements(bundle string) (Requirements, error) {
	var r Requirements
	b, err := os.ReadFile(filepath.Join(bundle, "requirements.txt"))
	if err != nil {
		return r, fmt.Errorf("read the bundle's requirements.txt: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := reqPython.FindStringSubmatch(line); m != nil {
			r.PythonMin, r.PythonBelow = m[1], m[2]
		}
		if m := reqDriver.FindStringSubmatch(line); m != nil {
			r.DriverMin, r.DriverWhy = m[1], m[2]
		}
	}
	return r, nil
}

// compareVersions compares dotted numeric versions: -1, 0 or 1. Missing parts count as 0.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// boxFacts is what preflight learnt of the box.
type boxFacts struct {
	gpus          []GPU
	python        string // 3.11.2
	runAvail      int64  // bytes free where the run directory is
	runDev        string
	cacheAvail    int64 // bytes free where the Hugging Face cache is
	cacheDev      string
	runpodPod     string
	haveRunpodctl bool
	vastInstance  string
	haveVastai    bool
	vastKey       bool
}

// preflightBoxScript prints what preflight checks about the box as key=value lines; it never prints
// a secret (the vast.ai key is only said to be there).
const preflightBoxScript = `
if command -v nvidia-smi >/dev/null 2>&1; then
	echo have_nvidia_smi=1
	printf 'gpus=%s\n' "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits 2>/dev/null | head -n 16 | tr '\n' ';')"
fi
command -v python3 >/dev/null 2>&1 && printf 'python=%s\n' "$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"
printf 'run_dev=%s\n' "$(stat -c %d -- "$d" 2>/dev/null)"
c=${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}
while [ ! -d "$c" ] && [ "$c" != / ] && [ -n "$c" ]; do c=$(dirname -- "$c"); done
df -Pk -- "$c" 2>/dev/null | { read -r _; read -r _ _ _ avail _; echo "cache_avail_kib=$avail"; }
printf 'cache_dev=%s\n' "$(stat -c %d -- "$c" 2>/dev/null)"
outer() { tr '\0' '\n' </proc/1/environ 2>/dev/null | sed -n "s/^$1=//p" | head -n 1; }
printf 'runpod_pod=%s\n' "${RUNPOD_POD_ID:-$(outer RUNPOD_POD_ID)}"
command -v runpodctl >/dev/null 2>&1 && echo have_runpodctl=1
printf 'vast_instance=%s\n' "${CONTAINER_ID:-$(outer CONTAINER_ID)}"
command -v vastai >/dev/null 2>&1 && echo have_vastai=1
if [ -n "${CONTAINER_API_KEY:-}" ] || [ -n "$(outer CONTAINER_API_KEY)" ]; then echo vast_key=1; fi
`

func parseBoxFacts(kv map[string]string) boxFacts {
	f := boxFacts{
		python:        kv["python"],
		runDev:        kv["run_dev"],
		cacheDev:      kv["cache_dev"],
		runpodPod:     Escape(kv["runpod_pod"]),
		haveRunpodctl: kv["have_runpodctl"] == "1",
		vastInstance:  Escape(kv["vast_instance"]),
		haveVastai:    kv["have_vastai"] == "1",
		vastKey:       kv["vast_key"] == "1",
	}
	if kv["have_nvidia_smi"] == "1" {
		f.gpus = parseGPUs(kv["gpus"])
	}
	if a, err := strconv.ParseInt(kv["avail_kib"], 10, 64); err == nil {
		f.runAvail = a << 10
	} else {
		f.runAvail = -1
	}
	if a, err := strconv.ParseInt(kv["cache_avail_kib"], 10, 64); err == nil {
		f.cacheAvail = a << 10
	} else {
		f.cacheAvail = -1
	}
	return f
}

// needs is what the job will write on the box, by where it goes.
type needs struct {
	run, cache int64
	why        string
}

// diskNeeds estimates the disk the job needs: the bundle in the run directory, the model download in
// the Hugging Face cache, and the outputs: an adapter is small, a full fine-tune saves the model in
// fp32 (twice a bf16 download) into output/final.
func diskNeeds(bundleBytes, modelBytes int64, method string) needs {
	n := needs{run: bundleBytes + 64<<20, cache: modelBytes}
	n.why = fmt.Sprintf("bundle %s", humanBytes(bundleBytes))
	if modelBytes > 0 {
		n.why += fmt.Sprintf(", model download %s", humanBytes(modelBytes))
		if method == "full" {
			n.run += 2 * modelBytes
			n.why += fmt.Sprintf(", the fine-tuned model in fp32 %s", humanBytes(2*modelBytes))
		}
	}
	return n
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)>>10)
}

// checkBox returns what keeps the box from running the job, each with what to do.
func checkBox(f boxFacts, o PushOptions, req Requirements, bundleBytes int64, method string) []string {
	var problems []string
	if len(f.gpus) == 0 && !o.AllowCPU {
		problems = append(problems, "no GPU on the box (nvidia-smi is missing or lists none): rent a box with an NVIDIA GPU, or pass --allow-cpu to train on its CPU (slowly)")
	}
	if !o.NoInstall {
		if req.DriverMin != "" {
			for _, g := range f.gpus {
				if compareVersions(g.Driver, req.DriverMin) < 0 {
					why := ""
					if req.DriverWhy != "" {
						why = " (" + req.DriverWhy + ")"
					}
					problems = append(problems, fmt.Sprintf("the NVIDIA driver on the box is %s; the pinned torch needs %s or newer%s: rent a box with a newer driver, or pass --no-install with an image whose torch matches this driver", g.Driver, req.DriverMin, why))
					break
				}
			}
		}
		if req.PythonMin != "" && f.python != "" && (compareVersions(f.python, req.PythonMin) < 0 || compareVersions(f.python, req.PythonBelow) >= 0) {
			problems = append(problems, fmt.Sprintf("python %s on the box; the pinned packages in requirements.txt need python >=%s,<%s: use an image with such a python, or pass --no-install with an image that has torch, transformers and peft", Escape(f.python), req.PythonMin, req.PythonBelow))
		}
	}
	n := diskNeeds(bundleBytes, o.ModelBytes, method)
	run, cache := n.run, n.cache
	if f.cacheDev != "" && f.cacheDev == f.runDev {
		run, cache = run+cache, 0
	}
	if f.runAvail >= 0 && f.runAvail < run {
		problems = append(problems, fmt.Sprintf("only %s free for the run directory on the box, the job needs %s (%s): free space, pass another --remote-dir, or rent a bigger disk", humanBytes(f.runAvail), humanBytes(run), n.why))
	}
	if cache > 0 && f.cacheAvail >= 0 && f.cacheAvail < cache {
		problems = append(problems, fmt.Sprintf("only %s free for the Hugging Face cache on the box (HF_HOME), the model download needs %s: free space there or point HF_HOME at a bigger disk", humanBytes(f.cacheAvail), humanBytes(cache)))
	}
	return problems
}

// stopPlan decides how the box stops itself, or says why it cannot.
func stopPlan(f boxFacts, w WatchOptions) (*corpus.TrainBox, error) {
	box := &corpus.TrainBox{MaxDuration: w.MaxDuration, StallTimeout: w.stallTimeout()}
	if len(f.gpus) > 0 {
		box.GPU = f.gpus[0].String()
		if len(f.gpus) > 1 {
			box.GPU = fmt.Sprintf("%d x %s", len(f.gpus), box.GPU)
		}
	}
	if !w.StopBox {
		return box, nil
	}
	box.StopGrace = w.stopGrace()
	switch {
	case w.StopCommand != "":
		box.Stop, box.StopCommand = "command", "your --stop-command"
	case f.runpodPod != "" && f.haveRunpodctl:
		box.Stop, box.StopCommand = "runpod", "runpodctl stop pod "+f.runpodPod
	case f.vastInstance != "" && f.haveVastai && f.vastKey:
		box.Stop, box.StopCommand = "vast", "vastai stop instance "+f.vastInstance
	case f.runpodPod != "":
		return nil, fmt.Errorf("--stop-box: this RunPod pod (%s) has no runpodctl on its PATH: use an image with runpodctl, or pass --stop-command CMD", f.runpodPod)
	case f.vastInstance != "" && !f.haveVastai:
		return nil, fmt.Errorf("--stop-box: this vast.ai instance (%s) has no vastai CLI: install it on the box (pip install vastai), or pass --stop-command CMD", f.vastInstance)
	case f.vastInstance != "":
		return nil, fmt.Errorf("--stop-box: this vast.ai instance (%s) has no CONTAINER_API_KEY to stop itself with: pass --stop-command CMD", f.vastInstance)
	default:
		return nil, fmt.Errorf("--stop-box: found no way for this box to stop itself (neither RunPod's runpodctl with RUNPOD_POD_ID nor vast.ai's vastai with CONTAINER_ID): pass --stop-command CMD, run on the box when it should stop")
	}
	return box, nil
}

// watchParams is state/watch.json, what watchdog.py reads.
type watchParams struct {
	MaxDurationS  float64    `json:"max_duration_s,omitempty"`
	StallTimeoutS float64    `json:"stall_timeout_s,omitempty"`
	KillGraceS    float64    `json:"kill_grace_s"`
	PollS         float64    `json:"poll_s"`
	Stop          *watchStop `json:"stop,omitempty"`
}

type watchStop struct {
	How      string  `json:"how"`
	Pod      string  `json:"pod,omitempty"`
	Instance string  `json:"instance,omitempty"`
	GraceS   float64 `json:"grace_s"`
	Tries    int     `json:"tries"`
	RetryS   float64 `json:"retry_s"`
}

func (c *Client) watchParams(box *corpus.TrainBox, f boxFacts) watchParams {
	p := watchParams{
		MaxDurationS:  box.MaxDuration.Seconds(),
		StallTimeoutS: box.StallTimeout.Seconds(),
		KillGraceS:    c.cancelGrace().Seconds(),
		PollS:         math.Max(0.2, math.Min(5, c.heartbeat().Seconds())),
	}
	if box.Stop != "" {
		p.Stop = &watchStop{How: box.Stop, GraceS: box.StopGrace.Seconds(), Tries: 3, RetryS: math.Min(30, box.StopGrace.Seconds())}
		switch box.Stop {
		case "runpod":
			p.Stop.Pod = f.runpodPod
		case "vast":
			p.Stop.Instance = f.vastInstance
		}
	}
	return p
}

// watchdogRecord is state/watchdog.json, what watchdog.py reports (times in Unix seconds).
type watchdogRecord struct {
	Box             string  `json:"box"`
	Deadline        float64 `json:"deadline"`
	EndedBy         string  `json:"ended_by"`
	EndedAt         float64 `json:"ended_at"`
	StopAt          float64 `json:"stop_at"`
	StopReason      string  `json:"stop_reason"`
	StopRequestedAt float64 `json:"stop_requested_at"`
	StopAttempt     int     `json:"stop_attempt"`
	StopExit        *int    `json:"stop_exit"`
	StopOutput      string  `json:"stop_output"`
}

func unixTime(s float64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// applyWatchdog copies what the box's watchdog reported onto the run's box record.
func applyWatchdog(run *corpus.TrainRun, raw string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return
	}
	var w watchdogRecord
	if json.Unmarshal([]byte(raw), &w) != nil {
		return
	}
	if run.Box == nil {
		run.Box = &corpus.TrainBox{}
	}
	b := run.Box
	b.State = Escape(w.Box)
	b.Deadline = unixTime(w.Deadline)
	b.EndedBy = Escape(w.EndedBy)
	b.EndedAt = unixTime(w.EndedAt)
	b.StopAt = unixTime(w.StopAt)
	b.StopReason = Escape(w.StopReason)
	b.StopRequestedAt = unixTime(w.StopRequestedAt)
	b.StopAttempt = w.StopAttempt
	b.StopExit = w.StopExit
	b.StopOutput = EscapeText(w.StopOutput)
}

// BoxPlan says in words what happens to the box when the job ends, and what did happen, for the
// push and status commands. now is used for relative times; times are shown in loc.
func BoxPlan(b *corpus.TrainBox, now time.Time, loc *time.Location) string {
	if b == nil {
		return "the box keeps running (and billing) after the job ends: stop it yourself, or push with --stop-box"
	}
	at := func(t time.Time) string {
		s := t.In(loc).Format("15:04")
		if t.In(loc).YearDay() != now.In(loc).YearDay() || t.Year() != now.Year() {
			s = t.In(loc).Format("Jan 2 15:04")
		}
		return s
	}
	var parts []string
	switch b.State {
	case "stop_requested":
		parts = append(parts, fmt.Sprintf("the box stopped itself at %s with %s (%s)", at(b.StopRequestedAt), b.StopCommand, stopWhy(b)))
	case "stopping":
		parts = append(parts, fmt.Sprintf("the box is stopping itself with %s (%s)", b.StopCommand, stopWhy(b)))
	case "stop_failed":
		exit := "?"
		if b.StopExit != nil {
			exit = strconv.Itoa(*b.StopExit)
		}
		parts = append(parts, fmt.Sprintf("the box tried to stop itself with %s and failed (exit %s: %s): stop it yourself, it is still billing",
			b.StopCommand, exit, strings.TrimSpace(lastLine(b.StopOutput))))
	case "waiting_for_pull":
		if !b.PulledAt.IsZero() && !b.PulledAt.Before(b.EndedAt) {
			parts = append(parts, fmt.Sprintf("the outputs were pulled at %s, so the box is stopping itself with %s", at(b.PulledAt), b.StopCommand))
		} else {
			parts = append(parts, fmt.Sprintf("the job has ended: box stops at %s unless pulled (then at once), with %s", at(b.StopAt), b.StopCommand))
		}
	case "left_running":
		parts = append(parts, "the job has ended; the box keeps running (and billing): stop it yourself")
	default:
		if b.Stop != "" {
			when := fmt.Sprintf("once its outputs are pulled, or %s after the job ends", shortDuration(b.StopGrace))
			if !b.Deadline.IsZero() {
				when += fmt.Sprintf(" (at %s at the latest)", at(b.Deadline.Add(b.StopGrace)))
			}
			parts = append(parts, fmt.Sprintf("the box stops itself with %s %s; never destroyed: its disk is kept", b.StopCommand, when))
		} else {
			parts = append(parts, "the box keeps running (and billing) after the job ends: stop it yourself, or push with --stop-box")
		}
	}
	if b.State == "" || b.State == "running" {
		if !b.Deadline.IsZero() {
			parts = append(parts, fmt.Sprintf("training stops at %s (--max-duration %s), checkpoint kept", at(b.Deadline), shortDuration(b.MaxDuration)))
		} else if b.MaxDuration > 0 {
			parts = append(parts, fmt.Sprintf("training stops %s after the launch (--max-duration), checkpoint kept", shortDuration(b.MaxDuration)))
		}
		if b.StallTimeout > 0 {
			parts = append(parts, fmt.Sprintf("a job without progress for %s is ended as STALLED", shortDuration(b.StallTimeout)))
		}
	}
	return strings.Join(parts, "; ")
}

func stopWhy(b *corpus.TrainBox) string {
	switch b.StopReason {
	case "pulled":
		return "the outputs were pulled"
	case "grace":
		return fmt.Sprintf("nobody pulled the outputs within %s of the end", shortDuration(b.StopGrace))
	}
	return "the job ended"
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// shortDuration prints 1h, 30m, 1h30m, 45s rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
