package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/trainer"
)

func init() { commandFactories = append(commandFactories, newTrainCommand) }

// sshOptions are the connection flags every remote train command shares.
type sshOptions struct {
	Keys       []string
	KnownHosts string
	Timeout    time.Duration
	Keepalive  time.Duration

	host string // the box's host name, for ~/.ssh/config (set by push)
}

func (o *sshOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&o.Keys, "identity", "i", nil, "private `KEY` file to log in with (repeatable; default keys in ~/.ssh and ssh-agent are tried too)")
	f.StringVar(&o.KnownHosts, "known-hosts", "", "known_hosts `FILE` (default ~/.ssh/known_hosts)")
	f.DurationVar(&o.Timeout, "connect-timeout", 20*time.Second, "limit on TCP connect plus SSH handshake")
	f.DurationVar(&o.Keepalive, "keepalive", 15*time.Second, "keepalive period; a link is dead after 3 unanswered")
}

func newTrainCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Bundle training data, push it to a GPU box over SSH, and watch the job",
		Long: `Training is semi-automatic on purpose: write a self-contained bundle, push it once to a rented
GPU box (any SSH-only container with bash, python3 and SFTP), then watch, pull or cancel. Nothing of
ours runs on the box; the job is started detached, so a dropped connection or a closed laptop does
not stop it. Every run is recorded in the store (train_runs), with the host key seen at push pinned
for every later command.

  correctly train bundle --prompt correction_script --base-model Qwen/Qwen2.5-0.5B-Instruct -o bundle
  correctly train push --bundle bundle --host root@gpu-box:22022 -i ~/.ssh/vast --follow
  correctly train status RUN          STARTING, SETTING_UP, RUNNING, STALLED, SUCCEEDED, FAILED(code), CANCELLED, LOST
  correctly train logs -f RUN
  correctly train pull RUN -o results
  correctly train cancel RUN
  correctly train list`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTrainPushCommand(a), newTrainStatusCommand(a), newTrainLogsCommand(a),
		newTrainPullCommand(a), newTrainCancelCommand(a), newTrainListCommand(a),
		newTrainBundleCommand(a)) // in train_bundle.go
	return cmd
}

// trainClient builds the SSH client for train commands from flags and the environment, and opens
// the store it records runs in.
func (a *app) trainClient(ctx context.Context, o sshOptions) (*trainer.Client, *corpus.Store, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, nil, err
	}
	home := a.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	known := o.KnownHosts
	if known == "" {
		known = filepath.Join(home, ".ssh", "known_hosts")
	}
	keys := append([]string{}, o.Keys...)
	for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", k)
		if _, err := os.Stat(p); err == nil {
			keys = append(keys, p)
		}
	}
	c := &trainer.Client{
		Dial: trainer.DialOptions{
			KeyFiles:          keys,
			AgentSocket:       a.Getenv("SSH_AUTH_SOCK"),
			KnownHostsFile:    known,
			HandshakeTimeout:  o.Timeout,
			KeepaliveInterval: o.Keepalive,
			// new hosts are recorded as OpenSSH would record them (Debian's ssh_config hashes them)
			HashKnownHosts: strings.EqualFold(sshConfigValue(sshConfigFiles(home), o.host, "HashKnownHosts"), "yes"),
		},
		Save: st.SaveTrainRun,
		Log:  a.Log,
	}
	return c, st, nil
}

// trainProgress returns a progress callback drawing a bar on stderr when it is a terminal.
func (a *app) trainProgress(what string) (func(done, total int64), func()) {
	if !isTerminal(a.ErrOut) {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	return func(done, total int64) {
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(a.ErrOut),
					progressbar.OptionSetDescription(what), progressbar.OptionShowBytes(true),
					progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
			_ = bar.Set64(done)
		}, func() {
			if bar != nil {
				_ = bar.Finish()
			}
		}
}

type trainPushOptions struct {
	ssh          sshOptions
	Bundle       string
	Host         string
	Jump         string
	RemoteDir    string
	RunID        string
	AcceptNew    bool
	NoInstall    bool
	Follow       bool
	JSON         bool
	MaxDuration  time.Duration
	StallTimeout time.Duration
	StopBox      bool
	StopGrace    time.Duration
	StopCommand  string
	AllowCPU     bool
}

func newTrainPushCommand(a *app) *cobra.Command {
	var o trainPushOptions
	cmd := &cobra.Command{
		Use:   "push --bundle DIR --host user@host[:port] [-i KEY] [--follow]",
		Short: "Upload a bundle to a GPU box and start training there, detached",
		Long: `Push uploads the bundle to <remote-dir>/<run-id>/ on the box, checks every file's SHA-256 there
against the manifest, and starts run.sh with setsid, detached from the connection. It prints the run
id and returns; --follow then streams the log.

Before uploading anything it checks the box, so that a box that cannot do the job is refused
before you pay for its setup: python3, setsid, bash and SFTP; a GPU nvidia-smi can see (refused
without one unless --allow-cpu); an NVIDIA driver new enough for the pinned torch wheel's CUDA and
a python the pinned packages support (both from requirements.txt; skipped with --no-install); free
disk for the bundle, the model download (its size asked of the Hugging Face Hub, HF_ENDPOINT) and,
for a full fine-tune, the saved model. The upload resumes after a cut (push the same --run again)
and bytes that arrive wrong are sent again. A run is launched at most once: pushing a launched run
reports it instead.

The box looks after itself, even with no connection: watchdog.py runs there beside the job.
  --max-duration DUR   stops training DUR after the launch (setup included): train.py saves a
                       checkpoint at the end of the current step; status says TIMED_OUT
  --stall-timeout DUR  a job that prints no line and makes no progress for DUR while it trains is
                       marked STALLED and ended (default 30m; 0 turns this off)
  --stop-box           once the job has ended (any way) and its outputs are pulled, or --stop-grace
                       after the end if they are not, the box stops itself: runpodctl stop pod
                       $RUNPOD_POD_ID on RunPod, vastai stop instance $CONTAINER_ID on vast.ai (with
                       the instance's own key), or --stop-command. Never destroyed: a stopped box
                       keeps its disk, and its outputs.
push always says what happens to the box when the job ends.

Host keys are checked against ~/.ssh/known_hosts as OpenSSH checks them (host certificates from a
@cert-authority included). An unknown host is refused unless --accept-new-host-key, which records
it (hashed when ssh_config says HashKnownHosts yes); a changed key is always refused. HF_TOKEN, when
set, reaches the trainer as a 0600 file, never on a command line nor in pip's environment, and is
removed from the box when the job ends.

Examples:
  correctly train push --bundle bundle --host root@ssh4.vast.ai:22022 -i ~/.ssh/vast --accept-new-host-key
  correctly train push --bundle bundle --host root@213.173.108.7:17042 --max-duration 6h --stop-box
  correctly train push --bundle bundle --host ubuntu@10.0.0.7 --stop-box --stop-command 'sudo shutdown -h now'
  correctly train push --bundle bundle --host ubuntu@10.0.0.7 --jump me@bastion.example.com --follow
  correctly train push --bundle bundle --host me@cpu-box --allow-cpu --no-install   # a CPU test run
  correctly train push --bundle bundle --run run-20250101-120000-ab12cd   # resume an interrupted push`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrainPush(cmd.Context(), a, o) },
	}
	o.ssh.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Bundle, "bundle", "", "bundle `DIR` written by `correctly train bundle` (required)")
	f.StringVar(&o.Host, "host", "", "the box, `user@host[:port]` (required for a new run)")
	f.StringVar(&o.Jump, "jump", "", "reach the box through this bastion, `user@host[:port]`")
	f.StringVar(&o.RemoteDir, "remote-dir", trainer.DefaultRemoteDir, "`DIR` on the box that holds run directories (relative to the login directory)")
	f.StringVar(&o.RunID, "run", "", "run `ID`: a new id, or an earlier push to resume")
	f.BoolVar(&o.AcceptNew, "accept-new-host-key", false, "record the key of a host not yet in known_hosts (a changed key is still refused)")
	f.BoolVar(&o.NoInstall, "no-install", false, "skip the virtualenv and pip install on the box (the image has the packages)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "stream the log after launching, until the job ends")
	f.BoolVar(&o.JSON, "json", false, "print the run as JSON")
	f.DurationVar(&o.MaxDuration, "max-duration", 0, "stop training this long after the launch, keeping a checkpoint (e.g. 6h; 0: no limit)")
	f.DurationVar(&o.StallTimeout, "stall-timeout", trainer.DefaultStallTimeout, "end a job with no log line and no progress for this long while it trains (0: never)")
	f.BoolVar(&o.StopBox, "stop-box", false, "have the box stop itself (never destroy) once the job ended and its outputs were pulled, or --stop-grace after the end")
	f.DurationVar(&o.StopGrace, "stop-grace", trainer.DefaultStopGrace, "with --stop-box: how long after the end the box waits for a pull before it stops anyway")
	f.StringVar(&o.StopCommand, "stop-command", "", "with --stop-box: the `CMD` that stops the box, run there with bash, instead of runpodctl or vastai")
	f.BoolVar(&o.AllowCPU, "allow-cpu", false, "push to a box where nvidia-smi sees no GPU (training runs on its CPU)")
	return cmd
}

func runTrainPush(ctx context.Context, a *app, o trainPushOptions) error {
	if o.Bundle == "" {
		return usagef("--bundle DIR is required (write one with `correctly train bundle`)")
	}
	if o.RunID != "" && !trainer.ValidRunID(o.RunID) {
		return usagef("--run %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", o.RunID)
	}
	if o.MaxDuration < 0 || o.StallTimeout < 0 || o.StopGrace < 0 {
		return usagef("--max-duration, --stall-timeout and --stop-grace must not be negative")
	}
	if (o.StopCommand != "" || o.StopGrace != trainer.DefaultStopGrace) && !o.StopBox {
		return usagef("--stop-command and --stop-grace go with --stop-box")
	}
	if o.StopCommand != "" {
		if err := trainer.CheckStopCommand(o.StopCommand); err != nil {
			return usagef("%v", err)
		}
	}
	if e, err := trainer.ParseEndpoint(o.Host, "root"); err == nil {
		o.ssh.host = e.Host
	}
	c, st, err := a.trainClient(ctx, o.ssh)
	if err != nil {
		return err
	}
	var prior *corpus.TrainRun
	if o.RunID != "" {
		prior, err = st.TrainRun(ctx, o.RunID)
		if err != nil && !errors.Is(err, corpus.ErrNotFound) {
			return err
		}
	}
	po := trainer.PushOptions{Bundle: o.Bundle, RemoteDir: o.RemoteDir, RunID: o.RunID, Run: prior,
		IdentityFiles: absPaths(o.ssh.Keys), AcceptNewHostKey: o.AcceptNew, NoInstall: o.NoInstall, AllowCPU: o.AllowCPU,
		Watch: trainer.WatchOptions{MaxDuration: o.MaxDuration, StallTimeout: o.StallTimeout, StopBox: o.StopBox,
			StopGrace: o.StopGrace, StopCommand: o.StopCommand}}
	if o.StallTimeout == 0 {
		po.Watch.StallTimeout = -1 // off
	}
	if prior == nil {
		if o.Host == "" {
			return usagef("--host user@host[:port] is required for a new run")
		}
		user := a.Getenv("USER")
		if user == "" {
			user = "root"
		}
		if po.Target, err = trainer.ParseEndpoint(o.Host, user); err != nil {
			return usagef("--host: %v", err)
		}
		if o.Jump != "" {
			j, err := trainer.ParseEndpoint(o.Jump, user)
			if err != nil {
				return usagef("--jump: %v", err)
			}
			po.Jump = &j
		}
	} else if o.Host != "" && !strings.Contains(o.Host, prior.Host) {
		return usagef("run %s was pushed to %s@%s; drop --host to resume it there, or choose a new --run", prior.ID, prior.User, prior.Host)
	}
	var hfToken string
	if cfg, err := a.config(); err == nil && cfg.HFToken != "" {
		hfToken = cfg.HFToken
		po.Secrets = map[string]string{"HF_TOKEN": cfg.HFToken}
	}
	po.ModelBytes = a.modelBytes(ctx, o.Bundle, hfToken)
	progress, done := a.trainProgress("upload")
	po.Progress = progress
	res, err := c.Push(ctx, po)
	done()
	if err != nil {
		return err
	}
	if res.Launched {
		fmt.Fprintf(a.ErrOut, "launched %s on %s (pid %d): sent %s, %s already there, %s repaired\n",
			res.Run.ID, trainHost(res.Run), res.Run.PID, trainBytes(res.Sent), trainBytes(res.Skipped), trainBytes(res.Repaired))
		if len(res.GPUs) == 0 {
			fmt.Fprintln(a.ErrOut, "no GPU on the box: training runs on its CPU (--allow-cpu)")
		}
	} else {
		fmt.Fprintf(a.ErrOut, "%s was already launched on %s: %s\n", res.Run.ID, trainHost(res.Run), res.Status)
	}
	fmt.Fprintf(a.ErrOut, "box: %s\n", trainer.BoxPlan(res.Run.Box, time.Now(), time.Local))
	if o.JSON {
		if err := a.printJSON(trainView{Run: res.Run, Status: res.Status}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.Out, res.Run.ID)
	}
	if !o.Follow {
		fmt.Fprintf(a.ErrOut, "watch it: correctly train logs -f %s   (status: correctly train status %s)\n", res.Run.ID, res.Run.ID)
		return nil
	}
	w := trainer.NewEscapeWriter(a.Out)
	_, err = c.Logs(ctx, res.Run, w, trainer.LogOptions{Follow: true})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	return trainFinal(ctx, a, c, res.Run)
}

// trainFinal prints the final status after a followed log.
func trainFinal(ctx context.Context, a *app, c *trainer.Client, run *corpus.TrainRun) error {
	st, err := c.Status(ctx, run)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.ErrOut, "%s: %s\n", run.ID, st)
	return nil
}

// modelBytes asks the Hugging Face Hub (HF_ENDPOINT) how big the bundle's base model is, for the
// box's disk check; 0 when that is not known (a local path, HF_HUB_OFFLINE=1, no answer).
func (a *app) modelBytes(ctx context.Context, bundle, token string) int64 {
	m, err := trainer.ReadManifest(bundle)
	if err != nil || m.BaseModel == "" || trainer.IsLocalModel(m.BaseModel) || a.Getenv("HF_HUB_OFFLINE") == "1" {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	n, err := trainer.ModelSize(ctx, &http.Client{Timeout: 15 * time.Second}, a.Getenv("HF_ENDPOINT"), m.BaseModel, token)
	if err != nil {
		a.Log.Warn().Err(err).Msg("the box's disk check counts the bundle only")
		return 0
	}
	return n
}

func absPaths(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		out = append(out, p)
	}
	return out
}

func trainHost(r *corpus.TrainRun) string {
	e := trainer.Endpoint{User: r.User, Host: r.Host, Port: r.Port}
	return e.String()
}

func trainBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// trainView is what status and push --json print.
type trainView struct {
	Run    *corpus.TrainRun `json:"run"`
	Status trainer.Status   `json:"status"`
}

// loadTrainRun reads a run by id from the store.
// trainClientFor opens the SSH client and loads the train run a command names.
func (a *app) trainClientFor(ctx context.Context, o sshOptions, id string) (*trainer.Client, *corpus.TrainRun, error) {
	c, st, err := a.trainClient(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	run, err := loadTrainRun(ctx, st, id)
	if err != nil {
		return nil, nil, err
	}
	return c, run, nil
}

func loadTrainRun(ctx context.Context, st *corpus.Store, id string) (*corpus.TrainRun, error) {
	if !trainer.ValidRunID(id) {
		return nil, usagef("run id %q: see `correctly train list` for the ids", id)
	}
	return st.TrainRun(ctx, id)
}

func newTrainStatusCommand(a *app) *cobra.Command {
	var so sshOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status RUN [--json]",
		Short: "Ask the box how a training run is doing",
		Long: `Status connects to the run's box (holding it to the host key pinned at push) and reads the job's
state files. States:

  STARTING    pushed, run.sh has not reported a phase yet
  SETTING_UP  creating the virtualenv and installing requirements
  RUNNING     training; the heartbeat is fresh
  STALLED     the process lives but its heartbeat stopped, or the box's watchdog found no
              progress for --stall-timeout and ended it
  TIMED_OUT   stopped at --max-duration; its last checkpoint is kept
  SUCCEEDED   exited 0
  FAILED(N)   exited with status N (3: out of GPU memory; 137: killed, often out of memory)
  CANCELLED   stopped by correctly train cancel
  LOST        the process is gone or its pid reused, or the box rebooted, and it left no exit code

It also says what happens to the box (box stops at 14:30 unless pulled; the box stopped itself at
14:31 with runpodctl stop pod ...), and what the box's watchdog did. A box that stopped itself does
not answer: status then says what it last knew.

Examples:
  correctly train status run-20250101-120000-ab12cd
  correctly train status run-20250101-120000-ab12cd --json`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, run, err := a.trainClientFor(ctx, so, args[0])
			if err != nil {
				return err
			}
			s, err := c.Status(ctx, run)
			if err != nil {
				return boxGone(err, run)
			}
			if asJSON {
				return a.printJSON(trainView{Run: run, Status: s})
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "run\t%s\n", run.ID)
			fmt.Fprintf(tw, "host\t%s\n", trainHost(run))
			if run.Box != nil && run.Box.GPU != "" {
				fmt.Fprintf(tw, "gpu\t%s\n", run.Box.GPU)
			}
			fmt.Fprintf(tw, "status\t%s\n", s)
			if s.Detail != "" {
				fmt.Fprintf(tw, "detail\t%s\n", s.Detail)
			}
			if s.Phase != "" {
				fmt.Fprintf(tw, "phase\t%s\n", s.Phase)
			}
			if run.PID != 0 {
				fmt.Fprintf(tw, "pid\t%d\n", run.PID)
			}
			if s.HeartbeatAge > 0 || s.State == trainer.StateRunning {
				fmt.Fprintf(tw, "heartbeat\t%s ago\n", s.HeartbeatAge)
			}
			fmt.Fprintf(tw, "box\t%s\n", trainer.BoxPlan(run.Box, time.Now(), time.Local))
			fmt.Fprintf(tw, "remote dir\t%s/%s\n", run.RemoteDir, run.ID)
			fmt.Fprintf(tw, "age\t%s\n", time.Since(run.CreatedAt).Round(time.Second))
			return tw.Flush()
		},
	}
	so.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run and its status as JSON")
	return cmd
}

func newTrainLogsCommand(a *app) *cobra.Command {
	var so sshOptions
	var follow bool
	var offset int64
	cmd := &cobra.Command{
		Use:   "logs RUN [-f]",
		Short: "Print a training run's log, optionally following it until the job ends",
		Long: `Logs prints logs/train.log of the run from the box, reading by byte offset: with -f it polls for new
lines until the job ends and reconnects with backoff when the link drops, continuing at the exact
byte. Control characters (progress bars' carriage returns, colours, C1 controls, bytes that are not
UTF-8) are shown escaped, like \r, \x1b and \u009b, so a hostile log cannot drive your terminal.

Examples:
  correctly train logs run-20250101-120000-ab12cd
  correctly train logs -f run-20250101-120000-ab12cd`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, run, err := a.trainClientFor(ctx, so, args[0])
			if err != nil {
				return err
			}
			w := trainer.NewEscapeWriter(a.Out)
			_, err = c.Logs(ctx, run, w, trainer.LogOptions{Offset: offset, Follow: follow})
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil || !follow {
				return err
			}
			return trainFinal(ctx, a, c, run)
		},
	}
	so.register(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the job ends")
	cmd.Flags().Int64Var(&offset, "offset", 0, "start at this `byte` of the log")
	return cmd
}

func newTrainPullCommand(a *app) *cobra.Command {
	var so sshOptions
	var out string
	var checkpoints, asJSON bool
	cmd := &cobra.Command{
		Use:   "pull RUN [-o DIR]",
		Short: "Fetch a run's report.json, predictions and adapter (or model) from the box",
		Long: `Pull copies the run's output directory from the box: report.json (losses per epoch, sample
generations, runtime, GPU), predictions.jsonl (the test part, when the bundle had one) and the
adapter or model. Each file is read up to the size the box listed, resumed after a cut, and renamed
into place only once its SHA-256 matches the box's copy. The report is saved on the run, so
correctly train list shows its metrics. A box pushed with --stop-box stops itself once its outputs
are pulled and the job has ended.

Examples:
  correctly train pull run-20250101-120000-ab12cd
  correctly train pull run-20250101-120000-ab12cd -o results/ --checkpoints`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, run, err := a.trainClientFor(ctx, so, args[0])
			if err != nil {
				return err
			}
			dir := out
			if dir == "" {
				dir = filepath.Join("train-runs", run.ID)
			}
			progress, done := a.trainProgress("pull")
			files, err := c.Pull(ctx, run, dir, trainer.PullOptions{Checkpoints: checkpoints, Progress: progress})
			done()
			if err != nil {
				return boxGone(err, run)
			}
			if run.Box != nil && run.Box.Stop != "" {
				fmt.Fprintf(a.ErrOut, "box: the outputs are here, so the box stops itself (%s) as soon as the job has ended; its disk is kept\n", run.Box.StopCommand)
			}
			if asJSON {
				return a.printJSON(files)
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FILE\tSIZE\tFETCHED\tSHA256")
			for _, f := range files {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", filepath.Join(dir, f.Path), trainBytes(f.Size), trainBytes(f.Fetched), f.SHA256[:12])
			}
			return tw.Flush()
		},
	}
	so.register(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "local `DIR` (default train-runs/RUN)")
	cmd.Flags().BoolVar(&checkpoints, "checkpoints", false, "also fetch the checkpoints (output/checkpoints/), to resume or keep a run stopped at --max-duration")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the fetched files as JSON")
	return cmd
}

func newTrainCancelCommand(a *app) *cobra.Command {
	var so sshOptions
	var grace time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Stop a training run: TERM, then KILL after a grace period",
		Long: `Cancel sends TERM to the job's process group, its session and every descendant, waits the grace
period for the trainer to stop (train.py saves a checkpoint at the end of its current step), then
sends KILL to whatever is left: nothing of the job survives. Checkpoints already written stay in the
run's output directory. The box's watchdog is not part of the job: a box pushed with --stop-box still
stops itself once the outputs are pulled, or --stop-grace after the cancel.

Examples:
  correctly train cancel run-20250101-120000-ab12cd
  correctly train cancel run-20250101-120000-ab12cd --grace 5s`,
		Args: wrapArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, run, err := a.trainClientFor(ctx, so, args[0])
			if err != nil {
				return err
			}
			c.CancelGrace = grace
			s, err := c.Cancel(ctx, run)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(trainView{Run: run, Status: s})
			}
			fmt.Fprintf(a.Out, "%s\t%s\n", run.ID, s)
			return nil
		},
	}
	so.register(cmd)
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "time between TERM and KILL")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run and its status as JSON")
	return cmd
}

// boxGone adds what was known of the box to an error reaching it: a box that stopped itself does
// not answer.
func boxGone(err error, run *corpus.TrainRun) error {
	b := run.Box
	if b == nil || b.Stop == "" {
		return err
	}
	return fmt.Errorf("%w\nthe box was set to stop itself, and a stopped box does not answer; last known: %s (start it again from the provider's console to reach its disk)",
		err, trainer.BoxPlan(b, time.Now(), time.Local))
}

// trainListRow is one line of `train list`.
type trainListRow struct {
	ID            string    `json:"id"`
	Host          string    `json:"host"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	CheckedAt     time.Time `json:"checked_at,omitempty"`
	FinalEvalLoss *float64  `json:"final_eval_loss,omitempty"`
	RuntimeS      *float64  `json:"runtime_s,omitempty"`
	PulledTo      string    `json:"pulled_to,omitempty"`
}

func newTrainListCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List training runs with host, last known status, age and metrics",
		Long: `List shows every recorded training run, newest first, with the status last read from its box
(run correctly train status RUN to refresh one), its age, and the final eval loss and runtime from
report.json once the run was pulled.

Examples:
  correctly train list
  correctly train list --json`,
		Args: wrapArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			runs, err := st.TrainRunList(ctx)
			if err != nil {
				return err
			}
			rows := make([]trainListRow, 0, len(runs))
			for i := range runs {
				r := &runs[i]
				rows = append(rows, trainListRow{ID: r.ID, Host: trainHost(r), Status: r.Status, CreatedAt: r.CreatedAt,
					CheckedAt: r.CheckedAt, FinalEvalLoss: reportNumber(r.Report, "final_eval_loss"),
					RuntimeS: reportNumber(r.Report, "runtime_s"), PulledTo: r.PulledTo})
			}
			if asJSON {
				return a.printJSON(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(a.ErrOut, "no training runs yet: correctly train push --bundle DIR --host user@host")
				return nil
			}
			tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tHOST\tSTATUS\tAGE\tEVAL LOSS\tRUNTIME")
			for _, r := range rows {
				loss, rt := "-", "-"
				if r.FinalEvalLoss != nil {
					loss = fmt.Sprintf("%.4f", *r.FinalEvalLoss)
				}
				if r.RuntimeS != nil {
					rt = (time.Duration(*r.RuntimeS) * time.Second).String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Host, r.Status, trainAge(time.Since(r.CreatedAt)), loss, rt)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}

func reportNumber(rep map[string]any, key string) *float64 {
	switch v := rep[key].(type) {
	case float64:
		return &v
	case int32:
		f := float64(v)
		return &f
	case int64:
		f := float64(v)
		return &f
	}
	return nil
}

func trainAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
