package trainer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"

	"github.com/correctly/correctly/corpus"
)

// PushOptions says what to push where.
type PushOptions struct {
	Bundle    string   // local bundle directory (written by WriteBundle)
	Target    Endpoint // the box
	Jump      *Endpoint
	RemoteDir string // parent of the run directory on the box; default "correctly-runs" in the login directory
	// RunID names the run; empty derives one from the time and the bundle hash.
	RunID string
	// Run is an earlier push of the same run to resume; its box, remote dir and pinned host key win.
	Run              *corpus.TrainRun
	IdentityFiles    []string // recorded on the run so later commands offer the same keys
	AcceptNewHostKey bool
	NoInstall        bool              // skip the virtualenv and pip install on the box
	Secrets          map[string]string // environment variables for the job, sent as 0600 files
	Progress         func(done, total int64)
	// Watch is what the box enforces on its own: max duration, stall watchdog, stopping itself.
	Watch WatchOptions
	// AllowCPU pushes to a box where nvidia-smi sees no GPU (refused otherwise).
	AllowCPU bool
	// ModelBytes is the base model's download size (ModelSize), for the disk check; 0: unknown.
	ModelBytes int64
}

// PushResult says what a push did.
type PushResult struct {
	Run      *corpus.TrainRun
	Launched bool // false when the run had already been launched: push then only reports it
	Status   Status
	Total    int64 // bundle bytes
	Sent     int64 // bytes uploaded
	Skipped  int64 // bytes already on the box from an earlier, interrupted push
	Repaired int64 // bytes sent again because the box's copy did not match the manifest
	// GPUs are what nvidia-smi listed on the box.
	GPUs []GPU
}

// DefaultRemoteDir is where runs live on the box, relative to the login directory.
const DefaultRemoteDir = "correctly-runs"

// Push uploads the bundle to <remote-dir>/<run-id>/ on the box, checks every file's SHA-256 there
// against the manifest, and launches run.sh detached, so that neither a dropped link nor the client
// dying stops the job. The run is saved before each remote step. Pushing a run again resumes its
// upload; pushing a run that was already launched reports it instead of launching twice (a lock on
// the box guarantees one launch). A lost link during upload is retried on a new connection.
func (c *Client) Push(ctx context.Context, o PushOptions) (*PushResult, error) {
	// The files' hashes are checked while they are read for upload (VerifyBundle would read them twice).
	m, err := ReadManifest(o.Bundle)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(o.Bundle, filepath.FromSlash(f.Path)))
		if err != nil || fi.Size() != f.Size {
			return nil, fmt.Errorf("bundle %s: %s is missing or changed since the bundle was written: write the bundle again", o.Bundle, f.Path)
		}
	}
	mb, err := os.ReadFile(filepath.Join(o.Bundle, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read bundle manifest: %w", err)
	}
	sum := sha256.Sum256(mb)
	files := append(append([]FileEntry{}, m.Files...), FileEntry{Path: ManifestFile, Size: int64(len(mb)), SHA256: hex.EncodeToString(sum[:])})
	for name := range o.Secrets {
		if !envNamePattern.MatchString(name) {
			return nil, fmt.Errorf("secret %q: use an environment variable name (letters, digits, _)", name)
		}
	}

	run := o.Run
	if run == nil {
		id := o.RunID
		if id == "" {
			id = "run-" + c.now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(sum[:3])
		}
		if !ValidRunID(id) {
			return nil, fmt.Errorf("run id %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
		}
		remoteDir := o.RemoteDir
		if remoteDir == "" {
			remoteDir = DefaultRemoteDir
		}
		abs, _ := filepath.Abs(o.Bundle)
		run = &corpus.TrainRun{
			ID: id, Host: o.Target.Host, Port: o.Target.Port, User: o.Target.User,
			RemoteDir: remoteDir, Bundle: abs, BundleHash: hex.EncodeToString(sum[:]),
			IdentityFiles: o.IdentityFiles, Status: "STARTING", CreatedAt: c.now().UTC(),
		}
		if o.Jump != nil {
			run.Jump = o.Jump.String()
		}
	} else if run.BundleHash != "" && run.BundleHash != hex.EncodeToString(sum[:]) && run.PID == 0 {
		// a different bundle under the same run: its files are uploaded over the old ones
		run.BundleHash = hex.EncodeToString(sum[:])
	}
	// what trained the model, for scoring its predictions later (correctly eval --train-run)
	run.SplitID, run.PromptVersions, run.BaseModel, run.TestRecords = m.SplitID, m.PromptVersions, m.BaseModel, m.TestRecords
	res := &PushResult{Run: run, Total: m.Size() + int64(len(mb))}
	if o.Watch.StopCommand != "" {
		if err := CheckStopCommand(o.Watch.StopCommand); err != nil {
			return res, err
		}
	}
	req, err := ReadRequirements(o.Bundle)
	if err != nil {
		return res, err
	}
	if !m.Has("watchdog.py") {
		// written by an older correctly: nothing on the box would keep the promises
		if o.Watch.StopBox || o.Watch.MaxDuration > 0 {
			return res, fmt.Errorf("bundle %s has no watchdog.py (an older correctly wrote it), so the box could not stop itself or the job: write the bundle again with `correctly train bundle`", o.Bundle)
		}
		o.Watch.StallTimeout = -1
	}
	dir := remoteRunDir(run.RemoteDir, run.ID)

	if err := c.save(ctx, run, "connecting"); err != nil {
		return res, err
	}
	conn, err := c.dialRun(ctx, run, o.AcceptNewHostKey)
	if err != nil {
		return res, fmt.Errorf("push %s: %w", run.ID, err)
	}
	s := &session{c: c, run: run, conn: conn}
	defer s.close()
	if err := c.save(ctx, run, "preflight"); err != nil {
		return res, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Path
	}
	pf, err := c.preflight(ctx, conn, dir, res.Total, names, o, req, m.Method)
	if err != nil {
		return res, fmt.Errorf("push %s to %s: %w", run.ID, o.Target, err)
	}
	launched, have := pf.launched, pf.have
	if launched {
		st, err := c.status(ctx, conn, run)
		if err != nil {
			return res, err
		}
		res.Status = st
		return res, c.save(ctx, run, "")
	}

	run.Box = pf.box
	res.GPUs = pf.facts.gpus
	if err := c.save(ctx, run, "uploading"); err != nil {
		return res, err
	}
	verified := map[string]bool{} // files the box hashed while they landed
	var done atomic.Int64
	var progressMu sync.Mutex
	progress := func(n int64) {
		d := done.Add(n)
		if o.Progress != nil {
			progressMu.Lock()
			o.Progress(d, res.Total)
			progressMu.Unlock()
		}
	}
	for {
		conn, err := s.get(ctx)
		if err == nil {
			done.Store(0)
			err = c.upload(ctx, conn, o.Bundle, dir, files, have, verified, res, progress)
			have = nil // after a lost link, look again
		}
		if err == nil {
			break
		}
		if !s.retry(ctx, err) {
			return res, fmt.Errorf("push %s: upload: %w (push the same run again to resume: correctly train push --run %s ...)", run.ID, err, run.ID)
		}
	}

	if err := c.save(ctx, run, "verifying"); err != nil {
		return res, err
	}
	// the parameters go up while the box hashes the bundle
	params := make(chan error, 1)
	go func() { params <- c.writeParams(conn, dir, o, pf) }()
	for round := 0; ; round++ {
		conn, err := s.get(ctx)
		if err != nil {
			return res, fmt.Errorf("push %s: verify: %w", run.ID, err)
		}
		check := files
		if round == 0 {
			check = nil
			for _, f := range files {
				if !verified[f.Path] {
					check = append(check, f)
				}
			}
		}
		bad, err := c.verify(ctx, conn, o.Bundle, dir, check, res)
		if err != nil {
			if s.retry(ctx, err) {
				continue
			}
			return res, fmt.Errorf("push %s: verify on the box: %w", run.ID, err)
		}
		if len(bad) == 0 {
			break
		}
		if round >= 2 {
			return res, fmt.Errorf("push %s: %s still differ from the bundle on the box after %d repairs: check the box's disk", run.ID, strings.Join(bad, ", "), round)
		}
		c.Log.Warn().Strs("files", bad).Str("run", run.ID).Msg("files on the box differ from the manifest; sending the wrong bytes again")
	}

	if err := <-params; err != nil {
		// perhaps the link was lost under it: send them again on the current connection
		conn, err2 := s.get(ctx)
		if err2 != nil {
			return res, fmt.Errorf("push %s: %w", run.ID, err)
		}
		if err := c.writeParams(conn, dir, o, pf); err != nil {
			return res, fmt.Errorf("push %s: %w", run.ID, err)
		}
	}
	conn, err = s.get(ctx)
	if err != nil {
		return res, fmt.Errorf("push %s: %w", run.ID, err)
	}
	if err := c.save(ctx, run, "launching"); err != nil {
		return res, err
	}
	launchedNow, err := c.launch(ctx, conn, dir, run)
	if err != nil {
		return res, fmt.Errorf("push %s: launch: %w (`correctly train status %s` tells whether it started)", run.ID, err, run.ID)
	}
	res.Launched = launchedNow
	run.Status = "STARTING"
	if err := c.save(ctx, run, "launched"); err != nil {
		return res, err
	}
	res.Status = Status{State: "STARTING", PID: run.PID}
	return res, nil
}

// preflightResult is what preflight learnt: whether the run was launched already, the sizes of the
// files on the box, the box's facts and the plan for it.
type preflightResult struct {
	launched bool
	have     map[string][2]int64
	facts    boxFacts
	box      *corpus.TrainBox
}

// preflight checks what the job needs on the box before anything is uploaded (tools, a GPU and a
// driver for the pinned torch, python for the pins, free disk for the bundle, the model and the
// outputs, a way to stop the box when asked), and reports whether the run was already launched. In
// the same round trip it creates the run's directories and learns the sizes of the files (and
// .part files) already there, for upload.
func (c *Client) preflight(ctx context.Context, conn *Conn, dir string, need int64, names []string, o PushOptions, req Requirements, method string) (*preflightResult, error) {
	sftpErr := make(chan error, 1)
	go func() { _, err := conn.SFTP(); sftpErr <- err }()
	script := `d=` + quote(dir) + `
for t in python3 setsid bash; do command -v "$t" >/dev/null 2>&1 && echo "have_$t=1"; done
mkdir -p -- "$d" || exit 1
if [ -d "$d/state/launch.lock" ]; then echo locked=1; exit 0; fi
df -Pk -- "$d" 2>/dev/null | { read -r _; read -r _ _ _ avail _; echo "avail_kib=$avail"; }
` + preflightBoxScript + `
if command -v python3 >/dev/null 2>&1; then printf 'plan='; python3 -c ` + quote(hashScript) + ` "$d" plan; echo; fi
exit 0`
	b, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	out, err := conn.Run(ctx, script, bytes.NewReader(b))
	var problems []string
	if err := <-sftpErr; err != nil {
		problems = append(problems, err.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("preflight: create %s on the box: %w", dir, err)
	}
	kv := parseKV(out)
	if kv["locked"] == "1" {
		return &preflightResult{launched: true}, nil
	}
	for _, tool := range []string{"python3", "setsid", "bash"} {
		if kv["have_"+tool] != "1" {
			hint := map[string]string{
				"python3": "install python3 on the box (or use an image with PyTorch)",
				"setsid":  "install util-linux on the box",
				"bash":    "install bash on the box",
			}[tool]
			problems = append(problems, fmt.Sprintf("no %s on the box: %s", tool, hint))
		}
	}
	res := &preflightResult{facts: parseBoxFacts(kv)}
	problems = append(problems, checkBox(res.facts, o, req, need, method)...)
	box, err := stopPlan(res.facts, o.Watch)
	if err != nil {
		problems = append(problems, err.Error())
	}
	res.box = box
	if len(problems) > 0 {
		return nil, fmt.Errorf("preflight failed: %s", strings.Join(problems, "; "))
	}
	if p := kv["plan"]; p != "" {
		if err := json.Unmarshal([]byte(p), &res.have); err != nil {
			return nil, fmt.Errorf("preflight: read file sizes from the box: %w", err)
		}
	}
	return res, nil
}

func parseKV(b []byte) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// upload sends each file into a .part file, resumed from the remote size less one window of
// concurrent writes (which may have left holes), then renames it into place. Files already in place
// at full size are skipped here and checked by verify. Big files go one at a time, each with many
// writes in flight; small ones go several at once, so their round trips overlap.
func (c *Client) upload(ctx context.Context, conn *Conn, bundle, dir string, files []FileEntry, have map[string][2]int64, verified map[string]bool, res *PushResult, progress func(int64)) error {
	sc, err := conn.SFTP()
	if err != nil {
		return err
	}
	if have == nil {
		// one round trip creates the directories and says what is already there
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = f.Path
		}
		if err := remoteHashes(ctx, conn, dir, "plan", names, &have); err != nil {
			return fmt.Errorf("look at %s on the box: %w", dir, err)
		}
	}
	var big, small []FileEntry
	for _, f := range files {
		if h, ok := have[f.Path]; ok && h[0] == f.Size {
			res.Skipped += f.Size
			progress(f.Size)
			continue
		}
		if f.Size >= 4<<20 {
			big = append(big, f)
		} else {
			small = append(small, f)
		}
	}
	var mu sync.Mutex
	send := func(f FileEntry, follow bool) error {
		var r PushResult
		part := int64(-1)
		if h, ok := have[f.Path]; ok {
			part = h[1]
		}
		fconn := conn
		if !follow {
			fconn = nil
		}
		ok, err := c.uploadFollowed(ctx, fconn, sc, filepath.Join(bundle, filepath.FromSlash(f.Path)), path.Join(dir, f.Path), dir, f, part, &r, progress)
		mu.Lock()
		res.Sent += r.Sent
		res.Skipped += r.Skipped
		if ok {
			verified[f.Path] = true
		}
		mu.Unlock()
		if err != nil {
			return conn.wrap(fmt.Errorf("upload %s: %w", f.Path, err))
		}
		return nil
	}
	sort.SliceStable(big, func(i, j int) bool { return big[i].Size > big[j].Size })
	for _, f := range big {
		if err := send(f, true); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, f := range small {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return send(f, false)
		})
	}
	return g.Wait()
}

// uploadFile sends one file through remote+".part", whose current size (-1: none) says where to
// resume, then renames it into place. Its bytes are checked on the box afterwards (verify).
func (c *Client) uploadFile(ctx context.Context, sc *sftp.Client, local, remote string, f FileEntry, partSize int64, res *PushResult, progress func(int64)) error {
	_, err := c.uploadFollowed(ctx, nil, sc, local, remote, "", f, partSize, res, progress)
	return err
}

// uploadFollowed is uploadFile that, given conn, has the box hash a fresh upload as it lands (see
// followScript) and reports whether the box's bytes matched the manifest. rel is the file's path
// in the run directory dir... passed as remote's relative form for the follower.
func (c *Client) uploadFollowed(ctx context.Context, conn *Conn, sc *sftp.Client, local, remote, rootDir string, f FileEntry, partSize int64, res *PushResult, progress func(int64)) (bool, error) {
	size := f.Size
	part := remote + ".part"
	var off int64
	if partSize > 0 && partSize <= size {
		off = max(0, partSize-resumeWindow)
	}
	lf, err := os.Open(local)
	if err != nil {
		return false, err
	}
	defer lf.Close()
	flags := os.O_WRONLY | os.O_CREATE // never O_APPEND: writes go to explicit offsets
	if off == 0 {
		flags |= os.O_TRUNC
	}
	rf, err := sc.OpenFile(part, flags)
	if err != nil {
		return false, err
	}
	defer rf.Close()
	var fo *follower
	if conn != nil && off == 0 {
		fo = startFollower(conn, rootDir, strings.TrimPrefix(part, rootDir+"/"), size)
		defer fo.abort()
	}
	if _, err := rf.Seek(off, io.SeekStart); err != nil {
		return false, err
	}
	res.Skipped += off
	progress(off)
	stop := context.AfterFunc(ctx, func() { rf.Close() })
	defer stop()
	n, err := rf.ReadFrom(&sizedReader{r: io.NewSectionReader(lf, off, size-off), n: size - off, progress: progress})
	res.Sent += n
	if err != nil {
		return false, err
	}
	if n != size-off {
		return false, fmt.Errorf("%w: %s changed since the bundle was written: write the bundle again", errLocalChanged, local)
	}
	if err := rf.Close(); err != nil {
		return false, err
	}
	verified := fo.finish(ctx) == f.SHA256
	return verified, rename(sc, part, remote)
}

func rename(sc *sftp.Client, from, to string) error {
	if _, ok := sc.HasExtension("posix-rename@openssh.com"); ok {
		return sc.PosixRename(from, to)
	}
	_ = sc.Remove(to)
	return sc.Rename(from, to)
}

var errLocalChanged = errors.New("local bundle changed")

// follower is a followScript session on the box; nil (when it could not start) hashes nothing.
type follower struct {
	sess  *ssh.Session
	stdin io.WriteCloser
	out   bytes.Buffer
	done  chan error
}

func startFollower(conn *Conn, root, rel string, size int64) *follower {
	sess, err := conn.SSH.NewSession()
	if err != nil {
		return nil
	}
	fo := &follower{sess: sess, done: make(chan error, 1)}
	if fo.stdin, err = sess.StdinPipe(); err != nil {
		sess.Close()
		return nil
	}
	sess.Stdout = &fo.out
	if err := sess.Start("python3 -c " + quote(followScript) + " " + quote(root)); err != nil {
		sess.Close()
		return nil
	}
	req, _ := json.Marshal(map[string]any{"path": rel, "size": size, "window": resumeWindow})
	if _, err := fo.stdin.Write(append(req, '\n')); err != nil {
		sess.Close()
		return nil
	}
	go func() { fo.done <- sess.Wait() }()
	return fo
}

// finish tells the follower that every write landed and returns its digest ("" on any trouble).
func (fo *follower) finish(ctx context.Context) string {
	if fo == nil {
		return ""
	}
	fo.stdin.Close()
	select {
	case err := <-fo.done:
		if err != nil {
			return ""
		}
		return strings.TrimSpace(fo.out.String())
	case <-ctx.Done():
		return ""
	}
}

func (fo *follower) abort() {
	if fo != nil {
		fo.sess.Close()
	}
}

// sizedReader tells sftp how much is left, so that it issues concurrent writes, and counts progress.
type sizedReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.progress(int64(n))
	}
	return n, err
}

func (s *sizedReader) Size() int64 { return s.n }

// remoteHashes runs hashScript on the box.
func remoteHashes(ctx context.Context, conn *Conn, root, mode string, in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	stdout, err := conn.Run(ctx, "python3 -c "+quote(hashScript)+" "+quote(root)+" "+quote(mode), bytes.NewReader(b))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		return fmt.Errorf("read hashes from the box: %w", err)
	}
	return nil
}

const repairBlock = 1 << 20

// verify hashes every file on the box and repairs those that differ from the manifest: a file of
// the wrong size is sent whole again, one of the right size only in the 1 MiB blocks that differ.
// It returns the files that were wrong (and have been repaired, to be checked again).
func (c *Client) verify(ctx context.Context, conn *Conn, bundle, dir string, files []FileEntry, res *PushResult) ([]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Path
	}
	var got map[string]*[2]any
	if err := remoteHashes(ctx, conn, dir, "files", names, &got); err != nil {
		return nil, err
	}
	sc, err := conn.SFTP()
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, f := range files {
		g := got[f.Path]
		if g != nil {
			if size, _ := g[0].(float64); int64(size) == f.Size && g[1] == f.SHA256 {
				continue
			}
		}
		bad = append(bad, f.Path)
		local := filepath.Join(bundle, filepath.FromSlash(f.Path))
		remote := path.Join(dir, f.Path)
		// The bytes are only read, not hashed, on the way up: the box's hash checks them. When it
		// differs, the local file may be what changed.
		if sum, size, err := fileSHA256(local); err != nil || sum != f.SHA256 || size != f.Size {
			return nil, fmt.Errorf("%w: %s changed since the bundle was written: write the bundle again", errLocalChanged, local)
		}
		if g == nil || int64(g[0].(float64)) != f.Size {
			n := res.Sent
			if err := c.uploadFile(ctx, sc, local, remote, f, -1, res, func(int64) {}); err != nil {
				return nil, conn.wrap(fmt.Errorf("upload %s again: %w", f.Path, err))
			}
			res.Repaired += res.Sent - n
			continue
		}
		if err := c.repairBlocks(ctx, conn, sc, local, dir, f, res); err != nil {
			return nil, conn.wrap(fmt.Errorf("repair %s: %w", f.Path, err))
		}
	}
	return bad, nil
}

func (c *Client) repairBlocks(ctx context.Context, conn *Conn, sc *sftp.Client, local, dir string, f FileEntry, res *PushResult) error {
	var remote []string
	if err := remoteHashes(ctx, conn, dir, "blocks", map[string]any{"path": f.Path, "block": repairBlock}, &remote); err != nil {
		return err
	}
	lf, err := os.Open(local)
	if err != nil {
		return err
	}
	defer lf.Close()
	rf, err := sc.OpenFile(path.Join(dir, f.Path), os.O_WRONLY)
	if err != nil {
		return err
	}
	defer rf.Close()
	buf := make([]byte, repairBlock)
	for i := 0; int64(i)*repairBlock < f.Size; i++ {
		n, err := lf.ReadAt(buf, int64(i)*repairBlock)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		sum := sha256.Sum256(buf[:n])
		if i < len(remote) && remote[i] == hex.EncodeToString(sum[:]) {
			continue
		}
		if _, err := rf.WriteAt(buf[:n], int64(i)*repairBlock); err != nil {
			return err
		}
		res.Repaired += int64(n)
		res.Sent += int64(n)
	}
	return rf.Close()
}

// writeParams sends the job's parameters as files: secrets (0600, never on a command line), the
// no-install flag, the heartbeat period, and what the watchdog enforces (state/watch.json, and the
// user's stop command as a 0600 file).
func (c *Client) writeParams(conn *Conn, dir string, o PushOptions, pf *preflightResult) error {
	sc, err := conn.SFTP()
	if err != nil {
		return err
	}
	state := path.Join(dir, "state")
	if err := sc.MkdirAll(path.Join(state, "secrets")); err != nil {
		return fmt.Errorf("create %s on the box: %w", state, err)
	}
	if err := sc.Chmod(path.Join(state, "secrets"), 0o700); err != nil {
		return fmt.Errorf("protect the secrets directory on the box: %w", err)
	}
	names := make([]string, 0, len(o.Secrets))
	for n := range o.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := writeRemote(sc, path.Join(state, "secrets", n), []byte(o.Secrets[n]), 0o600); err != nil {
			return fmt.Errorf("send secret %s: %w", n, err)
		}
	}
	noInstall := path.Join(state, "no_install")
	if o.NoInstall {
		if err := writeRemote(sc, noInstall, nil, 0o644); err != nil {
			return fmt.Errorf("send --no-install: %w", err)
		}
	} else {
		_ = sc.Remove(noInstall)
	}
	watch, stopCmd := path.Join(state, "watch.json"), path.Join(state, "stop_command")
	if box := pf.box; box != nil && (box.MaxDuration > 0 || box.StallTimeout > 0 || box.Stop != "") {
		b, err := json.Marshal(c.watchParams(box, pf.facts))
		if err != nil {
			return err
		}
		if box.Stop == "command" {
			if err := writeRemote(sc, stopCmd, []byte(o.Watch.StopCommand+"\n"), 0o600); err != nil {
				return fmt.Errorf("send --stop-command: %w", err)
			}
		}
		if err := writeRemote(sc, watch, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("send the watchdog's parameters: %w", err)
		}
	} else {
		_ = sc.Remove(watch)
	}
	secs := int(c.heartbeat().Seconds())
	if secs < 1 {
		secs = 1
	}
	return writeRemote(sc, path.Join(state, "heartbeat_seconds"), []byte(strconv.Itoa(secs)+"\n"), 0o644)
}

// writeRemote writes a small file, restricting its mode before any byte is written.
func writeRemote(sc *sftp.Client, p string, b []byte, mode os.FileMode) error {
	f, err := sc.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Close()
}

// launch starts run.sh detached under the run's lock and records pid, start time and boot id. It
// returns false when the lock was already taken (the run was launched before).
func (c *Client) launch(ctx context.Context, conn *Conn, dir string, run *corpus.TrainRun) (bool, error) {
	script := `cd -- ` + quote(dir) + ` || exit 97
mkdir -p state logs output
if ! mkdir state/launch.lock 2>/dev/null; then echo locked=1; else
setsid bash run.sh </dev/null >>logs/launch.log 2>&1 &
i=0
while [ ! -s state/pid ] && [ "$i" -lt 500 ]; do sleep 0.02; i=$((i+1)); done
fi
pid=$(cat state/pid 2>/dev/null)
printf 'pid=%s\n' "$pid"
case $pid in ''|*[!0-9]*) ;; *) [ -r "/proc/$pid/stat" ] && printf 'stat=%s\n' "$(tr '\n' ' ' <"/proc/$pid/stat")";; esac
printf 'boot=%s\n' "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
printf 'now=%s\n' "$(date +%s)"
`
	out, err := conn.Run(ctx, script, nil)
	if err != nil {
		return false, err
	}
	kv := parseKV(out)
	if now, err := strconv.ParseInt(kv["now"], 10, 64); err == nil && kv["locked"] != "1" && run.Box != nil && run.Box.MaxDuration > 0 {
		run.Box.Deadline = time.Unix(now, 0).Add(run.Box.MaxDuration).UTC()
	}
	if pid, err := strconv.Atoi(kv["pid"]); err == nil && (run.PID == 0 || kv["locked"] != "1") {
		run.PID = pid
		run.StartTime = statField(kv["stat"], 22)
		run.BootID = kv["boot"]
	}
	if run.PID == 0 {
		return kv["locked"] != "1", errors.New("run.sh did not start within 10s: see logs/launch.log in the run directory on the box")
	}
	return kv["locked"] != "1", nil
}

// statField returns field n (1-based, as in proc(5)) of a /proc/PID/stat line; the command name in
// field 2 may hold spaces and parentheses, so fields are counted after its last ')'.
func statField(stat string, n int) string {
	i := strings.LastIndex(stat, ")")
	if i < 0 || n < 3 {
		return ""
	}
	f := strings.Fields(stat[i+1:])
	if n-3 >= len(f) {
		return ""
	}
	return f[n-3]
}
