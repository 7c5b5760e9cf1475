package trainer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/correctly/correctly/trainer/sshtest"
)

func TestDialRunsACommandOnTheBox(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c := dialBox(t, b.dialOptions(0))
	out, err := c.Run(context.Background(), "echo hello", nil)
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("Run(echo hello) = %q, %v; want hello", out, err)
	}
	if !bytesEqualKey(c.HostKey, b.HostKey) {
		t.Errorf("HostKey = %s, want the box's %s", ssh.FingerprintSHA256(c.HostKey), ssh.FingerprintSHA256(b.HostKey))
	}
}

func bytesEqualKey(a, b ssh.PublicKey) bool {
	return a != nil && b != nil && string(a.Marshal()) == string(b.Marshal())
}

func TestDialRefusesAnUnknownHostWithoutTheFlag(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	o := b.dialOptions(0)
	o.KnownHostsFile = t.TempDir() + "/known_hosts"
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Unknown {
		t.Fatalf("Dial to an unknown host = %v, want an unknown-host HostKeyError", err)
	}
	if !strings.Contains(err.Error(), "--accept-new-host-key") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(b.HostKey)) {
		t.Errorf("error %q should name the flag and the offered fingerprint", err)
	}

	o.AcceptNewHostKey = true
	c := dialBox(t, o)
	c.Close()
	kh, _ := os.ReadFile(o.KnownHostsFile)
	if !strings.Contains(string(kh), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(b.HostKey)))) {
		t.Errorf("known_hosts after --accept-new-host-key = %q, want the box's key recorded", kh)
	}
	o.AcceptNewHostKey = false
	dialBox(t, o) // now known
}

func TestDialRefusesAChangedKeyNamingBothFingerprints(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	other := startBox(t)
	o := b.dialOptions(0)
	o.KnownHostsFile = other.KnownHosts // other's key recorded for other's port...
	other.trustOn(t, b.Port)            // ...and for b's port: b now presents a changed key
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || he.Unknown {
		t.Fatalf("Dial with a changed key = %v, want a changed-key HostKeyError", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(b.HostKey), ssh.FingerprintSHA256(other.HostKey)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name fingerprint %s", err, want)
		}
	}

	// a pinned key overrides known_hosts and is just as strict
	o.PinnedHostKey = string(ssh.MarshalAuthorizedKey(other.HostKey))
	if _, err := Dial(context.Background(), o); !errors.As(err, &he) {
		t.Errorf("Dial with a wrong pinned key = %v, want a HostKeyError", err)
	}
	o.PinnedHostKey = string(ssh.MarshalAuthorizedKey(b.HostKey))
	dialBox(t, o)
}

func TestDialGivesUpOnAServerThatSendsNoBanner(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	r.SetNoBanner(true)
	o := b.dialOptions(r.Port)
	o.HandshakeTimeout = 500 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := Dial(context.Background(), o)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no SSH handshake within") {
			t.Fatalf("Dial to a silent server = %v, want a handshake deadline error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Dial to a silent server still hangs after 30s; the handshake deadline does not work")
	}
}

func TestABlackholedLinkFailsWithinTheKeepaliveLimit(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	b.trustOn(t, r.Port)
	c := dialBox(t, b.dialOptions(r.Port))
	r.SetBlackhole(true)
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "sleep 60", nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || c.Err() == nil {
			t.Fatalf("Run over a blackholed link = %v (link error %v), want a dead-link error", err, c.Err())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run over a blackholed link still hangs after 30s; keepalives do not close it")
	}
}

func TestDialThroughAJumpHost(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	o := b.dialOptions(0)
	jump := b.endpoint(0) // the box forwards to itself
	o.Jump = &jump
	c := dialBox(t, o)
	out, err := c.Run(context.Background(), "echo via-jump", nil)
	if err != nil || string(out) != "via-jump\n" {
		t.Fatalf("Run through a jump host = %q, %v", out, err)
	}
}

// sshKeygen runs ssh-keygen -q -N "" -t typ -f FILE in a new directory and returns FILE.
func sshKeygen(t *testing.T, typ string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-N", "", "-t", typ, "-f", f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	return f
}

func publicKeyOf(t *testing.T, file string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDialAcceptsAHostCertificateSignedByAKnownAuthority(t *testing.T) {
	t.Parallel()
	ca := sshKeygen(t, "ed25519")
	b := testBox{sshtest.StartBox(t, sshtest.HostCert(ca, "127.0.0.1"))}
	o := b.dialOptions(0)
	caLine := "@cert-authority [127.0.0.1]:" + strconv.Itoa(b.Port) + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(publicKeyOf(t, ca))))
	o.KnownHostsFile = writeKnownHosts(t, caLine)
	c := dialBox(t, o) // no --accept-new-host-key: the authority vouches for the box
	if !bytesEqualKey(c.HostKey, b.HostKey) {
		t.Errorf("HostKey = %s %s, want the plain key the certificate certifies (%s), which later commands pin",
			c.HostKey.Type(), ssh.FingerprintSHA256(c.HostKey), ssh.FingerprintSHA256(b.HostKey))
	}
	if kh, _ := os.ReadFile(o.KnownHostsFile); string(kh) != caLine+"\n" {
		t.Errorf("known_hosts after a certified login = %q, want it unchanged", kh)
	}
}

func TestDialChecksAnUnvouchedCertificateAsItsPlainKey(t *testing.T) {
	t.Parallel()
	ca := sshKeygen(t, "ed25519")
	// the certificate names another host, so the authority does not vouch for this address
	b := testBox{sshtest.StartBox(t, sshtest.HostCert(ca, "other.example"))}
	caLine := "@cert-authority * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(publicKeyOf(t, ca))))

	o := b.dialOptions(0)
	o.KnownHostsFile = writeKnownHosts(t, caLine)
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Unknown {
		t.Fatalf("Dial with a certificate for another name = %v, want an unknown-host HostKeyError (as OpenSSH: the plain key is unknown)", err)
	}

	// with the plain key on record, the same box is accepted, as OpenSSH accepts it
	kh, _ := os.ReadFile(b.KnownHosts)
	o.KnownHostsFile = writeKnownHosts(t, caLine, strings.TrimSpace(string(kh)))
	dialBox(t, o)
}

func TestDialNeverTakesAnAuthorityKeyForTheHostKey(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	o := b.dialOptions(0)
	// the box's own key listed only as an authority: that vouches for certificates, not for itself
	o.KnownHostsFile = writeKnownHosts(t, "@cert-authority [127.0.0.1]:"+strconv.Itoa(b.Port)+" "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(b.HostKey))))
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Unknown {
		t.Fatalf("Dial where the box's key is only an authority = %v, want an unknown-host HostKeyError", err)
	}
}

func TestDialToAKnownHostWithAKeyOfAnotherTypeSaysTheKeyChanged(t *testing.T) {
	t.Parallel()
	b := startBox(t) // presents only an ed25519 key
	ec := publicKeyOf(t, sshKeygen(t, "ecdsa"))
	o := b.dialOptions(0)
	o.KnownHostsFile = writeKnownHosts(t, knownhosts.Line([]string{knownhosts.Normalize(b.endpoint(0).Addr())}, ec))
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || he.Unknown {
		t.Fatalf("Dial with an ECDSA key on record and an Ed25519 box = %v, want a changed-key HostKeyError", err)
	}
	for _, want := range []string{"HAS CHANGED", ssh.FingerprintSHA256(ec), ssh.FingerprintSHA256(b.HostKey)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestAcceptedHostKeysAreWrittenHashedWhenAsked(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	o := b.dialOptions(0)
	o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	o.AcceptNewHostKey, o.HashKnownHosts = true, true
	dialBox(t, o).Close()
	kh, err := os.ReadFile(o.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(kh), "|1|") || strings.Contains(string(kh), "127.0.0.1") {
		t.Errorf("known_hosts with HashKnownHosts = %q, want a hashed |1|... entry that does not name the host", kh)
	}
	o.AcceptNewHostKey = false
	dialBox(t, o) // the hashed entry is found again
	out, err := exec.Command("ssh-keygen", "-F", "[127.0.0.1]:"+strconv.Itoa(b.Port), "-f", o.KnownHostsFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "found") {
		t.Errorf("ssh-keygen -F does not find the hashed entry: %v: %s", err, out)
	}
}

func TestRemoteStderrIsEscapedInErrors(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c := dialBox(t, b.dialOptions(0))
	_, err := c.Run(context.Background(), `printf 'bad\033[2J\302\233x\n' >&2; exit 3`, nil)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Fatalf("Run = %v, want exit status 3", err)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\x1b\u009b") || !strings.Contains(msg, `bad\x1b[2J\u009bx`) {
		t.Errorf("error = %q, want the remote stderr with its controls escaped", msg)
	}
}

func TestRunRefusesAnEndlessAnswer(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c := dialBox(t, b.dialOptions(0))
	_, err := c.Run(context.Background(), "head -c 80000000 /dev/zero", nil)
	if err == nil || !strings.Contains(err.Error(), "more than 64 MiB") {
		t.Fatalf("Run of a command printing 80 MB = %v, want a refusal", err)
	}
}
