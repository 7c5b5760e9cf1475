package trainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Endpoint is an SSH address, user@host:port.
type Endpoint struct {
	User string
	Host string
	Port int
}

// ParseEndpoint parses user@host[:port] (an IPv6 host in brackets). defaultUser is used when there
// is no user@ part; the port defaults to 22.
func ParseEndpoint(s, defaultUser string) (Endpoint, error) {
	e := Endpoint{User: defaultUser, Port: 22}
	rest := s
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		e.User, rest = rest[:i], rest[i+1:]
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	} else {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return e, fmt.Errorf("host %q: port %q is not a number between 1 and 65535", s, port)
		}
		e.Port = p
	}
	e.Host = host
	if e.Host == "" || strings.ContainsAny(e.Host, " \t\r\n/") {
		return e, fmt.Errorf("host %q: use user@host or user@host:port", s)
	}
	if e.User == "" {
		return e, fmt.Errorf("host %q: no user: use user@host", s)
	}
	return e, nil
}

// Addr is host:port for dialing and for known_hosts.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

func (e Endpoint) String() string {
	if e.Port == 22 {
		return e.User + "@" + e.Host
	}
	return e.User + "@" + e.Addr()
}

// DialOptions says how to reach and authenticate to a box.
type DialOptions struct {
	Target Endpoint
	Jump   *Endpoint // optional bastion; its key is checked against known_hosts too

	KeyFiles    []string // private keys to offer, after the agent's (unencrypted or agent-held)
	AgentSocket string   // SSH_AUTH_SOCK; empty: no agent. The agent is never forwarded.

	KnownHostsFile   string // OpenSSH known_hosts to check host keys against
	AcceptNewHostKey bool   // an unknown host is recorded in KnownHostsFile instead of refused
	// PinnedHostKey, in authorized_keys format, is the only key the target may present when set;
	// known_hosts is then not consulted for the target.
	PinnedHostKey string
	// HashKnownHosts writes newly accepted hosts hashed (|1|salt|hash), as OpenSSH does with
	// HashKnownHosts yes.
	HashKnownHosts bool
	// Ciphers limits the ciphers offered, in order of preference; empty offers x/crypto's defaults.
	Ciphers []string

	HandshakeTimeout  time.Duration // TCP connect plus SSH handshake and auth; default 20s
	KeepaliveInterval time.Duration // keepalive@openssh.com period; default 15s
	KeepaliveMax      int           // unanswered keepalives before the link is declared dead; default 3
}

func (o DialOptions) withDefaults() DialOptions {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 20 * time.Second
	}
	if o.KeepaliveInterval <= 0 {
		o.KeepaliveInterval = 15 * time.Second
	}
	if o.KeepaliveMax <= 0 {
		o.KeepaliveMax = 3
	}
	return o
}

// HostKeyError is returned when the box's key is unknown or differs from the recorded one.
type HostKeyError struct {
	Addr     string
	Offered  string   // SHA256 fingerprint the server presented
	Expected []string // fingerprints on record; empty when the host is unknown
	Unknown  bool
}

func (e *HostKeyError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("host key of %s is unknown (offered %s): check the fingerprint with the provider, then rerun with --accept-new-host-key to record it", e.Addr, e.Offered)
	}
	return fmt.Sprintf("HOST KEY OF %s HAS CHANGED: expected %s, offered %s; someone may be intercepting the connection, or the box was rebuilt: verify with the provider before removing the old key from known_hosts",
		e.Addr, strings.Join(e.Expected, " or "), e.Offered)
}

// Conn is an authenticated SSH connection with keepalives.
type Conn struct {
	SSH     *ssh.Client
	HostKey ssh.PublicKey // the target's key as seen in the handshake

	jump      *ssh.Client
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex // guards dead
	dead      error
	sftpMu    sync.Mutex // guards sftp; held while the subsystem starts, so never under mu
	sftp      *sftp.Client
}

// Dial connects to o.Target (through o.Jump when set), checks its host key, authenticates and starts
// keepalives. A link that stops answering keepalives is closed, so every call on it fails instead
// of hanging.
func Dial(ctx context.Context, o DialOptions) (*Conn, error) {
	o = o.withDefaults()
	auth, closeAgent, err := authMethods(o)
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	c := &Conn{done: make(chan struct{})}
	if o.Jump != nil {
		jo := o
		jo.Target, jo.Jump, jo.PinnedHostKey = *o.Jump, nil, ""
		jcb, jalgos, err := hostKeyCheck(jo, nil)
		if err != nil {
			return nil, err
		}
		jc, err := handshake(ctx, o.HandshakeTimeout, func() (net.Conn, error) {
			d := net.Dialer{Timeout: o.HandshakeTimeout}
			return d.DialContext(ctx, "tcp", o.Jump.Addr())
		}, o.Jump.Addr(), clientConfig(*o.Jump, auth, jcb, jalgos, o))
		if err != nil {
			return nil, fmt.Errorf("connect to jump host %s: %w", o.Jump, err)
		}
		c.jump = jc
	}
	var seen ssh.PublicKey
	cb, algos, err := hostKeyCheck(o, &seen)
	if err != nil {
		c.closeJump()
		return nil, err
	}
	client, err := handshake(ctx, o.HandshakeTimeout, func() (net.Conn, error) {
		if c.jump != nil {
			return c.jump.DialContext(ctx, "tcp", o.Target.Addr())
		}
		d := net.Dialer{Timeout: o.HandshakeTimeout}
		return d.DialContext(ctx, "tcp", o.Target.Addr())
	}, o.Target.Addr(), clientConfig(o.Target, auth, cb, algos, o))
	if err != nil {
		c.closeJump()
		return nil, fmt.Errorf("connect to %s: %w", o.Target, err)
	}
	c.SSH, c.HostKey = client, seen
	go c.keepalive(o.KeepaliveInterval, o.KeepaliveMax)
	return c, nil
}

func clientConfig(e Endpoint, auth []ssh.AuthMethod, cb ssh.HostKeyCallback, algos []string, o DialOptions) *ssh.ClientConfig {
	cfg := &ssh.ClientConfig{User: e.User, Auth: auth, HostKeyCallback: cb, HostKeyAlgorithms: algos, Timeout: o.HandshakeTimeout}
	cfg.Ciphers = o.Ciphers
	return cfg
}

// handshake dials and runs the SSH handshake under one deadline: ssh.ClientConfig.Timeout covers
// only the TCP connect, and a server that accepts but never sends a banner would hang forever.
func handshake(ctx context.Context, timeout time.Duration, dial func() (net.Conn, error), addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	var timedOut bool
	var mu sync.Mutex
	timer := time.AfterFunc(timeout, func() {
		mu.Lock()
		timedOut = true
		mu.Unlock()
		conn.Close()
	})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	timer.Stop()
	stop()
	mu.Lock()
	to := timedOut
	mu.Unlock()
	if err != nil {
		conn.Close()
		if to {
			return nil, fmt.Errorf("no SSH handshake within %s (is it an SSH server? is the link up?): %w", timeout, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if to || ctx.Err() != nil {
		sc.Close()
		return nil, fmt.Errorf("no SSH handshake within %s", timeout)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

func authMethods(o DialOptions) ([]ssh.AuthMethod, func(), error) {
	var signers []ssh.Signer
	closeAgent := func() {}
	if o.AgentSocket != "" {
		if conn, err := net.Dial("unix", o.AgentSocket); err == nil {
			closeAgent = func() { conn.Close() }
			if s, err := agent.NewClient(conn).Signers(); err == nil {
				signers = append(signers, s...)
			}
		}
	}
	var problems []string
	for _, f := range o.KeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s, err := ssh.ParsePrivateKey(b)
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			problems = append(problems, f+" is passphrase-protected: add it to ssh-agent (ssh-add "+f+")")
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		signers = append(signers, s)
	}
	if len(signers) == 0 {
		closeAgent()
		msg := "no SSH key to log in with: pass -i KEY, load a key into ssh-agent, or create ~/.ssh/id_ed25519"
		if len(problems) > 0 {
			msg += " (" + strings.Join(problems, "; ") + ")"
		}
		return nil, nil, errors.New(msg)
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, closeAgent, nil
}

// hostKeyCheck returns the callback and the host-key algorithms to ask for. It follows OpenSSH: the
// algorithms of the keys on record for the address come first (and every certificate algorithm when
// a @cert-authority line matches it), the others after them, so that a box presenting a key of
// another type is told apart from a changed key rather than failing with "no common algorithm". A
// host certificate is accepted when a matching @cert-authority signed it and it is valid for the host;
// any other certificate is checked as its plain key, as OpenSSH does. The key recorded (and pinned)
// is always the plain key.
func hostKeyCheck(o DialOptions, seen *ssh.PublicKey) (ssh.HostKeyCallback, []string, error) {
	addr := o.Target.Addr()
	record := func(k ssh.PublicKey) {
		if seen != nil {
			*seen = k
		}
	}
	if o.PinnedHostKey != "" {
		pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(o.PinnedHostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("pinned host key of %s: %w", addr, err)
		}
		cb := func(_ string, _ net.Addr, k ssh.PublicKey) error {
			k = plainKey(k)
			if !bytes.Equal(k.Marshal(), pinned.Marshal()) {
				return &HostKeyError{Addr: addr, Offered: ssh.FingerprintSHA256(k), Expected: []string{ssh.FingerprintSHA256(pinned)}}
			}
			record(k)
			return nil
		}
		return cb, orderHostKeyAlgorithms([]string{pinned.Type()}, false), nil
	}
	if o.KnownHostsFile == "" {
		return nil, nil, errors.New("no known_hosts file to check the host key against")
	}
	if _, err := os.Stat(o.KnownHostsFile); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(o.KnownHostsFile), 0o700); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", filepath.Dir(o.KnownHostsFile), err)
		}
		if err := os.WriteFile(o.KnownHostsFile, nil, 0o600); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", o.KnownHostsFile, err)
		}
	}
	db, err := readKnownHosts(o.KnownHostsFile)
	if err != nil {
		return nil, nil, err
	}
	caMatches := len(db.want(db.authorities, addr)) > 0
	var types []string
	for _, w := range db.want(db.keys, addr) {
		types = append(types, w.Key.Type())
	}
	algos := orderHostKeyAlgorithms(types, caMatches)
	cb := func(hostname string, remote net.Addr, k ssh.PublicKey) error {
		if cert, ok := k.(*ssh.Certificate); ok {
			if db.revoked(hostname, remote, cert.Key) || db.revoked(hostname, remote, cert.SignatureKey) {
				return fmt.Errorf("host key of %s is revoked in %s: the box must not be used", addr, o.KnownHostsFile)
			}
			if err := db.checkCert(hostname, remote, cert); err == nil {
				record(cert.Key)
				return nil
			}
			// Like OpenSSH: a certificate no authority on record vouches for (or an invalid one)
			// counts as its plain key.
			k = cert.Key
		}
		err := db.keys(hostname, remote, k)
		if err == nil {
			record(k)
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		if errors.As(err, &re) {
			return fmt.Errorf("host key of %s (%s) is revoked in %s: the box must not be used", addr, ssh.FingerprintSHA256(k), o.KnownHostsFile)
		}
		if !errors.As(err, &ke) {
			return fmt.Errorf("check host key of %s: %w", addr, err)
		}
		if len(ke.Want) > 0 {
			var want []string
			for _, w := range ke.Want {
				want = append(want, w.Key.Type()+" "+ssh.FingerprintSHA256(w.Key))
			}
			return &HostKeyError{Addr: addr, Offered: k.Type() + " " + ssh.FingerprintSHA256(k), Expected: want}
		}
		if !o.AcceptNewHostKey {
			return &HostKeyError{Addr: addr, Offered: ssh.FingerprintSHA256(k), Unknown: true}
		}
		host := knownhosts.Normalize(addr)
		if o.HashKnownHosts {
			host = knownhosts.HashHostname(host)
		}
		f, err := os.OpenFile(o.KnownHostsFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("record host key of %s: %w", addr, err)
		}
		defer f.Close()
		if _, err := fmt.Fprintln(f, knownhosts.Line([]string{host}, k)); err != nil {
			return fmt.Errorf("record host key of %s: %w", addr, err)
		}
		record(k)
		return nil
	}
	return cb, algos, nil
}

// plainKey is the key a certificate certifies, or k itself.
func plainKey(k ssh.PublicKey) ssh.PublicKey {
	if cert, ok := k.(*ssh.Certificate); ok {
		return cert.Key
	}
	return k
}

// knownHostsDB holds a known_hosts file split the way OpenSSH reads it: host keys (with @revoked
// lines), and @cert-authority keys, which vouch for host certificates only and are never taken
// for a host's own key. (x/crypto's knownhosts keeps both in one list.)
type knownHostsDB struct {
	keys        ssh.HostKeyCallback
	authorities ssh.HostKeyCallback
}

func readKnownHosts(file string) (*knownHostsDB, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read known hosts %s: %w", file, err)
	}
	var keys, cas bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if rest, ok := bytes.CutPrefix(t, []byte("@cert-authority")); ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			cas.Write(bytes.TrimSpace(rest))
			cas.WriteByte('\n')
			keys.WriteByte('\n') // keep line numbers
			continue
		}
		keys.Write(line)
		keys.WriteByte('\n')
	}
	db := &knownHostsDB{}
	if db.keys, err = knownHostsCallback(file, keys.Bytes()); err != nil {
		return nil, err
	}
	if db.authorities, err = knownHostsCallback(file, cas.Bytes()); err != nil {
		return nil, err
	}
	return db, nil
}

// knownHostsCallback parses known_hosts content (knownhosts only reads files).
func knownHostsCallback(name string, content []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "correctly-known-hosts-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(content); err != nil {
		return nil, err
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("read known hosts %s: %s", name, strings.ReplaceAll(err.Error(), f.Name(), name))
	}
	return cb, nil
}

// want lists the keys cb holds for addr.
func (db *knownHostsDB) want(cb ssh.HostKeyCallback, addr string) []knownhosts.KnownKey {
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probeKey{}); errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

func (db *knownHostsDB) revoked(hostname string, remote net.Addr, k ssh.PublicKey) bool {
	var re *knownhosts.RevokedError
	return errors.As(db.keys(hostname, remote, k), &re)
}

// checkCert accepts a host certificate signed by an authority on record for the host, valid now
// and naming the host as a principal.
func (db *knownHostsDB) checkCert(hostname string, remote net.Addr, cert *ssh.Certificate) error {
	if cert.CertType != ssh.HostCert {
		return errors.New("not a host certificate")
	}
	if err := db.authorities(hostname, remote, cert.SignatureKey); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(hostname)
	if err != nil {
		host = hostname
	}
	var checker ssh.CertChecker
	return checker.CheckCert(host, cert)
}

// orderHostKeyAlgorithms lists every supported host-key algorithm, those for the known key types
// (and, when an authority matches, all certificate algorithms) first, keeping the default order.
func orderHostKeyAlgorithms(knownTypes []string, certAuthority bool) []string {
	known := map[string]bool{}
	for _, t := range knownTypes {
		known[t] = true
	}
	var first, last []string
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		cert := strings.HasSuffix(a, "-cert-v01@openssh.com")
		if cert && certAuthority || known[keyTypeOfAlgorithm(a)] {
			first = append(first, a)
		} else {
			last = append(last, a)
		}
	}
	return append(first, last...)
}

// keyTypeOfAlgorithm maps a host-key algorithm (rsa-sha2-256, ssh-ed25519-cert-v01@openssh.com) to
// the type of the plain key it presents (ssh-rsa, ssh-ed25519).
func keyTypeOfAlgorithm(a string) string {
	a = strings.TrimSuffix(a, "-cert-v01@openssh.com")
	if a == ssh.KeyAlgoRSASHA256 || a == ssh.KeyAlgoRSASHA512 {
		return ssh.KeyAlgoRSA
	}
	return a
}

// probeKey is a key that no known_hosts entry matches.
type probeKey struct{}

func (probeKey) Type() string                        { return "correctly-probe" }
func (probeKey) Marshal() []byte                     { return []byte("correctly-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

func (c *Conn) keepalive(every time.Duration, max int) {
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.SSH.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-c.done:
			return
		case err := <-reply:
			if err != nil {
				c.fail(fmt.Errorf("connection lost: %w", err))
				return
			}
			missed = 0
		case <-time.After(every):
			missed++
			if missed >= max {
				c.fail(fmt.Errorf("connection dead: %d keepalives unanswered over %s", missed, time.Duration(missed)*every))
				return
			}
		}
	}
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.dead == nil {
		c.dead = err
	}
	c.mu.Unlock()
	c.Close()
}

// Err returns why the connection was declared dead, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// wrap adds the reason the link died, if it did, to an error from a call on it.
func (c *Conn) wrap(err error) error {
	if err == nil {
		return nil
	}
	if d := c.Err(); d != nil {
		return fmt.Errorf("%w (%v)", err, d)
	}
	return err
}

// Close closes the connection (and the jump connection). It is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		if c.SSH != nil {
			c.SSH.Close() // first: it unblocks an SFTP start holding sftpMu
		}
		c.closeJump()
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
		}
		c.sftpMu.Unlock()
	})
	return nil
}

func (c *Conn) closeJump() {
	if c.jump != nil {
		c.jump.Close()
	}
}

// SFTP returns the connection's SFTP client, opening it on first use with concurrent reads and
// writes (64 requests of 32 KiB in flight per file).
func (c *Conn) SFTP() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	s, err := sftp.NewClient(c.SSH, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(sftpConcurrency), sftp.MaxPacket(sftpPacket))
	if err != nil {
		return nil, c.wrap(fmt.Errorf("start the SFTP subsystem: %w (the box must offer SFTP: `Subsystem sftp` in sshd_config)", err))
	}
	select {
	case <-c.done: // closed meanwhile: Close did not see this client
		s.Close()
		return nil, c.wrap(errors.New("start the SFTP subsystem: connection closed"))
	default:
	}
	c.sftp = s
	return s, nil
}

const (
	sftpConcurrency = 64
	sftpPacket      = 32 * 1024
	// resumeWindow is how much before the remote size a resumed upload starts: concurrent writes
	// may have left holes in the last window before a cut.
	resumeWindow = sftpConcurrency * sftpPacket
)

// ExitError is a remote command that ran and exited non-zero.
type ExitError struct {
	Cmd    string
	Status int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("remote command exited with status %d", e.Status)
	}
	return fmt.Sprintf("remote command exited with status %d: %s", e.Status, EscapeText(msg))
}

// Limits on what Run keeps of a remote command's output: a hostile box could send without end.
const (
	maxRunStdout = 64 << 20
	maxRunStderr = 64 << 10
)

// capBuffer keeps the first max bytes written to it and counts the rest.
type capBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
		c.dropped += int64(len(p) - min(room, len(p)))
	} else {
		c.dropped += int64(len(p))
	}
	return len(p), nil
}

// Run runs cmd on the box with stdin (may be nil) and returns its stdout. Every dynamic token in
// cmd must already be quoted (see quote). A non-zero exit is an *ExitError.
func (c *Conn) Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	s, err := c.SSH.NewSession()
	if err != nil {
		return nil, c.wrap(fmt.Errorf("open SSH session: %w", err))
	}
	defer s.Close()
	out, stderr := &capBuffer{max: maxRunStdout}, &capBuffer{max: maxRunStderr}
	s.Stdout, s.Stderr, s.Stdin = out, stderr, stdin
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	err = s.Run(cmd)
	if ctx.Err() != nil {
		return out.buf.Bytes(), ctx.Err()
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return out.buf.Bytes(), &ExitError{Cmd: cmd, Status: ee.ExitStatus(), Stderr: stderr.buf.String()}
	}
	if err != nil {
		return out.buf.Bytes(), c.wrap(fmt.Errorf("run remote command: %w", err))
	}
	if out.dropped > 0 {
		return nil, fmt.Errorf("the box answered with more than %d MiB; refusing it (a broken or hostile box?)", maxRunStdout>>20)
	}
	return out.buf.Bytes(), nil
}
