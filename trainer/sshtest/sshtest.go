// Package sshtest runs a real OpenSSH sshd on 127.0.0.1 for tests, with its own host key and a
// generated client key, a bin directory first on the PATH of its sessions (for fake nvidia-smi,
// runpodctl or vastai), and a TCP relay that can delay, throttle, cut, blackhole, or accept without
// a banner, and counts the bytes it carries each way. Tests in trainer and cmd/correctly use it; it
// needs openssh-server installed.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Box is a real OpenSSH sshd on 127.0.0.1 with its own host key, accepting one generated
// client key, running as the current user.
type Box struct {
	Dir        string
	Port       int
	HostKey    ssh.PublicKey
	ClientKey  string // private key file
	KnownHosts string // known_hosts holding HostKey for 127.0.0.1:Port
	User       string
	// Bin is first on the PATH of every session: Tool puts fake commands there.
	Bin string
	// HostCertificate is the host certificate sshd presents (HostCert), or nil.
	HostCertificate *ssh.Certificate

	cmd *exec.Cmd
}

// Option changes how StartBox sets up the box.
type Option func(*options)

type options struct {
	env      []string
	caKey    string
	certName []string
}

// Env sets an environment variable in every session on the box (sshd's SetEnv), like the variables
// a provider sets in its containers (RUNPOD_POD_ID, CONTAINER_ID).
func Env(name, value string) Option {
	return func(o *options) { o.env = append(o.env, name+"="+value) }
}

// HostCert has sshd present a host certificate for its key, signed by the CA private key in
// caKeyFile, for the given principals (host names).
func HostCert(caKeyFile string, principals ...string) Option {
	return func(o *options) { o.caKey, o.certName = caKeyFile, principals }
}

// StartBox starts sshd and stops it when the test ends.
func StartBox(tb testing.TB, opts ...Option) *Box {
	tb.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		tb.Fatalf("no sshd: install it (apt-get install -y openssh-server): %v", err)
	}
	dir := tb.TempDir()
	b := &Box{Dir: dir, User: currentUser(tb)}
	hostKeyFile := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKeyFile).CombinedOutput(); err != nil {
		tb.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pubLine, err := os.ReadFile(hostKeyFile + ".pub")
	if err != nil {
		tb.Fatal(err)
	}
	b.HostKey, _, _, _, err = ssh.ParseAuthorizedKey(pubLine)
	if err != nil {
		tb.Fatal(err)
	}
	certLine := ""
	if o.caKey != "" {
		if out, err := exec.Command("ssh-keygen", "-q", "-s", o.caKey, "-I", "sshtest-box", "-h", "-n", strings.Join(o.certName, ","),
			"-V", "-5m:+1h", hostKeyFile+".pub").CombinedOutput(); err != nil {
			tb.Fatalf("ssh-keygen -s (host certificate): %v: %s", err, out)
		}
		certFile := hostKeyFile + "-cert.pub"
		cb, err := os.ReadFile(certFile)
		if err != nil {
			tb.Fatal(err)
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey(cb)
		if err != nil {
			tb.Fatal(err)
		}
		b.HostCertificate = k.(*ssh.Certificate)
		certLine = "HostCertificate " + certFile + "\n"
	}
	b.Bin = filepath.Join(dir, "bin")
	if err := os.MkdirAll(b.Bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	b.ClientKey = writeClientKey(tb, filepath.Join(dir, "id_ed25519"))
	signer := loadSigner(tb, b.ClientKey)
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	}
	b.Port = FreePort(tb)
	env := []string{"SHLVL=1", "PATH=" + b.Bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	env = append(env, o.env...)
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
%sAuthorizedKeysFile %s
PidFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
AllowTcpForwarding yes
MaxSessions 64
MaxStartups 64
LogLevel ERROR
Subsystem sftp internal-sftp
# SHLVL=1 keeps bash from sourcing the user's ~/.bashrc for commands sent over SSH (bash does that
# only at shell level 1), so the developer's shell setup neither slows nor changes the tests. PATH
# starts with the box's bin directory.
SetEnv %s
`, b.Port, hostKeyFile, certLine, authKeys, filepath.Join(dir, "sshd.pid"), strings.Join(env, " "))
	cfgFile := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfgFile)
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start sshd: %v", err)
	}
	b.cmd = cmd
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port), time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4)
			_, err = c.Read(buf)
			c.Close()
			if err == nil && string(buf) == "SSH-" {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			tb.Fatalf("sshd did not come up on port %d: %v\n%s", b.Port, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.KnownHosts = filepath.Join(dir, "known_hosts")
	b.TrustOn(tb, b.Port)
	return b
}

// Tool writes an executable shell script named name into the box's bin directory, first on the
// PATH of its sessions: a fake nvidia-smi, runpodctl or vastai.
func (b *Box) Tool(tb testing.TB, name, script string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(b.Bin, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		tb.Fatal(err)
	}
}

// RemoveTool deletes a command Tool wrote.
func (b *Box) RemoveTool(tb testing.TB, name string) {
	tb.Helper()
	if err := os.Remove(filepath.Join(b.Bin, name)); err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
}

// GPU puts a fake nvidia-smi on the box that reports one GPU with the given name, memory (MiB) and
// driver version for `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`.
func (b *Box) GPU(tb testing.TB, name string, memMiB int, driver string) {
	tb.Helper()
	b.Tool(tb, "nvidia-smi", fmt.Sprintf(`case "$*" in
*--query-gpu=*) printf '%%s, %%d, %%s\n' %q %d %q ;;
*) echo "NVIDIA-SMI %s   Driver Version: %s" ;;
esac
`, name, memMiB, driver, driver, driver))
}

// StopSSHD stops the box's sshd, as a provider's stop does: sessions already open live on, new
// connections are refused.
func (b *Box) StopSSHD() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Kill()
	}
}

// TrustOn records the box's host key for 127.0.0.1:port (the box itself or a relay in front of it).
func (b *Box) TrustOn(tb testing.TB, port int) {
	tb.Helper()
	f, err := os.OpenFile(b.KnownHosts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", port))}, b.HostKey))
}

func currentUser(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		tb.Fatalf("id -un: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func writeClientKey(tb testing.TB, path string) string {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func loadSigner(tb testing.TB, path string) ssh.Signer {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Relay is a TCP proxy in front of a test sshd that can delay, throttle, cut, blackhole, or accept
// without ever connecting upstream (so no banner arrives).
type Relay struct {
	Port   int
	target string
	ln     net.Listener

	delay    atomic.Int64                      // one way, in nanoseconds
	cutAfter atomic.Pointer[func(n int) int64] // see SetCutAfter

	rate      atomic.Int64 // bytes per second per direction; 0 is unlimited
	blackhole atomic.Bool
	noBanner  atomic.Bool
	conns     atomic.Int64
	Moved     atomic.Int64 // bytes carried in total
	// Up and Down count the bytes delivered from the client to sshd and back, on the wire (SSH
	// packets, encrypted), over every connection.
	Up, Down atomic.Int64

	mu   sync.Mutex
	open []net.Conn
}

// StartRelay listens on a free 127.0.0.1 port and forwards to targetPort until the test ends.
func StartRelay(tb testing.TB, targetPort int) *Relay {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Relay{Port: l.Addr().(*net.TCPAddr).Port, target: fmt.Sprintf("127.0.0.1:%d", targetPort), ln: l}
	tb.Cleanup(r.Close)
	go r.serve()
	return r
}

// Close stops accepting and drops every connection at once, like a dead link.
func (r *Relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
}

func (r *Relay) track(c net.Conn) {
	r.mu.Lock()
	r.open = append(r.open, c)
	r.mu.Unlock()
}

func (r *Relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.track(c)
		n := int(r.conns.Add(1) - 1)
		if r.noBanner.Load() {
			continue // hold it open, say nothing
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.track(up)
		var limit int64
		if f := r.cutAfter.Load(); f != nil {
			limit = (*f)(n)
		}
		var moved atomic.Int64
		var once sync.Once
		cut := func() {
			once.Do(func() {
				// FIN first and close a little later, so data already sent is not lost to an RST
				c.(*net.TCPConn).CloseWrite()
				up.(*net.TCPConn).CloseWrite()
				time.AfterFunc(200*time.Millisecond, func() { c.Close(); up.Close() })
			})
		}
		go r.pipe(up, c, limit, &moved, cut, &r.Up)
		go r.pipe(c, up, limit, &moved, cut, &r.Down)
	}
}

type chunk struct {
	at time.Time
	b  []byte
}

func (r *Relay) pipe(dst, src net.Conn, limit int64, moved *atomic.Int64, cut func(), count *atomic.Int64) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now(), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer cut()
	start := time.Now()
	var sent int64
	for c := range q {
		for r.blackhole.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if d := time.Until(c.at.Add(time.Duration(r.delay.Load()))); d > 0 {
			time.Sleep(d)
		}
		b := c.b
		if limit > 0 {
			total := moved.Add(int64(len(b)))
			if total > limit {
				keep := int64(len(b)) - (total - limit)
				if keep > 0 {
					n, _ := dst.Write(b[:keep])
					count.Add(int64(n))
				}
				return
			}
		}
		n, err := dst.Write(b)
		count.Add(int64(n))
		if err != nil {
			return
		}
		r.Moved.Add(int64(len(b)))
		sent += int64(len(b))
		if rate := r.rate.Load(); rate > 0 {
			if d := time.Duration(float64(sent)/float64(rate)*float64(time.Second)) - time.Since(start); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// SetBlackhole stops (true) or resumes (false) delivering bytes in both directions on every
// connection, keeping them open: a link that silently died.
func (r *Relay) SetBlackhole(on bool) { r.blackhole.Store(on) }

// SetDelay delays every byte by d in each direction: the round trip grows by twice d.
func (r *Relay) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

// SetCutAfter sets, for the n-th connection accepted from now on (counting from 0), how many bytes
// (both directions together) it may carry before both sides are closed; 0 never cuts.
func (r *Relay) SetCutAfter(f func(n int) int64) { r.cutAfter.Store(&f) }

// SetRate throttles every connection to bytesPerSec in each direction; 0 removes the limit.
func (r *Relay) SetRate(bytesPerSec int64) { r.rate.Store(bytesPerSec) }

// SetNoBanner makes new connections be accepted and never answered.
func (r *Relay) SetNoBanner(on bool) { r.noBanner.Store(on) }

// Conns is the number of connections accepted so far.
func (r *Relay) Conns() int64 { return r.conns.Load() }
