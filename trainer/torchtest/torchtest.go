// Package torchtest runs a bundle's train.py for real, on the CPU, in tests: torch, transformers,
// accelerate and safetensors come from a Debian sid root that scripts/torch-root.sh builds (.ci/run
// does, and caches it on the machine), PEFT from ../shared/vendor/peft beside the repository, and the
// model is a tiny random one made from the bundle's own data (tiny_model.py). Each process runs with
// chroot in a mount namespace of its own (unshare), with /proc mounted there, offline: no network.
// It needs root; a missing root or PEFT fails the test with what to do.
package torchtest

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultRoot is where scripts/torch-root.sh builds the root and the tests look for it.
const DefaultRoot = "/var/cache/correctly/sid-root"

//go:embed tiny_model.py
var tinyModelScript []byte

//go:embed sitecustomize.py
var siteCustomize []byte

// Root is a chroot with torch and transformers, and the PEFT sources to put on PYTHONPATH.
type Root struct {
	Dir  string
	PEFT string
}

// Need returns the root named by CORRECTLY_TORCH_ROOT (default DefaultRoot) and the PEFT sources
// named by CORRECTLY_PEFT_DIR (default ../shared/vendor/peft beside the repository), failing the
// test with how to get them when either is missing.
func Need(tb testing.TB) *Root {
	tb.Helper()
	dir := os.Getenv("CORRECTLY_TORCH_ROOT")
	if dir == "" {
		dir = DefaultRoot
	}
	for _, p := range []string{"usr/bin/python3", "usr/lib/python3/dist-packages/torch", "usr/lib/python3/dist-packages/transformers"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			tb.Fatalf("no torch root at %s (CORRECTLY_TORCH_ROOT): %v\nbuild it with `bash scripts/torch-root.sh %s` as root (a Debian sid root with python3-torch, python3-transformers, python3-accelerate, python3-safetensors: about a minute and 1.7 GB), as .ci/run does", dir, err, dir)
		}
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("running train.py in the torch root %s needs chroot: run the tests as root (CI does)", dir)
	}
	peft := os.Getenv("CORRECTLY_PEFT_DIR")
	if peft == "" {
		peft = filepath.Join(repoRoot(), "..", "shared", "vendor", "peft")
	}
	if _, err := os.Stat(filepath.Join(peft, "peft", "__init__.py")); err != nil {
		tb.Fatalf("no PEFT sources at %s (CORRECTLY_PEFT_DIR): %v\nthe LoRA path needs ../shared/vendor/peft beside the repository (see ../shared/vendor/README.md)", peft, err)
	}
	return &Root{Dir: dir, PEFT: peft}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Workdir is a directory inside the root: Path is its name outside (for the test), Inside its name
// for processes in the root.
type Workdir struct {
	root   *Root
	Path   string
	Inside string
}

// Workdir makes a fresh directory under the root's /tmp holding a copy of PEFT and the test hooks;
// it is removed when the test ends.
func (r *Root) Workdir(tb testing.TB) *Workdir {
	tb.Helper()
	tmp := filepath.Join(r.Dir, "tmp")
	if err := os.MkdirAll(tmp, 0o1777); err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp(tmp, "correctly-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	w := &Workdir{root: r, Path: dir, Inside: "/tmp/" + filepath.Base(dir)}
	if err := copyTree(filepath.Join(r.PEFT, "peft"), filepath.Join(dir, "pylib", "peft")); err != nil {
		tb.Fatalf("copy PEFT into the root: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "hooks"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hooks", "sitecustomize.py"), siteCustomize, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tiny_model.py"), tinyModelScript, 0o644); err != nil {
		tb.Fatal(err)
	}
	return w
}

// CopyIn copies the directory src (a bundle written elsewhere) to rel in the workdir.
func (w *Workdir) CopyIn(tb testing.TB, src, rel string) string {
	tb.Helper()
	dst := filepath.Join(w.Path, rel)
	if err := copyTree(src, dst); err != nil {
		tb.Fatalf("copy %s into the torch root: %v", src, err)
	}
	return dst
}

// InsidePath is rel's name inside the root.
func (w *Workdir) InsidePath(rel string) string { return w.Inside + "/" + filepath.ToSlash(rel) }

// TinyModel makes a tiny random model and tokenizer from the data of the bundle at bundleRel into
// modelRel (both relative to the workdir) and returns the model's path inside the root.
func (w *Workdir) TinyModel(tb testing.TB, bundleRel, modelRel string) string {
	tb.Helper()
	cmd := w.Command(w.Inside, nil, "python3", w.InsidePath("tiny_model.py"), w.InsidePath(bundleRel), w.InsidePath(modelRel))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("make the tiny model: %v\n%s", err, out)
	}
	return w.InsidePath(modelRel)
}

// Command runs args in the root, in dir (a path inside it), with a clean offline environment plus
// env ("KEY=value"). The process is the chroot'ed program itself (everything before it execs), so
// killing its pid kills it.
func (w *Workdir) Command(dir string, env []string, args ...string) *exec.Cmd {
	vars := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + w.Inside,
		"LANG=C.UTF-8",
		"PYTHONPATH=" + w.InsidePath("hooks") + ":" + w.InsidePath("pylib"),
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
		"HF_HUB_OFFLINE=1",
		"TRANSFORMERS_OFFLINE=1",
		"HF_HUB_DISABLE_TELEMETRY=1",
		"TOKENIZERS_PARALLELISM=false",
	}
	vars = append(vars, env...)
	inner := "cd " + shellQuote(dir) + " && exec"
	for _, a := range args {
		inner += " " + shellQuote(a)
	}
	script := "mount -t proc proc " + shellQuote(filepath.Join(w.root.Dir, "proc")) + " && exec chroot " + shellQuote(w.root.Dir) +
		" /usr/bin/env -i"
	for _, v := range vars {
		script += " " + shellQuote(v)
	}
	script += " /bin/sh -c " + shellQuote(inner)
	return exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// Process is a running command whose output is collected line by line.
type Process struct {
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen chan struct{} // closed and replaced on every new line
	done chan struct{}
	err  error
}

// Start starts cmd with stdout and stderr together collected.
func Start(tb testing.TB, cmd *exec.Cmd) *Process {
	tb.Helper()
	r, wr := io.Pipe()
	cmd.Stdout, cmd.Stderr = wr, wr
	p := &Process{Cmd: cmd, seen: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %v: %v", cmd.Args, err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			close(p.seen)
			p.seen = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, r)
		<-exited
		close(p.done) // the process ended and every line of it was read
	}()
	go func() {
		p.err = cmd.Wait()
		wr.Close()
		close(exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Output is everything printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitFor waits until the output holds a line for which match is true and returns it, failing the
// test when the process ends first or after limit.
func (p *Process) WaitFor(tb testing.TB, limit time.Duration, what string, match func(line string) bool) string {
	tb.Helper()
	deadline := time.After(limit)
	for {
		p.mu.Lock()
		lines := strings.Split(p.out.String(), "\n")
		seen := p.seen
		p.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		select {
		case <-seen:
		case <-p.done:
			// a last look: the line may have come with the end
			p.mu.Lock()
			final := p.out.String()
			p.mu.Unlock()
			for _, l := range strings.Split(final, "\n") {
				if match(l) {
					return l
				}
			}
			tb.Fatalf("train.py ended (%v) before %s:\n%s", p.err, what, final)
		case <-deadline:
			tb.Fatalf("no %s after %s:\n%s", what, limit, p.Output())
		}
	}
}

// Wait waits for the process to end (failing the test after limit) and returns its exit code.
func (p *Process) Wait(tb testing.TB, limit time.Duration) int {
	tb.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.Cmd.Process.Kill()
		tb.Fatalf("%v still runs after %s:\n%s", p.Cmd.Args, limit, p.Output())
	}
	if p.Cmd.ProcessState == nil {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Run runs cmd to its end (failing after limit) and returns its exit code and output.
func Run(tb testing.TB, cmd *exec.Cmd, limit time.Duration) (int, string) {
	tb.Helper()
	p := Start(tb, cmd)
	code := p.Wait(tb, limit)
	return code, p.Output()
}

// String describes the root for logs.
func (r *Root) String() string { return fmt.Sprintf("torch root %s, PEFT %s", r.Dir, r.PEFT) }
